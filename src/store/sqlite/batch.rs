//! What the writer learns and writes per group, so that a declaration costs no SQL round
//! trip of its own.
//!
//! Every statement the writer sends is a round trip to SQLite's worker thread, and the
//! writer is the one serial stage of the gateway: with a dozen statements per declaration it
//! spent most of its time waiting for answers (docs/performance.md). So, per group:
//!
//! - the message ids and the (sender, LRN) pairs of all its envelopes are looked up with a
//!   few `IN (...)` queries at the start ([`prefetch`]), and the writer records every envelope
//!   and declaration the group adds in the same maps, so the duplicate and LRN
//!   checks of §3 and §7 are answered from memory and stay exact within the group;
//! - the rows the group adds (envelopes, declarations, referrals, deliveries, Merkle
//!   subtrees) are buffered and written with multi-row INSERTs just before the commit, or
//!   before any job that reads those tables with SQL ([`PendingRows::flush`]).
//!
//! Nothing here outlives the group's transaction: a failed commit drops it with the rest of
//! the writer's state.

use super::super::backend::{GroupLedger, ParcelWindow};
use super::super::{rows, StoreError};
use super::Tx;
use crate::core::ledger::KnownEnvelope;
use crate::core::merkle::Hash;
use bytes::Bytes;
use sqlx::query_builder::Separated;
use sqlx::sqlite::Sqlite;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// Largest number of rows (or `IN` values) one statement takes: 11 columns × 128 rows is
/// 1,408 parameters, far below the 32,766 of the SQLite that libsqlite3-sys bundles (a
/// system SQLite older than 3.32 allows only 999).
const MAX_ROWS_PER_STATEMENT: usize = 128;

/// The values of one row, pushed as one `(?, ?, ...)` tuple of a multi-row INSERT.
type Values<'b, 'a> = Separated<'b, 'a, Sqlite, &'static str>;

/// A row type the writer inserts in bulk. sqlx's `QueryBuilder` writes a placeholder for
/// every value pushed, so a row's SQL and its values cannot disagree.
pub(super) trait BulkRow {
    /// `INSERT INTO table (columns...) `, without VALUES.
    const INSERT: &'static str;
    /// Pushes this row's values, in column order.
    fn push<'a>(&'a self, values: Values<'_, 'a>);
}

/// The value count of the next lookup: the largest power of two not above what is left
/// (and the cap), so that a handful of prepared `IN (...)` statements serve every group
/// size (sqlx caches statements by their text).
fn chunk_len(remaining: usize) -> usize {
    let capped = remaining.min(MAX_ROWS_PER_STATEMENT);
    if capped == 0 {
        0
    } else {
        1 << capped.ilog2()
    }
}

/// Appends the INSERT statements for `rows` to `query`, each ended by `;`, as few as the
/// parameter limit allows. Returns whether it appended any.
fn push_inserts<'a, R: BulkRow>(query: &mut QueryBuilder<'a, Sqlite>, rows: &'a [R]) -> bool {
    for chunk in rows.chunks(MAX_ROWS_PER_STATEMENT) {
        query.push(R::INSERT).push(" ");
        query.push_values(chunk, |values, row| row.push(values));
        query.push(";\n");
    }
    !rows.is_empty()
}

/// Inserts `rows` (in as few statements as the parameter limit allows).
pub(super) async fn insert_rows<R: BulkRow>(
    conn: &mut sqlx::SqliteConnection,
    rows: &[R],
) -> Result<(), StoreError> {
    let mut query = QueryBuilder::new("");
    if push_inserts(&mut query, rows) {
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A completed perfect subtree of the Merkle log (§9): level, index, hash.
pub(super) type SubtreeRow = (u32, u64, Hash);

impl BulkRow for SubtreeRow {
    const INSERT: &'static str = "INSERT INTO merkle (level, idx, hash)";
    fn push<'a>(&'a self, mut values: Values<'_, 'a>) {
        values
            .push_bind(i64::from(self.0))
            .push_bind(to_i64(self.1))
            .push_bind(self.2.as_slice());
    }
}

/// An envelope accepted or issued by the group.
pub(super) struct EnvelopeRow {
    pub log_index: i64,
    pub message_id: String,
    pub direction: i64,
    pub sender: String,
    pub recipient: String,
    pub msg_type: i64,
    pub correlation_id: String,
    pub created_at_ms: i64,
    pub received_at_ms: i64,
    pub digest: Vec<u8>,
    /// The envelope's bytes exactly as received (or as issued).
    pub envelope: Bytes,
}

impl BulkRow for EnvelopeRow {
    const INSERT: &'static str =
        "INSERT INTO envelopes (log_index, message_id, direction, sender, recipient, \
         msg_type, correlation_id, created_at_ms, received_at_ms, envelope_digest, envelope)";
    fn push<'a>(&'a self, mut values: Values<'_, 'a>) {
        values
            .push_bind(self.log_index)
            .push_bind(self.message_id.as_str())
            .push_bind(self.direction)
            .push_bind(self.sender.as_str())
            .push_bind(self.recipient.as_str())
            .push_bind(self.msg_type)
            .push_bind(self.correlation_id.as_str())
            .push_bind(self.created_at_ms)
            .push_bind(self.received_at_ms)
            .push_bind(self.digest.as_slice())
            .push_bind(self.envelope.as_ref());
    }
}

