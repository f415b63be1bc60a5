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

use super::backend::Prefetched;
use super::sqlite::Tx;
use super::StoreError;
use crate::core::ledger::KnownEnvelope;
use crate::core::merkle::Hash;
use bytes::Bytes;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::Row;
use std::collections::HashMap;

/// Largest number of rows (or `IN` values) one statement takes: 11 columns × 128 rows is
/// 1,408 parameters, far below the 32,766 of the SQLite that libsqlite3-sys bundles (a
/// system SQLite older than 3.32 allows only 999).
const MAX_ROWS_PER_STATEMENT: usize = 128;

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// A row type the writer inserts in bulk.
pub(super) trait BulkRow {
    /// `INSERT INTO table (columns...)`, without VALUES.
    const INSERT: &'static str;
    /// Number of columns, as many as [`BulkRow::bind`] binds.
    const COLUMNS: usize;
    /// Binds this row's values, in column order.
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q>;
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

/// `(?, ?, ...), (?, ?, ...)`: `rows` groups of `columns` placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one.as_str(); rows].join(", ")
}

/// Appends the INSERT statements for `rows` rows of `R` to `sql`, each ended by `;`: full
/// statements of the largest size, then one for the rest. (These texts vary with every
/// group, so they are not cached; fewer statements parse faster.)
fn push_inserts<R: BulkRow>(sql: &mut String, rows: usize) {
    let mut left = rows;
    while left > 0 {
        let n = left.min(MAX_ROWS_PER_STATEMENT);
        sql.push_str(R::INSERT);
        sql.push_str(" VALUES ");
        sql.push_str(&placeholders(n, R::COLUMNS));
        sql.push_str(";\n");
        left -= n;
    }
}

/// Binds every row's values, row after row, after those already bound.
fn bind_all<'q, R: BulkRow>(query: Query<'q>, rows: &'q [R]) -> Query<'q> {
    rows.iter().fold(query, |query, row| row.bind(query))
}

