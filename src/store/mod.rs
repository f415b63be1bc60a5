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
use crate::core::audit::AuditProblem;
use crate::core::crypto::Signer;
use crate::core::ledger::DeclarationRecord;
use crate::core::merkle::{self, Frontier, Hash, ProofError};
use crate::core::rejection::Rejection;
use crate::core::revenue::RevenuePolicy;
use crate::core::risk::IndexError;
use crate::core::trust::TrustList;
use crate::proto::v1::{Disposition, Envelope, RiskIndicator};
use crate::telemetry::{Counter, Telemetry};
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

mod backend;
mod copy;
mod encoding;
mod fair;
mod kept;
mod lock;
mod outbox;
mod postgres;
mod rows;
mod sqlite;
mod verify;
mod writer;
pub use backend::Lease;
use backend::StoreReads;
pub use copy::{copy_to_postgres, Copied};
use kept::Kept;
pub use kept::HEAD_FILE;
pub use lock::{DataDirLock, LOCK_FILE};
pub use outbox::{OutboxEntry, OutboxState, PendingDelivery};
pub use postgres::{create_scratch_database, drop_scratch_database, is_postgres_url};
pub use verify::{
    audit_store, audit_store_at, verify_store, ExpectedHead, LogVerdict, StoreAudit, StoreReport,
};
use writer::{AppendJob, Decision, Published, WriterState};

/// Submissions waiting for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 8192;

/// Why the store could not do what was asked. None of these but `LogBehindHead` means data
/// was lost: a failed group is rolled back whole and no receipt is sent for it.
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
    /// Another gateway holds the data folder (its lock file names its pid).
    #[error("{} is in use by another aedgate (pid {holder}); one gateway per data_dir", path.display())]
    InUse {
        /// The data folder.
        path: PathBuf,
        /// The holder's pid, as its lock file says.
        holder: String,
    },
    /// The store opened but cannot be written (read-only file, folder or mount; a full
    /// disk): refused at start rather than serving a gateway that accepts nothing.
    #[error("cannot write the store {}: {cause}", path.display())]
    NotWritable {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        cause: String,
    },
    /// The store no longer holds the tree head its gateway signed and kept in the data
    /// folder: entries the head covers (and partners hold receipts for) were lost or
    /// changed since, by a damaged write-ahead log, a restored backup, a change outside the
    /// gateway. Starting would hand the lost entries' `log_index` out again, so the gateway
    /// refuses, leaving the files as they are; docs/auditing.md says how to recover.
    #[error("the store in {} does not hold the tree head this gateway signed (kept in {HEAD_FILE}): {problem}; acknowledged entries were lost or changed: keep the folder as it is and see docs/auditing.md, \"A log shorter than its signed head\"", data_dir.display())]
    LogBehindHead {
        /// The data folder.
        data_dir: PathBuf,
        /// Both sizes, and on a changed root both roots.
        problem: AuditProblem,
    },
    /// A file the store keeps beside its database (the signed head, a trust list) cannot be
    /// read or written.
    #[error("{}: {cause}", path.display())]
    Kept {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: String,
    },
    /// `store copy` found rows in the database it was to copy into: it copies only into
    /// an empty one, so that nothing is merged.
    #[error("{url} is not empty ({rows} rows in envelopes, declarations and outbox): store copy fills only an empty database")]
    NotEmpty {
        /// The database, without its password.
        url: String,
        /// Rows found.
        rows: u64,
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
    /// Everything but the writer's transactions: the backend's reads and the outbox's
    /// bookkeeping.
    reads: Arc<dyn StoreReads>,
    /// Where the writer reports its commits; shared with the rest of the gateway.
    telemetry: Arc<Telemetry>,
    committed: watch::Receiver<u64>,
    head: watch::Receiver<LogHead>,
    /// Bumped when messages for peers are queued or an operator asks for a retry: wakes
    /// the forwarder.
    outbox_signal: Arc<watch::Sender<u64>>,
    /// The revenue policy each envelope is decided under (§11), replaced on reload.
    revenue: Arc<watch::Sender<Option<Arc<RevenuePolicy>>>>,
    /// Whether the writer can commit now (false after a failed commit until it proves it
    /// can write again).
    writable: watch::Receiver<bool>,
    /// The signed head and trust lists kept beside the database; none for a read-only
    /// store.
    kept: Option<Arc<Kept>>,
    /// Where the log's size and head are published (by the writer, and by the commit
    /// listener of a shared store).
    published: Shared,
    /// This gateway process among the replicas that may share the store: the holder
    /// named in the outbox leases it takes. Fresh at every start, so a restarted replica
    /// does not take its dead predecessor's leases for its own.
    replica: Arc<str>,
}

