//! The SQLite backend of the ledger's writer: the one database aedgate embeds, so that a
//! gateway needs nothing but its data folder.
//!
//! It implements the [`LedgerBackend`] seam. A group is one `BEGIN IMMEDIATE` transaction
//! on the writer's own connection (readers use a separate pool; SQLite's WAL lets them run
//! beside it). Rows a group adds in bulk are buffered in [`PendingRows`] and written as one
//! multi-statement query before the commit, or before any statement that reads or updates
//! those tables, so that every read sees the group's own writes.

mod batch;
mod checkpoint;
mod reads;

pub(super) use reads::SqliteReads;

use super::backend::{
    CaughtUp, Counters, GroupLedger, GroupWrite, LedgerBackend, Loaded, LogEntry, ParcelWindow,
};
use super::encoding::account_bytes;
use super::rows::{self, DECLARATION_COLUMNS, REFERRAL_COLUMNS};
use super::verify::{AuditRows, StoredEntry, StoredPeerReceipt, StoredSubtree};
use super::{to_u64, Direction, StoreError};
use crate::core::ledger::{DeclarationRecord, Issue, Parcel, ReferralRecord, ReferralStatus};
use crate::core::merkle::{self, Frontier, Hash};
use crate::core::risk::IndicatorRecord;
use crate::proto::v1::Envelope;
use batch::{DeclarationRow, DeliveryRow, EnvelopeRow, ParcelColumns, PendingRows, ReferralRow};
use checkpoint::CheckpointDue;
use futures_util::stream::{BoxStream, StreamExt};
use prost::Message;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// File name of the database inside the data folder.
const DB_FILE: &str = "aedgate.db";

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

/// The writer's connection: checkpoints are the background task's (`checkpoint.rs`).
fn writer_options(path: &Path) -> SqliteConnectOptions {
    options(path).pragma("wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT)
}

/// Opens (creating if missing) the database in `data_dir`, brings its schema up to date,
/// and returns the writer's backend and the reads.
pub(super) async fn open(data_dir: &Path) -> Result<(SqliteBackend, SqliteReads), StoreError> {
    let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
        path: data_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| open_err(Box::new(e)))?;
    let path = data_dir.join(DB_FILE);
    let mut conn = SqliteConnection::connect_with(&writer_options(&path))
        .await
        .map_err(|e| open_err(Box::new(e)))?;
    MIGRATIONS
        .run(&mut conn)
        .await
        .map_err(StoreError::Migration)?;
    prove_writable(&mut conn)
        .await
        .map_err(|cause| StoreError::NotWritable {
            path: path.clone(),
            cause: cause.to_string(),
        })?;
    let readers = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options(&path).read_only(true))
        .await
        .map_err(|e| open_err(Box::new(e)))?;
    Ok((
        SqliteBackend {
            conn: Some(conn),
            checkpoint: CheckpointDue::start(path.clone()),
            path: path.clone(),
        },
        SqliteReads::new(readers, path),
    ))
}

