//! One group commit on PostgreSQL: the transaction that holds the log's lock, the reads a
//! decision needs, and the rows the group's effects write, buffered and sent with one
//! `INSERT ... SELECT FROM UNNEST(arrays)` per table. What opens the database, loads the
//! writer's state and catches up with other replicas' commits is in `mod.rs`.

use super::super::backend::{CaughtUp, Counters, GroupLedger, GroupWrite, LogEntry, ParcelWindow};
use super::super::encoding::account_bytes;
use super::super::rows::{self, DECLARATION_COLUMNS, REFERRAL_COLUMNS};
use super::super::{to_u64, StoreError};
use super::{load_frontier, load_indicators, to_i64, COMMIT_CHANNEL};
use crate::core::ledger::{
    DeclarationRecord, Issue, KnownEnvelope, Parcel, ReferralRecord, ReferralStatus,
};
use crate::core::merkle::Hash;
use crate::core::risk::IndicatorRecord;
use prost::Message;
use sqlx::postgres::PgConnection;
use sqlx::Row;
use std::collections::HashMap;

/// One group's transaction, holding the log's lock, and the rows it has not written yet.
pub(in crate::store) struct PgGroup<'a> {
    pub(super) tx: sqlx::Transaction<'a, sqlx::Postgres>,
    pub(super) pending: PendingRows,
    /// Whether the group changed the indicator table (its version is bumped at commit).
    pub(super) indicators_changed: bool,
}

impl PgGroup<'_> {
    /// The transaction, with every buffered row written: for statements that read or
    /// update the tables the group adds to in bulk.
    async fn flushed(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.pending.flush(&mut self.tx).await?;
        Ok(&mut *self.tx)
    }

    /// What other replicas committed since this writer's state was `known`, given the
    /// ledger's counters as `stored` now: `None` when nothing changed; otherwise the log's
    /// edge (O(log n) rows) and, if their version moved, the indicators.
    async fn catch_up(
        &mut self,
        known: &Counters,
        stored: Counters,
    ) -> Result<Option<CaughtUp>, StoreError> {
        if stored == *known {
            return Ok(None);
        }
        if stored.log_size < known.log_size {
            return Err(StoreError::Corrupt(format!(
                "the shared log has {} entries, fewer than the {} this replica committed",
                stored.log_size, known.log_size
            )));
        }
        let frontier = load_frontier(&mut self.tx, stored.log_size).await?;
        let indicators = if stored.indicators_version == known.indicators_version {
            None
        } else {
            Some(load_indicators(&mut self.tx).await?)
        };
        Ok(Some(CaughtUp {
            counters: stored,
            frontier,
            indicators,
        }))
    }
}

