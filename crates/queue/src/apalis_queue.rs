//! The push side of the queue over any apalis storage: one [`JobQueue`] adapter for both
//! backends, since apalis-redis and apalis-sqlite push through the same `TaskSink` and differ
//! only in how their storage is built (`redis.rs`, `sqlite.rs`).

use std::fmt;
use std::sync::Arc;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_core::backend::finalize::Durable;
use async_trait::async_trait;
use statport_core::task::ExportJob;

use crate::port::{due_second, JobQueue, QueueError};
use crate::runner::{ErrorSpacing, WorkerBackend};

/// Pushes export jobs into an apalis storage `S` (`RedisStorage<ExportJob>` as
/// [`RedisQueue`](crate::redis::RedisQueue), `SqliteStorage<ExportJob>` as
/// [`SqliteQueue`](crate::sqlite::SqliteQueue)).
///
/// Cheap to clone when the storage is: each push works on a clone of it, so one queue serves
/// concurrent callers.
#[derive(Debug, Clone)]
pub struct ApalisQueue<S> {
    storage: S,
}

impl<S> ApalisQueue<S> {
    /// A queue pushing into `storage` (built with the same settings as the workers', so both
    /// name the same queue).
    pub fn from_storage(storage: S) -> Self {
        ApalisQueue { storage }
    }
}

#[async_trait]
impl<S> JobQueue for ApalisQueue<S>
where
    S: TaskSink<ExportJob, Durable> + Clone + Send + Sync + fmt::Debug + 'static,
    S::Error: fmt::Display,
{
    async fn push(&self, job: ExportJob) -> Result<(), QueueError> {
        let mut storage = self.storage.clone();
        storage.push(job).await.map_err(QueueError::from_display)
    }

    async fn push_at(&self, job: ExportJob, at_ms: i64) -> Result<(), QueueError> {
        let task = TaskBuilder::new(job)
            .run_at_timestamp(due_second(at_ms))
            .build();
        let mut storage = self.storage.clone();
        storage
            .push_task(task)
            .await
            .map_err(QueueError::from_display)
    }
}

/// What the runner pulls from: `storage` and an [`ApalisQueue`] over a clone of it for the jobs
/// runs hand back, with the backend's `error_spacing`.
pub(crate) fn worker_backend<S>(storage: S, error_spacing: ErrorSpacing) -> WorkerBackend<S>
where
    S: Clone,
    ApalisQueue<S>: JobQueue + 'static,
{
    WorkerBackend {
        queue: Arc::new(ApalisQueue::from_storage(storage.clone())),
        storage,
        error_spacing,
    }
}
