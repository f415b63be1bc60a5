//! Durable storage and the gateway's ledger: the only place that decides whether a message
//! id was seen before, hands out `log_index` positions and per-recipient `seq` numbers, and
//! moves declarations through their lifecycle.
//!
//! One writer task owns the write connection and commits in groups: every submission that
//! arrives while a commit (and its fsync) is under way joins the next transaction, so that
//! durability costs one fsync per group, not per message. Everything a message causes — the
//! envelope, its leaf and the Merkle subtrees it completes (§9), the signed OUTCOME it
//! triggers, the declaration's new state, the delivery to the partner, the indicator index —
//! is written in the same transaction, so a crash can never leave a declaration without its
//! outcome, an outcome without its delivery, or an entry outside the audit log. Only
//! committed transactions advance the log index, so it stays gap-free. The decisions
//! themselves are the pure functions of `core::lifecycle` and `core::risk`.
//!
//! Readers use a separate pool (SQLite WAL lets them run beside the writer), and learn of new
//! commits through a `watch` channel, so a slow reader never holds up the writer.

use crate::core::admission::{Admitted, AdmittedPayload};
use crate::core::crypto::Signer;
use crate::core::envelope::{envelope_digest, seal, Draft};
use crate::core::ledger::{
    self, DeclarationRecord, Effect, Facts, KnownEnvelope, ReferralRecord, ReferralStatus, Route,
    Verdict,
};
use crate::core::lifecycle::ReferralKind;
use crate::core::merkle::{self, Frontier, Hash, ProofError};
use crate::core::rejection::Rejection;
use crate::core::risk::{IndexError, IndicatorRecord, RiskIndex};
use crate::core::sharing::{forwarding_target, indicator_routes};
use crate::core::trust::TrustList;
use crate::proto::v1::{
    AdvanceDeclaration, DeclarationState, Disposition, Envelope, Header, OutcomeCode, RiskIndicator,
};
use bytes::Bytes;
use prost::Message;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

mod batch;
mod outbox;
mod verify;
use batch::{DeclarationRow, DeliveryRow, EnvelopeRow, GroupLedger, PendingRows, ReferralRow};
pub use outbox::{OutboxEntry, OutboxState, PendingDelivery};
pub use verify::{verify_store, ExpectedHead, LogVerdict};

/// Most submissions one transaction takes; bounds the latency a group adds.
const MAX_GROUP: usize = 512;
/// Submissions waiting for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 8192;
/// File name of the database inside the data folder.
const DB_FILE: &str = "aedgate.db";

/// Why the store could not do what was asked. None of these means data was lost: a failed
/// group is rolled back whole and no receipt is sent for it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data folder could not be created or opened.
    #[error("cannot open store in {path}: {source}")]
    Open {
        /// The data folder.
        path: PathBuf,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A statement or commit failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The writer task is gone (shutdown in progress), or the store was opened read-only.
    #[error("store is shutting down or read-only")]
    Closed,
    /// Stored data contradicts itself.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// An audit proof was asked for sizes or indices the log cannot answer.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The risk index refused an indicator the ledger had decided to accept: the decision
    /// and the index disagree, a defect; the group is rolled back.
    #[error("the risk index refused a decided indicator: {0}")]
    Index(#[from] IndexError),
    /// Effects the ledger returned break its own contract: a defect; the group is rolled
    /// back.
    #[error("ledger defect: {0}")]
    Ledger(&'static str),
}

/// An envelope in the writer's queue; [`PendingAppend::wait`] returns once it is committed
/// (or refused).
#[derive(Debug)]
pub struct PendingAppend(oneshot::Receiver<Result<Decision, StoreError>>);

impl PendingAppend {
    /// The envelope's fate, after the commit is on disk.
    pub async fn wait(self) -> Result<Result<Stored, Rejection>, StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?
    }
}

/// Where an accepted envelope sits and when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// ACCEPTED the first time, DUPLICATE for a byte-identical resend.
    pub disposition: Disposition,
    /// When the envelope was first committed.
    pub received_at_ms: i64,
    /// Its leaf position in the log.
    pub log_index: u64,
}

/// One stored envelope, as auditors and tests read it back.
#[derive(Clone, Debug)]
pub struct StoredEnvelope {
    /// The envelope's message id.
    pub message_id: String,
    /// Leaf position in the log.
    pub log_index: u64,
    /// When it was committed.
    pub received_at_ms: i64,
    /// SHA-256 of its signing input.
    pub envelope_digest: Vec<u8>,
    /// The envelope itself.
    pub envelope: Envelope,
}

/// The committed state of the Merkle log (§9): what a signed tree head covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogHead {
    /// Number of entries.
    pub size: u64,
    /// RFC 9162 root of those entries.
    pub root: Hash,
}

/// Entry kinds of the log (§9 leaf prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// An envelope this gateway accepted.
    Accepted = 1,
    /// An envelope this gateway issued.
    Issued = 2,
}

/// A declaration's state as `Status` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclarationStatus {
    /// The declaration's message id.
    pub declaration_id: String,
    /// Who filed it.
    pub sender: String,
    /// Local reference number.
    pub lrn: String,
    /// Movement reference number.
    pub mrn: String,
    /// Lifecycle state.
    pub state: DeclarationState,
    /// Latest outcome.
    pub outcome: OutcomeCode,
    /// The referral waiting for an answer, or "".
    pub open_referral_id: String,
    /// When the state last changed.
    pub updated_at_ms: i64,
}

