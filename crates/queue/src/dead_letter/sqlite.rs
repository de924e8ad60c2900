//! Dead letters of the apalis-sqlite queue: its `Jobs` rows with status `Killed` (aborted) or
//! `Failed` with no attempts left.

use async_trait::async_trait;
use sqlx::{Row, SqlitePool};

use super::{reason_of, sort_oldest_first, DeadLetter, DeadLetters};
use crate::port::QueueError;
use crate::settings::QueueSettings;

/// The condition of a dead row (a macro so the queries stay literal strings).
macro_rules! dead {
    () => {
        "(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))"
    };
}

/// The dead letters of one SQLite queue.
#[derive(Debug, Clone)]
pub struct SqliteDeadLetters {
    pool: SqlitePool,
    queue: String,
}

impl SqliteDeadLetters {
    /// The dead letters of the queue `settings` names, over `pool`.
    pub fn new(pool: SqlitePool, settings: &QueueSettings) -> Self {
        SqliteDeadLetters {
            pool,
            queue: settings.name.clone(),
        }
    }
}

#[async_trait]
impl DeadLetters for SqliteDeadLetters {
    async fn list(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let rows = sqlx::query(concat!(
            "SELECT id, job, last_result, done_at FROM Jobs WHERE job_type = ?1 AND ",
            dead!()
        ))
        .bind(&self.queue)
        .fetch_all(&self.pool)
        .await
        .map_err(QueueError::from_display)?;
        let mut letters = Vec::with_capacity(rows.len());
        for row in rows {
            let read = |e: sqlx::Error| QueueError(format!("reading a dead job: {e}"));
            let payload: Vec<u8> = row.try_get("job").map_err(read)?;
            let result: Option<String> = row.try_get("last_result").map_err(read)?;
            let done_at: Option<i64> = row.try_get("done_at").map_err(read)?;
            letters.push(DeadLetter {
                id: row.try_get("id").map_err(read)?,
                payload: String::from_utf8_lossy(&payload).into_owned(),
                reason: reason_of(result.as_deref().unwrap_or("")),
                dead_at: done_at.and_then(|s| u64::try_from(s).ok()),
            });
        }
        sort_oldest_first(&mut letters);
        Ok(letters)
    }

    async fn requeue(&self, id: &str) -> Result<bool, QueueError> {
        let done = sqlx::query(concat!(
            "UPDATE Jobs SET status = 'Pending', attempts = 0, last_result = NULL, \
             done_at = NULL, lock_by = NULL, lock_at = NULL, run_at = strftime('%s', 'now') \
             WHERE id = ?1 AND job_type = ?2 AND ",
            dead!()
        ))
        .bind(id)
        .bind(&self.queue)
        .execute(&self.pool)
        .await
        .map_err(QueueError::from_display)?;
        Ok(done.rows_affected() == 1)
    }
}
