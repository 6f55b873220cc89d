-- +goose Up
-- A client whose token requests must carry a DPoP proof (RFC 9449), so
-- that every token it is issued is bound to its key.
ALTER TABLE clients ADD COLUMN dpop_required BOOLEAN NOT NULL DEFAULT FALSE;

-- The DPoP proofs seen, by the SHA-256 of the proof key's thumbprint and
-- the proof's jti, until the proof could no longer be accepted anyway (its
-- iat out of the window). A second insert of the same hash while the row
-- lives is a replay, on whichever replica it arrives.
CREATE TABLE dpop_proofs (
    hash       BYTEA PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);

-- The secret every replica MACs its DPoP nonces with: one row, written by
-- the first replica that needs it.
CREATE TABLE dpop_nonce_secret (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    secret     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE dpop_nonce_secret;
DROP TABLE dpop_proofs;
ALTER TABLE clients DROP COLUMN dpop_required;
