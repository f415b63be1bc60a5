//! PostgreSQL behind the store's seam: the database several replicas of one administration
//! share (PROTOCOL.md §13; docs/replicas.md says how to run them).
//!
//! It implements the same two traits as SQLite ([`LedgerBackend`], [`StoreReads`]), so the
//! writer, the ledger's decisions and every service are the same code on both. What differs
//! is what sharing needs:
//!
//! - **One log.** Every group commit takes a transaction-scoped advisory lock
//!   ([`LOG_LOCK`]) before it reads anything, and then reads the `ledger` row: if another
//!   replica committed since this writer's last group, the writer takes in the new log size,
//!   the frontier (O(log n) subtree rows), the declaration count and, if they changed, the
//!   indicators ([`GroupWrite::catch_up`]). Appends are therefore serialised across replicas
//!   and `log_index` stays unique and gap-free; one lock per group, not per envelope, keeps
//!   its cost small.
//! - **Commits are announced.** Each commit sends a `NOTIFY` on [`COMMIT_CHANNEL`] with the
//!   new log size and root, delivered by PostgreSQL when (and only if) the transaction commits, so a
//!   `Fetch` with `follow` on any replica wakes within milliseconds (`Store::open` listens).
//! - **Bulk rows** go in with one `INSERT ... SELECT FROM UNNEST(arrays)` per table: a
//!   constant statement text (prepared once) whatever the group's size, and one round trip.

mod audit;
mod listen;
mod reads;

pub(super) use audit::audit_rows;
pub(super) use listen::follow_commits;
pub(super) use reads::PgReads;

use super::backend::{
    CaughtUp, Counters, GroupLedger, GroupWrite, LedgerBackend, Loaded, LogEntry, ParcelWindow,
};
use super::encoding::account_bytes;
use super::rows::{self, DECLARATION_COLUMNS, REFERRAL_COLUMNS};
use super::{to_u64, StoreError};
use crate::core::ledger::{
    DeclarationRecord, Issue, KnownEnvelope, Parcel, ReferralRecord, ReferralStatus,
};
use crate::core::merkle::{self, Frontier, Hash};
use crate::core::risk::IndicatorRecord;
use prost::Message;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// The PostgreSQL schema's versioned migrations, embedded in the binary. sqlx's migrator
/// takes an advisory lock of its own while it runs, so replicas starting together migrate
/// once.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// The advisory lock that serialises the log's appends across replicas ("aedgate" and 1).
pub(super) const LOG_LOCK: i64 = 0x6165_6467_6174_6501;

/// The channel on which every commit announces the log's new size.
pub(super) const COMMIT_CHANNEL: &str = "aedgate_commit";

/// The channel on which every change of an outbox entry's delivery state is announced.
pub(super) const OUTBOX_CHANNEL: &str = "aedgate_outbox";

/// Whether `url` names a PostgreSQL database (the store's `url` setting).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map(|options| {
            options
                .application_name("aedgate")
                .log_statements(tracing::log::LevelFilter::Trace)
                // The store's tables grow fast, and a cached generic plan made while one
                // was small keeps scanning it whole long after it has grown; a plan made
                // for each execution, with the group's actual arrays and the table's
                // current size, finds the index (docs/performance.md).
                .options([("plan_cache_mode", "force_custom_plan")])
        })
        .map_err(|e| StoreError::Open {
            path: redacted(url).into(),
            source: Box::new(e),
        })
}

/// `url` without its password, for messages.
pub(super) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Connects to the database at `url`, brings its schema up to date, proves it can commit,
/// and returns the writer's backend and the reads.
pub(super) async fn open(url: &str) -> Result<(PgBackend, PgReads), StoreError> {
    let options = connect_options(url)?;
    let open_err = |e: sqlx::Error| StoreError::Open {
        path: redacted(url).into(),
        source: Box::new(e),
    };
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(open_err)?;
    MIGRATIONS
        .run(&mut conn)
        .await
        .map_err(StoreError::Migration)?;
    prove_writable(&mut conn)
        .await
        .map_err(|cause| StoreError::NotWritable {
            path: redacted(url).into(),
            cause: cause.to_string(),
        })?;
    let readers = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.clone())
        .await
        .map_err(open_err)?;
    Ok((
        PgBackend {
            conn: Some(conn),
            options,
            url: redacted(url),
        },
        PgReads::new(readers),
    ))
}