/// Whose deliveries a Fetch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchScope {
    /// A partner: only envelopes addressed to it, numbered per partner.
    Recipient(String),
    /// An internal participant: everything its administration received or issued, numbered
    /// by log position (`seq = log_index + 1`).
    Everything,
}

/// Who signs what the gateway issues.
#[derive(Clone, Debug)]
pub struct Issuer {
    /// The administration.
    pub participant: String,
    /// Its signing key.
    pub signer: Arc<Signer>,
}

struct AppendJob {
    admitted: Admitted,
    /// The trust list the envelope was admitted under: it also decides what is shared with
    /// and forwarded to peers (§8).
    trust: Arc<TrustList>,
    reply: oneshot::Sender<Result<Decision, StoreError>>,
}

/// What one job of a group came to, before the commit makes it true.
type Decision = Result<Stored, Rejection>;

/// Handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    writer: Option<mpsc::Sender<AppendJob>>,
    readers: SqlitePool,
    path: PathBuf,
    commits: Arc<AtomicU64>,
    committed: watch::Receiver<u64>,
    head: watch::Receiver<LogHead>,
    /// Bumped when messages for peers are queued or an operator asks for a retry: wakes
    /// the forwarder.
    outbox_signal: Arc<watch::Sender<u64>>,
    /// A connection for the outbox's bookkeeping (delivery results, retries), apart from
    /// the writer's queue so that a slow peer never delays submissions.
    outbox_conn: Arc<tokio::sync::Mutex<Option<SqliteConnection>>>,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS envelopes (
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
    )",
    "CREATE TABLE IF NOT EXISTS declarations (
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
    )",
    "CREATE TABLE IF NOT EXISTS referrals (
        referral_id TEXT PRIMARY KEY,
        declaration_id TEXT NOT NULL,
        outcome_message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        indicator_id TEXT NOT NULL,
        status TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS indicators (
        indicator_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        issuer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        indicator BLOB NOT NULL,
        revoked INTEGER NOT NULL
    )",
    // Every perfect subtree of the Merkle log (§9) as it is completed: level 0 holds the leaf
    // hashes, level l the subtree of 2^l leaves starting at leaf idx·2^l. Roots and proofs
    // for any size are assembled from these (core::merkle), O(log n) rows per append.
    "CREATE TABLE IF NOT EXISTS merkle (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID",
    // Messages for peer administrations (§6): queued in the transaction of the event that
    // caused them, delivered in `id` order per peer by the forwarder, kept with the peer's
    // signed receipt as proof of delivery, or dead-lettered with the last error.
    "CREATE TABLE IF NOT EXISTS outbox (
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
    )",
    "CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox (state, peer, id)",
    // Which peers hold which of this administration's indicators, so that a revocation
    // follows the indicator's routes (§8).
    "CREATE TABLE IF NOT EXISTS indicator_routes (
        indicator_id TEXT NOT NULL,
        peer TEXT NOT NULL,
        PRIMARY KEY (indicator_id, peer)
    )",
    "CREATE TABLE IF NOT EXISTS deliveries (
        recipient TEXT NOT NULL,
        seq INTEGER NOT NULL,
        log_index INTEGER NOT NULL,
        PRIMARY KEY (recipient, seq)
    )",
];

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
}

/// Wall-clock Unix milliseconds: the receiver's clock of §3 and §4.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what}")))
}

