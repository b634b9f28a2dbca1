-- Keeping a registry healthy (issue 16): yanked and removed versions,
-- several owners per package, disabled accounts, and the audit trail.

-- A yanked version is no longer a package's newest (packages.latest skips
-- it) but stays installable by its number. A removed version keeps its
-- row, without its tarball, so that the same title and version can never
-- be published again; reads answer 410 with the reason.
ALTER TABLE versions ADD COLUMN yanked_at INTEGER;       -- Unix milliseconds; NULL: not yanked
ALTER TABLE versions ADD COLUMN removed_at INTEGER;      -- NULL: not removed
ALTER TABLE versions ADD COLUMN removed_reason TEXT NOT NULL DEFAULT '';

-- A removed package keeps its row (and its versions' rows) for the same
-- reason: its title is never given out again. packages.latest is now the
-- newest version neither yanked nor removed, '' when there is none.
ALTER TABLE packages ADD COLUMN removed_at INTEGER;
ALTER TABLE packages ADD COLUMN removed_reason TEXT NOT NULL DEFAULT '';

-- Owners: each may publish, yank and change the owners. packages.owner
-- stays the account that created the package.
CREATE TABLE owners (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    username   TEXT NOT NULL COLLATE NOCASE,
    added_at   INTEGER NOT NULL, -- Unix milliseconds
    PRIMARY KEY (package_id, username)
);
CREATE INDEX owners_user ON owners(username);
INSERT INTO owners (package_id, username, added_at) SELECT id, owner, created_at FROM packages;

-- A disabled account cannot log in and has no tokens; its packages stay.
ALTER TABLE users ADD COLUMN disabled_at INTEGER; -- NULL: enabled

-- The audit trail: who did what, from where, when. Append-only: the
-- triggers refuse every change to a row once written. Never a secret in
-- it (no password, token or reset code).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,            -- Unix milliseconds
    actor   TEXT NOT NULL,               -- a username, "operator:NAME" for a command, "" for nobody logged in
    addr    TEXT NOT NULL,               -- the client's address, or "command line"
    action  TEXT NOT NULL,               -- publish, yank, user-disable, ...
    package TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',    -- the account acted on (owner changes, accounts, lockouts)
    detail  TEXT NOT NULL DEFAULT ''     -- a removal's reason, a lockout's counter
);
CREATE INDEX audit_at ON audit(at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
