//! The apalis workers that pull jobs from either backend and hand them to a [`JobHandler`].
//!
//! Shaped by what apalis 1.0 does:
//! - Both backends keep a worker's registration and the jobs it holds under the worker's name,
//!   so two processes sharing a name would look like one worker to the backend: names are
//!   unique per process (host, pid, random suffix, [`unique_worker_name`]).
//! - A job held by a worker that stopped heart-beating goes back to the queue only after
//!   heartbeat × missed beats (apalis-redis defaults to 30 s × 10): the backend modules set both
//!   explicitly so an orphaned job is picked up again in seconds.
//! - A backend error ends the worker: the monitor restarts it instead of ending the process.
//! - The monitor's own shutdown timeout returns as if all went well and drops the runs still
//!   going, so the grace period is enforced here instead and shutdown waits a bounded time.
//!
//! A run's end ([`JobEnd`]) decides what happens to its job: `RetryAt` acks it and pushes a new
//! job due then; `RunAgainNow` acks it and pushes a new job due at once; `Abort` ends it as an
//! `AbortError` (the dead letters); `Error` lets the backend retry it. When a push fails the
//! current job is failed instead, so the backend retries it and the task is never left without
//! a job.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::finalize::Durable;
use apalis_core::backend::persistence::TaskPersistLayer;
use apalis_core::backend::{BackendConfig, WireFormatBackend};
use apalis_sqlite::JsonCodec;
use statport_core::task::ExportJob;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::handler::{JobEnd, JobHandler};
use crate::port::JobQueue;
use crate::settings::QueueSettings;

/// What the runner pulls from: an apalis backend (`RedisStorage<ExportJob>` or
/// `SqliteStorage<ExportJob>`) and the push side over the same store, for the jobs runs hand
/// back. Built by [`crate::redis::worker_backend`] and [`crate::sqlite::worker_backend`].
#[derive(Debug, Clone)]
pub struct WorkerBackend<B> {
    /// The apalis storage the workers poll.
    pub storage: B,
    /// Pushes into the same queue.
    pub queue: Arc<dyn JobQueue>,
    /// How the retries of [`JobEnd::Error`] are spaced on this backend.
    pub error_spacing: ErrorSpacing,
}

/// How the retries of a job whose run ended in [`JobEnd::Error`] are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSpacing {
    /// The backend spaces them itself (apalis-redis: `attempt` seconds apart).
    ByBackend,
    /// The backend fetches a failed job again at once (apalis-sqlite): the run holds its slot
    /// `attempt` seconds (at most [`MAX_ERROR_HOLD`], cut short by the stop token) before it
    /// fails, so retries come about as far apart as on Redis.
    HoldAttemptSeconds,
}

/// Jobs one fetch takes (apalis's default is 10). A worker fetches only when it has a free slot,
/// but a batch bigger than one leaves the rest in the worker's buffer, already in its in-flight
/// set, and apalis 1.0 sends no heartbeat while its buffer holds jobs (`Persisted::poll_ready`
/// beats only in its `Ready` state). A worker whose slots were all busy with exports longer than
/// heartbeat × missed beats was then taken for dead: its running and buffered jobs went to other
/// workers (each take-over counting as a crash of the task), its own runs were dropped when its
/// next heartbeat failed, and the buffered copies ran again later: under load the tasks crash-
/// looped into `StatPort.TooManyAttempts`, and a job acked by a superseded copy could be trimmed
/// while its task was still `processing`, leaving the task without a job. With one job per fetch
/// nothing waits in the buffer, so a busy worker keeps beating (the chaos e2e test found it). Both
/// backends use it.
pub const FETCH_BATCH: usize = 1;

/// The longest a failing run holds its slot under [`ErrorSpacing::HoldAttemptSeconds`].
pub const MAX_ERROR_HOLD: Duration = Duration::from_secs(30);

/// Why the workers stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The apalis monitor failed (not a job: the monitor itself, so no worker runs any more).
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// Runs were still going when the shutdown grace period ended; their jobs are recovered
    /// by the heartbeat timeout.
    #[error(
        "runs still going {0:?} after shutdown began; their tasks wait for the heartbeat timeout"
    )]
    ShutdownTimedOut(Duration),
}

/// A worker name unique to this process: `statport-<host>-<pid>-<random>`.
pub fn unique_worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("statport-{host}-{}-{}", std::process::id(), &suffix[..8])
}

/// The error that tells apalis how a job ended badly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct JobFailed(String);

async fn handle(
    job: ExportJob,
    handler: Data<Arc<dyn JobHandler>>,
    queue: Data<Arc<dyn JobQueue>>,
    spacing: Data<ErrorSpacing>,
    stop: Data<CancellationToken>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let end = handler.run(&job).await;
    if matches!(end, JobEnd::Error(_)) && *spacing == ErrorSpacing::HoldAttemptSeconds {
        let hold = Duration::from_secs(u64::try_from(attempt.current()).unwrap_or(u64::MAX))
            .clamp(Duration::from_secs(1), MAX_ERROR_HOLD);
        tokio::select! {
            () = tokio::time::sleep(hold) => {},
            () = stop.cancelled() => {},
        }
    }
    match end {
        JobEnd::Done => Ok(()),
        JobEnd::RetryAt(at_ms) => requeue(queue.push_at(job, at_ms).await),
        JobEnd::RunAgainNow => requeue(queue.push(job).await),
        JobEnd::Abort(reason) => Err(Box::new(AbortError::new(JobFailed(reason)))),
        JobEnd::Error(reason) => Err(Box::new(JobFailed(reason))),
    }
}