impl GroupWrite for PgGroup<'_> {
    async fn prefetch(
        &mut self,
        known: &Counters,
        message_ids: &[&str],
        lrns: &[(&str, &str)],
    ) -> Result<(Option<CaughtUp>, GroupLedger), StoreError> {
        let mut found = GroupLedger::default();
        let mut stored = None;
        let conn = self.flushed().await?;
        let ids: Vec<&str> = message_ids.to_vec();
        let senders: Vec<&str> = lrns.iter().map(|(sender, _)| *sender).collect();
        let numbers: Vec<&str> = lrns.iter().map(|(_, lrn)| *lrn).collect();
        // Four reads in one statement (one round trip, one snapshot taken after the log's
        // lock), told apart by `kind`: the envelopes and the declarations under the group's
        // message ids, the declarations under its (sender, LRN) pairs, and the ledger's
        // counters (in `a`, `b`, `c`).
        for row in sqlx::query(
            "SELECT 0 AS kind, e.message_id, e.envelope_digest, e.received_at_ms AS a,
                 e.log_index AS b, NULL::bigint AS c, NULL::text AS sender, NULL::text AS lrn
             FROM envelopes e JOIN UNNEST($1::text[]) AS k(message_id)
               ON e.message_id = k.message_id
             UNION ALL
             SELECT 1, d.message_id, NULL, NULL, NULL, NULL, NULL, NULL
             FROM declarations d JOIN UNNEST($1::text[]) AS k(message_id)
               ON d.message_id = k.message_id
             UNION ALL
             SELECT 2, d.message_id, NULL, NULL, NULL, NULL, d.sender, d.lrn
             FROM declarations d JOIN UNNEST($2::text[], $3::text[]) AS k(sender, lrn)
               ON d.sender = k.sender AND d.lrn = k.lrn
             UNION ALL
             SELECT 3, NULL, NULL, log_size, declarations, indicators_version, NULL, NULL
             FROM ledger",
        )
        .bind(&ids)
        .bind(&senders)
        .bind(&numbers)
        .fetch_all(&mut *conn)
        .await?
        {
            let kind: i32 = row.try_get("kind")?;
            match kind {
                0 => {
                    found.envelopes.insert(
                        row.try_get("message_id")?,
                        KnownEnvelope {
                            digest: row.try_get("envelope_digest")?,
                            received_at_ms: row.try_get("a")?,
                            log_index: to_u64(row.try_get("b")?, "log_index")?,
                        },
                    );
                }
                1 => {
                    found.declaration_ids.insert(row.try_get("message_id")?);
                }
                2 => {
                    found.lrns.insert(
                        (row.try_get("sender")?, row.try_get("lrn")?),
                        row.try_get("message_id")?,
                    );
                }
                _ => {
                    stored = Some(Counters {
                        log_size: to_u64(row.try_get("a")?, "log size")?,
                        declarations: to_u64(row.try_get("b")?, "declaration count")?,
                        indicators_version: to_u64(row.try_get("c")?, "indicator version")?,
                    });
                }
            }
        }
        let stored =
            stored.ok_or_else(|| StoreError::Corrupt("the ledger row is missing".into()))?;
        Ok((self.catch_up(known, stored).await?, found))
    }

    async fn parcels_since(
        &mut self,
        keys: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, ParcelWindow>, StoreError> {
        let mut found = rows::parcel_windows(keys, since_ms);
        let conn = self.flushed().await?;
        for row in sqlx::query(
            "SELECT d.party_key, d.received_at_ms, d.parcel_value FROM declarations d
             JOIN UNNEST($2::bigint[]) AS k(party_key) ON d.party_key = k.party_key
             WHERE d.parcel_counts = 1 AND d.received_at_ms >= $1",
        )
        .bind(since_ms)
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?
        {
            rows::file_parcel(&mut found, &row)?;
        }
        Ok(found)
    }

    async fn others_value(
        &mut self,
        declaration_id: &str,
        key: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        let value: Option<i64> = sqlx::query_scalar(
            "SELECT COALESCE(SUM(o.parcel_value), 0)::bigint FROM declarations o
             JOIN declarations x ON x.message_id = $1
             WHERE o.party_key = $2 AND o.parcel_counts = 1 AND x.party_key IS NOT NULL
               AND o.accepted < x.accepted AND o.received_at_ms >= x.received_at_ms - $3",
        )
        .bind(declaration_id)
        .bind(key)
        .bind(window_ms)
        .fetch_one(self.flushed().await?)
        .await?;
        Ok(value.unwrap_or(0))
    }

    async fn declaration_on_file(
        &mut self,
        message_id: &str,
        sender: &str,
        lrn: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT message_id FROM declarations
             WHERE message_id = $1 OR (sender = $2 AND lrn = $3) LIMIT 1",
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
        let row = sqlx::query(&format!(
            "SELECT {DECLARATION_COLUMNS} FROM declarations WHERE message_id = $1 AND sender = $2"
        ))
        .bind(id)
        .bind(sender)
        .fetch_optional(self.flushed().await?)
        .await?;
        row.as_ref().map(rows::declaration).transpose()
    }

    async fn referral(&mut self, referral_id: &str) -> Result<Option<ReferralRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referral_id = $1"
        ))
        .bind(referral_id)
        .fetch_optional(self.flushed().await?)
        .await?;
        row.as_ref().map(rows::referral).transpose()
    }

    async fn routes(&mut self, indicator_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT peer FROM indicator_routes WHERE indicator_id = $1 ORDER BY peer",
        )
        .bind(indicator_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    async fn last_seq(&mut self, recipient: &str) -> Result<u64, StoreError> {
        // Not flushed: the writer counts the group's own deliveries itself.
        let last: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0)::bigint FROM deliveries WHERE recipient = $1",
        )
        .bind(recipient)
        .fetch_one(&mut *self.tx)
        .await?;
        to_u64(last, "delivery seq")
    }

    fn log(&mut self, entry: LogEntry) {
        self.pending.log(entry);
    }

    fn file_declaration(&mut self, record: &DeclarationRecord) {
        self.pending.declarations.push(DeclarationRow {
            record: declaration_columns(record),
            parcel: None,
        });
    }

    fn track_parcel(&mut self, parcel: &Parcel, received_at_ms: i64) {
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
            .find(|row| row.record.message_id == parcel.declaration_id)
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
            "UPDATE declarations SET party_key = $1, parcel_value = $2, parcel_counts = $3
             WHERE message_id = $4",
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
        self.pending.referrals.push(referral.clone());
    }

    fn deliver(&mut self, recipient: &str, seq: u64, log_index: u64) {
        self.pending
            .deliveries
            .push((recipient.to_owned(), to_i64(seq), to_i64(log_index)));
    }

    async fn update_declaration(&mut self, record: &DeclarationRecord) -> Result<(), StoreError> {
        let columns = declaration_columns(record);
        sqlx::query(
            "UPDATE declarations SET state = $1, outcome = $2, open_referral_id = $3,
                    referral_count = $4, satisfied = $5, data = $6, updated_at_ms = $7,
                    account = $8
             WHERE message_id = $9",
        )
        .bind(columns.state)
        .bind(columns.outcome)
        .bind(columns.open_referral_id)
        .bind(columns.referral_count)
        .bind(columns.satisfied)
        .bind(columns.data)
        .bind(columns.updated_at_ms)
        .bind(columns.account)
        .bind(columns.message_id)
        .execute(self.flushed().await?)
        .await?;
        Ok(())
    }

    async fn close_referral(
        &mut self,
        referral_id: &str,
        status: ReferralStatus,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE referrals SET status = $1 WHERE referral_id = $2")
            .bind(status.as_str())
            .bind(referral_id)
            .execute(self.flushed().await?)
            .await?;
        Ok(())
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
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $5, '')",
        )
        .bind(&issue.recipient)
        .bind(to_i64(log_index))
        .bind(&issue.message_id)
        .bind(issue.message_type as i64)
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
            "INSERT INTO indicators (indicator_id, version, issuer, message_id, indicator, revoked)
             VALUES ($1, $2, $3, $4, $5, 0)
             ON CONFLICT (indicator_id) DO UPDATE SET version = excluded.version,
                 issuer = excluded.issuer, message_id = excluded.message_id,
                 indicator = excluded.indicator, revoked = 0",
        )
        .bind(&indicator.indicator_id)
        .bind(i64::from(indicator.version))
        .bind(&record.issuer)
        .bind(message_id)
        .bind(indicator.encode_to_vec())
        .execute(&mut *self.tx)
        .await?;
        self.indicators_changed = true;
        Ok(())
    }

    async fn revoke_indicator(&mut self, indicator_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE indicators SET revoked = 1 WHERE indicator_id = $1")
            .bind(indicator_id)
            .execute(&mut *self.tx)
            .await?;
        self.indicators_changed = true;
        Ok(())
    }

    async fn add_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO indicator_routes (indicator_id, peer) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(indicator_id)
        .bind(peer)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn remove_route(&mut self, indicator_id: &str, peer: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM indicator_routes WHERE indicator_id = $1 AND peer = $2")
            .bind(indicator_id)
            .bind(peer)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn clear_routes(&mut self, indicator_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM indicator_routes WHERE indicator_id = $1")
            .bind(indicator_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(mut self, counters: Counters, head: &Hash) -> Result<Counters, StoreError> {
        let stored = Counters {
            indicators_version: counters.indicators_version + u64::from(self.indicators_changed),
            ..counters
        };
        // The rows, the counters, and the announcement delivered to every listening replica
        // when, and only if, this commits: the new size and root, so that they publish the
        // head without reading it.
        let announcement = format!("{} {}", stored.log_size, hex::encode(head));
        std::mem::take(&mut self.pending)
            .flush_with_counters(&mut self.tx, &stored, announcement)
            .await?;
        self.tx.commit().await?;
        Ok(stored)
    }
}

/// A declaration's stored columns.
struct DeclarationColumns {
    message_id: String,
    sender: String,
    lrn: String,
    mrn: String,
    state: i64,
    outcome: i64,
    open_referral_id: String,
    referral_count: i64,
    satisfied: String,
    data: Vec<u8>,
    updated_at_ms: i64,
    account: Vec<u8>,
}

fn declaration_columns(record: &DeclarationRecord) -> DeclarationColumns {
    DeclarationColumns {
        message_id: record.id.clone(),
        sender: record.sender.clone(),
        lrn: record.lrn.clone(),
        mrn: record.mrn.clone(),
        state: record.state as i64,
        outcome: record.outcome as i64,
        open_referral_id: record.open_referral_id.clone(),
        referral_count: i64::from(record.referral_count),
        satisfied: record
            .satisfied
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        data: record.data.encode_to_vec(),
        updated_at_ms: record.updated_at_ms,
        account: account_bytes(&record.account),
    }
}

/// R5's index columns of a charged declaration.
struct ParcelColumns {
    party_key: i64,
    value: i64,
    counts: bool,
    received_at_ms: i64,
}

/// A declaration the group files, with its index columns once tracked.
struct DeclarationRow {
    record: DeclarationColumns,
    parcel: Option<ParcelColumns>,
}

/// Rows the group has decided on but not yet written.
#[derive(Default)]
pub(super) struct PendingRows {
    envelopes: Vec<LogEntry>,
    subtrees: Vec<(u32, u64, Hash)>,
    declarations: Vec<DeclarationRow>,
    referrals: Vec<ReferralRecord>,
    /// (recipient, seq, log_index).
    deliveries: Vec<(String, i64, i64)>,
    /// Index entries of declarations whose rows were already written.
    orphan_parcels: Vec<(String, ParcelColumns)>,
}

impl PendingRows {
    fn log(&mut self, mut entry: LogEntry) {
        self.subtrees.append(&mut entry.subtrees);
        self.envelopes.push(entry);
    }

    /// Writes every buffered row into the transaction, in one statement (one round trip;
    /// see [`ROW_INSERTS`]).
    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if self.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(self);
        rows.update_orphan_parcels(conn).await?;
        rows.bind(sqlx::query(FLUSH)).execute(&mut *conn).await?;
        Ok(())
    }

    /// Writes every buffered row, the ledger's counters and the commit's announcement, in
    /// one statement: with [`flush`](Self::flush), the group's writes cost one round trip
    /// however many tables they touch.
    async fn flush_with_counters(
        self,
        conn: &mut PgConnection,
        counters: &Counters,
        announcement: String,
    ) -> Result<(), StoreError> {
        self.update_orphan_parcels(conn).await?;
        self.bind(sqlx::query(FLUSH_WITH_COUNTERS))
            .bind(to_i64(counters.log_size))
            .bind(to_i64(counters.declarations))
            .bind(to_i64(counters.indicators_version))
            .bind(COMMIT_CHANNEL)
            .bind(announcement)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
            && self.subtrees.is_empty()
            && self.declarations.is_empty()
            && self.referrals.is_empty()
            && self.deliveries.is_empty()
            && self.orphan_parcels.is_empty()
    }

    /// Binds $1 to $39 of [`ROW_INSERTS`]: every table's rows as arrays, empty where the
    /// group adds none.
    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        let (e, t, d) = (&self.envelopes, &self.subtrees, &self.declarations);
        let (r, v) = (&self.referrals, &self.deliveries);
        query
            .bind(e.iter().map(|r| to_i64(r.log_index)).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.message_id.as_str()).collect::<Vec<_>>())
            .bind(e.iter().map(|r| i64::from(r.direction)).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.sender.as_str()).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.recipient.as_str()).collect::<Vec<_>>())
            .bind(e.iter().map(|r| i64::from(r.msg_type)).collect::<Vec<_>>())
            .bind(
                e.iter()
                    .map(|r| r.correlation_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(e.iter().map(|r| r.created_at_ms).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.received_at_ms).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.digest.as_slice()).collect::<Vec<_>>())
            .bind(e.iter().map(|r| r.envelope.as_ref()).collect::<Vec<_>>())
            .bind(t.iter().map(|r| i64::from(r.0)).collect::<Vec<_>>())
            .bind(t.iter().map(|r| to_i64(r.1)).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.2.as_slice()).collect::<Vec<_>>())
            .bind(
                d.iter()
                    .map(|r| r.record.message_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.record.sender.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(d.iter().map(|r| r.record.lrn.as_str()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.record.mrn.as_str()).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.record.state).collect::<Vec<_>>())
            .bind(d.iter().map(|r| r.record.outcome).collect::<Vec<_>>())
            .bind(
                d.iter()
                    .map(|r| r.record.open_referral_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.record.referral_count)
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.record.satisfied.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.record.data.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(d.iter().map(|r| r.record.updated_at_ms).collect::<Vec<_>>())
            .bind(
                d.iter()
                    .map(|r| r.record.account.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.parcel.as_ref().map(|p| p.party_key))
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.parcel.as_ref().map_or(0, |p| p.value))
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.parcel.as_ref().map_or(0, |p| i64::from(p.counts)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                d.iter()
                    .map(|r| r.parcel.as_ref().map_or(0, |p| p.received_at_ms))
                    .collect::<Vec<_>>(),
            )
            .bind(r.iter().map(|x| x.referral_id.as_str()).collect::<Vec<_>>())
            .bind(
                r.iter()
                    .map(|x| x.declaration_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                r.iter()
                    .map(|x| x.outcome_message_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(r.iter().map(|x| x.kind.as_str()).collect::<Vec<_>>())
            .bind(
                r.iter()
                    .map(|x| x.indicator_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(r.iter().map(|x| x.status.as_str()).collect::<Vec<_>>())
            .bind(v.iter().map(|x| x.0.as_str()).collect::<Vec<_>>())
            .bind(v.iter().map(|x| x.1).collect::<Vec<_>>())
            .bind(v.iter().map(|x| x.2).collect::<Vec<_>>())
    }

    /// R5's index columns for declarations an earlier statement of the group wrote (rare:
    /// one statement each).
    async fn update_orphan_parcels(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        for (declaration_id, columns) in &self.orphan_parcels {
            sqlx::query(
                "UPDATE declarations SET party_key = $1, parcel_value = $2, parcel_counts = $3,
                        received_at_ms = $4
                 WHERE message_id = $5",
            )
            .bind(columns.party_key)
            .bind(columns.value)
            .bind(i64::from(columns.counts))
            .bind(columns.received_at_ms)
            .bind(declaration_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// A query of the group's, with its values bound.
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The group's rows, every table in one statement: each data-modifying CTE runs once, to
/// completion, whether or not the statement reads it, and an empty array inserts nothing.
/// One round trip instead of one per table matters because the writer waits for each, and
/// on a busy machine a round trip to the database's process costs far more than the
/// insert itself (docs/performance.md, issue 16).
macro_rules! row_inserts {
    () => {
        "WITH envelope_rows AS (
             INSERT INTO envelopes (log_index, message_id, direction, sender, recipient,
                 msg_type, correlation_id, created_at_ms, received_at_ms, envelope_digest,
                 envelope)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                 $5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[],
                 $10::bytea[], $11::bytea[])
         ), merkle_rows AS (
             INSERT INTO merkle (level, idx, hash)
             SELECT * FROM UNNEST($12::bigint[], $13::bigint[], $14::bytea[])
         ), declaration_rows AS (
             -- In the group's order, so that `accepted` orders them as the log does.
             INSERT INTO declarations (message_id, sender, lrn, mrn, state, outcome,
                 open_referral_id, referral_count, satisfied, data, updated_at_ms, account,
                 party_key, parcel_value, parcel_counts, received_at_ms)
             SELECT message_id, sender, lrn, mrn, state, outcome, open_referral_id,
                 referral_count, satisfied, data, updated_at_ms, account, party_key,
                 parcel_value, parcel_counts, received_at_ms
             FROM UNNEST($15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[],
                 $20::bigint[], $21::text[], $22::bigint[], $23::text[], $24::bytea[],
                 $25::bigint[], $26::bytea[], $27::bigint[], $28::bigint[], $29::bigint[],
                 $30::bigint[])
                 WITH ORDINALITY AS r(message_id, sender, lrn, mrn, state, outcome,
                 open_referral_id, referral_count, satisfied, data, updated_at_ms, account,
                 party_key, parcel_value, parcel_counts, received_at_ms, ord)
             ORDER BY ord
         ), referral_rows AS (
             INSERT INTO referrals (referral_id, declaration_id, outcome_message_id, kind,
                 indicator_id, status)
             SELECT * FROM UNNEST($31::text[], $32::text[], $33::text[], $34::text[],
                 $35::text[], $36::text[])
         ), delivery_rows AS (
             INSERT INTO deliveries (recipient, seq, log_index)
             SELECT * FROM UNNEST($37::text[], $38::bigint[], $39::bigint[])
         )"
    };
}

/// The rows alone, before a statement that reads them.
const FLUSH: &str = concat!(row_inserts!(), " SELECT 1");

/// The rows, then the ledger's counters ($40 to $42) and the commit's announcement on
/// channel $43 with payload $44.
const FLUSH_WITH_COUNTERS: &str = concat!(
    row_inserts!(),
    ", counters AS (
         UPDATE ledger SET log_size = $40, declarations = $41, indicators_version = $42
     )
     SELECT pg_notify($43, $44)"
);
