//! The SQLite file of the embedded default: how it is opened, how a write takes the file's lock,
//! and the schema version each store keeps in it.
//!
//! One file holds the task records, the schedules and the apalis-sqlite job queue, so the binary
//! opens one [`SqlitePool`] with [`open_sqlite`] and hands it to every store and to
//! `apalis_sqlite::SqliteStorage::new(&pool)`.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::StoreError;

/// How long a statement waits for another connection's write lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool: SQLite writes one at a time, so more only help concurrent readers.
const MAX_CONNECTIONS: u32 = 4;

/// Opens (creating it and its parent folder when missing) the SQLite file at `path`: WAL journal,
/// `synchronous = NORMAL`, a 5 s busy timeout and foreign keys on, set on every pooled
/// connection. No tables are created here; each store creates its own.
pub async fn open_sqlite(path: &Path) -> Result<SqlitePool, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await?)
}

/// A transaction that holds the file's write lock from its first statement (`BEGIN IMMEDIATE`),
/// so its reads and the writes that depend on them cannot interleave with another connection or
/// process. Commit it explicitly; dropped uncommitted (an error on the way), it rolls back.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// The table that records which schema version each store's tables have.
const CREATE_VERSIONS: &str = "CREATE TABLE IF NOT EXISTS statport_schema_versions (
    component TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
)";

/// Creates `statements` (idempotent `CREATE ... IF NOT EXISTS`) for `component` in one write
/// transaction and records `version`; refuses a file whose tables a newer statport wrote.
pub(crate) async fn ensure_schema(
    pool: &SqlitePool,
    component: &str,
    version: i64,
    statements: &[&'static str],
) -> Result<(), StoreError> {
    let mut tx = begin_write(pool).await?;
    sqlx::query(CREATE_VERSIONS).execute(&mut *tx).await?;
    let found = stored_version(&mut tx, component).await?;
    if let Some(found) = found.filter(|found| *found > version) {
        return Err(StoreError::Schema {
            component: component.to_owned(),
            found,
            supported: version,
        });
    }
    for statement in statements {
        sqlx::query(*statement).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO statport_schema_versions (component, version) VALUES (?1, ?2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
    )
    .bind(component)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The schema version recorded for `component`, if any.
async fn stored_version(
    conn: &mut SqliteConnection,
    component: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT version FROM statport_schema_versions WHERE component = ?1")
            .bind(component)
            .fetch_optional(conn)
            .await?,
    )
}

/// Converts a count or offset to SQLite's integer, saturating (`usize::MAX` means "all").
pub(crate) fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
