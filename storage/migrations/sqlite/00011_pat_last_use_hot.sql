-- +goose Up
-- The last use of a PAT is written on almost every exchange (batched
-- behind the request); an index on last_used_at made each write update
-- that index too. The idle-revocation scan reads the organization's live
-- PATs created before its cutoff through pats_live_created instead.
DROP INDEX pats_live_idle;

-- +goose Down
CREATE INDEX pats_live_idle ON pats (org_id, COALESCE(last_used_at, created_at)) WHERE revoked_at IS NULL;
