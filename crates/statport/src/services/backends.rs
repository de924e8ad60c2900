//! One bundle per backend, chosen once: the store backend gives the task stores, the schedule
//! store and the rate limiter; the queue backend gives the API's queue, the dead letters, the
//! trimming of finished jobs and the worker runner. [`Backends::connect`] is the one place the
//! `[backends]` choice is matched; everything else holds the bundles' ports.
//!
//! A new backend is one module beside [`super::redis`] and [`super::sqlite`] building the two
//! bundles, and one arm in each match below.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use statport_access::RateLimiter;
use statport_queue::dead_letter::DeadLetters;
use statport_queue::finished::FinishedJobs;
use statport_queue::{JobQueue, QueueSettings, RunnerError};
use statport_records::{CallbackOutbox, LinkKeyStore, ScheduleStore, TaskStore};
use statport_worker::ExportContext;
use tokio_util::sync::CancellationToken;

use super::redis::RedisConnections;
use crate::config::{QueueBackend, Settings, StoreBackend};

/// The parts of the task store's backend.
#[derive(Debug, Clone)]
pub struct StoreBundle {
    /// Task records, over the patient connection (workers, sweeps).
    pub tasks: Arc<dyn TaskStore>,
    /// Task records, over the fail-fast connection (API requests).
    pub api_tasks: Arc<dyn TaskStore>,
    /// Schedules, over the fail-fast connection (API requests, schedulers).
    pub schedules: Arc<dyn ScheduleStore>,
    /// The completion callbacks recorded with the tasks' ends (the same store as `tasks`).
    pub outbox: Arc<dyn CallbackOutbox>,
    /// The signing keys of download links, shared by every process of the deployment.
    pub link_keys: Arc<dyn LinkKeyStore>,
    /// Counts API calls and downloads per tenant: shared by every API process on Redis, one
    /// process's own on SQLite (one machine).
    pub rate_limiter: Arc<dyn RateLimiter>,
}

/// A future of the worker runner, boxed so either backend's runner fits one type.
pub type WorkersFuture = Pin<Box<dyn Future<Output = Result<(), RunnerError>> + Send>>;

/// Starts the export workers of one queue backend: the generic `run_workers`, instantiated for
/// that backend's apalis storage.
pub type WorkerRunner = Arc<
    dyn Fn(Arc<ExportContext>, QueueSettings, CancellationToken) -> WorkersFuture + Send + Sync,
>;

/// The parts of the queue's backend.
#[derive(Clone)]
pub struct QueueBundle {
    /// The queue the API pushes to (over the fail-fast connection on Redis).
    pub api_queue: Arc<dyn JobQueue>,
    /// The jobs the queue gave up on.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Trims the queue's records of finished jobs (the janitor calls it).
    pub finished: Arc<dyn FinishedJobs>,
    /// Runs export workers on this queue.
    pub workers: WorkerRunner,
}

impl std::fmt::Debug for QueueBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueBundle")
            .field("api_queue", &self.api_queue)
            .field("dead_letters", &self.dead_letters)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// The backends `[backends]` names, connected.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The task and schedule stores and the rate limiter.
    pub store: StoreBundle,
    /// The queue and what goes with it.
    pub queue: QueueBundle,
    /// The Redis connections, when a backend is `redis` (the probe reads its persistence).
    pub redis: Option<RedisConnections>,
}

impl Backends {
    /// Prepares the connections `[backends]` asks for (lazy ones to Redis; the SQLite file
    /// opened and set up at once) and builds each port's bundle: the one place the choice is
    /// matched.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let backends = settings.backends;
        let redis = if backends.uses_redis() {
            Some(RedisConnections::new(&settings.redis.url)?)
        } else {
            None
        };
        let sqlite = if backends.uses_sqlite() {
            Some(super::sqlite::pool(settings).await?)
        } else {
            None
        };
        let missing = || anyhow::anyhow!("internal: a backend's connection was not made");
        let namespace = &settings.redis.namespace;
        let store = match backends.store {
            StoreBackend::Redis => redis.as_ref().ok_or_else(missing)?.store(namespace),
            StoreBackend::Sqlite => {
                super::sqlite::store(sqlite.as_ref().ok_or_else(missing)?).await?
            }
        };
        let queue_settings = super::queue_settings(settings);
        let queue = match backends.queue {
            QueueBackend::Redis => redis.as_ref().ok_or_else(missing)?.queue(&queue_settings),
            QueueBackend::Sqlite => {
                super::sqlite::queue(sqlite.as_ref().ok_or_else(missing)?, &queue_settings)
            }
        };
        Ok(Backends {
            store,
            queue,
            redis,
        })
    }
}
