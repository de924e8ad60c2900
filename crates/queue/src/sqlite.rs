//! The apalis-sqlite backend over a `sqlx::SqlitePool` the caller owns (the binary shares one
//! pool and file with the SQLite task store).
//!
//! What apalis-sqlite 1.0 does, and what we build on:
//! - Jobs are rows of its `Jobs` table (`job_type` = the queue name); [`setup`] runs its
//!   migrations. `SqliteStorage::setup` also sets `PRAGMA synchronous = OFF` (plus WAL, a large
//!   page cache and `temp_store = MEMORY`) on the one pooled connection it runs on: on that
//!   connection a commit does not wait for the disk, so an operating-system crash or power loss
//!   (not a process crash) can lose the last commits made through it, or corrupt the file.
//!   Connections opened later keep the pool's own settings (`synchronous = FULL` by default,
//!   `NORMAL` is enough in WAL mode).
//! - A finished job is acked with its status: `Done`, `Failed` (retried: re-fetched at once,
//!   with no backoff, while `attempts < max_attempts`, 25 by default) or `Killed` (an
//!   `AbortError`: our dead letters, see [`crate::dead_letter`]).
//! - A job whose worker stopped heart-beating (`Workers.last_seen`) for heartbeat × missed
//!   beats is put back to `Pending` by another worker's heartbeat (`reenqueue_orphaned`), and a
//!   worker that stops cleanly puts back the jobs it fetched but did not start.
//! - Times are whole seconds (`run_at`, `done_at`, `last_seen`).
//!
//! A payload that does not decode still stops the worker that fetched it (apalis-core's
//! `DurableBackend`; the Redis backend is patched for this, this one is not): the monitor
//! restarts it, and the row comes back after the heartbeat timeout.

use std::sync::Arc;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_sqlite::{Config, SqliteStorage};
use async_trait::async_trait;
use sqlx::SqlitePool;
use statport_core::task::ExportJob;

use crate::port::{due_second, JobQueue, QueueError};
use crate::runner::WorkerBackend;
use crate::settings::QueueSettings;

/// Runs apalis-sqlite's migrations (and its pragmas, see the module doc) on `pool`.
pub async fn setup(pool: &SqlitePool) -> Result<(), QueueError> {
    SqliteStorage::setup(pool)
        .await
        .map_err(QueueError::from_display)
}

/// The apalis-sqlite configuration of the export queue for `settings`.
pub fn config(settings: &QueueSettings) -> Config {
    Config::default()
        .queue(&settings.name)
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats)
}

/// The apalis storage of export jobs for `settings`, over `pool` (migrated with [`setup`]).
pub fn storage(pool: &SqlitePool, settings: &QueueSettings) -> SqliteStorage<ExportJob> {
    SqliteStorage::new(pool).with_config(config(settings))
}

/// What the runner pulls from: the storage over `pool` and a [`SqliteQueue`] over the same
/// pool for the jobs a run hands back.
pub fn worker_backend(
    pool: &SqlitePool,
    settings: &QueueSettings,
) -> WorkerBackend<SqliteStorage<ExportJob>> {
    let storage = storage(pool, settings);
    WorkerBackend {
        queue: Arc::new(SqliteQueue::from_storage(storage.clone())),
        storage,
    }
}

/// The push side of the apalis-sqlite queue.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    storage: SqliteStorage<ExportJob>,
}

impl SqliteQueue {
    /// The queue `settings` names, over `pool` (migrated with [`setup`]).
    pub fn new(pool: &SqlitePool, settings: &QueueSettings) -> Self {
        SqliteQueue::from_storage(storage(pool, settings))
    }

    /// A queue pushing into `storage`.
    pub fn from_storage(storage: SqliteStorage<ExportJob>) -> Self {
        SqliteQueue { storage }
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
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
