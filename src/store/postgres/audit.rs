//! The audit's rows (`store/verify.rs`) from the shared PostgreSQL database: the same
//! streams as SQLite's, so that `aedgate audit verify-store --store URL` checks a replica
//! set's log exactly as it checks an embedded store.

use super::super::rows::{self};
use super::super::verify::{AuditRows, StoredEntry, StoredPeerReceipt, StoredSubtree};
use super::super::StoreError;
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::postgres::{PgPool, PgPoolOptions};

/// Opens a small pool on the database at `url` for the audit.
pub(in crate::store) async fn audit_rows(url: &str) -> Result<PgAuditRows, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(super::connect_options(url)?)
        .await
        .map_err(|e| StoreError::Open {
            path: super::redacted(url).into(),
            source: Box::new(e),
        })?;
    Ok(PgAuditRows(pool))
}

/// A pool the audit streams from. Entries below the end it reads never change once
/// committed, so the streams see one consistent log even while replicas append.
pub(in crate::store) struct PgAuditRows(PgPool);

#[async_trait::async_trait]
impl AuditRows for PgAuditRows {
    async fn end(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT GREATEST((SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes),
                             (SELECT COALESCE(MAX(idx) + 1, 0) FROM merkle WHERE level = 0))",
        )
        .fetch_one(&self.0)
        .await?)
    }

    fn entries(&self, end: i64) -> BoxStream<'_, Result<StoredEntry, StoreError>> {
        sqlx::query(
            "SELECT log_index, message_id, direction, sender, recipient, msg_type, correlation_id,
                    created_at_ms, received_at_ms, envelope_digest, envelope
             FROM envelopes WHERE log_index < $1 ORDER BY log_index",
        )
        .bind(end)
        .fetch(&self.0)
        .map(|row| rows::audit_entry(&row?))
        .boxed()
    }

    fn subtrees(&self, end: i64) -> BoxStream<'_, Result<StoredSubtree, StoreError>> {
        sqlx::query(
            "SELECT level, idx, hash FROM merkle WHERE ((idx + 1) << level::int) - 1 < $1
             ORDER BY ((idx + 1) << level::int) - 1, level",
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
             WHERE o.receipt IS NOT NULL AND o.log_index < $1 ORDER BY o.log_index, o.id",
        )
        .bind(end)
        .fetch(&self.0)
        .map(|row| rows::audit_receipt(&row?))
        .boxed()
    }
}
