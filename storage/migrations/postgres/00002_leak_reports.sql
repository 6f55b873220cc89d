-- +goose Up
-- Leaked-token reports are written down before they are answered, and
-- revoked from here: a report accepted is never lost to a crash or an
-- outage. Only the SHA-256 of each reported value is kept (hex,
-- space-separated), which is all a PAT lookup needs.
CREATE TABLE leak_reports (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     TIMESTAMPTZ NOT NULL,
    client_addr     TEXT NOT NULL DEFAULT '',
    hashes          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX leak_reports_next ON leak_reports (next_attempt_at, id);

-- One row that readiness rewrites after a write has failed, to learn
-- whether the database takes writes again.
CREATE TABLE write_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE write_probe;
DROP TABLE leak_reports;
