-- The schema of a store before versioned migrations existed. Every statement is
-- IF NOT EXISTS, so that a store made by an earlier release (which has these tables but
-- no migration history) takes this migration as already applied, and a new store gets
-- the same tables.

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS envelopes (
    log_index INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    direction INTEGER NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    msg_type INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    envelope_digest BLOB NOT NULL,
    envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS declarations (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    lrn TEXT NOT NULL,
    mrn TEXT NOT NULL UNIQUE,
    state INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    open_referral_id TEXT NOT NULL,
    referral_count INTEGER NOT NULL,
    satisfied TEXT NOT NULL,
    data BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (sender, lrn)
);
CREATE TABLE IF NOT EXISTS referrals (
    referral_id TEXT PRIMARY KEY,
    declaration_id TEXT NOT NULL,
    outcome_message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    indicator_id TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS indicators (
    indicator_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    issuer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    indicator BLOB NOT NULL,
    revoked INTEGER NOT NULL
);
-- Every perfect subtree of the Merkle log (§9) as it is completed: level 0 holds the leaf
-- hashes, level l the subtree of 2^l leaves starting at leaf idx·2^l. Roots and proofs
-- for any size are assembled from these (core::merkle), O(log n) rows per append.
CREATE TABLE IF NOT EXISTS merkle (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
-- Messages for peer administrations (§6): queued in the transaction of the event that
-- caused them, delivered in `id` order per peer by the forwarder, kept with the peer's
-- signed receipt as proof of delivery, or dead-lettered with the last error.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    peer TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    msg_type INTEGER NOT NULL,
    queued_at_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    receipt BLOB,
    done_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox (state, peer, id);
-- Which peers hold which of this administration's indicators, so that a revocation
-- follows the indicator's routes (§8).
CREATE TABLE IF NOT EXISTS indicator_routes (
    indicator_id TEXT NOT NULL,
    peer TEXT NOT NULL,
    PRIMARY KEY (indicator_id, peer)
);
CREATE TABLE IF NOT EXISTS deliveries (
    recipient TEXT NOT NULL,
    seq INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (recipient, seq)
);
