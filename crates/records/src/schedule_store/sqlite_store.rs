//! [`SqliteScheduleStore`]: schedules and their runs in the SQLite file of the embedded default.
//!
//! ```text
//! statport_schedules      (tenant_id, schedule_id) PRIMARY KEY
//!                         paused, create_time   for inspection and the listing order (indexed)
//!                         record                the ScheduleRecord as JSON (the source of truth)
//! statport_schedule_runs  (tenant_id, schedule_id, fire_time) PRIMARY KEY: one run per fire time
//!                         state                 claimed | created | refused, for inspection
//!                         record                the ScheduleRun as JSON
//!                         removed with its schedule (ON DELETE CASCADE, and explicitly)
//! ```
//!
//! Every step that reads and then writes runs in one `BEGIN IMMEDIATE` transaction, which holds
//! the file's write lock from the start, so schedulers in other processes cannot interleave.

use std::fmt;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::{Row, SqliteConnection, SqlitePool};
use statport_core::schedule::{RunState, ScheduleFailure, ScheduleRecord, ScheduleRun};

use super::{rules, FireClaim, FireResult, ScheduleStore};
use crate::error::StoreError;
use crate::sqlite::{begin_write, ensure_schema, sql_count};

/// The name under which the tables' version is recorded.
const COMPONENT: &str = "schedules";

/// The version of the tables below.
const VERSION: i64 = 1;

/// The tables and indexes, each idempotent.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS statport_schedules (
        tenant_id TEXT NOT NULL,
        schedule_id TEXT NOT NULL,
        paused INTEGER NOT NULL,
        create_time INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, schedule_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS statport_schedules_newest_first
        ON statport_schedules (tenant_id, create_time DESC, schedule_id DESC)",
    "CREATE TABLE IF NOT EXISTS statport_schedule_runs (
        tenant_id TEXT NOT NULL,
        schedule_id TEXT NOT NULL,
        fire_time INTEGER NOT NULL,
        state TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, schedule_id, fire_time),
        FOREIGN KEY (tenant_id, schedule_id)
            REFERENCES statport_schedules (tenant_id, schedule_id) ON DELETE CASCADE
    ) WITHOUT ROWID",
];

/// The schedule store over one SQLite file (the pool the task store and the job queue use).
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct SqliteScheduleStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteScheduleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteScheduleStore")
            .finish_non_exhaustive()
    }
}

impl SqliteScheduleStore {
    /// A store over `pool` (from [`open_sqlite`](crate::open_sqlite)) whose tables exist: they
    /// are created when missing.
    pub async fn open(pool: SqlitePool) -> Result<Self, StoreError> {
        let store = SqliteScheduleStore { pool };
        store.setup().await?;
        Ok(store)
    }

    /// Creates the store's tables when missing (idempotent; safe from several processes).
    pub async fn setup(&self) -> Result<(), StoreError> {
        ensure_schema(&self.pool, COMPONENT, VERSION, SCHEMA).await
    }

    /// The pool, to share the file with the task store and the job queue.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Parses stored JSON, naming the row when it is not ours.
fn decode<T: DeserializeOwned>(json: &str, key: impl FnOnce() -> String) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key(),
        reason: e.to_string(),
    })
}

/// The tenant's schedule through `conn`.
async fn read_schedule(
    conn: &mut SqliteConnection,
    tenant: &str,
    schedule_id: &str,
) -> Result<Option<ScheduleRecord>, StoreError> {
    let json: Option<String> = sqlx::query_scalar(
        "SELECT record FROM statport_schedules WHERE tenant_id = ?1 AND schedule_id = ?2",
    )
    .bind(tenant)
    .bind(schedule_id)
    .fetch_optional(conn)
    .await?;
    json.map(|json| decode_schedule(&json, tenant, schedule_id))
        .transpose()
}

/// Parses a schedule and checks that it is the one its row names.
fn decode_schedule(
    json: &str,
    tenant: &str,
    schedule_id: &str,
) -> Result<ScheduleRecord, StoreError> {
    let key = || format!("statport_schedules({tenant}, {schedule_id})");
    let record: ScheduleRecord = decode(json, key)?;
    if record.tenant_id != tenant || record.schedule_id != schedule_id {
        return Err(StoreError::Corrupt {
            key: key(),
            reason: format!(
                "holds schedule {} of tenant {}",
                record.schedule_id, record.tenant_id
            ),
        });
    }
    Ok(record)
}

