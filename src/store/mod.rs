//! Durable storage and the gateway's ledger: the only place that records whether a message
//! id was seen before, hands out `log_index` positions and per-recipient `seq` numbers, and
//! moves declarations through their lifecycle.
//!
//! One writer task (`writer.rs`) owns the write connection and commits in groups; what each
//! envelope does is decided by the pure `core::ledger`, and written through the backend seam
//! (`backend.rs`), whose one implementation today is SQLite (`sqlite.rs`).
//!
//! Readers use a separate pool (SQLite WAL lets them run beside the writer), and learn of new
//! commits through a `watch` channel, so a slow reader never holds up the writer.

use crate::core::admission::Admitted;
use crate::core::crypto::Signer;
use crate::core::merkle::{self, Frontier, Hash, ProofError};
use crate::core::rejection::Rejection;
use crate::core::risk::IndexError;
use crate::core::trust::TrustList;
use crate::proto::v1::{DeclarationState, Disposition, Envelope, OutcomeCode, RiskIndicator};
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

mod backend;
mod batch;
mod outbox;
mod sqlite;
mod verify;
mod writer;
pub use outbox::{OutboxEntry, OutboxState, PendingDelivery};
pub use verify::{verify_store, ExpectedHead, LogVerdict};
use writer::{AppendJob, Decision, Published, WriterState};

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
    /// The store's schema could not be brought up to this release's version (or the store
    /// was made by a newer release, or its migration history was edited).
    #[error("cannot migrate the store's schema: {0}")]
    Migration(sqlx::migrate::MigrateError),
    /// A group's transaction could not be committed: it was rolled back whole, none of its
    /// submissions was acknowledged, and the writer reloaded its state from disk.
    #[error("commit failed: {0}")]
    CommitFailed(String),
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

/// The SQLite schema's versioned migrations, embedded in the binary: a store records which
/// it has applied (`_sqlx_migrations`) and a newer release adds only what is missing.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");

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
        MIGRATIONS
            .run(&mut conn)
            .await
            .map_err(StoreError::Migration)?;
        let mut backend = sqlite::SqliteBackend::new(conn);
        let state = WriterState::load(&mut backend, issuer).await?;
        let log_size = state.log_size();
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
        tokio::spawn(writer::writer_task(
            backend,
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