impl Store {
    /// Opens (creating if missing) the store in `data_dir` and starts its writer, which
    /// signs what the gateway issues as `issuer`.
    pub async fn open(data_dir: &Path, issuer: Issuer) -> Result<Self, StoreError> {
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| open_err(Box::new(e)))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = SqliteConnection::connect_with(&options(&path))
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut conn).await?;
        }
        let state = WriterState::load(&mut conn, issuer).await?;
        let log_size = state.next_index;
        let (head_tx, head) = watch::channel(state.head());
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options(&path).read_only(true))
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let commits = Arc::new(AtomicU64::new(0));
        let (committed_tx, committed) = watch::channel(log_size);
        let outbox_signal = Arc::new(watch::channel(0).0);
        tokio::spawn(writer_task(
            conn,
            rx,
            state,
            commits.clone(),
            Published {
                size: committed_tx,
                head: head_tx,
                outbox: outbox_signal.clone(),
            },
        ));
        Ok(Self {
            writer: Some(tx),
            readers,
            path,
            commits,
            committed,
            head,
            outbox_signal,
            outbox_conn: Arc::default(),
        })
    }

    /// Opens an existing store for reading only (audits, tests, offline tools).
    pub async fn open_read_only(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        let readers = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options(&path).create_if_missing(false).read_only(true))
            .await
            .map_err(|e| StoreError::Open {
                path: data_dir.to_path_buf(),
                source: Box::new(e),
            })?;
        let (_, committed) = watch::channel(0);
        let (_, head) = watch::channel(LogHead {
            size: 0,
            root: merkle::empty_root(),
        });
        let mut store = Self {
            writer: None,
            readers,
            path,
            commits: Arc::default(),
            committed,
            head,
            outbox_signal: Arc::new(watch::channel(0).0),
            outbox_conn: Arc::default(),
        };
        // A read-only store does not follow commits: its head is the one on disk now.
        let size = store.log_size().await?;
        let keys = Frontier::load_keys(size);
        let nodes = store.subtrees(&keys).await?;
        let frontier = Frontier::load(&|l: u32, i: u64| nodes.get(&(l, i)).copied(), size)?;
        let (_, head) = watch::channel(LogHead {
            size,
            root: frontier.root(),
        });
        store.head = head;
        Ok(store)
    }

    /// Stores an admitted envelope durably with everything it causes, or tells why it is a
    /// duplicate or refused. Returns only after the commit is on disk.
    pub async fn append(
        &self,
        admitted: Admitted,
        trust: Arc<TrustList>,
    ) -> Result<Result<Stored, Rejection>, StoreError> {
        self.enqueue(admitted, trust).await?.wait().await
    }

    /// Queues an admitted envelope for the writer and returns as soon as it is queued:
    /// envelopes queued one after the other are decided and committed in that order.
    /// Await the result with [`PendingAppend::wait`].
    pub async fn enqueue(
        &self,
        admitted: Admitted,
        trust: Arc<TrustList>,
    ) -> Result<PendingAppend, StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        writer
            .send(AppendJob {
                admitted,
                trust,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingAppend(answer))
    }

    /// Transactions committed since the store was opened: with group commit, far fewer than
    /// the envelopes stored under concurrent load.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Follows the log size as commits happen (for live Fetch).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The stored envelope with this message id.
    pub async fn envelope(&self, message_id: &str) -> Result<Option<StoredEnvelope>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id, log_index, received_at_ms, envelope_digest, envelope FROM envelopes WHERE message_id = ?",
        )
        .bind(message_id)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|r| stored_envelope(&r)).transpose()
    }

    /// The latest committed size and root of the Merkle log; what the Audit service signs.
    pub fn log_head(&self) -> LogHead {
        *self.head.borrow()
    }

    /// The stored perfect-subtree hashes at `keys` (level, index); absent ones are left out.
    async fn subtrees(&self, keys: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        // SQLite allows 32766 parameters; a proof needs at most ~2·64 hashes, but stay safe.
        for chunk in keys.chunks(256) {
            if chunk.is_empty() {
                continue;
            }
            let rows = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT level, idx, hash FROM merkle WHERE (level, idx) IN (VALUES {rows})"
            );
            let mut query = sqlx::query(&sql);
            for &(level, index) in chunk {
                query = query
                    .bind(i64::from(level))
                    .bind(i64::try_from(index).unwrap_or(i64::MAX));
            }
            for row in query.fetch_all(&self.readers).await? {
                let level: i64 = row.try_get("level")?;
                let index: i64 = row.try_get("idx")?;
                let hash: Vec<u8> = row.try_get("hash")?;
                let hash = Hash::try_from(hash.as_slice()).map_err(|_| {
                    StoreError::Corrupt(format!("merkle hash at ({level}, {index})"))
                })?;
                found.insert(
                    (
                        u32::try_from(level).unwrap_or(u32::MAX),
                        to_u64(index, "merkle index")?,
                    ),
                    hash,
                );
            }
        }
        Ok(found)
    }

    /// Runs a `core::merkle` computation over the stored subtrees. The computations read a
    /// set of subtrees that depends only on the sizes asked for, so a first pass records
    /// which ones, a single query fetches them, and a second pass computes with them.
    async fn with_subtrees<T>(
        &self,
        compute: impl Fn(&dyn Fn(u32, u64) -> Option<Hash>) -> Result<T, ProofError>,
    ) -> Result<T, StoreError> {
        let wanted = std::cell::RefCell::new(Vec::new());
        let placeholder = merkle::empty_root();
        let _ = compute(&|level, index| {
            wanted.borrow_mut().push((level, index));
            Some(placeholder)
        });
        let nodes = self.subtrees(&wanted.into_inner()).await?;
        Ok(compute(&|level, index| {
            nodes.get(&(level, index)).copied()
        })?)
    }

    fn check_size(&self, requested: u64) -> Result<(), ProofError> {
        let log_size = self.log_head().size;
        if requested > log_size {
            return Err(ProofError::SizeBeyondLog {
                requested,
                log_size,
            });
        }
        Ok(())
    }

    /// RFC 9162 audit path of leaf `index` in the tree of the first `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::LeafOutOfRange { index, size }.into());
        }
        self.with_subtrees(|tree| merkle::inclusion_proof(&tree, index, size))
            .await
    }

    /// RFC 9162 proof that the tree of `first` entries is a prefix of the tree of `second`.
    pub async fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        self.check_size(second)?;
        self.with_subtrees(|tree| merkle::consistency_proof(&tree, first, second))
            .await
    }

    /// The root of the tree of the first `size` entries.
    pub async fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        self.with_subtrees(|tree| merkle::root(&tree, size)).await
    }

    /// Number of log entries, which is also the next `log_index`.
    pub async fn log_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes")
            .fetch_one(&self.readers)
            .await?;
        to_u64(n, "count")
    }

    /// Deliveries after `after_seq`, oldest first, at most `limit`: (seq, envelope bytes).
    pub async fn deliveries(
        &self,
        scope: &FetchScope,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let rows = match scope {
            FetchScope::Recipient(recipient) => {
                sqlx::query(
                    "SELECT d.seq AS seq, e.envelope AS envelope FROM deliveries d
                     JOIN envelopes e ON e.log_index = d.log_index
                     WHERE d.recipient = ? AND d.seq > ? ORDER BY d.seq LIMIT ?",
                )
                .bind(recipient)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
            }
            FetchScope::Everything => {
                sqlx::query(
                    // seq = log_index + 1, so seq > after is log_index >= after (which the
                    // primary key serves directly).
                    "SELECT log_index + 1 AS seq, envelope FROM envelopes WHERE log_index >= ?
                     ORDER BY log_index LIMIT ?",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let bytes: Vec<u8> = row.try_get("envelope")?;
                Ok((to_u64(seq, "seq")?, Bytes::from(bytes)))
            })
            .collect()
    }

    /// The state of a declaration.
    pub async fn declaration_status(
        &self,
        declaration_id: &str,
    ) -> Result<Option<DeclarationStatus>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id, sender, lrn, mrn, state, outcome, open_referral_id, updated_at_ms
             FROM declarations WHERE message_id = ?",
        )
        .bind(declaration_id)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|r| -> Result<_, StoreError> {
            let state: i64 = r.try_get("state")?;
            let outcome: i64 = r.try_get("outcome")?;
            Ok(DeclarationStatus {
                declaration_id: r.try_get("message_id")?,
                sender: r.try_get("sender")?,
                lrn: r.try_get("lrn")?,
                mrn: r.try_get("mrn")?,
                state: DeclarationState::try_from(state as i32)
                    .unwrap_or(DeclarationState::Unspecified),
                outcome: OutcomeCode::try_from(outcome as i32).unwrap_or(OutcomeCode::Unspecified),
                open_referral_id: r.try_get("open_referral_id")?,
                updated_at_ms: r.try_get("updated_at_ms")?,
            })
        })
        .transpose()
    }

    /// Indicators in force or revoked, as stored (for operators).
    pub async fn indicators(&self) -> Result<Vec<(RiskIndicator, String, bool)>, StoreError> {
        let rows =
            sqlx::query("SELECT indicator, issuer, revoked FROM indicators ORDER BY indicator_id")
                .fetch_all(&self.readers)
                .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("indicator")?;
                let indicator = RiskIndicator::decode(bytes.as_slice())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let revoked: i64 = row.try_get("revoked")?;
                Ok((indicator, row.try_get("issuer")?, revoked != 0))
            })
            .collect()
    }

    /// A value of the `meta` table (e.g. the highest trust-list version ever in force).
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.readers)
            .await?)
    }

    /// Sets a value of the `meta` table, durably. Rare (start-up, trust-list reloads), so it
    /// uses its own short-lived connection rather than the writer's queue.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = SqliteConnection::connect_with(&options(&self.path)).await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }
}