/// Writes and commits one row the way a group commit does. SQLite opens a file it may not
/// write (read-only permissions, an immutable file, a read-only mount) read-only without a
/// word, and a migrated store needs no write to open: without this a gateway started,
/// reported SERVING and then refused every Submit with STORE_UNAVAILABLE.
async fn prove_writable(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('writable_at_ms', ?)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .bind(crate::clock::now_ms().to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Opens an existing database for reading only (audits, offline tools): no migration,
/// nothing created.
pub(super) async fn open_read_only(data_dir: &Path) -> Result<SqliteReads, StoreError> {
    let readers = read_only_pool(data_dir).await?;
    Ok(SqliteReads::new(readers, data_dir.join(DB_FILE)))
}

/// The stored log's size and, if it holds at least `size` entries, its root at `size`
/// (None where the hashes that make it are missing), read before anything is written.
///
/// It uses a read-only connection of its own: a read-write one would, on closing, write
/// the write-ahead log into the database and delete it, and a commit would overwrite its
/// tail. After a crash, that tail may hold the only copy of commits that recovery dropped
/// (one damaged frame hides every later one), so a store found shorter than its kept head
/// is left exactly as it was found. A folder with no database has an empty log.
pub(super) async fn measure_log(
    data_dir: &Path,
    size: u64,
) -> Result<(u64, Option<Hash>), StoreError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Ok((0, None));
    }
    let mut conn =
        SqliteConnection::connect_with(&options(&path).create_if_missing(false).read_only(true))
            .await
            .map_err(|e| StoreError::Open {
                path: data_dir.to_path_buf(),
                source: Box::new(e),
            })?;
    let log_size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes")
        .fetch_one(&mut conn)
        .await?;
    let log_size = to_u64(log_size, "log size")?;
    let root = if log_size >= size {
        // The subtrees the root reads depend only on the size: note them, fetch them, and
        // compute with them.
        let wanted = std::cell::RefCell::new(Vec::new());
        let placeholder = merkle::empty_root();
        let _ = merkle::root(
            &|level: u32, index: u64| {
                wanted.borrow_mut().push((level, index));
                Some(placeholder)
            },
            size,
        );
        let mut nodes = HashMap::new();
        for (level, index) in wanted.into_inner() {
            let hash: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT hash FROM merkle WHERE level = ? AND idx = ?")
                    .bind(i64::from(level))
                    .bind(to_i64(index))
                    .fetch_optional(&mut conn)
                    .await?;
            if let Some(hash) = hash.and_then(|h| Hash::try_from(h.as_slice()).ok()) {
                nodes.insert((level, index), hash);
            }
        }
        merkle::root(&|l: u32, i: u64| nodes.get(&(l, i)).copied(), size).ok()
    } else {
        None
    };
    conn.close().await?;
    Ok((log_size, root))
}

pub(super) type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// The writer's connection.
pub(super) struct SqliteBackend {
    /// `None` only between closing a connection whose commit failed and opening a fresh
    /// one (see [`LedgerBackend::recover`]).
    conn: Option<SqliteConnection>,
    /// The database file, to reconnect to after a failed commit.
    path: std::path::PathBuf,
    /// Wakes the background checkpointer every so many commits.
    checkpoint: CheckpointDue,
}

/// One group's transaction and the rows it has not written yet.
pub(super) struct SqliteGroup<'a> {
    tx: Tx<'a>,
    pending: PendingRows,
    checkpoint: CheckpointDue,
}

impl SqliteGroup<'_> {
    /// The transaction, with every buffered row written: for statements that read or
    /// update the tables the group adds to in bulk.
    async fn flushed(&mut self) -> Result<&mut sqlx::SqliteConnection, StoreError> {
        self.pending.flush(&mut self.tx).await?;
        Ok(&mut *self.tx)
    }
}

/// Executes one statement whose binds are all text: in the group's transaction as is (for
/// the indicator and route tables, which a group never adds to in bulk) or after
/// [`SqliteGroup::flushed`]. One place, so that each such write reads as its SQL and values.
async fn execute(
    conn: &mut SqliteConnection,
    sql: &'static str,
    binds: &[&str],
) -> Result<(), StoreError> {
    let mut query = sqlx::query(sql);
    for value in binds {
        query = query.bind(*value);
    }
    query.execute(conn).await?;
    Ok(())
}

impl SqliteBackend {
    /// The writer's connection, unless a failed commit closed it and no fresh one could be
    /// opened yet.
    fn connection(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.conn.as_mut().ok_or_else(|| {
            StoreError::CommitFailed("the store's connection is being reopened".into())
        })
    }
}

impl LedgerBackend for SqliteBackend {
    type Group<'a> = SqliteGroup<'a>;

    async fn load(&mut self) -> Result<Loaded, StoreError> {
        let conn = self.connection()?;
        let log_size: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes")
                .fetch_one(&mut *conn)
                .await?;
        let log_size = to_u64(log_size, "log size")?;
        let declarations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM declarations")
            .fetch_one(&mut *conn)
            .await?;
        let indicators = sqlx::query(rows::INDICATORS_IN_FORCE)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(rows::indicator_record)
            .collect::<Result<Vec<_>, _>>()?;
        let frontier = load_frontier(conn, log_size).await?;
        Ok(Loaded {
            log_size,
            frontier,
            declarations: to_u64(declarations, "declaration count")?,
            indicators,
            indicators_version: 0,
        })
    }

