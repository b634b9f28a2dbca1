-- The registry's schema on PostgreSQL: the same tables and rules as the
-- SQLite schema of store/, in one step. Times are Unix milliseconds, as
-- there. The *_key columns hold the case-folded spelling that uniqueness
-- and lookups go by, computed by the binary (see keys.go), so that both
-- backends fold case the same way.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    username_key  text NOT NULL UNIQUE,
    email         text NOT NULL,
    email_key     text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text NOT NULL,
    created_at    bigint NOT NULL
);

CREATE TABLE tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token      text NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id, expires_at);

-- Packages hold the fields of their newest version. title_key is unique:
-- two replicas publishing a new title at once cannot both create it.
-- desc_key and hay are what lists sort by and searches match, lower-cased
-- as the SQLite backend's index does it.
CREATE TABLE packages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text NOT NULL,
    title_key   text NOT NULL UNIQUE,
    owner       text NOT NULL,
    description text NOT NULL,
    desc_key    text NOT NULL,
    tags        text[] NOT NULL,
    hay         text NOT NULL,
    latest      text NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL
);
CREATE INDEX packages_desc ON packages (desc_key COLLATE "C", title_key COLLATE "C");
CREATE INDEX packages_title ON packages (title_key COLLATE "C");

-- Versions never change once stored; their tarballs are blobs named by
-- shasum.
CREATE TABLE versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id   bigint NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version      text NOT NULL,
    description  text NOT NULL,
    author       text NOT NULL,
    license      text NOT NULL,
    tags         text[] NOT NULL,
    readme       text NOT NULL,
    shasum       text NOT NULL,
    size         bigint NOT NULL,
    published_at bigint NOT NULL,
    UNIQUE (package_id, version)
);

CREATE TABLE reference (
    path_key text PRIMARY KEY,
    path     text NOT NULL,
    text     text NOT NULL
);

-- Password resets: at most one per user.
CREATE TABLE resets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    token      text NOT NULL,
    qr         boolean NOT NULL,
    qr_id      text UNIQUE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint,
    failures   integer NOT NULL DEFAULT 0
);
CREATE INDEX resets_expiry ON resets(expires_at);

-- The change log. Writers append under a lock on the table held to their
-- commit (see logChange), so serials commit in order and a follower that
-- has read up to a serial never misses an earlier one committed later.
CREATE TABLE changes (
    serial  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    text NOT NULL,
    title   text NOT NULL DEFAULT '',
    version text NOT NULL DEFAULT '',
    shasum  text NOT NULL DEFAULT '',
    at      bigint NOT NULL
);