fn stored_envelope(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEnvelope, StoreError> {
    let bytes: Vec<u8> = row.try_get("envelope")?;
    let envelope =
        Envelope::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredEnvelope {
        message_id: row.try_get("message_id")?,
        log_index: to_u64(row.try_get("log_index")?, "log_index")?,
        received_at_ms: row.try_get("received_at_ms")?,
        envelope_digest: row.try_get("envelope_digest")?,
        envelope,
    })
}

/// What the writer keeps between groups; rebuilt from the database after a failed commit.
struct WriterState {
    issuer: Issuer,
    country: String,
    next_index: u64,
    declarations: u64,
    last_seq: HashMap<String, i64>,
    risk: RiskIndex,
    /// The Merkle log's right edge, advanced by every append of the group in progress.
    frontier: Frontier,
    /// Whether the group in progress queued messages for peers.
    outbox_added: bool,
    /// Rows the group in progress decided on, written just before its commit.
    pending: PendingRows,
    /// The group's answers to "is this message id / LRN taken?".
    ledger: GroupLedger,
}

impl WriterState {
    async fn load(conn: &mut SqliteConnection, issuer: Issuer) -> Result<Self, StoreError> {
        let next_index: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes")
                .fetch_one(&mut *conn)
                .await?;
        let declarations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM declarations")
            .fetch_one(&mut *conn)
            .await?;
        let declarations = to_u64(declarations, "declaration count")?;
        let mut risk = RiskIndex::new();
        for row in sqlx::query("SELECT indicator, issuer FROM indicators WHERE revoked = 0")
            .fetch_all(&mut *conn)
            .await?
        {
            let bytes: Vec<u8> = row.try_get("indicator")?;
            let indicator = RiskIndicator::decode(bytes.as_slice())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            risk.upsert(IndicatorRecord {
                indicator,
                issuer: row.try_get("issuer")?,
            })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        let next_index = to_u64(next_index, "log size")?;
        let frontier = load_frontier(conn, next_index).await?;
        let country = issuer
            .participant
            .split('/')
            .nth(1)
            .unwrap_or("XX")
            .to_owned();
        Ok(Self {
            issuer,
            country,
            next_index,
            declarations,
            last_seq: HashMap::new(),
            risk,
            frontier,
            outbox_added: false,
            pending: PendingRows::default(),
            ledger: GroupLedger::default(),
        })
    }

    fn head(&self) -> LogHead {
        LogHead {
            size: self.frontier.size(),
            root: self.frontier.root(),
        }
    }
}

/// `meta` key recording since which entry the store keeps its Merkle log: "0" for a store
/// created with it, N when entries 0..N were added by the migration below.
const MERKLE_SINCE_KEY: &str = "merkle_log_since";

/// The Merkle frontier of a log of `size` entries, from the stored subtrees. A store written
/// before the audit log existed has envelopes without subtrees: their leaves are computed
/// from the stored envelopes and added here, in one transaction (the only migration so far),
/// and `merkle_log_since` records it. Once that is recorded, a log shorter than the data is
/// never filled in again: it means the files were changed behind the gateway's back.
async fn load_frontier(conn: &mut SqliteConnection, size: u64) -> Result<Frontier, StoreError> {
    let leaves: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM merkle WHERE level = 0")
        .fetch_one(&mut *conn)
        .await?;
    let leaves = to_u64(leaves, "leaf count")?;
    let since: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(MERKLE_SINCE_KEY)
        .fetch_optional(&mut *conn)
        .await?;
    if leaves > size || (leaves < size && since.is_some()) {
        return Err(StoreError::Corrupt(format!(
            "the Merkle log has {leaves} leaves for {size} stored envelopes: the store was changed \
             outside the gateway; run `aedgate audit verify-store`"
        )));
    }
    let mut nodes = HashMap::new();
    for (level, index) in Frontier::load_keys(leaves) {
        let hash: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM merkle WHERE level = ? AND idx = ?")
                .bind(i64::from(level))
                .bind(i64::try_from(index).unwrap_or(i64::MAX))
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(hash) = hash.and_then(|h| Hash::try_from(h.as_slice()).ok()) {
            nodes.insert((level, index), hash);
        }
    }
    let mut frontier = Frontier::load(&|l: u32, i: u64| nodes.get(&(l, i)).copied(), leaves)?;
    if since.is_some() {
        return Ok(frontier);
    }
    if leaves < size {
        tracing::warn!(
            from = leaves,
            to = size,
            "adding the Merkle log to entries stored before it existed"
        );
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let rows = sqlx::query(
        "SELECT log_index, direction, received_at_ms, envelope_digest, envelope FROM envelopes
         WHERE log_index >= ? ORDER BY log_index",
    )
    .bind(i64::try_from(leaves).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        let log_index = to_u64(row.try_get("log_index")?, "log_index")?;
        if log_index != frontier.size() {
            return Err(StoreError::Corrupt(format!(
                "log entry {} is missing",
                frontier.size()
            )));
        }
        let direction: i64 = row.try_get("direction")?;
        let digest: Vec<u8> = row.try_get("envelope_digest")?;
        let leaf = if direction == Direction::Issued as i64 {
            let bytes: Vec<u8> = row.try_get("envelope")?;
            let envelope = Envelope::decode(bytes.as_slice())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let created = envelope.header.map(|h| h.created_at_ms).unwrap_or_default();
            merkle::issued_leaf(&digest, created)
        } else {
            merkle::accepted_leaf(&digest, row.try_get("received_at_ms")?)
        };
        batch::insert_rows(&mut tx, &frontier.push(merkle::leaf_hash(&leaf))).await?;
    }
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
        .bind(MERKLE_SINCE_KEY)
        .bind(leaves.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(frontier)
}

/// What the writer announces after each commit.
struct Published {
    /// The log size, for live Fetch.
    size: watch::Sender<u64>,
    /// Size and root, for the Audit service.
    head: watch::Sender<LogHead>,
    /// Bumped when a commit queued messages for peers.
    outbox: Arc<watch::Sender<u64>>,
}

async fn writer_task(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<AppendJob>,
    mut state: WriterState,
    commits: Arc<AtomicU64>,
    published: Published,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.recv().await {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit_group(&mut conn, &group, &mut state).await {
            Ok(decisions) => {
                commits.fetch_add(1, Ordering::Relaxed);
                published.head.send_replace(state.head());
                if std::mem::take(&mut state.outbox_added) {
                    published.outbox.send_modify(|n| *n += 1);
                }
                published.size.send_replace(state.next_index);
                for (job, decision) in group.drain(..).zip(decisions) {
                    // A caller that went away still had its envelope stored; a resend gets
                    // DUPLICATE with the same log index.
                    let _ = job.reply.send(Ok(decision));
                }
            }
            Err(error) => {
                tracing::error!(%error, "group commit failed; {} submission(s) not acknowledged", group.len());
                let message = error.to_string();
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Corrupt(format!(
                        "commit failed: {message}"
                    ))));
                }
                // In-memory state (indices, counters, indicator index) may include the
                // rolled-back group: rebuild it from what is on disk.
                let issuer = state.issuer.clone();
                match WriterState::load(&mut conn, issuer).await {
                    Ok(fresh) => state = fresh,
                    Err(error) => {
                        tracing::error!(%error, "cannot reload store state; refusing further writes");
                        return;
                    }
                }
            }
        }
    }
}