/// Parses rows of (`tenant_id`, `schedule_id`, `record`).
fn decode_schedules(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<ScheduleRecord>, StoreError> {
    rows.iter()
        .map(|row| {
            let tenant: String = row.try_get("tenant_id")?;
            let schedule_id: String = row.try_get("schedule_id")?;
            let json: String = row.try_get("record")?;
            decode_schedule(&json, &tenant, &schedule_id)
        })
        .collect()
}

/// Writes a schedule (insert, or update in place so its runs stay).
async fn write_schedule(
    conn: &mut SqliteConnection,
    record: &ScheduleRecord,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(record).map_err(StoreError::Encode)?;
    sqlx::query(
        "INSERT INTO statport_schedules (tenant_id, schedule_id, paused, create_time, record)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, schedule_id) DO UPDATE SET
            paused = excluded.paused, create_time = excluded.create_time, record = excluded.record",
    )
    .bind(&record.tenant_id)
    .bind(&record.schedule_id)
    .bind(record.paused)
    .bind(record.create_time)
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

/// The schedule's runs through `conn`, newest fire time first, at most `limit`.
async fn read_runs(
    conn: &mut SqliteConnection,
    tenant: &str,
    schedule_id: &str,
    limit: usize,
) -> Result<Vec<ScheduleRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT fire_time, record FROM statport_schedule_runs
         WHERE tenant_id = ?1 AND schedule_id = ?2 ORDER BY fire_time DESC LIMIT ?3",
    )
    .bind(tenant)
    .bind(schedule_id)
    .bind(sql_count(limit))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let fire_time: i64 = row.try_get("fire_time")?;
            let json: String = row.try_get("record")?;
            decode(&json, || {
                format!("statport_schedule_runs({tenant}, {schedule_id}, {fire_time})")
            })
        })
        .collect()
}

/// The run of one fire time through `conn`.
async fn read_run(
    conn: &mut SqliteConnection,
    tenant: &str,
    schedule_id: &str,
    fire_time: i64,
) -> Result<Option<ScheduleRun>, StoreError> {
    let json: Option<String> = sqlx::query_scalar(
        "SELECT record FROM statport_schedule_runs
         WHERE tenant_id = ?1 AND schedule_id = ?2 AND fire_time = ?3",
    )
    .bind(tenant)
    .bind(schedule_id)
    .bind(fire_time)
    .fetch_optional(conn)
    .await?;
    json.map(|json| {
        decode(&json, || {
            format!("statport_schedule_runs({tenant}, {schedule_id}, {fire_time})")
        })
    })
    .transpose()
}