/// Makes a fresh, empty database on the server at `server_url` (a URL whose role may
/// create databases), named `prefix` and a fresh id, for a benchmark that must not write
/// into a database in use. Returns its URL and name.
pub async fn create_scratch_database(
    server_url: &str,
    prefix: &str,
) -> Result<(String, String), StoreError> {
    let open_err = |e: sqlx::Error| StoreError::Open {
        path: redacted(server_url).into(),
        source: Box::new(e),
    };
    let mut conn = PgConnection::connect_with(&connect_options(server_url)?)
        .await
        .map_err(open_err)?;
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    let base = server_url
        .rsplit_once('/')
        .map_or(server_url, |(base, _)| base);
    Ok((format!("{base}/{name}"), name))
}

/// Drops a database [`create_scratch_database`] made, with whatever is still connected.
pub async fn drop_scratch_database(server_url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = PgConnection::connect_with(&connect_options(server_url)?).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// A connection to the database at `url`, its schema brought up to date (`store copy`).
pub(super) async fn connect_migrated(url: &str) -> Result<PgConnection, StoreError> {
    let mut conn = PgConnection::connect_with(&connect_options(url)?)
        .await
        .map_err(|e| StoreError::Open {
            path: redacted(url).into(),
            source: Box::new(e),
        })?;
    MIGRATIONS
        .run(&mut conn)
        .await
        .map_err(StoreError::Migration)?;
    Ok(conn)
}

/// Opens the database at `url` for reading only (audits, offline tools): no migration.
pub(super) async fn open_read_only(url: &str) -> Result<PgReads, StoreError> {
    let options = connect_options(url)?;
    let readers = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Open {
            path: redacted(url).into(),
            source: Box::new(e),
        })?;
    Ok(PgReads::new(readers))
}

/// Writes and commits one row the way a group commit does: a read-only database, a
/// role without write rights or a full disk is found at start, not at the first Submit.
async fn prove_writable(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('writable_at_ms', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(crate::clock::now_ms().to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The stored log's size and, if it holds at least `size` entries, its root at `size`:
/// what the start-up check against the head a replica kept in its data folder reads.
pub(super) async fn measure_log(url: &str, size: u64) -> Result<(u64, Option<Hash>), StoreError> {
    let reads = open_read_only(url).await?;
    let result = reads.measure_log(size).await;
    reads.close().await;
    result
}

/// The writer's connection.
pub(super) struct PgBackend {
    /// `None` only between dropping a connection whose commit failed and opening a fresh
    /// one (see [`LedgerBackend::recover`]).
    conn: Option<PgConnection>,
    options: PgConnectOptions,
    /// The database, for messages.
    url: String,
}

impl PgBackend {
    fn connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.conn.as_mut().ok_or_else(|| {
            StoreError::CommitFailed("the store's connection is being reopened".into())
        })
    }
}

/// One group's transaction, holding the log's lock, and the rows it has not written yet.
pub(super) struct PgGroup<'a> {
    tx: sqlx::Transaction<'a, sqlx::Postgres>,
    pending: PendingRows,
    /// Whether the group changed the indicator table (its version is bumped at commit).
    indicators_changed: bool,
}

impl LedgerBackend for PgBackend {
    type Group<'a> = PgGroup<'a>;

    async fn load(&mut self) -> Result<Loaded, StoreError> {
        let conn = self.connection()?;
        let mut tx = conn.begin().await?;
        let counters = read_counters(&mut tx).await?;
        let indicators = load_indicators(&mut tx).await?;
        let frontier = load_frontier(&mut tx, counters.log_size).await?;
        tx.commit().await?;
        Ok(Loaded {
            log_size: counters.log_size,
            frontier,
            declarations: counters.declarations,
            indicators,
            indicators_version: counters.indicators_version,
        })
    }

    async fn begin(&mut self) -> Result<PgGroup<'_>, StoreError> {
        let mut tx = self.connection()?.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOG_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(PgGroup {
            tx,
            pending: PendingRows::default(),
            indicators_changed: false,
        })
    }

    async fn recover(&mut self) -> Result<(), StoreError> {
        // A connection whose COMMIT failed (the server restarted, the network broke) is in
        // an unknown state: only a fresh one is known. Dropping the old one closes its
        // socket, and the server rolls back what it left open and frees its lock.
        if let Some(stale) = self.conn.take() {
            let _ = stale.close().await;
        }
        let mut fresh = PgConnection::connect_with(&self.options).await?;
        prove_writable(&mut fresh)
            .await
            .map_err(|cause| StoreError::NotWritable {
                path: self.url.clone().into(),
                cause: cause.to_string(),
            })?;
        self.conn = Some(fresh);
        Ok(())
    }
}

async fn read_counters(conn: &mut PgConnection) -> Result<Counters, StoreError> {
    let row = sqlx::query("SELECT log_size, declarations, indicators_version FROM ledger")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Counters {
        log_size: to_u64(row.try_get("log_size")?, "log size")?,
        declarations: to_u64(row.try_get("declarations")?, "declaration count")?,
        indicators_version: to_u64(row.try_get("indicators_version")?, "indicator version")?,
    })
}

