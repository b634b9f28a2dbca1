-- Users: usernames and emails are unique without regard to case.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL -- Unix milliseconds
);

-- Login tokens. Several may be live per user (one per machine).
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token      TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id, expires_at);

-- Packages hold the fields of their newest version (by semver precedence)
-- so that lists and searches read one row per package.
CREATE TABLE packages (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    owner       TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL,
    tags        TEXT NOT NULL, -- JSON array of strings
    latest      TEXT NOT NULL, -- newest version
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Versions are immutable once stored. The tarball lives on disk, named by
-- its SHA-1.
CREATE TABLE versions (
    id           INTEGER PRIMARY KEY,
    package_id   INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version      TEXT NOT NULL,
    description  TEXT NOT NULL,
    author       TEXT NOT NULL,
    license      TEXT NOT NULL,
    tags         TEXT NOT NULL, -- JSON array of strings
    readme       TEXT NOT NULL,
    shasum       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    published_at INTEGER NOT NULL, -- Unix milliseconds
    UNIQUE (package_id, version)
);

-- Reference documentation: one row per term or category, path like
-- "registers/PPUCTRL".
CREATE TABLE reference (
    path TEXT PRIMARY KEY COLLATE NOCASE,
    text TEXT NOT NULL
);

-- Small settings: the reference generation, bumped on every import so a
-- running server knows to reload.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
