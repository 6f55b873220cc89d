-- +goose Up
-- The lifecycle event outbox. Each row is written in the transaction of
-- the change it reports and is delivered from here afterwards. data is a
-- JSON object of strings; it never holds a secret.
CREATE TABLE events (
    id      TEXT PRIMARY KEY,
    type    TEXT NOT NULL,
    time    TIMESTAMP NOT NULL,
    org_id  TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    pat_id  TEXT NOT NULL DEFAULT '',
    data    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_time ON events (time, id);

-- Where a user's notices go (expiry, revocations others made); '' for none.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN email;
DROP TABLE events;
