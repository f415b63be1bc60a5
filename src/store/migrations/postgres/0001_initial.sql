-- The PostgreSQL store: the tables of the SQLite store's migrations 0001 and 0002 in one,
-- with PostgreSQL's types, and what several replicas on one database need besides
-- (PROTOCOL.md §13, docs/replicas.md). Every integer is BIGINT, as SQLite's INTEGER is 64
-- bits: the same Rust types read both stores.

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- The counters every group commit reads under the log's advisory lock and writes back, so
-- that a replica whose last group is older than another replica's learns, in one row, what
-- changed: the log's size (its frontier is then read from `merkle`), the declarations on
-- file (MRNs are numbered from it) and the version of the indicator table.
CREATE TABLE ledger (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    log_size BIGINT NOT NULL,
    declarations BIGINT NOT NULL,
    indicators_version BIGINT NOT NULL
);
INSERT INTO ledger (log_size, declarations, indicators_version) VALUES (0, 0, 0);

CREATE TABLE envelopes (
    log_index BIGINT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    direction BIGINT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    msg_type BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    envelope_digest BYTEA NOT NULL,
    envelope BYTEA NOT NULL
);

-- `accepted` orders declarations by acceptance ("accepted here before it", R5), as the
-- rowid does in SQLite: group commits are serialised by the log's lock, so a later group
-- draws later values. It needs no index: R5 compares it only between rows found through
-- `declarations_by_party`.
CREATE TABLE declarations (
    message_id TEXT PRIMARY KEY,
    accepted BIGSERIAL NOT NULL,
    sender TEXT NOT NULL,
    lrn TEXT NOT NULL,
    mrn TEXT NOT NULL UNIQUE,
    state BIGINT NOT NULL,
    outcome BIGINT NOT NULL,
    open_referral_id TEXT NOT NULL,
    referral_count BIGINT NOT NULL,
    satisfied TEXT NOT NULL,
    data BYTEA NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    account BYTEA NOT NULL DEFAULT '\x',
    party_key BIGINT,
    parcel_value BIGINT NOT NULL DEFAULT 0,
    parcel_counts BIGINT NOT NULL DEFAULT 0,
    received_at_ms BIGINT NOT NULL DEFAULT 0,
    UNIQUE (sender, lrn)
);
CREATE INDEX declarations_by_party ON declarations (party_key, received_at_ms)
    WHERE parcel_counts = 1;

CREATE TABLE referrals (
    referral_id TEXT PRIMARY KEY,
    declaration_id TEXT NOT NULL,
    outcome_message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    indicator_id TEXT NOT NULL,
    status TEXT NOT NULL
);

CREATE TABLE indicators (
    indicator_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    issuer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    indicator BYTEA NOT NULL,
    revoked BIGINT NOT NULL
);

CREATE TABLE merkle (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Messages for peers. `leased_by` and `lease_until_ms` let one replica at a time deliver
-- a peer's queue: a replica takes a peer's head with FOR UPDATE SKIP LOCKED and a lease,
-- renews it while it delivers, and a dead replica's lease expires to the others.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    peer TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    msg_type BIGINT NOT NULL,
    queued_at_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    receipt BYTEA,
    done_at_ms BIGINT,
    leased_by TEXT,
    lease_until_ms BIGINT
);
CREATE INDEX outbox_by_state ON outbox (state, peer, id);

CREATE TABLE indicator_routes (
    indicator_id TEXT NOT NULL,
    peer TEXT NOT NULL,
    PRIMARY KEY (indicator_id, peer)
);

CREATE TABLE deliveries (
    recipient TEXT NOT NULL,
    seq BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    PRIMARY KEY (recipient, seq)
);
