//! The store's schema is versioned (sqlx migrations embedded in the binary): a new store
//! records the versions it applied, a store made before versioning existed is taken over
//! with its data intact, and a store whose history names a version this release does not
//! know (made by a newer release) is refused at open instead of being written to.

mod common;

use aedgate::store::{Store, StoreError};
use common::*;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;

async fn open(fed: &Federation, data_dir: &Path) -> Result<Store, StoreError> {
    open_store(fed, NL, data_dir).await
}

async fn database(data_dir: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", data_dir.join("aedgate.db").display());
    SqliteConnection::connect(&url).await.expect("database")
}

async fn applied_versions(data_dir: &Path) -> Vec<i64> {
    let mut conn = database(data_dir).await;
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("migration history")
}

#[tokio::test]
async fn a_store_made_before_versioning_is_taken_over_with_its_data_and_a_newer_one_refused() {
    let fed = Federation::standard();
    let (trust, data_dir) = store_setup(&fed, NL);

    let store = open(&fed, &data_dir).await.expect("new store");
    assert_eq!(
        applied_versions(&data_dir).await,
        [1, 2],
        "a new store records its schema"
    );
    let envelope = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("MIG"))));
    let admitted = admit_at(&trust, NL, SHOPCO, envelope);
    let message_id = admitted.header.message_id.clone();
    store
        .append(admitted, trust.clone())
        .await
        .expect("stored")
        .expect("accepted");
    let head = store.log_head();
    assert_eq!(head.size, 2, "the declaration and its outcome");
    drop(store);

    // What an earlier release left: the tables of version 1, no migration history. Opening
    // it takes version 1 as applied and migrates it to every later version.
    let mut conn = database(&data_dir).await;
    for statement in [
        "DROP TABLE _sqlx_migrations",
        "DROP INDEX declarations_by_party",
        "ALTER TABLE declarations DROP COLUMN account",
        "ALTER TABLE declarations DROP COLUMN party_key",
        "ALTER TABLE declarations DROP COLUMN parcel_value",
        "ALTER TABLE declarations DROP COLUMN parcel_counts",
        "ALTER TABLE declarations DROP COLUMN received_at_ms",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect(statement);
    }
    drop(conn);
    let store = open(&fed, &data_dir)
        .await
        .expect("an unversioned store opens");
    assert_eq!(store.log_head(), head, "the log is what it was");
    assert!(store.envelope(&message_id).await.expect("read").is_some());
    assert_eq!(applied_versions(&data_dir).await, [1, 2]);
    drop(store);

    // A store a newer release migrated further.
    let mut conn = database(&data_dir).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("future version");
    drop(conn);
    match open(&fed, &data_dir).await {
        Err(StoreError::Migration(error)) => {
            assert!(error.to_string().contains("9999"), "{error}");
        }
        Err(other) => panic!("expected a migration error, got {other}"),
        Ok(_) => panic!("a store of a newer schema must not be opened for writing"),
    }
}

#[tokio::test]
async fn a_postgres_store_records_its_versions_and_one_of_a_newer_schema_is_refused() {
    let fed = Federation::standard();
    let backend = Backend::postgres().await;
    let Backend::Postgres(db) = &backend else {
        unreachable!("a PostgreSQL backend")
    };
    let data_dir = fed.path().join("data/adm-NL-pg");
    let store = open_store_on(&fed, NL, &data_dir, &backend)
        .await
        .expect("a new store");
    drop(store);
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("database");
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("migration history");
    assert_eq!(versions, [1]);
    // Opened again by this release: nothing to apply, the store opens.
    open_store_on(&fed, NL, &data_dir, &backend)
        .await
        .expect("the same schema opens");

    // A store a newer release migrated further.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("future version");
    match open_store_on(&fed, NL, &data_dir, &backend).await {
        Err(StoreError::Migration(error)) => {
            assert!(error.to_string().contains("9999"), "{error}");
        }
        Err(other) => panic!("expected a migration error, got {other}"),
        Ok(_) => panic!("a store of a newer schema must not be opened for writing"),
    }
}
