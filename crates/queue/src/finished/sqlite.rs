//! Finished jobs of the apalis-sqlite queue: `Done` rows whose `done_at` is older than a
//! retention are deleted, a chunk per statement so no write holds the database long.
//!
//! apalis-sqlite's own `Vacuum` does not fit: it deletes every queue's rows, dead letters
//! (`Killed`) included, then runs `VACUUM` (rewriting the whole file shared with the task
//! store), and its `vacuum_before` compares the integer `run_at` with a text date.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;

use super::FinishedJobs;
use crate::port::QueueError;
use crate::settings::QueueSettings;

/// Rows one statement deletes, so no trim holds the file's write lock long (the task store and
/// the workers write to the same file).
const TRIM_CHUNK: i64 = 500;

/// The finished-job rows of one SQLite queue.
#[derive(Debug, Clone)]
pub struct SqliteFinishedJobs {
    pool: SqlitePool,
    queue: String,
    retention: Duration,
}

impl SqliteFinishedJobs {
    /// The rows of the queue `settings` names, over `pool`; a done job's row is kept for
    /// `retention` after it finished (whole seconds; zero removes every done row).
    pub fn new(pool: SqlitePool, settings: &QueueSettings, retention: Duration) -> Self {
        SqliteFinishedJobs {
            pool,
            queue: settings.name.clone(),
            retention,
        }
    }
}

#[async_trait]
impl FinishedJobs for SqliteFinishedJobs {
    async fn trim(&self) -> Result<u64, QueueError> {
        let keep_secs = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let mut removed = 0u64;
        loop {
            let done = sqlx::query(
                "DELETE FROM Jobs WHERE ROWID IN (SELECT ROWID FROM Jobs \
                 WHERE job_type = ?1 AND status = 'Done' AND done_at IS NOT NULL \
                 AND done_at <= CAST(strftime('%s', 'now') AS INTEGER) - ?2 LIMIT ?3)",
            )
            .bind(&self.queue)
            .bind(keep_secs)
            .bind(TRIM_CHUNK)
            .execute(&self.pool)
            .await
            .map_err(QueueError::from_display)?;
            let n = done.rows_affected();
            removed = removed.saturating_add(n);
            if n < TRIM_CHUNK as u64 {
                return Ok(removed);
            }
        }
    }
}