    async fn begin(&mut self) -> Result<SqliteGroup<'_>, StoreError> {
        // IMMEDIATE takes the write lock up front (waiting for it under the busy timeout): a
        // deferred transaction that reads first would fail at its first write if the
        // outbox's connection committed in between, instead of waiting.
        let checkpoint = self.checkpoint.clone();
        Ok(SqliteGroup {
            tx: self.connection()?.begin_with("BEGIN IMMEDIATE").await?,
            pending: PendingRows::default(),
            checkpoint,
        })
    }

    async fn recover(&mut self) -> Result<(), StoreError> {
        // sqlx counts a transaction whose COMMIT failed as still open, and SQLite may or may
        // not have rolled it back (SQLITE_FULL, SQLITE_IOERR): only a new connection is in a
        // known state. Closing the old one rolls back whatever it left unfinished.
        if let Some(stale) = self.conn.take() {
            // It may still hold the write lock of its unfinished transaction, which would
            // keep the fresh one waiting: it goes first. Closing politely may itself fail
            // on a broken connection; closed it is, either way.
            let _ = stale.close().await;
        }
        let mut fresh = SqliteConnection::connect_with(&writer_options(&self.path)).await?;
        prove_writable(&mut fresh)
            .await
            .map_err(|cause| StoreError::NotWritable {
                path: self.path.clone(),
                cause: cause.to_string(),
            })?;
        self.conn = Some(fresh);
        Ok(())
    }
}

