-- Password resets: at most one per user, a new request replacing the old.
-- The token is kept in the clear because it is the HMAC key of the reset
-- request and the seed of its TOTP codes; a row outlives its use or expiry
-- only so that a late attempt gets a precise error, and is pruned a day
-- after it expires.
CREATE TABLE resets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: an id names one reset for good
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    token      TEXT NOT NULL,
    qr         INTEGER NOT NULL,        -- 1: delivered as an authenticator QR code (TOTP codes accepted)
    qr_id      TEXT UNIQUE,             -- one-time id of the QR image URL; NULL once fetched
    created_at INTEGER NOT NULL,        -- Unix milliseconds
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,                 -- set when the password was reset with it
    failures   INTEGER NOT NULL DEFAULT 0 -- wrong codes tried against it
);
CREATE INDEX resets_expiry ON resets(expires_at);
