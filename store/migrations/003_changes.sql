-- The change log: one row for every change to package data or to the
-- reference, written in the transaction that makes the change. Serials
-- only grow (AUTOINCREMENT never reuses one), so every process that reads
-- this folder (the server, the commands, later replicas and mirrors)
-- learns what changed since the serial it has seen.
CREATE TABLE changes (
    serial  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,               -- 'publish', 'reference'
    title   TEXT NOT NULL DEFAULT '',    -- the package, for package changes
    version TEXT NOT NULL DEFAULT '',
    shasum  TEXT NOT NULL DEFAULT '',
    at      INTEGER NOT NULL             -- Unix milliseconds
);

-- What is already stored enters the log as it was published.
INSERT INTO changes (kind, title, version, shasum, at)
    SELECT 'publish', p.title, v.version, v.shasum, v.published_at
    FROM versions v JOIN packages p ON p.id = v.package_id
    ORDER BY v.published_at, v.id;
INSERT INTO changes (kind, at)
    SELECT 'reference', CAST(strftime('%s', 'now') AS INTEGER) * 1000
    FROM meta WHERE key = 'reference_generation';
-- The reference generation is the serial of its last change now.
DELETE FROM meta WHERE key = 'reference_generation';
