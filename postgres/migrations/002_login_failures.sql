-- Failed logins per account, counted for every replica (see
-- registry.SharedFailures); the other throttling counters live in each
-- replica's memory. A row whose last failure is older than the budget's
-- memory counts for nothing and is pruned.
CREATE TABLE login_failures (
    account text PRIMARY KEY,   -- "id:N", or "name:..." for a name no account has
    count   integer NOT NULL,
    last_at bigint NOT NULL     -- Unix milliseconds
);
CREATE INDEX login_failures_last ON login_failures(last_at);