/// A declaration filed by the group, as first assessed.
pub(super) struct DeclarationRow {
    pub message_id: String,
    pub sender: String,
    pub lrn: String,
    pub mrn: String,
    pub state: i64,
    pub outcome: i64,
    pub open_referral_id: String,
    pub referral_count: i64,
    pub satisfied: String,
    pub data: Vec<u8>,
    pub updated_at_ms: i64,
    pub account: Vec<u8>,
    /// R5's splitting index entry, for a declaration charged here (set by `track_parcel`).
    pub parcel: Option<ParcelColumns>,
}

/// A charged declaration's columns of R5's splitting index.
pub(super) struct ParcelColumns {
    pub party_key: i64,
    pub value: i64,
    pub counts: bool,
    pub received_at_ms: i64,
}

impl BulkRow for DeclarationRow {
    const INSERT: &'static str =
        "INSERT INTO declarations (message_id, sender, lrn, mrn, state, outcome, \
         open_referral_id, referral_count, satisfied, data, updated_at_ms, account, \
         party_key, parcel_value, parcel_counts, received_at_ms)";
    fn push<'a>(&'a self, mut values: Values<'_, 'a>) {
        values
            .push_bind(self.message_id.as_str())
            .push_bind(self.sender.as_str())
            .push_bind(self.lrn.as_str())
            .push_bind(self.mrn.as_str())
            .push_bind(self.state)
            .push_bind(self.outcome)
            .push_bind(self.open_referral_id.as_str())
            .push_bind(self.referral_count)
            .push_bind(self.satisfied.as_str())
            .push_bind(self.data.as_slice())
            .push_bind(self.updated_at_ms)
            .push_bind(self.account.as_slice())
            .push_bind(self.parcel.as_ref().map(|p| p.party_key))
            .push_bind(self.parcel.as_ref().map_or(0, |p| p.value))
            .push_bind(self.parcel.as_ref().map_or(0, |p| i64::from(p.counts)))
            .push_bind(self.parcel.as_ref().map_or(0, |p| p.received_at_ms));
    }
}

/// A referral an outcome of the group opened.
pub(super) struct ReferralRow {
    pub referral_id: String,
    pub declaration_id: String,
    pub outcome_message_id: String,
    pub kind: &'static str,
    pub indicator_id: String,
    /// As the ledger opened it.
    pub status: &'static str,
}

impl BulkRow for ReferralRow {
    const INSERT: &'static str =
        "INSERT INTO referrals (referral_id, declaration_id, outcome_message_id, kind, \
         indicator_id, status)";
    fn push<'a>(&'a self, mut values: Values<'_, 'a>) {
        values
            .push_bind(self.referral_id.as_str())
            .push_bind(self.declaration_id.as_str())
            .push_bind(self.outcome_message_id.as_str())
            .push_bind(self.kind)
            .push_bind(self.indicator_id.as_str())
            .push_bind(self.status);
    }
}

/// A delivery to a participant's Fetch, under its gap-free `seq`.
pub(super) struct DeliveryRow {
    pub recipient: String,
    pub seq: i64,
    pub log_index: i64,
}

impl BulkRow for DeliveryRow {
    const INSERT: &'static str = "INSERT INTO deliveries (recipient, seq, log_index)";
    fn push<'a>(&'a self, mut values: Values<'_, 'a>) {
        values
            .push_bind(self.recipient.as_str())
            .push_bind(self.seq)
            .push_bind(self.log_index);
    }
}