async fn load_indicators(conn: &mut PgConnection) -> Result<Vec<IndicatorRecord>, StoreError> {
    let mut indicators = Vec::new();
    for row in sqlx::query("SELECT indicator, issuer FROM indicators WHERE revoked = 0")
        .fetch_all(&mut *conn)
        .await?
    {
        indicators.push(IndicatorRecord {
            indicator: rows::indicator(&row)?,
            issuer: row.try_get("issuer")?,
        });
    }
    Ok(indicators)
}

/// The stored subtrees at `keys` (level, index), in one statement.
async fn subtrees(
    conn: &mut PgConnection,
    keys: &[(u32, u64)],
) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
    let levels: Vec<i64> = keys.iter().map(|(level, _)| i64::from(*level)).collect();
    let indices: Vec<i64> = keys.iter().map(|(_, index)| to_i64(*index)).collect();
    let rows = sqlx::query(
        "SELECT m.level, m.idx, m.hash FROM merkle m
         JOIN UNNEST($1::bigint[], $2::bigint[]) AS k(level, idx)
           ON m.level = k.level AND m.idx = k.idx",
    )
    .bind(levels)
    .bind(indices)
    .fetch_all(&mut *conn)
    .await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let level: i64 = row.try_get("level")?;
        let index: i64 = row.try_get("idx")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        let hash = Hash::try_from(hash.as_slice())
            .map_err(|_| StoreError::Corrupt(format!("merkle hash at ({level}, {index})")))?;
        found.insert(
            (
                u32::try_from(level).unwrap_or(u32::MAX),
                to_u64(index, "merkle index")?,
            ),
            hash,
        );
    }
    Ok(found)
}

/// The Merkle frontier of a log of `size` entries, from the stored subtrees.
async fn load_frontier(conn: &mut PgConnection, size: u64) -> Result<Frontier, StoreError> {
    let nodes = subtrees(conn, &Frontier::load_keys(size)).await?;
    Ok(Frontier::load(
        &|l: u32, i: u64| nodes.get(&(l, i)).copied(),
        size,
    )?)
}

/// The root of the first `size` entries, from the stored subtrees (None where some are
/// missing).
async fn root_at(conn: &mut PgConnection, size: u64) -> Result<Option<Hash>, StoreError> {
    let wanted = std::cell::RefCell::new(Vec::new());
    let placeholder = merkle::empty_root();
    let _ = merkle::root(
        &|level: u32, index: u64| {
            wanted.borrow_mut().push((level, index));
            Some(placeholder)
        },
        size,
    );
    let nodes = subtrees(conn, &wanted.into_inner()).await?;
    Ok(merkle::root(&|l: u32, i: u64| nodes.get(&(l, i)).copied(), size).ok())
}

impl PgGroup<'_> {
    /// The transaction, with every buffered row written: for statements that read or
    /// update the tables the group adds to in bulk.
    async fn flushed(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.pending.flush(&mut self.tx).await?;
        Ok(&mut *self.tx)
    }
}

