-- +goose Up
-- PAT hygiene. expiry_notice_days lists the whole days before a PAT's
-- expiry at which its owner is notified (space-separated, '' for none);
-- pat_idle_revoke_after revokes PATs unused for that long (nanoseconds,
-- 0 for never).
ALTER TABLE organizations ADD COLUMN expiry_notice_days TEXT NOT NULL DEFAULT '30 7 1';
ALTER TABLE organizations ADD COLUMN pat_idle_revoke_after BIGINT NOT NULL DEFAULT 0 CHECK (pat_idle_revoke_after >= 0);

-- One row per notice written about a PAT (kind 'expiry:<days>' or
-- 'expired'): the insert that wins writes the event, so each is written
-- once whatever number of replicas run the job.
CREATE TABLE pat_notices (
    pat_id  TEXT NOT NULL REFERENCES pats (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pat_id, kind)
);

-- The jobs' scans: PATs not revoked, by organization and by the times
-- that end them (their own expiry, their creation under a maximum
-- lifetime) or make them idle (their last use, else their creation).
CREATE INDEX pats_live_expiry ON pats (org_id, expires_at) WHERE revoked_at IS NULL;
CREATE INDEX pats_live_created ON pats (org_id, created_at) WHERE revoked_at IS NULL;
CREATE INDEX pats_live_idle ON pats (org_id, COALESCE(last_used_at, created_at)) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX pats_live_idle;
DROP INDEX pats_live_created;
DROP INDEX pats_live_expiry;
DROP TABLE pat_notices;
ALTER TABLE organizations DROP COLUMN pat_idle_revoke_after;
ALTER TABLE organizations DROP COLUMN expiry_notice_days;
