//! [`SqliteLinkKeyStore`]: the link keys in one row of the embedded default's SQLite file.

use std::fmt;

use async_trait::async_trait;
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{link_keys_over, KeyCell, LinkKeyStore, LinkKeys};
use crate::error::StoreError;
use crate::sqlite::{begin_write, ensure_schema};

/// The component name of the table in `statport_schema_versions`.
const COMPONENT: &str = "link_keys";
/// The table's schema version.
const VERSION: i64 = 1;
/// One row (`id` = 1): the record as JSON.
const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS statport_link_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    keys TEXT NOT NULL
)"];

/// The link keys of every process opening one SQLite file.
#[derive(Clone)]
pub struct SqliteLinkKeyStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteLinkKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteLinkKeyStore").finish_non_exhaustive()
    }
}

impl SqliteLinkKeyStore {
    /// A store over `pool` (from [`open_sqlite`](crate::open_sqlite)) whose table exists: it is
    /// created when missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, StoreError> {
        ensure_schema(&pool, COMPONENT, VERSION, SCHEMA).await?;
        Ok(SqliteLinkKeyStore { pool })
    }
}

/// The version is the `BEGIN IMMEDIATE` transaction the read ran in: it holds the file's write
/// lock until the write commits, so the write cannot lose.
#[async_trait]
impl KeyCell for SqliteLinkKeyStore {
    type Version = Transaction<'static, Sqlite>;

    async fn read(&self) -> Result<(Option<String>, Self::Version), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let keys: Option<String> =
            sqlx::query_scalar("SELECT keys FROM statport_link_keys WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        Ok((keys, tx))
    }

    async fn write(&self, json: &str, mut tx: Self::Version) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO statport_link_keys (id, keys) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET keys = excluded.keys",
        )
        .bind(json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl LinkKeyStore for SqliteLinkKeyStore {
    async fn link_keys(
        &self,
        candidate: &[u8],
        now_ms: i64,
        rotate_after_ms: i64,
    ) -> Result<LinkKeys, StoreError> {
        link_keys_over(
            self,
            "statport_link_keys",
            candidate,
            now_ms,
            rotate_after_ms,
        )
        .await
    }
}
