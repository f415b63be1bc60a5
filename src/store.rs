//! Durable storage of accepted envelopes: the only place that decides whether a message id
//! was seen before, and the only place that hands out `log_index` positions.
//!
//! One writer task owns the write connection and commits in groups: every submission that
//! arrives while a commit (and its fsync) is under way joins the next transaction, so that
//! durability costs one fsync per group, not per message, and the log index stays gap-free
//! because only committed transactions advance it. Readers use a separate pool (SQLite WAL
//! lets them run beside the writer). SQLite in WAL mode with `synchronous=FULL` makes a
//! commit durable before `append` returns, which is what lets the service send a receipt.

use crate::core::admission::{Admitted, AdmittedPayload};
use crate::core::rejection::{FieldViolation, Rejection};
use crate::proto::v1::{Disposition, Envelope};
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
use tokio::sync::{mpsc, oneshot};

/// Most submissions one transaction takes; bounds the latency a group adds.
const MAX_GROUP: usize = 512;
/// Submissions waiting for the writer before callers are slowed down.
const QUEUE_DEPTH: usize = 8192;

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
    /// The writer task is gone (shutdown in progress).
    #[error("store is shutting down")]
    Closed,
    /// Stored data contradicts itself.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
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

/// Entry kinds of the log (§9 leaf prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// An envelope this gateway accepted.
    Accepted = 1,
    /// An envelope this gateway issued.
    Issued = 2,
}

struct AppendJob {
    admitted: Admitted,
    reply: oneshot::Sender<Result<Result<Stored, Rejection>, StoreError>>,
}

/// Handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    writer: mpsc::Sender<AppendJob>,
    readers: SqlitePool,
    path: PathBuf,
    commits: Arc<AtomicU64>,
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
        UNIQUE (sender, lrn)
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

impl Store {
    /// Opens (creating if missing) the store in `data_dir`, and starts its writer task.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| open_err(Box::new(e)))?;
        let path = data_dir.join("aedgate.db");
        let mut writer = SqliteConnection::connect_with(&options(&path))
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut writer).await?;
        }
        let next_index: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes")
                .fetch_one(&mut writer)
                .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options(&path).read_only(true))
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer_task(writer, rx, next_index, commits.clone()));
        Ok(Self {
            writer: tx,
            readers,
            path,
            commits,
        })
    }

    /// Stores an admitted envelope durably, or tells why it is a duplicate or refused
    /// (message id reuse, LRN reuse). Returns only after the commit is on disk.
    pub async fn append(
        &self,
        admitted: Admitted,
    ) -> Result<Result<Stored, Rejection>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(AppendJob { admitted, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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

    /// Transactions committed since the store was opened: with group commit, far fewer than
    /// the envelopes stored under concurrent load.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Number of log entries, which is also the next `log_index`.
    pub async fn log_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes")
            .fetch_one(&self.readers)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
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
    let log_index: i64 = row.try_get("log_index")?;
    Ok(StoredEnvelope {
        message_id: row.try_get("message_id")?,
        log_index: u64::try_from(log_index)
            .map_err(|_| StoreError::Corrupt("negative log_index".into()))?,
        received_at_ms: row.try_get("received_at_ms")?,
        envelope_digest: row.try_get("envelope_digest")?,
        envelope,
    })
}

/// What one job of a group came to, before the commit makes it true.
type Decision = Result<Stored, Rejection>;

async fn writer_task(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<AppendJob>,
    mut next_index: i64,
    commits: Arc<AtomicU64>,
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
        let start_index = next_index;
        match commit_group(&mut conn, &group, &mut next_index).await {
            Ok(decisions) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for (job, decision) in group.drain(..).zip(decisions) {
                    // A caller that went away still had its envelope stored; a resend gets
                    // DUPLICATE with the same log index.
                    let _ = job.reply.send(Ok(decision));
                }
            }
            Err(error) => {
                next_index = start_index;
                tracing::error!(%error, "group commit failed; {} submission(s) not acknowledged", group.len());
                let message = error.to_string();
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Corrupt(format!(
                        "commit failed: {message}"
                    ))));
                }
            }
        }
    }
}