impl GroupWrite for SqliteGroup<'_> {
    async fn prefetch(
        &mut self,
        _known: &Counters,
        message_ids: &[&str],
        lrns: &[(&str, &str)],
    ) -> Result<(Option<CaughtUp>, GroupLedger), StoreError> {
        // The data folder's lock makes this writer the store's only one: nothing to catch
        // up with.
        Ok((
            None,
            batch::prefetch(&mut self.tx, message_ids, lrns).await?,
        ))
    }

    async fn parcels_since(
        &mut self,
        keys: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, ParcelWindow>, StoreError> {
        let conn = self.flushed().await?;
        batch::parcels_since(conn, keys, since_ms).await
    }

    async fn others_value(
        &mut self,
        declaration_id: &str,
        key: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(o.parcel_value), 0) FROM declarations o JOIN declarations x
             ON x.message_id = ?
             WHERE o.party_key = ? AND o.parcel_counts = 1 AND x.party_key IS NOT NULL
               AND o.rowid < x.rowid AND o.received_at_ms >= x.received_at_ms - ?",
        )
        .bind(declaration_id)
        .bind(key)
        .bind(window_ms)
        .fetch_one(self.flushed().await?)
        .await?)
    }

    async fn declaration_on_file(
        &mut self,
        message_id: &str,
        sender: &str,
        lrn: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT message_id FROM declarations WHERE message_id = ? OR (sender = ? AND lrn = ?)",
        )
        .bind(message_id)
        .bind(sender)
        .bind(lrn)
        .fetch_optional(self.flushed().await?)
        .await?)
    }

    async fn declaration(
        &mut self,
        id: &str,
        sender: &str,
    ) -> Result<Option<DeclarationRecord>, StoreError> {
        load_declaration(self.flushed().await?, id, sender).await
    }

    async fn referral(&mut self, referral_id: &str) -> Result<Option<ReferralRecord>, StoreError> {
        load_referral(self.flushed().await?, referral_id).await
    }

    async fn routes(&mut self, indicator_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT peer FROM indicator_routes WHERE indicator_id = ? ORDER BY peer",
        )
        .bind(indicator_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    async fn last_seq(&mut self, recipient: &str) -> Result<u64, StoreError> {
        // Not flushed: the writer counts the group's own deliveries itself.
        let last: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM deliveries WHERE recipient = ?")
                .bind(recipient)
                .fetch_one(&mut *self.tx)
                .await?;
        to_u64(last, "delivery seq")
    }

    fn log(&mut self, entry: LogEntry) {
        self.pending.subtrees.extend(entry.subtrees);
        self.pending.envelopes.push(EnvelopeRow {
            log_index: to_i64(entry.log_index),
            message_id: entry.message_id,
            direction: i64::from(entry.direction),
            sender: entry.sender,
            recipient: entry.recipient,
            msg_type: i64::from(entry.msg_type),
            correlation_id: entry.correlation_id,
            created_at_ms: entry.created_at_ms,
            received_at_ms: entry.received_at_ms,
            digest: entry.digest,
            envelope: entry.envelope,
        });
    }

    fn file_declaration(&mut self, record: &DeclarationRecord) {
        self.pending.declarations.push(declaration_row(record));
    }

    fn track_parcel(&mut self, parcel: &Parcel, received_at_ms: i64) {
        // The ledger tracks a declaration right after filing it: its row is still buffered,
        // and the index's columns are written with it.
        let columns = ParcelColumns {
            party_key: parcel.key,
            value: parcel.value,
            counts: parcel.counts,
            received_at_ms,
        };
        match self
            .pending
            .declarations
            .iter_mut()
            .rev()
            .find(|row| row.message_id == parcel.declaration_id)
        {
            Some(row) => row.parcel = Some(columns),
            None => self
                .pending
                .orphan_parcels
                .push((parcel.declaration_id.clone(), columns)),
        }
    }

    async fn update_parcel(&mut self, parcel: &Parcel) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE declarations SET party_key = ?, parcel_value = ?, parcel_counts = ?
             WHERE message_id = ?",
        )
        .bind(parcel.key)
        .bind(parcel.value)
        .bind(i64::from(parcel.counts))
        .bind(&parcel.declaration_id)
        .execute(self.flushed().await?)
        .await?;
        Ok(())
    }

    fn open_referral(&mut self, referral: &ReferralRecord) {
        self.pending.referrals.push(ReferralRow {
            referral_id: referral.referral_id.clone(),
            declaration_id: referral.declaration_id.clone(),
            outcome_message_id: referral.outcome_message_id.clone(),
            kind: referral.kind.as_str(),
            indicator_id: referral.indicator_id.clone(),
            status: referral.status.as_str(),
        });
    }

    fn deliver(&mut self, recipient: &str, seq: u64, log_index: u64) {
        self.pending.deliveries.push(DeliveryRow {
            recipient: recipient.to_owned(),
            seq: to_i64(seq),
            log_index: to_i64(log_index),
        });
    }

    async fn update_declaration(&mut self, record: &DeclarationRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE declarations SET state = ?, outcome = ?, open_referral_id = ?, referral_count = ?, satisfied = ?,
                                     data = ?, updated_at_ms = ?, account = ?
             WHERE message_id = ?",
        )
        .bind(record.state as i64)
        .bind(record.outcome as i64)
        .bind(&record.open_referral_id)
        .bind(i64::from(record.referral_count))
        .bind(satisfied_text(record))
        .bind(record.data.encode_to_vec())
        .bind(record.updated_at_ms)
        .bind(account_bytes(&record.account))
        .bind(&record.id)
        .execute(self.flushed().await?)
        .await?;
        Ok(())
    }

    async fn close_referral(
        &mut self,
        referral_id: &str,
        status: ReferralStatus,
    ) -> Result<(), StoreError> {
        execute(
            self.flushed().await?,
            "UPDATE referrals SET status = ? WHERE referral_id = ?",
            &[status.as_str(), referral_id],
        )
        .await
    }

    async fn queue_for_peer(
        &mut self,
        issue: &Issue,
        log_index: u64,
        now: i64,
    ) -> Result<(), StoreError> {
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
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn put_indicator(
        &mut self,
        record: &IndicatorRecord,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let indicator = &record.indicator;
        sqlx::query(
            "INSERT INTO indicators (indicator_id, version, issuer, message_id, indicator, revoked) VALUES (?, ?, ?, ?, ?, 0)
             ON CONFLICT(indicator_id) DO UPDATE SET version = excluded.version, issuer = excluded.issuer,
             message_id = excluded.message_id, indicator = excluded.indicator, revoked = 0",
        )
        .bind(&indicator.indicator_id)
        .bind(i64::from(indicator.version))
        .bind(&record.issuer)
        .bind(message_id)
        .bind(indicator.encode_to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn revoke_indicator(&mut self, indicator_id: &str) -> Result<(), StoreError> {
        execute(
            &mut self.tx,
            "UPDATE indicators SET revoked = 1 WHERE indicator_id = ?",
            &[indicator_id],
        )
        .await
    }

    async fn add_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError> {
        execute(
            &mut self.tx,
            "INSERT OR IGNORE INTO indicator_routes (indicator_id, peer) VALUES (?, ?)",
            &[indicator_id, peer],
        )
        .await
    }

    async fn remove_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError> {
        execute(
            &mut self.tx,
            "DELETE FROM indicator_routes WHERE indicator_id = ? AND peer = ?",
            &[indicator_id, peer],
        )
        .await
    }

    async fn clear_routes(&mut self, indicator_id: &str) -> Result<(), StoreError> {
        execute(
            &mut self.tx,
            "DELETE FROM indicator_routes WHERE indicator_id = ?",
            &[indicator_id],
        )
        .await
    }

    async fn commit(mut self, counters: Counters, _head: &Hash) -> Result<Counters, StoreError> {
        self.pending.flush(&mut self.tx).await?;
        self.tx.commit().await?;
        self.checkpoint.committed();
        Ok(counters)
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A referral as stored.
async fn load_referral(
    conn: &mut SqliteConnection,
    referral_id: &str,
) -> Result<Option<ReferralRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referral_id = ?"
    ))
    .bind(referral_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rows::referral).transpose()
}

/// The declaration `id` if `sender` filed it: another sender's declaration is as unknown
/// as one that does not exist.
async fn load_declaration(
    conn: &mut SqliteConnection,
    id: &str,
    sender: &str,
) -> Result<Option<DeclarationRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DECLARATION_COLUMNS} FROM declarations WHERE message_id = ? AND sender = ?"
    ))
    .bind(id)
    .bind(sender)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rows::declaration).transpose()
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
        account: account_bytes(&record.account),
        parcel: None,
    }
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

