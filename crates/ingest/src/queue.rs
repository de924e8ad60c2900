//! The queue port: how an accepted task reaches the workers.

use apalis::prelude::TaskSink;
use apalis_redis::RedisStorage;
use async_trait::async_trait;
use statport_core::task::ExportJob;

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Somewhere to put export jobs for the workers.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Queues `job` for a worker.
    async fn push(&self, job: ExportJob) -> Result<(), QueueError>;
}

/// The apalis-redis queue shared with `statport worker`.
#[derive(Debug, Clone)]
pub struct ApalisQueue {
    storage: RedisStorage<ExportJob>,
}

impl ApalisQueue {
    /// A queue pushing into `storage` (built with the same settings as the workers').
    pub fn new(storage: RedisStorage<ExportJob>) -> Self {
        ApalisQueue { storage }
    }
}

#[async_trait]
impl JobQueue for ApalisQueue {
    async fn push(&self, job: ExportJob) -> Result<(), QueueError> {
        let mut storage = self.storage.clone();
        storage
            .push(job)
            .await
            .map_err(|e| QueueError(e.to_string()))
    }
}
