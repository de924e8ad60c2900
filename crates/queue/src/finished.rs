//! The backends' own records of finished jobs, trimmed by the janitor: once a job is done the
//! task record is the only truth about it, so neither Redis nor the SQLite file grows with the
//! number of jobs ever run. Dead letters are kept (an operator decides about them).

mod redis;
mod sqlite;

use async_trait::async_trait;

pub use self::redis::RedisFinishedJobs;
pub use self::sqlite::SqliteFinishedJobs;
use crate::port::QueueError;

/// Records of finished jobs in one queue.
#[async_trait]
pub trait FinishedJobs: Send + Sync + std::fmt::Debug {
    /// Removes the records of finished jobs due for removal; returns how many. Idempotent and
    /// bounded per call to the store, so every worker process may run it without coordination.
    async fn trim(&self) -> Result<u64, QueueError>;
}