async fn commit_group(
    conn: &mut SqliteConnection,
    group: &[AppendJob],
    state: &mut WriterState,
) -> Result<Vec<Decision>, StoreError> {
    let now = now_ms();
    // IMMEDIATE takes the write lock up front (waiting for it under the busy timeout): a
    // deferred transaction that reads first would fail at its first write if the outbox's
    // connection committed in between, instead of waiting.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let message_ids: Vec<&str> = group
        .iter()
        .map(|job| job.admitted.header.message_id.as_str())
        .collect();
    let lrns: Vec<(&str, &str)> = group
        .iter()
        .filter_map(|job| match &job.admitted.payload {
            AdmittedPayload::Declaration(declaration) => Some((
                job.admitted.header.sender.as_str(),
                declaration.lrn.as_str(),
            )),
            _ => None,
        })
        .collect();
    state.ledger = GroupLedger::prefetch(&mut tx, &message_ids, &lrns).await?;
    let mut decisions = Vec::with_capacity(group.len());
    for job in group {
        decisions.push(process(&mut tx, state, &job.admitted, &job.trust, now).await?);
    }
    state.pending.flush(&mut tx).await?;
    state.ledger = GroupLedger::default();
    tx.commit().await?;
    Ok(decisions)
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// Decides one admitted envelope inside the group's transaction: fetches the facts its
/// kind reads, lets `core::ledger` decide, and writes the effects. A refusal is decided
/// before anything is written for it, so a refused envelope leaves no trace.
async fn process(
    tx: &mut Tx<'_>,
    state: &mut WriterState,
    admitted: &Admitted,
    trust: &TrustList,
    now: i64,
) -> Result<Decision, StoreError> {
    if !matches!(admitted.payload, AdmittedPayload::Declaration(_)) {
        // The rarer kinds read declarations, referrals and routes with SQL: let them see
        // what the group has decided so far.
        state.pending.flush(tx).await?;
    }
    let facts = facts_for(tx, state, admitted, trust).await?;
    let context = ledger::Context {
        now_ms: now,
        administration: &state.issuer.participant,
        country: &state.country,
        declarations_filed: state.declarations,
        risk: &state.risk,
    };
    let mut fresh_id = || uuid::Uuid::now_v7().hyphenated().to_string();
    match ledger::decide(&context, facts, admitted, &mut fresh_id) {
        Verdict::Refuse(rejection) => Ok(Err(rejection)),
        Verdict::Duplicate(known) => Ok(Ok(Stored {
            disposition: Disposition::Duplicate,
            received_at_ms: known.received_at_ms,
            log_index: known.log_index,
        })),
        Verdict::Accept(effects) => {
            let log_index = apply(tx, state, admitted, effects, now).await?;
            Ok(Ok(Stored {
                disposition: Disposition::Accepted,
                received_at_ms: now,
                log_index,
            }))
        }
    }
}

/// Reads what the decision of `admitted` needs: the duplicate and LRN answers from the
/// group's prefetch, the rest with SQL (after the group's rows were flushed).
async fn facts_for(
    tx: &mut Tx<'_>,
    state: &WriterState,
    admitted: &Admitted,
    trust: &TrustList,
) -> Result<Facts, StoreError> {
    let header = &admitted.header;
    let own = state.issuer.participant.as_str();
    let mut facts = Facts {
        same_id: state.ledger.envelope(&header.message_id).cloned(),
        ..Facts::default()
    };
    match &admitted.payload {
        AdmittedPayload::Declaration(declaration) => {
            facts.lrn_owner = state
                .ledger
                .lrn_owner(&header.sender, &declaration.lrn)
                .cloned();
            facts.declaration_id_taken = state.ledger.declaration_exists(&header.message_id);
            facts.forward_to = forwarding_target(trust, own, declaration);
        }
        AdmittedPayload::ForwardedDeclaration(forwarded) => {
            let original = &forwarded.header;
            facts.forwarded_on_file = sqlx::query_scalar(
                "SELECT message_id FROM declarations WHERE message_id = ? OR (sender = ? AND lrn = ?)",
            )
            .bind(&original.message_id)
            .bind(&original.sender)
            .bind(&forwarded.declaration.lrn)
            .fetch_optional(&mut **tx)
            .await?;
        }
        AdmittedPayload::Amendment(_) | AdmittedPayload::Invalidation(_) => {
            facts.declaration =
                load_declaration(tx, &header.correlation_id, &header.sender).await?;
        }
        AdmittedPayload::ReferralResponse(response) => {
            facts.referral = load_referral(tx, &response.referral_id).await?;
            if let Some(referral) = &facts.referral {
                facts.declaration =
                    load_declaration(tx, &referral.declaration_id, &header.sender).await?;
            }
        }
        AdmittedPayload::RiskIndicator(indicator) => {
            if ledger::issuing_administration(&header.sender) == own {
                facts.share_with = indicator_routes(trust, own, indicator);
                facts.routes = routes_of(tx, &indicator.indicator_id).await?;
            }
        }
        AdmittedPayload::RiskIndicatorRevocation(revocation) => {
            if ledger::issuing_administration(&header.sender) == own {
                facts.routes = routes_of(tx, &revocation.indicator_id).await?;
            }
        }
    }
    Ok(facts)
}

/// Writes an accepted envelope's effects, in order, into the group's transaction (rows
/// the group adds in bulk are buffered in `state.pending`), and brings the writer's
/// in-memory state along. Returns the accepted envelope's log index.
async fn apply(
    tx: &mut Tx<'_>,
    state: &mut WriterState,
    admitted: &Admitted,
    effects: Vec<Effect>,
    now: i64,
) -> Result<u64, StoreError> {
    let mut accepted_at = None;
    for effect in effects {
        match effect {
            Effect::LogAccepted => {
                accepted_at = Some(append_to_log(
                    state,
                    Direction::Accepted,
                    &admitted.header,
                    &admitted.digest,
                    admitted.raw.clone(),
                    now,
                ));
            }
            Effect::FileDeclaration(record) => {
                state.declarations += 1;
                state.ledger.add_declaration(
                    record.sender.clone(),
                    record.lrn.clone(),
                    record.id.clone(),
                );
                state.pending.declarations.push(declaration_row(&record));
            }
            Effect::UpdateDeclaration(record) => update_declaration(tx, &record).await?,
            Effect::OpenReferral(referral) => state.pending.referrals.push(ReferralRow {
                referral_id: referral.referral_id,
                declaration_id: referral.declaration_id,
                outcome_message_id: referral.outcome_message_id,
                kind: referral.kind.as_str(),
                indicator_id: referral.indicator_id,
            }),
            Effect::CloseReferral {
                referral_id,
                status,
            } => {
                sqlx::query("UPDATE referrals SET status = ? WHERE referral_id = ?")
                    .bind(status.as_str())
                    .bind(&referral_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Effect::Issue(issue) => {
                let log_index = issue_envelope(state, &issue, now);
                match issue.route {
                    Route::Fetch => deliver(tx, state, &issue.recipient, log_index).await?,
                    Route::Outbox => {
                        sqlx::query(
                            "INSERT INTO outbox (peer, log_index, message_id, msg_type, queued_at_ms, state,
                                                 attempts, next_attempt_ms, last_error)
                             VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, '')",
                        )
                        .bind(&issue.recipient)
                        .bind(to_i64(log_index))
                        .bind(&issue.message_id)
                        .bind(issue.message_type as i64)
                        .bind(now)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                        state.outbox_added = true;
                    }
                }
            }
            Effect::PutIndicator { record, message_id } => {
                let indicator = &record.indicator;
                sqlx::query(
                    "INSERT INTO indicators (indicator_id, version, issuer, message_id, indicator, revoked) VALUES (?, ?, ?, ?, ?, 0)
                     ON CONFLICT(indicator_id) DO UPDATE SET version = excluded.version, issuer = excluded.issuer,
                     message_id = excluded.message_id, indicator = excluded.indicator, revoked = 0",
                )
                .bind(&indicator.indicator_id)
                .bind(i64::from(indicator.version))
                .bind(&record.issuer)
                .bind(&message_id)
                .bind(indicator.encode_to_vec())
                .execute(&mut **tx)
                .await?;
                state.risk.upsert(record)?;
            }
            Effect::RevokeIndicator { indicator_id } => {
                sqlx::query("UPDATE indicators SET revoked = 1 WHERE indicator_id = ?")
                    .bind(&indicator_id)
                    .execute(&mut **tx)
                    .await?;
                state.risk.remove(&indicator_id);
            }
            Effect::AddRoute { indicator_id, peer } => {
                sqlx::query(
                    "INSERT OR IGNORE INTO indicator_routes (indicator_id, peer) VALUES (?, ?)",
                )
                .bind(&indicator_id)
                .bind(&peer)
                .execute(&mut **tx)
                .await?;
            }
            Effect::RemoveRoute { indicator_id, peer } => {
                sqlx::query("DELETE FROM indicator_routes WHERE indicator_id = ? AND peer = ?")
                    .bind(&indicator_id)
                    .bind(&peer)
                    .execute(&mut **tx)
                    .await?;
            }
            Effect::ClearRoutes { indicator_id } => {
                sqlx::query("DELETE FROM indicator_routes WHERE indicator_id = ?")
                    .bind(&indicator_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    accepted_at.ok_or(StoreError::Ledger(
        "an accepted envelope's effects did not log it",
    ))
}

/// The peers holding one of this administration's indicators.
async fn routes_of(tx: &mut Tx<'_>, indicator_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar(
            "SELECT peer FROM indicator_routes WHERE indicator_id = ? ORDER BY peer",
        )
        .bind(indicator_id)
        .fetch_all(&mut **tx)
        .await?,
    )
}

/// Signs an envelope the ledger decided to issue, as this administration and dated now,
/// and appends it to the log as issued; returns its log index.
fn issue_envelope(state: &mut WriterState, issue: &ledger::Issue, now: i64) -> u64 {
    let envelope = seal(
        Draft {
            message_id: issue.message_id.clone(),
            sender: state.issuer.participant.clone(),
            recipient: issue.recipient.clone(),
            message_type: issue.message_type as i32,
            created_at_ms: now,
            correlation_id: issue.correlation_id.clone(),
            payload: issue.payload.clone(),
        },
        &state.issuer.signer.key,
        &state.issuer.signer.key_id,
    );
    let header = envelope.header.clone().unwrap_or_default();
    let digest = envelope_digest(&header);
    append_to_log(
        state,
        Direction::Issued,
        &header,
        &digest,
        Bytes::from(envelope.encode_to_vec()),
        now,
    )
}

fn append_to_log(
    state: &mut WriterState,
    direction: Direction,
    header: &Header,
    digest: &[u8],
    raw: Bytes,
    now: i64,
) -> u64 {
    let log_index = state.next_index;
    // §9: the entry's leaf joins the Merkle log in the same transaction, so the log and the
    // data can never disagree after a crash.
    let leaf = match direction {
        Direction::Accepted => merkle::accepted_leaf(digest, now),
        Direction::Issued => merkle::issued_leaf(digest, header.created_at_ms),
    };
    // The row and the subtrees it completes are written with the group's other rows
    // (`PendingRows::flush`); the writer appends from the in-memory frontier.
    let completed = state.frontier.push(merkle::leaf_hash(&leaf));
    state.pending.subtrees.extend(completed);
    state.ledger.add_envelope(
        header.message_id.clone(),
        KnownEnvelope {
            digest: digest.to_vec(),
            received_at_ms: now,
            log_index,
        },
    );
    state.pending.envelopes.push(EnvelopeRow {
        log_index: to_i64(log_index),
        message_id: header.message_id.clone(),
        direction: direction as u8 as i64,
        sender: header.sender.clone(),
        recipient: header.recipient.clone(),
        msg_type: i64::from(header.r#type),
        correlation_id: header.correlation_id.clone(),
        created_at_ms: header.created_at_ms,
        received_at_ms: now,
        digest: digest.to_vec(),
        envelope: raw,
    });
    state.next_index += 1;
    log_index
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Queues a stored envelope for a partner's Fetch under its next gap-free `seq`.
async fn deliver(
    tx: &mut Tx<'_>,
    state: &mut WriterState,
    recipient: &str,
    log_index: u64,
) -> Result<(), StoreError> {
    let last = match state.last_seq.get(recipient) {
        Some(seq) => *seq,
        None => {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM deliveries WHERE recipient = ?")
                .bind(recipient)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    let seq = last + 1;
    state.pending.deliveries.push(DeliveryRow {
        recipient: recipient.to_owned(),
        seq,
        log_index: to_i64(log_index),
    });
    state.last_seq.insert(recipient.to_owned(), seq);
    Ok(())
}

/// A referral as stored.
async fn load_referral(
    tx: &mut Tx<'_>,
    referral_id: &str,
) -> Result<Option<ReferralRecord>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT referral_id, declaration_id, outcome_message_id, kind, indicator_id, status
         FROM referrals WHERE referral_id = ?",
    )
    .bind(referral_id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(Some(ReferralRecord {
        referral_id: row.try_get("referral_id")?,
        declaration_id: row.try_get("declaration_id")?,
        outcome_message_id: row.try_get("outcome_message_id")?,
        kind: ReferralKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("referral kind {kind}")))?,
        indicator_id: row.try_get("indicator_id")?,
        status: ReferralStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("referral status {status}")))?,
    }))
}

/// The declaration `id` if `sender` filed it: another sender's declaration is as unknown
/// as one that does not exist.
async fn load_declaration(
    tx: &mut Tx<'_>,
    id: &str,
    sender: &str,
) -> Result<Option<DeclarationRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT message_id, sender, lrn, mrn, state, outcome, open_referral_id, referral_count, satisfied, data, updated_at_ms
         FROM declarations WHERE message_id = ? AND sender = ?",
    )
    .bind(id)
    .bind(sender)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let data: Vec<u8> = row.try_get("data")?;
    let satisfied: String = row.try_get("satisfied")?;
    let state: i64 = row.try_get("state")?;
    let outcome: i64 = row.try_get("outcome")?;
    let referral_count: i64 = row.try_get("referral_count")?;
    Ok(Some(DeclarationRecord {
        id: row.try_get("message_id")?,
        sender: row.try_get("sender")?,
        lrn: row.try_get("lrn")?,
        mrn: row.try_get("mrn")?,
        state: i32::try_from(state)
            .ok()
            .and_then(|s| DeclarationState::try_from(s).ok())
            .ok_or_else(|| StoreError::Corrupt("declaration state".into()))?,
        outcome: i32::try_from(outcome)
            .ok()
            .and_then(|o| OutcomeCode::try_from(o).ok())
            .unwrap_or(OutcomeCode::Unspecified),
        open_referral_id: row.try_get("open_referral_id")?,
        referral_count: u32::try_from(referral_count).unwrap_or(0),
        satisfied: satisfied
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        data: AdvanceDeclaration::decode(data.as_slice())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    }))
}