impl GroupWrite for PgGroup<'_> {
    async fn catch_up(&mut self, known: &Counters) -> Result<Option<CaughtUp>, StoreError> {
        let stored = read_counters(&mut self.tx).await?;
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

    async fn prefetch(
        &mut self,
        message_ids: &[&str],
        lrns: &[(&str, &str)],
    ) -> Result<GroupLedger, StoreError> {
        let mut found = GroupLedger::default();
        let conn = self.flushed().await?;
        let ids: Vec<&str> = message_ids.to_vec();
        for row in sqlx::query(
            "SELECT e.message_id, e.envelope_digest, e.received_at_ms, e.log_index
             FROM envelopes e JOIN UNNEST($1::text[]) AS k(message_id)
               ON e.message_id = k.message_id",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        {
            found.envelopes.insert(
                row.try_get("message_id")?,
                KnownEnvelope {
                    digest: row.try_get("envelope_digest")?,
                    received_at_ms: row.try_get("received_at_ms")?,
                    log_index: to_u64(row.try_get("log_index")?, "log_index")?,
                },
            );
        }
        found.declaration_ids.extend(
            sqlx::query_scalar::<_, String>(
                "SELECT d.message_id FROM declarations d
                 JOIN UNNEST($1::text[]) AS k(message_id) ON d.message_id = k.message_id",
            )
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?,
        );
        let senders: Vec<&str> = lrns.iter().map(|(sender, _)| *sender).collect();
        let numbers: Vec<&str> = lrns.iter().map(|(_, lrn)| *lrn).collect();
        for row in sqlx::query(
            "SELECT d.sender, d.lrn, d.message_id FROM declarations d
             JOIN UNNEST($1::text[], $2::text[]) AS k(sender, lrn)
               ON d.sender = k.sender AND d.lrn = k.lrn",
        )
        .bind(&senders)
        .bind(&numbers)
        .fetch_all(&mut *conn)
        .await?
        {
            found.lrns.insert(
                (row.try_get("sender")?, row.try_get("lrn")?),
                row.try_get("message_id")?,
            );
        }
        Ok(found)
    }

    async fn parcels_since(
        &mut self,
        keys: &[i64],
        since_ms: i64,
    ) -> Result<HashMap<i64, ParcelWindow>, StoreError> {
        let mut found: HashMap<i64, ParcelWindow> = keys
            .iter()
            .map(|key| {
                (
                    *key,
                    ParcelWindow {
                        since_ms,
                        values: Vec::new(),
                    },
                )
            })
            .collect();
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
            let key: i64 = row.try_get("party_key")?;
            if let Some(window) = found.get_mut(&key) {
                window
                    .values
                    .push((row.try_get("received_at_ms")?, row.try_get("parcel_value")?));
            }
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
        self.pending.flush(&mut self.tx).await?;
        let stored = Counters {
            indicators_version: counters.indicators_version + u64::from(self.indicators_changed),
            ..counters
        };
        // The counters, and the announcement delivered to every listening replica when,
        // and only if, this commits: the new size and root, so that they publish the head
        // without reading it. One statement, one round trip.
        sqlx::query(
            "WITH counters AS (
                 UPDATE ledger SET log_size = $1, declarations = $2, indicators_version = $3
             )
             SELECT pg_notify($4, $5)",
        )
        .bind(to_i64(stored.log_size))
        .bind(to_i64(stored.declarations))
        .bind(to_i64(stored.indicators_version))
        .bind(COMMIT_CHANNEL)
        .bind(format!("{} {}", stored.log_size, hex::encode(head)))
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(stored)
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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
struct PendingRows {
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

    /// Writes every buffered row into the transaction: one statement per table.
    async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let rows = std::mem::take(self);
        if !rows.envelopes.is_empty() {
            let e = &rows.envelopes;
            sqlx::query(
                "INSERT INTO envelopes (log_index, message_id, direction, sender, recipient,
                     msg_type, correlation_id, created_at_ms, received_at_ms, envelope_digest,
                     envelope)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                     $5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[],
                     $10::bytea[], $11::bytea[])",
            )
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
            .execute(&mut *conn)
            .await?;
        }
        if !rows.subtrees.is_empty() {
            let t = &rows.subtrees;
            sqlx::query(
                "INSERT INTO merkle (level, idx, hash)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])",
            )
            .bind(t.iter().map(|r| i64::from(r.0)).collect::<Vec<_>>())
            .bind(t.iter().map(|r| to_i64(r.1)).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.2.as_slice()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        if !rows.declarations.is_empty() {
            let d = &rows.declarations;
            // In the group's order, so that `accepted` orders them as the log does.
            sqlx::query(
                "INSERT INTO declarations (message_id, sender, lrn, mrn, state, outcome,
                     open_referral_id, referral_count, satisfied, data, updated_at_ms, account,
                     party_key, parcel_value, parcel_counts, received_at_ms)
                 SELECT message_id, sender, lrn, mrn, state, outcome, open_referral_id,
                     referral_count, satisfied, data, updated_at_ms, account, party_key,
                     parcel_value, parcel_counts, received_at_ms
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::text[], $8::bigint[], $9::text[], $10::bytea[],
                     $11::bigint[], $12::bytea[], $13::bigint[], $14::bigint[], $15::bigint[],
                     $16::bigint[])
                     WITH ORDINALITY AS r(message_id, sender, lrn, mrn, state, outcome,
                     open_referral_id, referral_count, satisfied, data, updated_at_ms, account,
                     party_key, parcel_value, parcel_counts, received_at_ms, ord)
                 ORDER BY ord",
            )
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
            .execute(&mut *conn)
            .await?;
        }
        if !rows.referrals.is_empty() {
            let r = &rows.referrals;
            sqlx::query(
                "INSERT INTO referrals (referral_id, declaration_id, outcome_message_id, kind,
                     indicator_id, status)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[])",
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
            .execute(&mut *conn)
            .await?;
        }
        if !rows.deliveries.is_empty() {
            let d = &rows.deliveries;
            sqlx::query(
                "INSERT INTO deliveries (recipient, seq, log_index)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])",
            )
            .bind(d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>())
            .bind(d.iter().map(|x| x.1).collect::<Vec<_>>())
            .bind(d.iter().map(|x| x.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        for (declaration_id, columns) in &rows.orphan_parcels {
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
