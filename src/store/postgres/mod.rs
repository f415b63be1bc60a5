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
//!   indicators (in [`GroupWrite::prefetch`], with the group's lookups). Appends are therefore serialised across replicas
//!   and `log_index` stays unique and gap-free; one lock per group, not per envelope, keeps
//!   its cost small.
//! - **Commits are announced.** Each commit sends a `NOTIFY` on [`COMMIT_CHANNEL`] with the
//!   new log size and root, delivered by PostgreSQL when (and only if) the transaction commits, so a
//!   `Fetch` with `follow` on any replica wakes within milliseconds (`Store::open` listens).
//! - **Bulk rows** go in with one `INSERT ... SELECT FROM UNNEST(arrays)` per table: a
//!   constant statement text (prepared once) whatever the group's size, and one round trip.

mod audit;
mod group;
mod listen;
mod reads;

pub(super) use audit::audit_rows;
use group::PendingRows;
pub(super) use group::PgGroup;
pub(super) use listen::follow_commits;
pub(super) use reads::PgReads;

use super::backend::{Counters, LedgerBackend, Loaded};
use super::rows::{self};
use super::{to_u64, StoreError};
use crate::core::merkle::{self, Frontier, Hash};
use crate::core::risk::IndicatorRecord;
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
        // BEGIN and the log's lock in one round trip (the simple query protocol takes both).
        let tx = self
            .connection()?
            .begin_with(format!("BEGIN; SELECT pg_advisory_xact_lock({LOG_LOCK})"))
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
    sqlx::query(rows::INDICATORS_IN_FORCE)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(rows::indicator_record)
        .collect()
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

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
