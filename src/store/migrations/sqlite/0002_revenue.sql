-- Revenue (§11) and returns (§12).
--
-- A declaration's account: its first release, the charges of its last releasing outcome,
-- what was returned and refunded (store/encoding.rs; empty for none yet).
ALTER TABLE declarations ADD COLUMN account BLOB NOT NULL DEFAULT x'';

-- R5's splitting index: one row per charged declaration, so that the declarations of one
-- buyer and seller within the window are found through the index, never by a scan. The
-- rowid orders them by acceptance ("accepted here before it"). party_key is an 8-byte hash
-- of the normalised buyer and seller (core::revenue::splitting_key): no personal data.
CREATE TABLE parcels (
    declaration_id TEXT PRIMARY KEY,
    party_key INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    value INTEGER NOT NULL,
    counts INTEGER NOT NULL
);
CREATE INDEX parcels_by_party ON parcels (party_key, received_at_ms);