/// R5's index for `keys`: the counting parcels received since `since_ms`, by key; every
/// key asked is in the answer. Found through `declarations_by_party`, a few `IN` lists per
/// group.
pub(super) async fn parcels_since(
    conn: &mut sqlx::SqliteConnection,
    keys: &[i64],
    since_ms: i64,
) -> Result<HashMap<i64, ParcelWindow>, StoreError> {
    let mut found = rows::parcel_windows(keys, since_ms);
    let mut rest = keys;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        let mut query = QueryBuilder::new(
            "SELECT party_key, received_at_ms, parcel_value FROM declarations \
             WHERE parcel_counts = 1 AND received_at_ms >= ",
        );
        query.push_bind(since_ms).push(" AND party_key IN (");
        let mut list = query.separated(", ");
        for key in chunk {
            list.push_bind(*key);
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            rows::file_parcel(&mut found, &row)?;
        }
        rest = tail;
    }
    Ok(found)
}

/// Rows the group in progress has decided on but not yet written.
#[derive(Default)]
pub(super) struct PendingRows {
    pub envelopes: Vec<EnvelopeRow>,
    pub declarations: Vec<DeclarationRow>,
    pub referrals: Vec<ReferralRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub subtrees: Vec<SubtreeRow>,
    /// Index entries of declarations whose rows were already written (a defensive path:
    /// the ledger tracks a declaration right after filing it, while its row is buffered).
    pub orphan_parcels: Vec<(String, ParcelColumns)>,
}

impl PendingRows {
    /// Writes every buffered row into the transaction, so that SQL reads that follow see
    /// them; called before the commit and before any job that reads these tables. All of
    /// it goes to SQLite as one multi-statement query: one round trip to its worker thread
    /// instead of one per statement.
    pub async fn flush(&mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let rows = std::mem::take(self);
        let mut query = QueryBuilder::new("");
        // Bitwise or: every kind is appended, none short-circuited.
        let any = push_inserts(&mut query, &rows.envelopes)
            | push_inserts(&mut query, &rows.declarations)
            | push_inserts(&mut query, &rows.referrals)
            | push_inserts(&mut query, &rows.deliveries)
            | push_inserts(&mut query, &rows.subtrees)
            | push_parcel_updates(&mut query, &rows.orphan_parcels);
        if any {
            // Not kept in sqlx's statement cache: the text changes with every group's
            // counts.
            query.build().persistent(false).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Appends an UPDATE per index entry of a declaration already written.
fn push_parcel_updates<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    updates: &'a [(String, ParcelColumns)],
) -> bool {
    for (declaration_id, columns) in updates {
        query
            .push("UPDATE declarations SET party_key = ")
            .push_bind(columns.party_key)
            .push(", parcel_value = ")
            .push_bind(columns.value)
            .push(", parcel_counts = ")
            .push_bind(i64::from(columns.counts))
            .push(", received_at_ms = ")
            .push_bind(columns.received_at_ms)
            .push(" WHERE message_id = ")
            .push_bind(declaration_id.as_str())
            .push(";\n");
    }
    !updates.is_empty()
}

/// Looks up, in a few statements, every stored envelope with one of `message_ids`, every
/// declaration on file under one of them, and every stored declaration of `lrns` (sender,
/// LRN). Together with what the group records as it goes, this answers every duplicate and
/// LRN question of the group.
pub(super) async fn prefetch(
    tx: &mut Tx<'_>,
    message_ids: &[&str],
    lrns: &[(&str, &str)],
) -> Result<GroupLedger, StoreError> {
    let mut found = GroupLedger::default();
    let mut rest = message_ids;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        let mut query = in_list(
            "SELECT message_id, envelope_digest, received_at_ms, log_index FROM envelopes \
             WHERE message_id IN ",
            chunk,
        );
        for row in query.build().fetch_all(&mut **tx).await? {
            found.envelopes.insert(
                row.try_get("message_id")?,
                KnownEnvelope {
                    digest: row.try_get("envelope_digest")?,
                    received_at_ms: row.try_get("received_at_ms")?,
                    log_index: u64::try_from(row.try_get::<i64, _>("log_index")?)
                        .map_err(|_| StoreError::Corrupt("negative log_index".into()))?,
                },
            );
        }
        rest = tail;
    }
    let mut rest = message_ids;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        let mut query = in_list(
            "SELECT message_id FROM declarations WHERE message_id IN ",
            chunk,
        );
        found.declaration_ids.extend(
            query
                .build_query_scalar::<String>()
                .fetch_all(&mut **tx)
                .await?,
        );
        rest = tail;
    }
    let mut by_sender: HashMap<&str, Vec<&str>> = HashMap::new();
    for (sender, lrn) in lrns {
        by_sender.entry(sender).or_default().push(lrn);
    }
    for (sender, lrns) in by_sender {
        let mut rest = lrns.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
            let sql = format!(
                "SELECT lrn, message_id FROM declarations WHERE sender = ? AND lrn IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql).bind(sender);
            for lrn in chunk {
                query = query.bind(*lrn);
            }
            for row in query.fetch_all(&mut **tx).await? {
                found.lrns.insert(
                    (sender.to_owned(), row.try_get("lrn")?),
                    row.try_get("message_id")?,
                );
            }
            rest = tail;
        }
    }
    Ok(found)
}