/// The log's size and head as published; shared by the writer and, on PostgreSQL, the
/// listener that learns of other replicas' commits.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub size: Arc<watch::Sender<u64>>,
    pub head: Arc<watch::Sender<LogHead>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            size: Arc::new(watch::channel(0).0),
            head: Arc::new(
                watch::channel(LogHead {
                    size: 0,
                    root: merkle::empty_root(),
                })
                .0,
            ),
        }
    }
}

/// The size of the head kept in `data_dir`, after checking that the store (in `data_dir`,
/// or the shared database at `url`) still holds it (`None` when no head is kept: a new
/// store, or one from before heads were kept).
async fn check_kept_head(data_dir: &Path, url: Option<&str>) -> Result<Option<u64>, StoreError> {
    let Some(head) = kept::read_head(data_dir)? else {
        return Ok(None);
    };
    let path = data_dir.join(HEAD_FILE);
    let root = Hash::try_from(&head.root_hash[..]).map_err(|_| StoreError::Kept {
        path,
        cause: "root_hash is not 32 bytes".into(),
    })?;
    let (log_size, stored_root) = match url {
        Some(url) => postgres::measure_log(url, head.tree_size).await?,
        None => sqlite::measure_log(data_dir, head.tree_size).await?,
    };
    crate::core::audit::check_log_holds_head(head.tree_size, &root, log_size, stored_root)
        .map_err(|problem| StoreError::LogBehindHead {
            data_dir: data_dir.to_path_buf(),
            problem,
        })?;
    Ok(Some(head.tree_size))
}

/// The least time between two heads kept by [`follow_head`].
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the writer's heads as they are committed, off the commit path, at most one write
/// per [`FOLLOW_INTERVAL`]: a crash that damages the database then finds a head kept that
/// is at most about a second old, even for entries no partner asked a head for yet. Heads
/// committed meanwhile are kept together by the next write. Ends when the writer does.
fn follow_head(kept: Arc<Kept>, mut head: watch::Receiver<LogHead>) {
    tokio::spawn(async move {
        while head.changed().await.is_ok() && !kept.is_closed() {
            let size = head.borrow_and_update().size;
            if let Err(error) = kept.follow(size).await {
                tracing::warn!(%error, "cannot keep the log's head; trying again at the next commit");
            }
            // Not after every commit: under load that doubled the fsyncs of a disk the
            // group commit already waits on, and stretched the p99 (docs/decisions.md).
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    });
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what}")))
}

impl Store {
    /// Opens (creating if missing) the store in `data_dir` and starts its writer, which
    /// signs what the gateway issues as `issuer` and reports its commits to `telemetry`.
    pub async fn open(
        data_dir: &Path,
        issuer: Issuer,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StoreError> {
        Self::open_with(data_dir, None, issuer, telemetry).await
    }

    /// Opens the store and starts its writer: SQLite in `data_dir`, or, with `url`
    /// (`postgres://...`, the gateway's `[store] url`), the PostgreSQL database that this
    /// gateway may share with other replicas of its administration (§13). `data_dir` then
    /// holds only what this replica keeps of its own: its lock and the heads it signed.
    pub async fn open_with(
        data_dir: &Path,
        url: Option<&str>,
        issuer: Issuer,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StoreError> {
        // Before anything is written: a log that lost what a signed head covers is left as
        // it was found.
        let kept_size = check_kept_head(data_dir, url).await?;
        match url {
            Some(url) => {
                // This replica's own files: its lock, its kept heads and trust lists.
                std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
                    path: data_dir.to_path_buf(),
                    source: Box::new(e),
                })?;
                let (backend, reads) = postgres::open(url).await?;
                let listener = reads.pool().clone();
                let reads = Arc::new(reads);
                let spawn = |backend, jobs, state, telemetry, published| {
                    tokio::spawn(writer::writer_task::<postgres::PgBackend>(
                        backend, jobs, state, telemetry, published,
                    ));
                };
                let store = Self::start(
                    data_dir,
                    kept_size,
                    (backend, spawn),
                    reads.clone(),
                    issuer,
                    telemetry,
                )
                .await?;
                postgres::follow_commits(
                    listener,
                    reads,
                    store.published.clone(),
                    store.outbox_signal.clone(),
                );
                Ok(store)
            }
            None => {
                let (backend, reads) = sqlite::open(data_dir).await?;
                let spawn = |backend, jobs, state, telemetry, published| {
                    tokio::spawn(writer::writer_task::<sqlite::SqliteBackend>(
                        backend, jobs, state, telemetry, published,
                    ));
                };
                Self::start(
                    data_dir,
                    kept_size,
                    (backend, spawn),
                    Arc::new(reads),
                    issuer,
                    telemetry,
                )
                .await
            }
        }
    }