/// The row a newly filed declaration is inserted as (with the group's other rows).
fn declaration_row(record: &DeclarationRecord) -> DeclarationRow {
    DeclarationRow {
        message_id: record.id.clone(),
        sender: record.sender.clone(),
        lrn: record.lrn.clone(),
        mrn: record.mrn.clone(),
        state: record.state as i64,
        outcome: record.outcome as i64,
        open_referral_id: record.open_referral_id.clone(),
        referral_count: i64::from(record.referral_count),
        satisfied: satisfied_text(record),
        data: record.data.encode_to_vec(),
        updated_at_ms: record.updated_at_ms,
    }
}

async fn update_declaration(tx: &mut Tx<'_>, record: &DeclarationRecord) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE declarations SET state = ?, outcome = ?, open_referral_id = ?, referral_count = ?, satisfied = ?,
                                 data = ?, updated_at_ms = ?
         WHERE message_id = ?",
    )
    .bind(record.state as i64)
    .bind(record.outcome as i64)
    .bind(&record.open_referral_id)
    .bind(i64::from(record.referral_count))
    .bind(satisfied_text(record))
    .bind(record.data.encode_to_vec())
    .bind(record.updated_at_ms)
    .bind(&record.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stored form of the satisfied indicators: one id a line.
fn satisfied_text(record: &DeclarationRecord) -> String {
    record
        .satisfied
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}