/// `head (?, ?, ...)` with `values` bound.
fn in_list<'a>(head: &str, values: &[&'a str]) -> QueryBuilder<'a, Sqlite> {
    let mut query = QueryBuilder::new(head);
    push_list(&mut query, values);
    query
}

/// Appends `(?, ?, ...)` with `values` bound.
fn push_list<'a>(query: &mut QueryBuilder<'a, Sqlite>, values: &[&'a str]) {
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
    query.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_covering_every_row() {
        for total in 0..600 {
            let mut left = total;
            let mut sizes = Vec::new();
            while left > 0 {
                let n = chunk_len(left);
                assert!(n.is_power_of_two() && n <= MAX_ROWS_PER_STATEMENT && n <= left);
                sizes.push(n);
                left -= n;
            }
            assert_eq!(sizes.iter().sum::<usize>(), total);
        }
        assert_eq!(chunk_len(0), 0);
        assert_eq!(chunk_len(1000), MAX_ROWS_PER_STATEMENT);
        assert_eq!(chunk_len(100), 64);
    }

    /// The SQL `push_inserts` makes for `rows`.
    fn insert_sql<R: BulkRow>(rows: &[R]) -> String {
        let mut query = QueryBuilder::<Sqlite>::new("");
        push_inserts(&mut query, rows);
        query.sql().to_owned()
    }

    /// A row type whose `push` left out a value would shift every later value of a
    /// multi-statement query into the wrong column: each must push as many values as its
    /// INSERT names columns.
    fn assert_one_value_per_column<R: BulkRow>(row: R) {
        let sql = insert_sql(std::slice::from_ref(&row));
        let columns = R::INSERT.matches(',').count() + 1;
        assert_eq!(sql.matches('?').count(), columns, "{sql}");
    }

    #[test]
    fn every_row_type_pushes_one_value_per_column() {
        let text = || "x".to_string();
        assert_one_value_per_column((1u32, 2u64, [0u8; 32]));
        assert_one_value_per_column(EnvelopeRow {
            log_index: 0,
            message_id: text(),
            direction: 1,
            sender: text(),
            recipient: text(),
            msg_type: 1,
            correlation_id: text(),
            created_at_ms: 0,
            received_at_ms: 0,
            digest: vec![0; 32],
            envelope: Bytes::from_static(b"e"),
        });
        assert_one_value_per_column(DeclarationRow {
            message_id: text(),
            sender: text(),
            lrn: text(),
            mrn: text(),
            state: 1,
            outcome: 1,
            open_referral_id: text(),
            referral_count: 0,
            satisfied: text(),
            data: vec![1],
            updated_at_ms: 0,
            account: vec![1],
            parcel: Some(ParcelColumns {
                party_key: 1,
                value: 1,
                counts: true,
                received_at_ms: 1,
            }),
        });
        assert_one_value_per_column(ReferralRow {
            referral_id: text(),
            declaration_id: text(),
            outcome_message_id: text(),
            kind: "rfi",
            indicator_id: text(),
            status: "open",
        });
        assert_one_value_per_column(DeliveryRow {
            recipient: text(),
            seq: 1,
            log_index: 0,
        });
    }

    #[test]
    fn rows_beyond_the_parameter_cap_go_into_further_statements() {
        let rows: Vec<SubtreeRow> = (0..MAX_ROWS_PER_STATEMENT as u64 * 2 + 1)
            .map(|i| (0, i, [0; 32]))
            .collect();
        let sql = insert_sql(&rows);
        assert_eq!(sql.matches("INSERT INTO merkle").count(), 3);
        assert_eq!(sql.matches('?').count(), rows.len() * 3);
        assert!(insert_sql::<SubtreeRow>(&[]).is_empty());
    }
}
