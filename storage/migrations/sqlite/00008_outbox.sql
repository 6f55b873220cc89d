-- +goose Up
-- Delivery of the lifecycle events. An event is fanned out once: one
-- delivery row per destination its sinks name, written with
-- fanned_out_at in one transaction. A delivery is then claimed with a
-- lease (next_at moves to the lease's end, so a claim that dies with its
-- process comes due again), and ends delivered or given up.
ALTER TABLE events ADD COLUMN fanned_out_at TIMESTAMP;
CREATE INDEX events_unfanned ON events (time, id) WHERE fanned_out_at IS NULL;

CREATE TABLE event_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- "<sink kind>:<destination>", such as "webhook:<webhook id>".
    destination  TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TIMESTAMP NOT NULL,
    lease_until  TIMESTAMP,
    delivered_at TIMESTAMP,
    gave_up_at   TIMESTAMP,
    -- A short cause of the last failure ("HTTP 503"); never a secret.
    last_error   TEXT NOT NULL DEFAULT '',
    UNIQUE (event_id, destination)
);
CREATE INDEX event_deliveries_due ON event_deliveries (next_at, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- An organization's webhooks. secret is the signing secret sealed with
-- the key-encryption key (AES-256-GCM, the webhook id as additional
-- data); event_types is a space-separated filter, '' for every type.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      BLOB NOT NULL,
    event_types TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);

-- +goose Down
DROP TABLE webhooks;
DROP TABLE event_deliveries;
DROP INDEX events_unfanned;
ALTER TABLE events DROP COLUMN fanned_out_at;
