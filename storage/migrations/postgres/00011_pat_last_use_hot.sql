-- +goose Up
-- The last use of a PAT is written on almost every exchange (batched
-- behind the request). An index on last_used_at made each of those writes
-- a new row version in every index of pats; without one, and with room
-- left on each page (fillfactor), PostgreSQL writes it as a heap-only
-- update: the row's page alone, no index touched. The idle-revocation
-- scan reads the organization's live PATs created before its cutoff
-- through pats_live_created instead.
DROP INDEX pats_live_idle;
ALTER TABLE pats SET (fillfactor = 80);

-- +goose Down
ALTER TABLE pats RESET (fillfactor);
CREATE INDEX pats_live_idle ON pats (org_id, COALESCE(last_used_at, created_at)) WHERE revoked_at IS NULL;