/// Inserts `rows` (in as few statements as the parameter limit allows).
pub(super) async fn insert_rows<R: BulkRow>(
    conn: &mut sqlx::SqliteConnection,
    rows: &[R],
) -> Result<(), StoreError> {
    let mut sql = String::new();
    push_inserts::<R>(&mut sql, rows.len());
    if sql.is_empty() {
        return Ok(());
    }
    bind_all(sqlx::query(&sql).persistent(false), rows)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A completed perfect subtree of the Merkle log (§9): level, index, hash.
pub(super) type SubtreeRow = (u32, u64, Hash);

impl BulkRow for SubtreeRow {
    const INSERT: &'static str = "INSERT INTO merkle (level, idx, hash)";
    const COLUMNS: usize = 3;
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q> {
        query
            .bind(i64::from(self.0))
            .bind(to_i64(self.1))
            .bind(self.2.as_slice())
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
    const COLUMNS: usize = 11;
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q> {
        query
            .bind(self.log_index)
            .bind(self.message_id.as_str())
            .bind(self.direction)
            .bind(self.sender.as_str())
            .bind(self.recipient.as_str())
            .bind(self.msg_type)
            .bind(self.correlation_id.as_str())
            .bind(self.created_at_ms)
            .bind(self.received_at_ms)
            .bind(self.digest.as_slice())
            .bind(self.envelope.as_ref())
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
}

impl BulkRow for DeclarationRow {
    const INSERT: &'static str =
        "INSERT INTO declarations (message_id, sender, lrn, mrn, state, outcome, \
         open_referral_id, referral_count, satisfied, data, updated_at_ms)";
    const COLUMNS: usize = 11;
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q> {
        query
            .bind(self.message_id.as_str())
            .bind(self.sender.as_str())
            .bind(self.lrn.as_str())
            .bind(self.mrn.as_str())
            .bind(self.state)
            .bind(self.outcome)
            .bind(self.open_referral_id.as_str())
            .bind(self.referral_count)
            .bind(self.satisfied.as_str())
            .bind(self.data.as_slice())
            .bind(self.updated_at_ms)
    }
}

/// A referral an outcome of the group opened.
pub(super) struct ReferralRow {
    pub referral_id: String,
    pub declaration_id: String,
    pub outcome_message_id: String,
    pub kind: &'static str,
    pub indicator_id: String,
}

impl BulkRow for ReferralRow {
    const INSERT: &'static str =
        "INSERT INTO referrals (referral_id, declaration_id, outcome_message_id, kind, \
         indicator_id, status)";
    const COLUMNS: usize = 6;
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q> {
        query
            .bind(self.referral_id.as_str())
            .bind(self.declaration_id.as_str())
            .bind(self.outcome_message_id.as_str())
            .bind(self.kind)
            .bind(self.indicator_id.as_str())
            .bind("open")
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
    const COLUMNS: usize = 3;
    fn bind<'q>(&'q self, query: Query<'q>) -> Query<'q> {
        query
            .bind(self.recipient.as_str())
            .bind(self.seq)
            .bind(self.log_index)
    }
}

/// Rows the group in progress has decided on but not yet written.
#[derive(Default)]
pub(super) struct PendingRows {
    pub envelopes: Vec<EnvelopeRow>,
    pub declarations: Vec<DeclarationRow>,
    pub referrals: Vec<ReferralRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub subtrees: Vec<SubtreeRow>,
}

impl PendingRows {
    /// Writes every buffered row into the transaction, so that SQL reads that follow see
    /// them; called before the commit and before any job that reads these tables. All of
    /// it goes to SQLite as one multi-statement query: one round trip to its worker thread
    /// instead of one per statement.
    pub async fn flush(&mut self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let rows = std::mem::take(self);
        let mut sql = String::new();
        push_inserts::<EnvelopeRow>(&mut sql, rows.envelopes.len());
        push_inserts::<DeclarationRow>(&mut sql, rows.declarations.len());
        push_inserts::<ReferralRow>(&mut sql, rows.referrals.len());
        push_inserts::<DeliveryRow>(&mut sql, rows.deliveries.len());
        push_inserts::<SubtreeRow>(&mut sql, rows.subtrees.len());
        if sql.is_empty() {
            return Ok(());
        }
        // Not kept in sqlx's statement cache: the text changes with every group's counts.
        // Bound in the order the statements were appended above.
        let query = sqlx::query(&sql).persistent(false);
        let query = bind_all(query, &rows.envelopes);
        let query = bind_all(query, &rows.declarations);
        let query = bind_all(query, &rows.referrals);
        let query = bind_all(query, &rows.deliveries);
        let query = bind_all(query, &rows.subtrees);
        query.execute(&mut **tx).await?;
        Ok(())
    }
}

/// Looks up, in a few statements, every stored envelope with one of `message_ids`, every
/// declaration on file under one of them, and every stored declaration of `lrns` (sender,
/// LRN). Together with what the group records as it goes, this answers every duplicate and
/// LRN question of the group.
pub(super) async fn prefetch(
    tx: &mut Tx<'_>,
    message_ids: &[&str],
    lrns: &[(&str, &str)],
) -> Result<Prefetched, StoreError> {
    let mut found = Prefetched::default();
    let mut rest = message_ids;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        let sql = format!(
            "SELECT message_id, envelope_digest, received_at_ms, log_index FROM envelopes \
             WHERE message_id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
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
        let sql = format!(
            "SELECT message_id FROM declarations WHERE message_id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        found
            .declaration_ids
            .extend(query.fetch_all(&mut **tx).await?);
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

    /// How many values `row` binds: sqlx leaves a missing one NULL without an error, which
    /// in a multi-statement query would shift every later value into the wrong column.
    fn bound<R: BulkRow>(row: &R) -> usize {
        use sqlx::{Arguments, Execute};
        let mut query = row.bind(sqlx::query("SELECT 1"));
        match query.take_arguments() {
            Ok(Some(arguments)) => arguments.len(),
            _ => 0,
        }
    }

    #[test]
    fn every_row_type_binds_as_many_values_as_it_has_columns() {
        let text = || "x".to_string();
        assert_eq!(bound(&(1u32, 2u64, [0u8; 32])), SubtreeRow::COLUMNS);
        let envelope = EnvelopeRow {
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
        };
        assert_eq!(bound(&envelope), EnvelopeRow::COLUMNS);
        let declaration = DeclarationRow {
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
        };
        assert_eq!(bound(&declaration), DeclarationRow::COLUMNS);
        let referral = ReferralRow {
            referral_id: text(),
            declaration_id: text(),
            outcome_message_id: text(),
            kind: "rfi",
            indicator_id: text(),
        };
        assert_eq!(bound(&referral), ReferralRow::COLUMNS);
        let delivery = DeliveryRow {
            recipient: text(),
            seq: 1,
            log_index: 0,
        };
        assert_eq!(bound(&delivery), DeliveryRow::COLUMNS);
        for (insert, columns) in [
            (SubtreeRow::INSERT, SubtreeRow::COLUMNS),
            (EnvelopeRow::INSERT, EnvelopeRow::COLUMNS),
            (DeclarationRow::INSERT, DeclarationRow::COLUMNS),
            (ReferralRow::INSERT, ReferralRow::COLUMNS),
            (DeliveryRow::INSERT, DeliveryRow::COLUMNS),
        ] {
            assert_eq!(insert.matches(',').count() + 1, columns, "{insert}");
        }
    }

    #[test]
    fn placeholders_match_the_column_count() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }
}