async fn commit_group(
    conn: &mut SqliteConnection,
    group: &[AppendJob],
    next_index: &mut i64,
) -> Result<Vec<Decision>, StoreError> {
    let received_at_ms = now_ms();
    let mut tx = conn.begin().await?;
    let mut decisions = Vec::with_capacity(group.len());
    // Envelopes of this group, visible to later jobs of the same group before the commit.
    let mut pending_ids: HashMap<&str, (&[u8], Stored)> = HashMap::new();
    let mut pending_lrns: HashMap<(&str, &str), &str> = HashMap::new();
    for job in group {
        let admitted = &job.admitted;
        let header = &admitted.header;
        let AdmittedPayload::Declaration(declaration) = &admitted.payload;
        // §7: an LRN is unique per sender (a validation rule, so it is checked before reuse
        // of the message id, following §3's order).
        let lrn_owner: Option<String> =
            match pending_lrns.get(&(header.sender.as_str(), declaration.lrn.as_str())) {
                Some(owner) => Some((*owner).to_owned()),
                None => {
                    sqlx::query_scalar(
                        "SELECT message_id FROM declarations WHERE sender = ? AND lrn = ?",
                    )
                    .bind(&header.sender)
                    .bind(&declaration.lrn)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
        if let Some(owner) = lrn_owner.filter(|owner| owner != &header.message_id) {
            decisions.push(Err(Rejection::ValidationFailed(vec![FieldViolation::new(
                "lrn",
                format!(
                    "LRN {:?} is already used by declaration {owner}",
                    declaration.lrn
                ),
            )])));
            continue;
        }
        let earlier: Option<(Vec<u8>, Stored)> = match pending_ids.get(header.message_id.as_str()) {
            Some((digest, stored)) => Some((digest.to_vec(), *stored)),
            None => sqlx::query("SELECT envelope_digest, received_at_ms, log_index FROM envelopes WHERE message_id = ?")
                .bind(&header.message_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| -> Result<_, StoreError> {
                    let index: i64 = row.try_get("log_index")?;
                    Ok((
                        row.try_get::<Vec<u8>, _>("envelope_digest")?,
                        Stored {
                            disposition: Disposition::Accepted,
                            received_at_ms: row.try_get("received_at_ms")?,
                            log_index: u64::try_from(index)
                                .map_err(|_| StoreError::Corrupt("negative log_index".into()))?,
                        },
                    ))
                })
                .transpose()?,
        };
        if let Some((digest, stored)) = earlier {
            decisions.push(if digest == admitted.digest {
                Ok(Stored {
                    disposition: Disposition::Duplicate,
                    ..stored
                })
            } else {
                Err(Rejection::MessageIdConflict {
                    message_id: header.message_id.clone(),
                })
            });
            continue;
        }
        let log_index = *next_index;
        sqlx::query(
            "INSERT INTO envelopes (log_index, message_id, direction, sender, recipient, msg_type, correlation_id,
                                    created_at_ms, received_at_ms, envelope_digest, envelope)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(log_index)
        .bind(&header.message_id)
        .bind(Direction::Accepted as u8 as i64)
        .bind(&header.sender)
        .bind(&header.recipient)
        .bind(i64::from(header.r#type))
        .bind(&header.correlation_id)
        .bind(header.created_at_ms)
        .bind(received_at_ms)
        .bind(&admitted.digest[..])
        .bind(&admitted.raw[..])
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO declarations (message_id, sender, lrn) VALUES (?, ?, ?)")
            .bind(&header.message_id)
            .bind(&header.sender)
            .bind(&declaration.lrn)
            .execute(&mut *tx)
            .await?;
        *next_index += 1;
        let stored = Stored {
            disposition: Disposition::Accepted,
            received_at_ms,
            log_index: u64::try_from(log_index)
                .map_err(|_| StoreError::Corrupt("negative log_index".into()))?,
        };
        pending_ids.insert(header.message_id.as_str(), (&admitted.digest[..], stored));
        pending_lrns.insert(
            (header.sender.as_str(), declaration.lrn.as_str()),
            header.message_id.as_str(),
        );
        decisions.push(Ok(stored));
    }
    tx.commit().await?;
    Ok(decisions)
}
