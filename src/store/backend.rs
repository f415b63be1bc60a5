//! The seam between the writer and a database: what the ledger's writer asks of storage,
//! and nothing it decides.
//!
//! The writer (`writer.rs`) groups submissions, keeps the log's frontier and the risk index
//! in memory, and lets `core::ledger` decide each envelope. What it needs from a database
//! is narrow: load what it keeps in memory, open a group's transaction, answer the few
//! lookups a decision reads, take the rows the effects write, and commit. A backend
//! implements exactly that ([`LedgerBackend`], [`GroupWrite`]); SQLite (`sqlite.rs`) is the
//! one today, and another database is a second implementation of these two traits, not a
//! fork of the writer.
//!
//! Everything else the store does — the reads of Fetch, Status, Audit, operators and the
//! forwarder, and the outbox's delivery bookkeeping — goes through [`StoreReads`], which
//! the `Store` handle holds as a trait object (these calls are not on the per-envelope
//! path, so dynamic dispatch costs nothing that matters), while the writer is generic over
//! its backend and compiled for it.
//!
//! Writes that the group adds in bulk (`log`, `file_declaration`, `open_referral`,
//! `deliver`) may be buffered until a read or the commit needs them; every read must see
//! everything written before it in the same group.

use super::outbox::{OutboxEntry, OutboxState, PendingDelivery};
use super::{FetchScope, StoreError, StoredEnvelope};
use crate::core::ledger::{
    DeclarationRecord, Issue, KnownEnvelope, Parcel, ReferralRecord, ReferralStatus,
};
use crate::core::merkle::{Frontier, Hash};
use crate::core::retry::NextStep;
use crate::core::risk::IndicatorRecord;
use crate::proto::v1::{Receipt, RiskIndicator};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};

/// What the writer keeps in memory, as it stands on disk.
pub(crate) struct Loaded {
    /// Entries in the log.
    pub log_size: u64,
    /// The log's right edge.
    pub frontier: Frontier,
    /// Declarations on file (filed here or forwarded here).
    pub declarations: u64,
    /// Indicators in force.
    pub indicators: Vec<IndicatorRecord>,
    /// The indicator table's version (see [`Counters`]).
    pub indicators_version: u64,
}

/// The ledger's counters as of a commit: what a writer that shares its store with others
/// (replicas on one PostgreSQL database, PROTOCOL.md §13) compares, under the log's lock,
/// to learn whether someone else committed since its own last group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Entries in the log.
    pub log_size: u64,
    /// Declarations on file.
    pub declarations: u64,
    /// Bumped by every commit that changes the indicator table.
    pub indicators_version: u64,
}

/// What another writer of the same store committed since this writer's last group.
pub(crate) struct CaughtUp {
    /// The counters as that writer left them.
    pub counters: Counters,
    /// The log's right edge at `counters.log_size`.
    pub frontier: Frontier,
    /// Indicators in force, if the indicator table changed (else the writer's are current).
    pub indicators: Option<Vec<IndicatorRecord>>,
}

/// An entry the writer appends to the log, accepted or issued.
pub(crate) struct LogEntry {
    pub log_index: u64,
    pub message_id: String,
    /// 1 accepted, 2 issued (§9 leaf prefixes).
    pub direction: u8,
    pub sender: String,
    pub recipient: String,
    pub msg_type: i32,
    pub correlation_id: String,
    pub created_at_ms: i64,
    pub received_at_ms: i64,
    pub digest: Vec<u8>,
    /// The envelope's bytes exactly as received (or as issued).
    pub envelope: Bytes,
    /// The perfect Merkle subtrees (level, index, hash) this entry completes.
    pub subtrees: Vec<(u32, u64, Hash)>,
}

/// What a group's duplicate and LRN checks know: the prefetch fills it with what is
/// already stored, and the writer adds what the group itself files (its methods are in
/// `writer.rs`).
#[derive(Default)]
pub(crate) struct GroupLedger {
    /// Stored envelopes by message id.
    pub envelopes: HashMap<String, KnownEnvelope>,
    /// Ids of declarations on file among the group's message ids, including those
    /// forwarded by a peer administration, which are filed under the partner's original
    /// message id and are no envelope here.
    pub declaration_ids: HashSet<String>,
    /// (sender, LRN) → the declaration on file under it.
    pub lrns: HashMap<(String, String), String>,
    /// R5's splitting index for the buyer-and-seller keys of the group's new charged
    /// declarations: what counts since a time, by key. A key absent here is not loaded.
    pub parcels: HashMap<i64, ParcelWindow>,
}

