//! The embedded backend: one SQLite file holding task records, schedules and (when the queue
//! is on SQLite) apalis-sqlite's tables, any number of processes on one machine.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use statport_access::MemoryRateLimiter;
use statport_queue::dead_letter::SqliteDeadLetters;
use statport_queue::finished::SqliteFinishedJobs;
use statport_queue::sqlite::SqliteQueue;
use statport_queue::QueueSettings;
use statport_records::{
    open_sqlite, SqliteLinkKeyStore, SqliteScheduleStore, SqliteTaskStore, TaskStore,
};
use statport_worker::runner::run_workers;
use tracing::info;

use super::backends::{QueueBundle, StoreBundle};
use crate::config::{QueueBackend, Settings};

/// How long the SQLite queue keeps the rows of finished jobs (the janitor trims older ones).
const FINISHED_JOB_RETENTION: Duration = Duration::from_secs(3600);

/// Opens the SQLite file of `embedded.sqlite_path` and creates every table in it: the task
/// store's, the schedule store's and (when the queue is on SQLite) apalis-sqlite's. Every pooled
/// connection runs with WAL and `synchronous = NORMAL`: a committed write survives a crash of the
/// process; a power loss may lose the last transactions, never corrupt the file.
pub async fn pool(settings: &Settings) -> anyhow::Result<SqlitePool> {
    let path = std::path::Path::new(&settings.embedded.sqlite_path);
    let pool = open_sqlite(path).await.with_context(|| {
        format!(
            "opening the SQLite file embedded.sqlite_path = '{}'",
            path.display()
        )
    })?;
    // Processes started together on a new file would race apalis-sqlite's migrations (two
    // adding one column): the setup runs under an exclusive lock on a file beside it.
    let setup_lock = setup_lock(path).await?;
    SqliteTaskStore::open(pool.clone()).await?.setup().await?;
    SqliteScheduleStore::open(pool.clone())
        .await?
        .setup()
        .await?;
    if settings.backends.queue == QueueBackend::Sqlite {
        statport_queue::sqlite::setup(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("setting up the SQLite queue: {e}"))?;
    }
    drop(setup_lock);
    info!(path = %path.display(), "sqlite file ready");
    Ok(pool)
}

/// An exclusive advisory lock on `<sqlite file>.setup-lock`, held by one process's setup at a
/// time (released when the file is dropped, or when the process dies).
async fn setup_lock(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".setup-lock");
    let lock_path = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening the setup lock '{}'", lock_path.display()))?;
        file.lock()
            .with_context(|| format!("locking '{}'", lock_path.display()))?;
        Ok(file)
    })
    .await
    .context("waiting for the SQLite setup lock")?
}

/// The store bundle over `pool`: one task store for workers and the API alike (SQLite has no
/// slow network to fail fast on), the schedule store, and a rate limiter of this process's own.
pub async fn store(pool: &SqlitePool) -> anyhow::Result<StoreBundle> {
    let store = Arc::new(SqliteTaskStore::open(pool.clone()).await?);
    let tasks: Arc<dyn TaskStore> = store.clone();
    Ok(StoreBundle {
        outbox: store,
        tasks: Arc::clone(&tasks),
        api_tasks: tasks,
        schedules: Arc::new(SqliteScheduleStore::open(pool.clone()).await?),
        link_keys: Arc::new(SqliteLinkKeyStore::open(pool.clone()).await?),
        // One machine: each process counts its own calls.
        rate_limiter: Arc::new(MemoryRateLimiter::new()),
    })
}

/// The queue bundle: apalis-sqlite over `pool`.
pub fn queue(pool: &SqlitePool, settings: &QueueSettings) -> QueueBundle {
    let workers_pool = pool.clone();
    QueueBundle {
        api_queue: Arc::new(SqliteQueue::new(pool, settings)),
        dead_letters: Arc::new(SqliteDeadLetters::new(pool.clone(), settings)),
        finished: Arc::new(SqliteFinishedJobs::new(
            pool.clone(),
            settings,
            FINISHED_JOB_RETENTION,
        )),
        workers: Arc::new(move |ctx, settings, shutdown| {
            let backend = statport_queue::sqlite::worker_backend(&workers_pool, &settings);
            Box::pin(run_workers(ctx, backend, settings, shutdown))
        }),
    }
}