    /// Loads the writer's state from `backend`, keeps the head, and starts the writer with
    /// `spawn` (which names the backend's type: the writer's future is `Send` for each
    /// backend, which generic code cannot see).
    async fn start<B: backend::LedgerBackend>(
        data_dir: &Path,
        kept_size: Option<u64>,
        (mut backend, spawn): (
            B,
            impl FnOnce(B, mpsc::Receiver<AppendJob>, WriterState, Arc<Telemetry>, Published),
        ),
        reads: Arc<dyn StoreReads>,
        issuer: Issuer,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StoreError> {
        let state = WriterState::load(&mut backend, issuer.clone()).await?;
        let log_size = state.log_size();
        let head_tx = Arc::new(watch::channel(state.head()).0);
        let head = head_tx.subscribe();
        if kept_size.is_none() && log_size > 0 {
            tracing::warn!(
                log_size,
                "no {HEAD_FILE} in {}: this release's first start on this store, or the file \
                 was removed; keeping the store's head from now on",
                data_dir.display()
            );
        }
        let kept = Arc::new(Kept::new(
            data_dir,
            issuer,
            head.clone(),
            kept_size.unwrap_or(0),
        ));
        kept.keep_head(log_size).await?;
        follow_head(kept.clone(), head.clone());
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let committed_tx = Arc::new(watch::channel(log_size).0);
        let committed = committed_tx.subscribe();
        let outbox_signal = Arc::new(watch::channel(0).0);
        let (writable_tx, writable) = watch::channel(true);
        spawn(
            backend,
            rx,
            state,
            telemetry.clone(),
            Published {
                size: committed_tx.clone(),
                head: head_tx.clone(),
                outbox: outbox_signal.clone(),
                writable: writable_tx,
            },
        );
        Ok(Self {
            writer: Some(tx),
            reads,
            telemetry,
            committed,
            head,
            outbox_signal,
            revenue: Arc::new(watch::channel(None).0),
            writable,
            kept: Some(kept),
            published: Shared {
                size: committed_tx,
                head: head_tx,
            },
            replica: uuid::Uuid::now_v7().simple().to_string().into(),
        })
    }

    /// Opens an existing store for reading only (audits, tests, offline tools).
    pub async fn open_read_only(data_dir: &Path) -> Result<Self, StoreError> {
        let reads = sqlite::open_read_only(data_dir).await?;
        let (_, committed) = watch::channel(0);
        let (_, head) = watch::channel(LogHead {
            size: 0,
            root: merkle::empty_root(),
        });
        let mut store = Self {
            writer: None,
            reads: Arc::new(reads),
            telemetry: Arc::default(),
            committed,
            head,
            outbox_signal: Arc::new(watch::channel(0).0),
            revenue: Arc::new(watch::channel(None).0),
            writable: watch::channel(false).1,
            kept: None,
            published: Shared::default(),
            replica: "".into(),
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

    /// Follows whether the store can commit: false from a failed commit (a full disk, an
    /// I/O error) until a write succeeds again, which the writer tries on its own. The
    /// gateway's health follows it, so that a load balancer stops sending Submits that
    /// cannot be stored. Ends (the sender drops) when the writer stops.
    pub fn writable(&self) -> watch::Receiver<bool> {
        self.writable.clone()
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
        self.keep_trust_list(&trust).await?;
        let (reply, answer) = oneshot::channel();
        let revenue = self.revenue.borrow().clone();
        writer
            .send(AppendJob {
                admitted,
                trust,
                revenue,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingAppend(answer))
    }

    /// Puts a revenue policy in force (or none): every envelope queued from now on is
    /// charged and checked under it (§11). Called at start and on reload.
    pub fn set_revenue_policy(&self, policy: Option<Arc<RevenuePolicy>>) {
        self.revenue.send_replace(policy);
    }

    /// The revenue policy in force, if the gateway charges.
    pub fn revenue_policy(&self) -> Option<Arc<RevenuePolicy>> {
        self.revenue.borrow().clone()
    }

    /// Transactions committed since the store was opened: with group commit, far fewer than
    /// the envelopes stored under concurrent load.
    pub fn commits(&self) -> u64 {
        self.telemetry.total(Counter::Commits)
    }

    /// Where this store's writer reports, shared with the gateway's other layers (the
    /// forwarder reports its deliveries here).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Follows the log size as commits happen (for live Fetch).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The stored envelope with this message id.
    pub async fn envelope(&self, message_id: &str) -> Result<Option<StoredEnvelope>, StoreError> {
        self.reads.envelope(message_id).await
    }

    /// The latest committed size and root of the Merkle log.
    pub fn log_head(&self) -> LogHead {
        *self.head.borrow()
    }

    /// The latest committed head, returned once a signed head at least as large is kept
    /// durably in the data folder: what the Audit service signs. A head is never served
    /// before the store could tell, at its next start, that its log lost what the head
    /// covers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Kept`] when the head cannot be kept: then it must not be signed.
    pub async fn kept_head(&self) -> Result<LogHead, StoreError> {
        let head = self.log_head();
        if let Some(kept) = &self.kept {
            kept.keep_head(head.size).await?;
        }
        Ok(head)
    }

    /// Keeps the latest head and stops keeping heads in the background; returns once no
    /// write is under way. A gateway calls it when it has stopped serving, so that its
    /// final head is kept and nothing is written in its data folder after shutdown.
    ///
    /// # Errors
    ///
    /// [`StoreError::Kept`] when the head cannot be written.
    pub async fn close_kept(&self) -> Result<(), StoreError> {
        match &self.kept {
            Some(kept) => kept.close().await,
            None => Ok(()),
        }
    }

    /// Keeps an exact copy of `trust` in the data folder (once), so that the signatures of
    /// envelopes admitted under it can be checked offline after it is replaced. Every
    /// envelope queued is kept with its list; the server also keeps each list it puts in
    /// force, for the heads it signs.
    ///
    /// # Errors
    ///
    /// [`StoreError::Kept`] when the copy cannot be written.
    pub async fn keep_trust_list(&self, trust: &TrustList) -> Result<(), StoreError> {
        match &self.kept {
            Some(kept) => kept.keep_trust_list(trust).await,
            None => Ok(()),
        }
    }

    /// The stored perfect-subtree hashes at `keys` (level, index); absent ones are left out.
    async fn subtrees(&self, keys: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
        self.reads.subtrees(keys).await
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
        self.reads.log_size().await
    }

    /// Deliveries after `after_seq`, oldest first, at most `limit`: (seq, envelope bytes).
    pub async fn deliveries(
        &self,
        scope: &FetchScope,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Bytes)>, StoreError> {
        self.reads.deliveries(scope, after_seq, limit).await
    }

    /// The state of a declaration.
    pub async fn declaration_status(
        &self,
        declaration_id: &str,
    ) -> Result<Option<DeclarationRecord>, StoreError> {
        self.reads.declaration_status(declaration_id).await
    }

    /// Indicators in force or revoked, as stored (for operators).
    pub async fn indicators(&self) -> Result<Vec<(RiskIndicator, String, bool)>, StoreError> {
        self.reads.indicators().await
    }

    /// A value of the `meta` table (e.g. the highest trust-list version ever in force).
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reads.meta(key).await
    }

    /// Sets a value of the `meta` table, durably. Rare (start-up, trust-list reloads), so it
    /// uses its own short-lived connection rather than the writer's queue.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.reads.set_meta(key, value).await
    }
}
