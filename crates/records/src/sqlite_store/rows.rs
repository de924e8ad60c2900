//! The `statport_tasks` table: its schema and how one record is written to and read from a row.
//!
//! ```text
//! statport_tasks  (tenant_id, task_id) PRIMARY KEY
//!                 status, run_id        for inspection
//!                 create_time, update_time  the listing order (indexed per tenant)
//!                 record                the TaskRecord as JSON (the source of truth)
//! statport_callbacks_due  (tenant_id, task_id) PRIMARY KEY
//!                 due                   when the task's pending completion callback is due
//!                                       (ms), indexed; written with the record, in its
//!                                       transaction; a row left by a deleted or replaced task
//!                                       is dropped by the claim that finds nothing due
//! ```
//!
//! The JSON is never edited in SQL, so `u64` counters keep their exact values.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use statport_core::task::TaskRecord;

use crate::error::StoreError;

/// The name under which the tables' version is recorded.
pub(super) const COMPONENT: &str = "tasks";

/// The version of the tables below.
pub(super) const VERSION: i64 = 1;

/// The tables and indexes, each idempotent.
pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS statport_tasks (
        tenant_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        status TEXT NOT NULL,
        run_id TEXT,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, task_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS statport_tasks_newest_first
        ON statport_tasks (tenant_id, update_time DESC, create_time DESC, task_id DESC)",
    "CREATE TABLE IF NOT EXISTS statport_callbacks_due (
        tenant_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        due INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, task_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS statport_callbacks_due_by_time ON statport_callbacks_due (due)",
];

/// Writes `record` (insert or replace) through `conn`.
pub(super) async fn upsert(
    conn: &mut SqliteConnection,
    record: &TaskRecord,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(record).map_err(StoreError::Encode)?;
    sqlx::query(
        "INSERT INTO statport_tasks
            (tenant_id, task_id, status, run_id, create_time, update_time, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, task_id) DO UPDATE SET
            status = excluded.status, run_id = excluded.run_id,
            create_time = excluded.create_time, update_time = excluded.update_time,
            record = excluded.record",
    )
    .bind(&record.tenant_id)
    .bind(&record.task_id)
    .bind(record.status.as_str())
    .bind(record.run_id.as_deref())
    .bind(record.create_time)
    .bind(record.update_time)
    .bind(json)
    .execute(&mut *conn)
    .await?;
    set_callback_due(conn, record).await
}

/// Writes (or removes) the task's row in `statport_callbacks_due` from its record.
pub(super) async fn set_callback_due(
    conn: &mut SqliteConnection,
    record: &TaskRecord,
) -> Result<(), StoreError> {
    match record.callback.as_ref().and_then(|c| c.due_at()) {
        Some(due) => {
            sqlx::query(
                "INSERT INTO statport_callbacks_due (tenant_id, task_id, due) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id, task_id) DO UPDATE SET due = excluded.due",
            )
            .bind(&record.tenant_id)
            .bind(&record.task_id)
            .bind(due)
            .execute(conn)
            .await?;
        }
        None => forget_callback(conn, &record.tenant_id, &record.task_id).await?,
    }
    Ok(())
}

/// Removes the task's row from `statport_callbacks_due`, if any.
pub(super) async fn forget_callback(
    conn: &mut SqliteConnection,
    tenant: &str,
    task_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM statport_callbacks_due WHERE tenant_id = ?1 AND task_id = ?2")
        .bind(tenant)
        .bind(task_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The tenant's task through `conn` (inside a transaction, so the caller can decide on it).
pub(super) async fn read(
    conn: &mut SqliteConnection,
    tenant: &str,
    task_id: &str,
) -> Result<Option<TaskRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT tenant_id, task_id, record FROM statport_tasks
         WHERE tenant_id = ?1 AND task_id = ?2",
    )
    .bind(tenant)
    .bind(task_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| decode(&row)).transpose()
}

/// Every task of the tenant, in no particular order.
pub(super) async fn read_tenant(
    conn: &mut SqliteConnection,
    tenant: &str,
) -> Result<Vec<TaskRecord>, StoreError> {
    let rows =
        sqlx::query("SELECT tenant_id, task_id, record FROM statport_tasks WHERE tenant_id = ?1")
            .bind(tenant)
            .fetch_all(conn)
            .await?;
    rows.iter().map(decode).collect()
}

/// Removes the tenant's task.
pub(super) async fn remove(
    conn: &mut SqliteConnection,
    tenant: &str,
    task_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM statport_tasks WHERE tenant_id = ?1 AND task_id = ?2")
        .bind(tenant)
        .bind(task_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Parses a row (`tenant_id`, `task_id`, `record`) and checks that the record is the one the
/// row's key names.
pub(super) fn decode(row: &SqliteRow) -> Result<TaskRecord, StoreError> {
    let tenant: String = row.try_get("tenant_id")?;
    let task_id: String = row.try_get("task_id")?;
    let json: String = row.try_get("record")?;
    let key = format!("statport_tasks({tenant}, {task_id})");
    let record: TaskRecord = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
        key: key.clone(),
        reason: e.to_string(),
    })?;
    if record.tenant_id != tenant || record.task_id != task_id {
        return Err(StoreError::Corrupt {
            key,
            reason: format!(
                "holds task {} of tenant {}",
                record.task_id, record.tenant_id
            ),
        });
    }
    Ok(record)
}
