-- Keeping a registry healthy (issue 16), as store/'s migration 4 has it:
-- yanked and removed versions, several owners per package, disabled
-- accounts, the audit trail; and (issue 13) how far a mirror got.

-- A yanked version is no longer a package's newest (packages.latest
-- skips it) but stays installable by its number. A removed version keeps
-- its row, without its tarball, so that the same title and version can
-- never be published again.
ALTER TABLE versions ADD COLUMN yanked_at bigint;         -- Unix milliseconds; NULL: not yanked
ALTER TABLE versions ADD COLUMN removed_at bigint;        -- NULL: not removed
ALTER TABLE versions ADD COLUMN removed_reason text NOT NULL DEFAULT '';
CREATE INDEX versions_shasum ON versions(shasum);

-- A removed package keeps its row for the same reason: its title is
-- never given out again. packages.latest is the newest version neither
-- yanked nor removed, '' when there is none.
ALTER TABLE packages ADD COLUMN removed_at bigint;
ALTER TABLE packages ADD COLUMN removed_reason text NOT NULL DEFAULT '';

-- Owners: each may publish, yank and change the owners. packages.owner
-- stays the account that created the package. username_key folds ASCII
-- case, as the SQLite schema's NOCASE does.
CREATE TABLE owners (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id   bigint NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    username     text NOT NULL,
    username_key text NOT NULL,
    added_at     bigint NOT NULL,
    UNIQUE (package_id, username_key)
);
CREATE INDEX owners_user ON owners(username_key);
INSERT INTO owners (package_id, username, username_key, added_at)
    SELECT id, owner, translate(owner, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), created_at
    FROM packages ORDER BY id;

-- A disabled account cannot log in and has no tokens; its packages stay.
ALTER TABLE users ADD COLUMN disabled_at bigint; -- NULL: enabled

-- The audit trail: who did what, from where, when. Append-only: the
-- trigger refuses every change to a row once written. Never a secret in
-- it. The *_key columns are what queries match, case-folded by the
-- binary as the SQLite schema's NOCASE does.
CREATE TABLE audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          bigint NOT NULL,
    actor       text NOT NULL,
    actor_key   text NOT NULL,
    addr        text NOT NULL,
    action      text NOT NULL,
    package     text NOT NULL DEFAULT '',
    package_key text NOT NULL DEFAULT '',
    version     text NOT NULL DEFAULT '',
    subject     text NOT NULL DEFAULT '',
    subject_key text NOT NULL DEFAULT '',
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- How far a mirror of each upstream got in the upstream's change log.
CREATE TABLE mirror_serials (
    upstream text PRIMARY KEY,
    serial   bigint NOT NULL
);
