-- +goose Up
-- One-time set-password links. Only the SHA-256 of each link's secret is
-- kept; redeeming a link deletes it, and issuing one deletes the user's
-- earlier links, so a user has at most one that works.
CREATE TABLE password_links (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX password_links_user ON password_links (user_id);
CREATE INDEX password_links_expiry ON password_links (expires_at);

-- +goose Down
DROP TABLE password_links;
