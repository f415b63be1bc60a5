//! `aedgate store copy`: a pilot's embedded store moved into the PostgreSQL database its
//! replicas will share, so that moving to production keeps every receipt partners hold
//! provable (PROTOCOL.md §13; docs/replicas.md).
//!
//! The copy is one PostgreSQL transaction: it either lands whole or leaves the database as
//! it was. The source is read through a read-only connection while the data folder's lock
//! is held, so no gateway writes it meanwhile; the target must be empty, so nothing is
//! merged. Every table is streamed, a batch of rows at a time, so memory stays small
//! whatever the store's size. Afterwards the copy's log is measured: its size and root must
//! be the source's, and `aedgate audit verify-store --store URL` checks every entry.

use super::lock::DataDirLock;
use super::{postgres, sqlite, StoreError};
use crate::core::merkle::Hash;
use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Row};
use std::path::Path;

/// Rows per INSERT: 500 rows of at most 16 columns stay far below PostgreSQL's 65,535
/// parameters per statement.
const BATCH: usize = 500;

/// One table as copied: its columns in order, their kinds (`i` integer, `I` nullable
/// integer, `t` text, `b` bytes, `B` nullable bytes), and the order that keeps what order
/// means (the log's, acceptance's, the outbox's).
struct Table {
    name: &'static str,
    columns: &'static str,
    kinds: &'static str,
    order: &'static str,
}

const TABLES: &[Table] = &[
    Table {
        name: "meta",
        columns: "key, value",
        kinds: "tt",
        order: "key",
    },
    Table {
        name: "envelopes",
        columns: "log_index, message_id, direction, sender, recipient, msg_type, \
                  correlation_id, created_at_ms, received_at_ms, envelope_digest, envelope",
        kinds: "itittitiibb",
        order: "log_index",
    },
    // By rowid, so that `accepted` numbers them in the order SQLite accepted them (R5).
    Table {
        name: "declarations",
        columns: "message_id, sender, lrn, mrn, state, outcome, open_referral_id, \
                  referral_count, satisfied, data, updated_at_ms, account, party_key, \
                  parcel_value, parcel_counts, received_at_ms",
        kinds: "ttttiititbibIiii",
        order: "rowid",
    },
    Table {
        name: "referrals",
        columns: "referral_id, declaration_id, outcome_message_id, kind, indicator_id, status",
        kinds: "tttttt",
        order: "rowid",
    },
    Table {
        name: "indicators",
        columns: "indicator_id, version, issuer, message_id, indicator, revoked",
        kinds: "tittbi",
        order: "indicator_id",
    },
    Table {
        name: "merkle",
        columns: "level, idx, hash",
        kinds: "iib",
        order: "level, idx",
    },
    Table {
        name: "outbox",
        columns: "id, peer, log_index, message_id, msg_type, queued_at_ms, state, attempts, \
                  next_attempt_ms, last_error, receipt, done_at_ms",
        kinds: "ititiitiitBI",
        order: "id",
    },
    Table {
        name: "indicator_routes",
        columns: "indicator_id, peer",
        kinds: "tt",
        order: "indicator_id, peer",
    },
    Table {
        name: "deliveries",
        columns: "recipient, seq, log_index",
        kinds: "tii",
        order: "recipient, seq",
    },
];

/// A value on its way from one database to the other.
enum Value {
    Int(Option<i64>),
    Text(String),
    Bytes(Option<Vec<u8>>),
}

/// What was copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Log entries, the same in both.
    pub log_size: u64,
    /// The log's root, the same in both.
    pub root: Hash,
    /// Declarations on file.
    pub declarations: u64,
}

