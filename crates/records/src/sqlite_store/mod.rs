//! [`SqliteTaskStore`]: task records in the SQLite file of the embedded default.
//!
//! Every guarded transition and every admission reads, decides with the shared rules
//! (`transition` through the compare-and-set of `cas`, `admission`) and writes inside one
//! `BEGIN IMMEDIATE` transaction, which holds the file's write lock from the start: no other
//! connection, in this process or another, can write between the read and the write. The
//! `rows` module documents the table.

mod rows;

use std::fmt;

use async_trait::async_trait;
use sqlx::{Sqlite, SqlitePool, Transaction};
use statport_core::outbox::AttemptResult;
use statport_core::task::TaskRecord;

use crate::admission::{self, Admission, AdmissionLimits};
use crate::cas::{self, RecordCas};
use crate::error::StoreError;
use crate::outbox::{CallbackOutbox, TaskRef};
use crate::sqlite::{begin_write, ensure_schema, sql_count};
use crate::store::{Claim, ListQuery, Outcome, TaskPage, TaskStore};
use crate::transition;

/// The status store over one SQLite file, shared with the job queue and any other process that
/// opens the same file.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct SqliteTaskStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteTaskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTaskStore").finish_non_exhaustive()
    }
}

impl SqliteTaskStore {
    /// A store over `pool` (from [`open_sqlite`](crate::open_sqlite)) whose tables exist: they
    /// are created when missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, StoreError> {
        let store = SqliteTaskStore { pool };
        store.setup().await?;
        Ok(store)
    }

    /// Creates the store's tables when missing (idempotent; safe from several processes).
    pub async fn setup(&self) -> Result<(), StoreError> {
        ensure_schema(&self.pool, rows::COMPONENT, rows::VERSION, rows::SCHEMA).await
    }

    /// The pool, to share it with the job queue.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The version is the `BEGIN IMMEDIATE` transaction the read ran in: it holds the file's write
/// lock until the write commits (or, when nothing is written, until it is dropped and rolls
/// back), so no other connection or process can write in between and the first write always
/// succeeds.
#[async_trait]
impl RecordCas for SqliteTaskStore {
    type Record = TaskRecord;
    type Version = Transaction<'static, Sqlite>;
    const MAX_ROUNDS: usize = 1;
    const KIND: &'static str = "task";

    async fn read_versioned(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(TaskRecord, Self::Version)>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let current = rows::read(&mut tx, tenant, id).await?;
        Ok(current.map(|record| (record, tx)))
    }

    async fn write_if_unchanged(
        &self,
        next: &TaskRecord,
        mut version: Self::Version,
    ) -> Result<bool, StoreError> {
        rows::upsert(&mut version, next).await?;
        version.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        rows::upsert(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let existing = rows::read_tenant(&mut tx, &record.tenant_id).await?;
        let decision = admission::decide(&existing, record, limits);
        let Some(next) = decision.write else {
            return Ok(decision.admission);
        };
        for gone in &decision.evict {
            rows::remove(&mut tx, &gone.tenant_id, &gone.task_id).await?;
        }
        rows::upsert(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(decision.admission)
    }

    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        cas::expire_file(self, tenant, task_id, ended_by, now_ms).await
    }

    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        rows::read(&mut conn, tenant, task_id).await
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError> {
        // One read transaction: the count and the page see the same snapshot.
        let mut tx = self.pool.begin().await?;
        if let Some(task_id) = &query.task_id {
            let found = rows::read(&mut tx, tenant, task_id).await?;
            return Ok(transition::page(found.into_iter().collect(), query));
        }
        if query.task_name.is_some() {
            // Filtering needs every record of the tenant; a tenant keeps few (50 by default).
            let records = rows::read_tenant(&mut tx, tenant).await?;
            return Ok(transition::page(records, query));
        }
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM statport_tasks WHERE tenant_id = ?1")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?;
        // The order of `transition::newest_first` (TEXT compares byte-wise, as Rust strings do).
        let page = sqlx::query(
            "SELECT tenant_id, task_id, record FROM statport_tasks WHERE tenant_id = ?1
             ORDER BY update_time DESC, create_time DESC, task_id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(tenant)
        .bind(sql_count(query.limit))
        .bind(sql_count(query.offset))
        .fetch_all(&mut *tx)
        .await?;
        let data = page.iter().map(rows::decode).collect::<Result<_, _>>()?;
        Ok(TaskPage {
            total: usize::try_from(total).unwrap_or(0),
            data,
        })
    }

    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM statport_tasks WHERE tenant_id = ?1 AND task_id = ?2
             RETURNING tenant_id, task_id, record",
        )
        .bind(tenant)
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| rows::decode(&row)).transpose()
    }

    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        cas::claim(self, tenant, task_id, run_id, now_ms).await
    }

    async fn progress(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        progress: u8,
        read_lines: u64,
        skipped_lines: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        cas::progress(
            self,
            tenant,
            task_id,
            run_id,
            progress,
            read_lines,
            skipped_lines,
            now_ms,
        )
        .await
    }

    async fn finish(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        cas::finish(self, tenant, task_id, run_id, &outcome, now_ms).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[async_trait]
impl CallbackOutbox for SqliteTaskStore {
    async fn due_callbacks(&self, now_ms: i64, limit: usize) -> Result<Vec<TaskRef>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT tenant_id, task_id FROM statport_callbacks_due WHERE due <= ?1
             ORDER BY due LIMIT ?2",
        )
        .bind(now_ms)
        .bind(sql_count(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, task_id)| TaskRef { tenant_id, task_id })
            .collect())
    }

    async fn claim_callback(
        &self,
        tenant: &str,
        task_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let claimed = cas::claim_callback(self, tenant, task_id, owner, now_ms, lease_ms).await?;
        if claimed.is_none() {
            // Nothing due: put the index row right (gone, or the record's true time).
            let mut tx = begin_write(&self.pool).await?;
            match rows::read(&mut tx, tenant, task_id).await? {
                Some(record) => rows::set_callback_due(&mut tx, &record).await?,
                None => rows::forget_callback(&mut tx, tenant, task_id).await?,
            }
            tx.commit().await?;
        }
        Ok(claimed)
    }

    async fn record_callback(
        &self,
        tenant: &str,
        task_id: &str,
        delivery_id: &str,
        owner: &str,
        result: &AttemptResult,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        cas::record_callback(self, tenant, task_id, delivery_id, owner, result, now_ms).await
    }
}
