//! The store's reads and the outbox's bookkeeping on PostgreSQL: a pool beside the
//! writer's connection, as SQLite's readers are.

use super::super::backend::{Lease, OutboxChange, StoreReads};
use super::super::outbox::{OutboxEntry, OutboxState, PendingDelivery};
use super::super::rows::{self, DECLARATION_COLUMNS, ENVELOPE_COLUMNS, OUTBOX_COLUMNS};
use super::super::{to_u64, FetchScope, StoreError, StoredEnvelope};
use super::{to_i64, OUTBOX_CHANNEL};
use crate::core::ledger::DeclarationRecord;
use crate::core::merkle::{Frontier, Hash};
use crate::core::retry::NextStep;
use crate::proto::v1::RiskIndicator;
use bytes::Bytes;
use prost::Message;
use sqlx::postgres::PgPool;
use sqlx::Row;
use std::collections::HashMap;

/// Reads over a pool of connections to the shared database.
#[derive(Debug)]
pub(in crate::store) struct PgReads {
    pool: PgPool,
}

impl PgReads {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for the commit listener.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The stored log's size and, if it holds at least `size` entries, its root at `size`.
    pub async fn measure_log(&self, size: u64) -> Result<(u64, Option<Hash>), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let log_size: i64 = sqlx::query_scalar("SELECT log_size FROM ledger")
            .fetch_one(&mut *conn)
            .await?;
        let log_size = to_u64(log_size, "log size")?;
        let root = if log_size >= size {
            super::root_at(&mut conn, size).await?
        } else {
            None
        };
        Ok((log_size, root))
    }

    /// The committed log's head: its size and root, as another replica left it.
    pub async fn head(&self) -> Result<(u64, Hash), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let size: i64 = sqlx::query_scalar("SELECT log_size FROM ledger")
            .fetch_one(&mut *tx)
            .await?;
        let size = to_u64(size, "log size")?;
        let frontier: Frontier = super::load_frontier(&mut tx, size).await?;
        tx.commit().await?;
        Ok((size, frontier.root()))
    }
}

#[async_trait::async_trait]
impl StoreReads for PgReads {
    async fn envelope(&self, message_id: &str) -> Result<Option<StoredEnvelope>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM envelopes WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| rows::stored_envelope(&r)).transpose()
    }

    async fn subtrees(&self, keys: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        super::subtrees(&mut conn, keys).await
    }

    async fn log_size(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT log_size FROM ledger")
            .fetch_one(&self.pool)
            .await?;
        to_u64(n, "log size")
    }

    async fn deliveries(
        &self,
        scope: &FetchScope,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let after = to_i64(after_seq);
        let rows = match scope {
            FetchScope::Recipient(recipient) => {
                sqlx::query(
                    "SELECT d.seq AS seq, e.envelope AS envelope FROM deliveries d
                     JOIN envelopes e ON e.log_index = d.log_index
                     WHERE d.recipient = $1 AND d.seq > $2 ORDER BY d.seq LIMIT $3",
                )
                .bind(recipient)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            FetchScope::Everything => {
                sqlx::query(
                    "SELECT log_index + 1 AS seq, envelope FROM envelopes WHERE log_index >= $1
                     ORDER BY log_index LIMIT $2",
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
            "SELECT {DECLARATION_COLUMNS} FROM declarations WHERE message_id = $1"
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
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
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
                    "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.state = $1 ORDER BY o.id"
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
        let mut tx = self.pool.begin().await?;
        let done =
            match change {
                OutboxChange::Delivered {
                    id,
                    receipt,
                    now_ms,
                } => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'delivered', receipt = $1, done_at_ms = $2,
                            last_error = '', leased_by = NULL, lease_until_ms = NULL
                     WHERE id = $3 AND state = 'pending'",
                    )
                    .bind(receipt.encode_to_vec())
                    .bind(now_ms)
                    .bind(to_i64(id))
                    .execute(&mut *tx)
                    .await?
                }
                OutboxChange::Failed {
                    id,
                    error,
                    next: NextStep::RetryAt(at),
                    ..
                } => {
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $1,
                            next_attempt_ms = $2, leased_by = NULL, lease_until_ms = NULL
                     WHERE id = $3 AND state = 'pending'",
                    )
                    .bind(error)
                    .bind(at)
                    .bind(to_i64(id))
                    .execute(&mut *tx)
                    .await?
                }
                OutboxChange::Failed {
                    id,
                    error,
                    next: NextStep::DeadLetter,
                    now_ms,
                } => sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1, state = 'dead',
                            done_at_ms = $2, leased_by = NULL, lease_until_ms = NULL
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(error)
                .bind(now_ms)
                .bind(to_i64(id))
                .execute(&mut *tx)
                .await?,
                OutboxChange::Retry { id, now_ms } => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', next_attempt_ms = $1,
                            queued_at_ms = $1, done_at_ms = NULL
                     WHERE id = $2 AND state IN ('pending', 'dead')",
                    )
                    .bind(now_ms)
                    .bind(to_i64(id))
                    .execute(&mut *tx)
                    .await?
                }
            };
        // The other replicas' forwarders and operators' tools follow the outbox too.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn outbox_lease(
        &self,
        id: u64,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row is locked for this short transaction only; a replica that finds it locked
        // by another's lease request skips it rather than queueing behind it.
        let row = sqlx::query(
            "SELECT state, leased_by, lease_until_ms FROM outbox WHERE id = $1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(to_i64(id))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Locked by another replica's request this instant: held, briefly.
            return Ok(Lease::HeldUntil(now_ms + 100));
        };
        let state: String = row.try_get("state")?;
        if state != OutboxState::Pending.as_str() {
            return Ok(Lease::Gone);
        }
        let leased_by: Option<String> = row.try_get("leased_by")?;
        let lease_until: Option<i64> = row.try_get("lease_until_ms")?;
        if let (Some(other), Some(until)) = (leased_by, lease_until) {
            if other != holder && until > now_ms {
                return Ok(Lease::HeldUntil(until));
            }
        }
        sqlx::query("UPDATE outbox SET leased_by = $1, lease_until_ms = $2 WHERE id = $3")
            .bind(holder)
            .bind(until_ms)
            .bind(to_i64(id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Lease::Granted)
    }
}
