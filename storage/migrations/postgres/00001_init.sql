-- +goose Up
-- Times are timestamptz at microsecond precision; durations are
-- nanoseconds; scope lists are space-separated (a scope name never
-- contains a space).
CREATE TABLE organizations (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    pats_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    pat_max_lifetime BIGINT NOT NULL DEFAULT 0 CHECK (pat_max_lifetime >= 0),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    username      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('local', 'directory', 'saml')),
    status        TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, username)
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE role_assignments (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    folder     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, role_id, folder)
);
CREATE INDEX role_assignments_org ON role_assignments (org_id);
CREATE INDEX role_assignments_role ON role_assignments (role_id);

CREATE TABLE audiences (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    access_token_ttl BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    public        BOOLEAN NOT NULL,
    secret_hash   BYTEA,
    audiences     TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    introspection BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE pats (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    token_hash     BYTEA NOT NULL UNIQUE,
    hint           TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ,
    last_used_at   TIMESTAMPTZ,
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT NOT NULL DEFAULT ''
);
-- A name is unique per owner among PATs that are not revoked.
CREATE UNIQUE INDEX pats_active_name ON pats (user_id, name) WHERE revoked_at IS NULL;
CREATE INDEX pats_org ON pats (org_id, id);
CREATE INDEX pats_user ON pats (user_id, id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_key  BYTEA NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activates_at TIMESTAMPTZ NOT NULL,
    retires_at   TIMESTAMPTZ
);

CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
    org_id      TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_org ON audit_events (org_id, time, id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- +goose Down
DROP TABLE sessions;
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE pats;
DROP TABLE clients;
DROP TABLE audiences;
DROP TABLE role_assignments;
DROP TABLE roles;
DROP TABLE users;
DROP TABLE organizations;
