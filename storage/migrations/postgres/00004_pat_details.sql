-- +goose Up
-- Where a PAT was last used from: the client address (as the trusted-proxy
-- rules name it) and the OAuth client of its last exchange, written with
-- last_used_at. Empty until the first exchange.
ALTER TABLE pats ADD COLUMN last_used_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE pats ADD COLUMN last_used_client TEXT NOT NULL DEFAULT '';

-- What each scope of an audience is for, as the configuration describes
-- it: a JSON object from scope name to description, '' for none.
ALTER TABLE audiences ADD COLUMN scope_descriptions TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audiences DROP COLUMN scope_descriptions;
ALTER TABLE pats DROP COLUMN last_used_client;
ALTER TABLE pats DROP COLUMN last_used_addr;