/// The audit's rows (`store/verify.rs`), streamed from the database in `data_dir` over a
/// read-only pool.
pub(super) async fn audit_rows(data_dir: &Path) -> Result<SqliteAuditRows, StoreError> {
    Ok(SqliteAuditRows(read_only_pool(data_dir).await?))
}

/// A small read-only pool on the existing database in `data_dir` (audits, copies,
/// offline tools); a folder without one is refused, never given an empty database.
pub(super) async fn read_only_pool(data_dir: &Path) -> Result<sqlx::SqlitePool, StoreError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::Open {
            path: data_dir.to_path_buf(),
            source: format!("no {DB_FILE} in this folder").into(),
        });
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options(&path).create_if_missing(false).read_only(true))
        .await
        .map_err(|e| StoreError::Open {
            path: data_dir.to_path_buf(),
            source: Box::new(e),
        })?;
    Ok(pool)
}

/// A read-only pool the audit streams from.
pub(super) struct SqliteAuditRows(sqlx::SqlitePool);

#[async_trait::async_trait]
impl AuditRows for SqliteAuditRows {
    async fn end(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX((SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes),
                        (SELECT COALESCE(MAX(idx) + 1, 0) FROM merkle WHERE level = 0))",
        )
        .fetch_one(&self.0)
        .await?)
    }

    fn entries(&self, end: i64) -> BoxStream<'_, Result<StoredEntry, StoreError>> {
        sqlx::query(
            "SELECT log_index, message_id, direction, sender, recipient, msg_type, correlation_id,
                    created_at_ms, received_at_ms, envelope_digest, envelope
             FROM envelopes WHERE log_index < ? ORDER BY log_index",
        )
        .bind(end)
        .fetch(&self.0)
        .map(|row| rows::audit_entry(&row?))
        .boxed()
    }

    fn subtrees(&self, end: i64) -> BoxStream<'_, Result<StoredSubtree, StoreError>> {
        sqlx::query(
            "SELECT level, idx, hash FROM merkle WHERE ((idx + 1) << level) - 1 < ?
             ORDER BY ((idx + 1) << level) - 1, level",
        )
        .bind(end)
        .fetch(&self.0)
        .map(|row| rows::audit_subtree(&row?))
        .boxed()
    }

    fn receipts(&self, end: i64) -> BoxStream<'_, Result<StoredPeerReceipt, StoreError>> {
        sqlx::query(
            "SELECT o.log_index, o.peer, o.message_id, o.receipt, e.envelope_digest
             FROM outbox o JOIN envelopes e ON e.log_index = o.log_index
             WHERE o.receipt IS NOT NULL AND o.log_index < ? ORDER BY o.log_index, o.id",
        )
        .bind(end)
        .fetch(&self.0)
        .map(|row| rows::audit_receipt(&row?))
        .boxed()
    }
}