/// The outcome of a requeue: when the push failed, the error makes the backend retry the
/// current job instead.
fn requeue(pushed: Result<(), crate::port::QueueError>) -> Result<(), BoxDynError> {
    pushed.map_err(|e| {
        error!(error = %e, "requeueing a job failed; the queue retries it");
        Box::new(e) as BoxDynError
    })
}

/// Runs workers on `backend` until `shutdown` is cancelled, then cancels `stop` (the token the
/// handler's runs watch: they hand their jobs back) and waits for them at most
/// `settings.shutdown_timeout`: past that it returns [`RunnerError::ShutdownTimedOut`].
///
/// One function for both backends: `B` is any apalis durable backend of [`ExportJob`]s whose
/// polled, finalized form the monitor can run (`RedisStorage<ExportJob>`,
/// `SqliteStorage<ExportJob>`).
pub async fn run_workers<B>(
    backend: WorkerBackend<B>,
    handler: Arc<dyn JobHandler>,
    settings: QueueSettings,
    stop: CancellationToken,
    shutdown: CancellationToken,
) -> Result<(), RunnerError>
where
    B: PolledBackend,
{
    let name = unique_worker_name();
    info!(worker = %name, queue = %settings.name, concurrency = settings.concurrency, "workers starting");
    let concurrency = settings.concurrency.max(1);
    let timeout = settings.job_timeout;
    let poll_interval = settings.poll_interval;
    let WorkerBackend {
        storage,
        queue,
        error_spacing,
    } = backend;
    let runs_stop = stop.clone();
    let monitor = Monitor::new()
        .register(move |restarts| {
            WorkerBuilder::new(format!("{name}-{restarts}"))
                .backend(storage.clone().poll_with_interval(poll_interval))
                .data(Arc::clone(&handler))
                .data(Arc::clone(&queue))
                .data(error_spacing)
                .data(runs_stop.clone())
                .concurrency(concurrency)
                .timeout(timeout)
                .enable_tracing()
                .catch_panic()
                .build(handle)
        })
        .should_restart(|worker, error| {
            warn!(worker = %worker.name(), error = %error, "worker stopped on an error, restarting");
            true
        })
        // No `shutdown_timeout`: with one, the monitor returns `Ok` when it expires and drops
        // the runs mid-flight; the grace period is enforced below instead.
        .run_with_signal({
            let stop = stop.clone();
            async move {
                shutdown.cancelled().await;
                info!("workers stopping: handing running jobs back");
                stop.cancel();
                Ok(())
            }
        });
    let grace = settings.shutdown_timeout;
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        done = monitor => {
            done?;
            info!("workers stopped");
            Ok(())
        }
        () = deadline => Err(RunnerError::ShutdownTimedOut(grace)),
    }
}

/// The apalis backends [`run_workers`] runs on: a durable backend of [`ExportJob`]s stored as
/// JSON bytes, with apalis's task-persistence layer (acks, locks), whose errors are plain
/// errors. `RedisStorage<ExportJob>` and `SqliteStorage<ExportJob>` both are; the bounds are what
/// `WorkerBuilder::backend`, the `Durable` finalization (decoding) and `Monitor::register`
/// need once the rest of the worker (handler, layers) is fixed.
pub trait PolledBackend:
    Backend<Task = Task<Vec<u8>>, Error: std::error::Error + Send + Sync + 'static>
    + BackendConfig<
        Args = ExportJob,
        Kind = Durable,
        Layer = TaskPersistLayer<JsonCodec<serde_json::Value>, serde_json::Value>,
    > + WireFormatBackend<Codec = JsonCodec<Vec<u8>>, Compact = Vec<u8>>
    + Clone
    + Send
    + Sync
    + Unpin
    + 'static
{
}

impl<B> PolledBackend for B where
    B: Backend<Task = Task<Vec<u8>>, Error: std::error::Error + Send + Sync + 'static>
        + BackendConfig<
            Args = ExportJob,
            Kind = Durable,
            Layer = TaskPersistLayer<JsonCodec<serde_json::Value>, serde_json::Value>,
        > + WireFormatBackend<Codec = JsonCodec<Vec<u8>>, Compact = Vec<u8>>
        + Clone
        + Send
        + Sync
        + Unpin
        + 'static
{
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_on<B: PolledBackend>() {}

    #[test]
    fn both_backends_go_through_the_one_runner() {
        runs_on::<apalis_redis::RedisStorage<ExportJob>>();
        runs_on::<apalis_sqlite::SqliteStorage<ExportJob>>();
    }
}
