-- +goose Up
-- Rotation with overlap: a regenerated PAT is revoked at once (reason
-- 'regenerated') but its secret keeps working until overlap_until (NULL:
-- no overlap); replaced_by names its successor ('' for none).
ALTER TABLE pats ADD COLUMN overlap_until TIMESTAMPTZ;
ALTER TABLE pats ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
-- allowed_cidrs lists the networks a PAT may be exchanged from
-- (space-separated canonical CIDRs, '' for anywhere); recent_networks the
-- last networks it was used from (a /24 for IPv4, a /64 for IPv6,
-- space-separated, most recent first, at most five).
ALTER TABLE pats ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '';
ALTER TABLE pats ADD COLUMN recent_networks TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE pats DROP COLUMN recent_networks;
ALTER TABLE pats DROP COLUMN allowed_cidrs;
ALTER TABLE pats DROP COLUMN replaced_by;
ALTER TABLE pats DROP COLUMN overlap_until;