/// The counting parcels of one buyer and seller received since `since_ms`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParcelWindow {
    /// Parcels received before this are not loaded.
    pub since_ms: i64,
    /// (received_at_ms, value) of each.
    pub values: Vec<(i64, i64)>,
}

/// A database the writer can run on.
pub(crate) trait LedgerBackend: Send + 'static {
    /// One group's transaction.
    type Group<'a>: GroupWrite + Send
    where
        Self: 'a;

    /// Reads the state the writer keeps in memory (at start, and after a failed commit).
    async fn load(&mut self) -> Result<Loaded, StoreError>;

    /// Opens a group's transaction, holding the write lock until it ends.
    async fn begin(&mut self) -> Result<Self::Group<'_>, StoreError>;

    /// After a failed commit (a full disk, an I/O error), makes the backend usable again
    /// and proves that a commit can succeed now, by writing one row the way a commit does.
    /// A connection whose COMMIT failed is in an unknown transaction state, so this starts
    /// from a fresh one. An error means the store still refuses writes: the writer tries
    /// again later.
    async fn recover(&mut self) -> Result<(), StoreError>;
}

/// One group's transaction: the reads a decision needs and the writes its effects make.
/// Dropped without [`GroupWrite::commit`], it rolls back.
pub(crate) trait GroupWrite {
    /// What the group reads before it decides anything, in one call so that a backend can
    /// ask in one round trip: what other writers of the same store committed since this
    /// writer's state was `known` (read under the log's lock that the group holds; `None`
    /// when nothing changed; a backend with one writer, SQLite, whose data folder is locked,
    /// answers `None` without asking), and the group's [`GroupLedger`]: the stored
    /// envelopes among `message_ids`, the declarations on file under those ids, and the
    /// declarations on file under the (sender, LRN) pairs.
    async fn prefetch(
        &mut self,
        known: &Counters,
        message_ids: &[&str],
        lrns: &[(&str, &str)],
    ) -> Result<(Option<CaughtUp>, GroupLedger), StoreError>;
    /// R5: the counting parcels of each buyer-and-seller key received since `since_ms`
    /// (every key asked is in the answer, possibly empty).
    async fn parcels_since(
        &mut self,
        keys: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, ParcelWindow>, StoreError>;
    /// R5 for a declaration already on file: the value of the counting parcels under `key`
    /// accepted before declaration `declaration_id` and at most `window_ms` before it (0 if
    /// it has no entry in the index).
    async fn others_value(
        &mut self,
        declaration_id: &str,
        key: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError>;
    /// The declaration on file under `message_id`, or under `sender`'s `lrn`.
    async fn declaration_on_file(
        &mut self,
        message_id: &str,
        sender: &str,
        lrn: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Declaration `id` if `sender` filed it.
    async fn declaration(
        &mut self,
        id: &str,
        sender: &str,
    ) -> Result<Option<DeclarationRecord>, StoreError>;
    /// A referral by id.
    async fn referral(&mut self, referral_id: &str) -> Result<Option<ReferralRecord>, StoreError>;
    /// The peers holding one of this administration's indicators, sorted.
    async fn routes(&mut self, indicator_id: &str) -> Result<Vec<String>, StoreError>;
    /// The last delivery `seq` of a recipient committed before this group (the writer
    /// counts the group's own).
    async fn last_seq(&mut self, recipient: &str) -> Result<u64, StoreError>;

    /// Appends a log entry with the subtrees it completes.
    fn log(&mut self, entry: LogEntry);
    /// Files a new declaration.
    fn file_declaration(&mut self, record: &DeclarationRecord);
    /// Enters a newly filed declaration in R5's index, received at `received_at_ms`.
    fn track_parcel(&mut self, parcel: &Parcel, received_at_ms: i64);
    /// Changes a declaration's entry in R5's index (kept in its place in the order).
    async fn update_parcel(&mut self, parcel: &Parcel) -> Result<(), StoreError>;
    /// Records a referral an outcome opened.
    fn open_referral(&mut self, referral: &ReferralRecord);
    /// Makes log entry `log_index` the recipient's Fetch item `seq`.
    fn deliver(&mut self, recipient: &str, seq: u64, log_index: u64);
    /// Writes a declaration's new state.
    async fn update_declaration(&mut self, record: &DeclarationRecord) -> Result<(), StoreError>;
    /// Sets a referral's status.
    async fn close_referral(
        &mut self,
        referral_id: &str,
        status: ReferralStatus,
    ) -> Result<(), StoreError>;
    /// Queues `issue`, logged as entry `log_index`, for its recipient, a peer administration
    /// (the forwarder's outbox).
    async fn queue_for_peer(
        &mut self,
        issue: &Issue,
        log_index: u64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Puts an indicator in force (replacing an earlier version).
    async fn put_indicator(
        &mut self,
        record: &IndicatorRecord,
        message_id: &str,
    ) -> Result<(), StoreError>;
    /// Marks an indicator revoked.
    async fn revoke_indicator(&mut self, indicator_id: &str) -> Result<(), StoreError>;
    /// Records that a peer holds an indicator.
    async fn add_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError>;
    /// Records that a peer no longer holds it.
    async fn remove_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError>;
    /// Records that no peer holds it.
    async fn clear_routes(&mut self, indicator_id: &str) -> Result<(), StoreError>;

    /// Writes what is buffered and commits with the group's counters and the log's new
    /// head (which a shared backend announces to the other writers): durable when it
    /// returns. Returns the counters as stored (the indicator version bumped if the group
    /// changed indicators, on a backend that keeps it).
    async fn commit(self, counters: Counters, head: &Hash) -> Result<Counters, StoreError>;
}

/// A change to an outbox entry's delivery state. Each applies only to an entry in the state
/// it expects (pending, or pending or dead for a retry), so a late answer cannot undo an
/// operator's decision.
pub(crate) enum OutboxChange {
    /// The peer's verified receipt: delivered, kept as proof.
    Delivered {
        id: u64,
        receipt: Receipt,
        now_ms: i64,
    },
    /// A failed attempt: retried when the policy says, or dead-lettered.
    Failed {
        id: u64,
        error: String,
        next: NextStep,
        now_ms: i64,
    },
    /// An operator's retry: due now.
    Retry { id: u64, now_ms: i64 },
}

/// The store's reads, and the outbox's bookkeeping, for one database.
#[async_trait::async_trait]
pub(crate) trait StoreReads: Send + Sync + std::fmt::Debug {
    /// The stored envelope with this message id.
    async fn envelope(&self, message_id: &str) -> Result<Option<StoredEnvelope>, StoreError>;
    /// The stored Merkle subtrees among `keys` (level, index).
    async fn subtrees(&self, keys: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, StoreError>;
    /// Number of log entries.
    async fn log_size(&self) -> Result<u64, StoreError>;
    /// Fetch items after `after_seq`, oldest first, at most `limit`: (seq, envelope bytes).
    async fn deliveries(
        &self,
        scope: &FetchScope,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Bytes)>, StoreError>;
    /// A declaration's state, for Status.
    async fn declaration_status(
        &self,
        declaration_id: &str,
    ) -> Result<Option<DeclarationRecord>, StoreError>;
    /// Every indicator, in force or revoked, with its issuer and whether it is revoked.
    async fn indicators(&self) -> Result<Vec<(RiskIndicator, String, bool)>, StoreError>;
    /// A value of the store's key-value metadata.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets one, durably.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// The oldest pending outbox entry of every peer, with its envelope.
    async fn outbox_heads(&self) -> Result<Vec<PendingDelivery>, StoreError>;
    /// Outbox entries, all or in one state, oldest first.
    async fn outbox(&self, state: Option<OutboxState>) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Applies a delivery-state change; returns how many entries it changed (0 or 1).
    async fn outbox_update(&self, change: OutboxChange) -> Result<u64, StoreError>;
    /// Takes (or renews) the lease of pending outbox entry `id` for `holder` until
    /// `until_ms`, unless another holder's lease runs past `now_ms`. Where one gateway owns
    /// the store (SQLite), every lease is granted without asking the database.
    async fn outbox_lease(
        &self,
        id: u64,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, StoreError>;
}

/// The answer to a lease request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The caller may deliver the entry until the lease runs out.
    Granted,
    /// Another replica holds it until this time (milliseconds since the epoch).
    HeldUntil(i64),
    /// The entry is no longer pending (delivered or dead-lettered meanwhile).
    Gone,
}
