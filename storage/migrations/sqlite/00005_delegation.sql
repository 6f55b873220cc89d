-- +goose Up
-- Chained token exchange. on_behalf_of lists the audiences whose access
-- tokens a client may present as subject_token (space-separated ids, ''
-- for none: the client may present PATs only). delegates lists the
-- clients a PAT's owner allows to exchange the PAT's JWTs on their behalf
-- (space-separated client ids, '' for none: no chained exchange).
ALTER TABLE clients ADD COLUMN on_behalf_of TEXT NOT NULL DEFAULT '';
ALTER TABLE pats ADD COLUMN delegates TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE pats DROP COLUMN delegates;
ALTER TABLE clients DROP COLUMN on_behalf_of;
