-- Revenue (§11) and returns (§12).
--
-- A declaration's account: its first release, the charges of its last releasing outcome,
-- what was returned and refunded (store/encoding.rs; empty for none yet).
ALTER TABLE declarations ADD COLUMN account BLOB NOT NULL DEFAULT x'';

-- R5's splitting index, kept in the declarations themselves: for a declaration charged
-- here, an 8-byte hash of its normalised buyer and seller (core::revenue::splitting_key; no
-- personal data), its intrinsic value, whether it counts (low-value, not invalidated) and
-- when it was received. The partial index holds only the counting ones, so the declarations
-- of one buyer and seller within the window are found through it, never by a scan, and a
-- gateway without a revenue policy writes no index entry at all. The rowid orders
-- declarations by acceptance ("accepted here before it").
ALTER TABLE declarations ADD COLUMN party_key INTEGER;
ALTER TABLE declarations ADD COLUMN parcel_value INTEGER NOT NULL DEFAULT 0;
ALTER TABLE declarations ADD COLUMN parcel_counts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE declarations ADD COLUMN received_at_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX declarations_by_party ON declarations (party_key, received_at_ms)
    WHERE parcel_counts = 1;