/// Copies the SQLite store in `data_dir` into the empty PostgreSQL database at `url`
/// (migrating its schema first), and checks that the copy's log has the source's size and
/// root.
pub async fn copy_to_postgres(data_dir: &Path, url: &str) -> Result<Copied, StoreError> {
    // No gateway may write the source while it is copied.
    let _lock = DataDirLock::acquire(data_dir)?;
    let source = sqlite::read_only_pool(data_dir).await?;
    let (log_size, _) = sqlite::measure_log(data_dir, 0).await?;
    let (_, root) = sqlite::measure_log(data_dir, log_size).await?;
    let root = root.ok_or_else(|| {
        StoreError::Corrupt(
            "the source's Merkle log cannot give its root: run `aedgate audit verify-store` on it"
                .into(),
        )
    })?;
    let mut target = postgres::connect_migrated(url).await?;
    let mut tx = sqlx::Connection::begin(&mut target).await?;
    let present: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM envelopes) + (SELECT COUNT(*) FROM declarations)
              + (SELECT COUNT(*) FROM outbox)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if present > 0 {
        return Err(StoreError::NotEmpty {
            url: postgres::redacted(url),
            rows: u64::try_from(present).unwrap_or(0),
        });
    }
    // What the migration wrote (the ledger's row aside) gives way to the source's.
    sqlx::query("DELETE FROM meta").execute(&mut *tx).await?;
    for table in TABLES {
        copy_table(&source, &mut tx, table).await?;
    }
    let declarations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM declarations")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE ledger SET log_size = $1, declarations = $2, indicators_version = 0")
        .bind(i64::try_from(log_size).unwrap_or(i64::MAX))
        .bind(declarations)
        .execute(&mut *tx)
        .await?;
    // The outbox's next id follows the copied ones.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('outbox', 'id'),
                       COALESCE((SELECT MAX(id) FROM outbox), 1),
                       (SELECT MAX(id) FROM outbox) IS NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    source.close().await;
    let _ = sqlx::Connection::close(target).await;
    let (copied_size, copied_root) = postgres::measure_log(url, log_size).await?;
    if copied_size != log_size || copied_root != Some(root) {
        return Err(StoreError::Corrupt(format!(
            "the copy's log (size {copied_size}) does not give the source's root at size {log_size}"
        )));
    }
    Ok(Copied {
        log_size,
        root,
        declarations: u64::try_from(declarations).unwrap_or(0),
    })
}

/// Streams one table from the source into the target, [`BATCH`] rows per INSERT.
async fn copy_table(
    source: &sqlx::SqlitePool,
    target: &mut sqlx::PgConnection,
    table: &Table,
) -> Result<(), StoreError> {
    let select = format!(
        "SELECT {} FROM {} ORDER BY {}",
        table.columns, table.name, table.order
    );
    let mut rows = sqlx::query(&select).fetch(source);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    while let Some(row) = rows.try_next().await? {
        let mut values = Vec::with_capacity(table.kinds.len());
        for (i, kind) in table.kinds.chars().enumerate() {
            values.push(match kind {
                'i' => Value::Int(Some(row.try_get::<i64, _>(i)?)),
                'I' => Value::Int(row.try_get::<Option<i64>, _>(i)?),
                't' => Value::Text(row.try_get::<String, _>(i)?),
                'b' => Value::Bytes(Some(row.try_get::<Vec<u8>, _>(i)?)),
                _ => Value::Bytes(row.try_get::<Option<Vec<u8>>, _>(i)?),
            });
        }
        batch.push(values);
        if batch.len() == BATCH {
            insert(target, table, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        insert(target, table, batch).await?;
    }
    Ok(())
}

async fn insert(
    target: &mut sqlx::PgConnection,
    table: &Table,
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let mut query = QueryBuilder::new(format!("INSERT INTO {} ({}) ", table.name, table.columns));
    query.push_values(rows, |mut values, row| {
        for value in row {
            match value {
                Value::Int(n) => values.push_bind(n),
                Value::Text(text) => values.push_bind(text),
                Value::Bytes(bytes) => values.push_bind(bytes),
            };
        }
    });
    query.build().execute(&mut *target).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_names_one_kind_per_column() {
        for table in TABLES {
            assert_eq!(
                table.kinds.len(),
                table.columns.split(',').count(),
                "{}",
                table.name
            );
            assert!(
                table.kinds.chars().all(|k| "iItbB".contains(k)),
                "{}",
                table.name
            );
        }
    }
}
