//! The apalis-sqlite backend over a `sqlx::SqlitePool` the caller owns (the binary shares one
//! pool and file with the SQLite task store): setup, configuration, the push side
//! ([`SqliteQueue`], the shared [`ApalisQueue`] adapter over this storage) and the value the
//! runner pulls from ([`worker_backend`]).
//!
//! What apalis-sqlite 1.0 does, and what we build on:
//! - Jobs are rows of its `Jobs` table (`job_type` = the queue name); [`setup`] runs its
//!   migrations, and only them. apalis's own `SqliteStorage::setup` also runs pragmas, among
//!   them `PRAGMA synchronous = OFF`, through `execute(pool)`: on whichever one pooled
//!   connection it happens to get. That connection then stays in the pool, and any commit made
//!   on it later (queue or task store: the pool is shared) returns before SQLite has synced
//!   anything to disk: an operating-system crash or power loss (a process crash is harmless)
//!   can lose those commits, and SQLite's documentation warns the file may be corrupted. Which
//!   connection that is varies by run. So we leave durability to the pool's options (WAL;
//!   `synchronous` `FULL` by default, `NORMAL` is safe in WAL mode and syncs less).
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

use apalis_sqlite::{Config, SqliteStorage};
use sqlx::SqlitePool;
use statport_core::task::ExportJob;

use crate::apalis_queue::{self, ApalisQueue};
use crate::port::QueueError;
use crate::runner::{ErrorSpacing, WorkerBackend, FETCH_BATCH};
use crate::settings::QueueSettings;

/// The table recording which apalis-sqlite migrations ran: its own, not sqlx's default
/// `_sqlx_migrations`, so the migrations of a task store sharing the file never see versions
/// they do not know (sqlx refuses to run then).
pub const MIGRATIONS_TABLE: &str = "_apalis_sqlite_migrations";

/// Runs apalis-sqlite's migrations on `pool` (idempotent), without the pragmas of its own
/// `SqliteStorage::setup` (see the module doc), recorded in [`MIGRATIONS_TABLE`]. The pool
/// should be in WAL mode with a busy timeout: workers, the API and the janitor write at the
/// same time.
pub async fn setup(pool: &SqlitePool) -> Result<(), QueueError> {
    let mut migrator = SqliteStorage::migrations();
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.run(pool).await.map_err(QueueError::from_display)
}

/// The apalis-sqlite configuration of the export queue for `settings`. A worker fetches one job
/// at a time (the default is 10), as on Redis ([`FETCH_BATCH`]): a fetched job is
/// locked to its worker, and while the worker's buffer holds one it sends no heartbeat, so a
/// worker whose slots are all busy would be taken for dead and its jobs run twice. A fetch that
/// found a job is followed at once by the next while a slot is free, so an idle worker still
/// fills its slots without waiting for the poll interval.
pub fn config(settings: &QueueSettings) -> Config {
    Config::default()
        .queue(&settings.name)
        .batch_size(FETCH_BATCH)
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats)
}

/// The apalis storage of export jobs for `settings`, over `pool` (migrated with [`setup`]).
pub fn storage(pool: &SqlitePool, settings: &QueueSettings) -> SqliteStorage<ExportJob> {
    SqliteStorage::new(pool).with_config(config(settings))
}

/// What the runner pulls from: the storage over `pool` and a [`SqliteQueue`] over the same
/// pool for the jobs a run hands back; apalis-sqlite re-fetches a failed job at once, so the
/// runner spaces the retries (see [`ErrorSpacing::HoldAttemptSeconds`]).
pub fn worker_backend(
    pool: &SqlitePool,
    settings: &QueueSettings,
) -> WorkerBackend<SqliteStorage<ExportJob>> {
    apalis_queue::worker_backend(storage(pool, settings), ErrorSpacing::HoldAttemptSeconds)
}

/// The push side of the apalis-sqlite queue: the one adapter over this backend's storage.
pub type SqliteQueue = ApalisQueue<SqliteStorage<ExportJob>>;

impl SqliteQueue {
    /// The queue `settings` names, over `pool` (migrated with [`setup`]).
    pub fn new(pool: &SqlitePool, settings: &QueueSettings) -> Self {
        SqliteQueue::from_storage(storage(pool, settings))
    }
}