/// Writes the run of `run.fire_time` (insert or replace).
async fn write_run(
    conn: &mut SqliteConnection,
    tenant: &str,
    run: &ScheduleRun,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(run).map_err(StoreError::Encode)?;
    let state = match run.state {
        RunState::Claimed { .. } => "claimed",
        RunState::Created { .. } => "created",
        RunState::Refused { .. } => "refused",
    };
    sqlx::query(
        "INSERT INTO statport_schedule_runs (tenant_id, schedule_id, fire_time, state, record)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, schedule_id, fire_time) DO UPDATE SET
            state = excluded.state, record = excluded.record",
    )
    .bind(tenant)
    .bind(&run.schedule_id)
    .bind(run.fire_time)
    .bind(state)
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ScheduleStore for SqliteScheduleStore {
    async fn create(
        &self,
        record: &ScheduleRecord,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let replacing = read_schedule(&mut tx, &record.tenant_id, &record.schedule_id)
            .await?
            .is_some();
        if !replacing {
            let owned: i64 =
                sqlx::query_scalar("SELECT count(*) FROM statport_schedules WHERE tenant_id = ?1")
                    .bind(&record.tenant_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if owned >= sql_count(max_per_tenant) {
                return Ok(false);
            }
        }
        write_schedule(&mut tx, record).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn get(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_schedule(&mut conn, tenant, schedule_id).await
    }

    async fn list(
        &self,
        tenant: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(usize, Vec<ScheduleRecord>), StoreError> {
        // One read transaction: the count and the page see the same snapshot.
        let mut tx = self.pool.begin().await?;
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM statport_schedules WHERE tenant_id = ?1")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?;
        // The order of `rules::newest_first` (TEXT compares byte-wise, as Rust strings do).
        let rows = sqlx::query(
            "SELECT tenant_id, schedule_id, record FROM statport_schedules WHERE tenant_id = ?1
             ORDER BY create_time DESC, schedule_id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(tenant)
        .bind(sql_count(limit))
        .bind(sql_count(offset))
        .fetch_all(&mut *tx)
        .await?;
        Ok((
            usize::try_from(total).unwrap_or(0),
            decode_schedules(&rows)?,
        ))
    }

    async fn delete(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        // Explicitly as well as by the cascade, so a pool opened without foreign keys agrees.
        sqlx::query("DELETE FROM statport_schedule_runs WHERE tenant_id = ?1 AND schedule_id = ?2")
            .bind(tenant)
            .bind(schedule_id)
            .execute(&mut *tx)
            .await?;
        let json: Option<String> = sqlx::query_scalar(
            "DELETE FROM statport_schedules WHERE tenant_id = ?1 AND schedule_id = ?2
             RETURNING record",
        )
        .bind(tenant)
        .bind(schedule_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        json.map(|json| decode_schedule(&json, tenant, schedule_id))
            .transpose()
    }

    async fn set_paused(
        &self,
        tenant: &str,
        schedule_id: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let Some(current) = read_schedule(&mut tx, tenant, schedule_id).await? else {
            return Ok(None);
        };
        let Some(next) = rules::set_paused(&current, paused, now_ms) else {
            return Ok(Some(current));
        };
        write_schedule(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    async fn all(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, schedule_id, record FROM statport_schedules")
            .fetch_all(&self.pool)
            .await?;
        decode_schedules(&rows)
    }

    async fn claim_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<FireClaim, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let schedule = read_schedule(&mut tx, tenant, schedule_id).await?;
        if schedule.is_none_or(|s| s.paused) {
            return Ok(FireClaim::Missing);
        }
        let existing = read_run(&mut tx, tenant, schedule_id, fire_time).await?;
        let (next, answer) = rules::claim(
            existing.as_ref(),
            schedule_id,
            fire_time,
            owner,
            now_ms,
            lease_ms,
        );
        let Some(next) = next else {
            return Ok(answer);
        };
        write_run(&mut tx, tenant, &next).await?;
        let runs = read_runs(&mut tx, tenant, schedule_id, usize::MAX).await?;
        for gone in rules::to_trim(&runs) {
            sqlx::query(
                "DELETE FROM statport_schedule_runs
                 WHERE tenant_id = ?1 AND schedule_id = ?2 AND fire_time = ?3",
            )
            .bind(tenant)
            .bind(schedule_id)
            .bind(gone)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(answer)
    }

    async fn complete_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        result: FireResult,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let (Some(schedule), Some(run)) = (
            read_schedule(&mut tx, tenant, schedule_id).await?,
            read_run(&mut tx, tenant, schedule_id, fire_time).await?,
        ) else {
            return Ok(false);
        };
        let Some((next_run, next)) = rules::complete(&run, &schedule, owner, &result, now_ms)
        else {
            return Ok(false);
        };
        write_run(&mut tx, tenant, &next_run).await?;
        write_schedule(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn skip_fires(
        &self,
        tenant: &str,
        schedule_id: &str,
        up_to: i64,
        skipped: u64,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let Some(current) = read_schedule(&mut tx, tenant, schedule_id).await? else {
            return Ok(());
        };
        if let Some(next) = rules::skip(&current, up_to, skipped) {
            write_schedule(&mut tx, &next).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn record_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        at_ms: i64,
        message: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let Some(current) = read_schedule(&mut tx, tenant, schedule_id).await? else {
            return Ok(false);
        };
        write_schedule(&mut tx, &rules::fail(&current, at_ms, message)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn clear_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        seen: &ScheduleFailure,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
        let Some(current) = read_schedule(&mut tx, tenant, schedule_id).await? else {
            return Ok(false);
        };
        let Some(next) = rules::clear_failure(&current, seen) else {
            return Ok(false);
        };
        write_schedule(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn runs(
        &self,
        tenant: &str,
        schedule_id: &str,
        limit: usize,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_runs(&mut conn, tenant, schedule_id, limit).await
    }
}
