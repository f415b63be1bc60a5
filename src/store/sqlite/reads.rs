//! The SQLite side of the store's reads: what Fetch, Status, Audit, operators and the
//! forwarder read, and the outbox's delivery bookkeeping. Readers use a pool of read-only
//! connections (SQLite's WAL lets them run beside the writer); outbox updates use one
//! connection of their own, so that a slow or unreachable peer never holds up the writer.

use super::super::backend::{Lease, OutboxChange, StoreReads};
use super::super::outbox::{OutboxEntry, OutboxState, PendingDelivery};
use super::super::rows::{self, DECLARATION_COLUMNS, ENVELOPE_COLUMNS, OUTBOX_COLUMNS};
use super::super::{to_u64, FetchScope, StoreError, StoredEnvelope};
use crate::core::ledger::DeclarationRecord;
use crate::core::merkle::Hash;
use crate::core::retry::NextStep;
use crate::proto::v1::RiskIndicator;
use bytes::Bytes;
use prost::Message;
use sqlx::sqlite::SqlitePool;
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::HashMap;
use std::path::PathBuf;

/// The reads of one SQLite store.
#[derive(Debug)]
pub(in crate::store) struct SqliteReads {
    pool: SqlitePool,
    path: PathBuf,
    outbox_conn: tokio::sync::Mutex<Option<SqliteConnection>>,
}

impl SqliteReads {
    /// Reads through `pool`; outbox updates open their own connection to `path` when
    /// first needed.
    pub fn new(pool: SqlitePool, path: PathBuf) -> Self {
        Self {
            pool,
            path,
            outbox_conn: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl StoreReads for SqliteReads {
    async fn envelope(&self, message_id: &str) -> Result<Option<StoredEnvelope>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE message_id = ?"
        ))
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| rows::stored_envelope(&r)).transpose()
    }

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
            for row in query.fetch_all(&self.pool).await? {
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

    async fn log_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes")
            .fetch_one(&self.pool)
            .await?;
        to_u64(n, "count")
    }

    async fn deliveries(
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
                .fetch_all(&self.pool)
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
                .fetch_all(&self.pool)
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

    async fn declaration_status(
        &self,
        declaration_id: &str,
    ) -> Result<Option<DeclarationRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DECLARATION_COLUMNS} FROM declarations WHERE message_id = ?"
        ))
        .bind(declaration_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::declaration).transpose()
    }

    async fn indicators(&self) -> Result<Vec<(RiskIndicator, String, bool)>, StoreError> {
        let rows =
            sqlx::query("SELECT indicator, issuer, revoked FROM indicators ORDER BY indicator_id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let indicator = rows::indicator(row)?;
                let revoked: i64 = row.try_get("revoked")?;
                Ok((indicator, row.try_get("issuer")?, revoked != 0))
            })
            .collect()
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut conn = SqliteConnection::connect_with(&super::options(&self.path)).await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    async fn outbox_heads(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS}, e.envelope, e.envelope_digest FROM outbox o
             JOIN envelopes e ON e.log_index = o.log_index
             WHERE o.id IN (SELECT MIN(id) FROM outbox WHERE state = 'pending' GROUP BY peer)
             ORDER BY o.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("envelope")?;
                Ok(PendingDelivery {
                    entry: rows::outbox_entry(row)?,
                    envelope: Bytes::from(bytes),
                    envelope_digest: row.try_get("envelope_digest")?,
                })
            })
            .collect()
    }

    async fn outbox(&self, state: Option<OutboxState>) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = match state {
            Some(state) => {
                sqlx::query(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.state = ? ORDER BY o.id"
                ))
                .bind(state.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox o ORDER BY o.id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(rows::outbox_entry).collect()
    }

    async fn outbox_update(&self, change: OutboxChange) -> Result<u64, StoreError> {
        let (sql, values) = outbox_statement(change);
        let mut guard = self.outbox_conn.lock().await;
        if guard.is_none() {
            *guard = Some(SqliteConnection::connect_with(&super::options(&self.path)).await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::Closed);
        };
        let mut query = sqlx::query(sql);
        for value in values {
            query = match value {
                Bind::Text(text) => query.bind(text),
                Bind::Int(n) => query.bind(n),
                Bind::Blob(bytes) => query.bind(bytes),
            };
        }
        match query.execute(&mut *conn).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(error) => {
                // A broken connection is reopened next time.
                *guard = None;
                Err(error.into())
            }
        }
    }

    async fn outbox_lease(
        &self,
        _id: u64,
        _holder: &str,
        _now_ms: i64,
        _until_ms: i64,
    ) -> Result<Lease, StoreError> {
        // The data folder's lock makes this gateway the store's only deliverer.
        Ok(Lease::Granted)
    }
}

/// A value bound to an outbox update.
enum Bind {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}

fn id_value(id: u64) -> Bind {
    Bind::Int(i64::try_from(id).unwrap_or(i64::MAX))
}

/// The UPDATE for an outbox change, with its values.
fn outbox_statement(change: OutboxChange) -> (&'static str, Vec<Bind>) {
    match change {
        OutboxChange::Delivered { id, receipt, now_ms } => (
            "UPDATE outbox SET state = 'delivered', receipt = ?, done_at_ms = ?, last_error = ''
             WHERE id = ? AND state = 'pending'",
            vec![Bind::Blob(receipt.encode_to_vec()), Bind::Int(now_ms), id_value(id)],
        ),
        OutboxChange::Failed {
            id,
            error,
            next: NextStep::RetryAt(at),
            ..
        } => (
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ?
             WHERE id = ? AND state = 'pending'",
            vec![Bind::Text(error), Bind::Int(at), id_value(id)],
        ),
        OutboxChange::Failed {
            id,
            error,
            next: NextStep::DeadLetter,
            now_ms,
        } => (
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, state = 'dead', done_at_ms = ?
             WHERE id = ? AND state = 'pending'",
            vec![Bind::Text(error), Bind::Int(now_ms), id_value(id)],
        ),
        OutboxChange::Retry { id, now_ms } => (
            "UPDATE outbox SET state = 'pending', next_attempt_ms = ?, queued_at_ms = ?, done_at_ms = NULL
             WHERE id = ? AND state IN ('pending', 'dead')",
            vec![Bind::Int(now_ms), Bind::Int(now_ms), id_value(id)],
        ),
    }
}
