//! The apalis-redis workers that pull export jobs and run them.
//!
//! Shaped by what apalis-redis 1.0 does (see `shared/design/APALIS-NOTES.md`): worker names are
//! unique per process (host, pid, random suffix); heartbeat interval and missed beats are set
//! explicitly so an orphaned job is picked up again in seconds, not 300 s; the task's own record
//! decides when to give up (crash recoveries against `max_attempts`, transient failures against
//! the retry span), since the backend retries any error up to 25 times; Redis errors restart the
//! worker instead of ending the process; shutdown waits a bounded time.
//!
//! A run's end decides what happens to its job ([`RunEnd`]): a transient error acks it and
//! pushes a new job scheduled at the retry time, so a waiting task holds no worker slot; a
//! shutdown acks it and pushes a new job due at once, so another worker takes the task without
//! waiting for this worker's heartbeat to expire; a crash loop aborts it into the dead letters
//! (see [`crate::dead_letter`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{ConnectionManager, RedisStorage};
use statport_core::task::ExportJob;
use tracing::{error, info, warn};

use crate::job::{run_export, ExportContext, RunEnd};

/// How the queue is set up; the ingest side and the workers must agree on `name`.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Queue name (a Redis key prefix).
    pub name: String,
    /// Heartbeat period of each worker.
    pub heartbeat: Duration,
    /// Beats a worker may miss before its in-flight jobs are given to others.
    pub missed_heartbeats: usize,
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// Jobs one process runs at the same time.
    pub concurrency: usize,
    /// Longest a job may run before it is abandoned (and retried).
    pub job_timeout: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_timeout: Duration,
}

/// A Redis connection manager with a response timeout long enough for queue scripts under load
/// (redis-rs's default is 500 ms).
pub async fn connect_redis(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    client.get_connection_manager_with_config(config).await
}

/// The apalis-redis configuration of the export queue for `settings`: a payload that is not an
/// [`ExportJob`] goes to the dead letters when fetched instead of stopping the worker.
pub fn queue_config(settings: &QueueSettings) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(&settings.name)
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats)
        .payload_check(Some(check_payload))
}

/// Whether `payload` decodes as an [`ExportJob`] (the queue's payload check).
fn check_payload(payload: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<ExportJob>(payload)
        .map(|_| ())
        .map_err(|e| format!("undecodable payload: {e}"))
}

/// The apalis storage of export jobs for `settings`.
pub fn job_storage(conn: ConnectionManager, settings: &QueueSettings) -> RedisStorage<ExportJob> {
    RedisStorage::new(conn).with_config(queue_config(settings))
}

/// Why the workers stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The apalis monitor failed.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// Runs were still going when the shutdown grace period ended; their tasks are recovered
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

async fn handle(
    job: ExportJob,
    ctx: Data<Arc<ExportContext>>,
    queue: Data<RedisStorage<ExportJob>>,
) -> Result<(), BoxDynError> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let end = run_export(&ctx, &job, &run_id)
        .await
        .map_err(|retry| Box::new(retry) as BoxDynError)?;
    match end {
        RunEnd::Deferred { retry_at, .. } => requeue(&queue, job, Some(retry_at)).await,
        RunEnd::Released => requeue(&queue, job, None).await,
        RunEnd::CrashLoop => Err(Box::new(AbortError::new(format!(
            "task {} of tenant {} crashed its worker too many times",
            job.task_id, job.tenant_id
        )))),
        RunEnd::Succeeded { .. } | RunEnd::Failed | RunEnd::Dropped => Ok(()),
    }
}

/// Pushes `job` again, due at `at_ms` (ms since epoch) or at once. When the push fails the
/// error makes apalis retry the current job instead, so the task is never left without one.
async fn requeue(
    queue: &RedisStorage<ExportJob>,
    job: ExportJob,
    at_ms: Option<i64>,
) -> Result<(), BoxDynError> {
    let mut builder = TaskBuilder::new(job);
    if let Some(at_ms) = at_ms {
        let secs = u64::try_from(at_ms.saturating_add(999) / 1000).unwrap_or(0);
        builder = builder.run_at_timestamp(secs);
    }
    let mut queue = queue.clone();
    queue.push_task(builder.build()).await.map_err(|e| {
        error!(error = %e, "requeueing a job failed; the queue retries it");
        Box::new(e) as BoxDynError
    })
}

/// Runs export workers until `shutdown` resolves, then stops the runs (`ctx.shutdown`), which
/// hand their tasks back, and waits for them at most `settings.shutdown_timeout`: past that it
/// returns [`RunnerError::ShutdownTimedOut`].
pub async fn run_workers(
    ctx: Arc<ExportContext>,
    storage: RedisStorage<ExportJob>,
    settings: QueueSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunnerError> {
    let name = unique_worker_name();
    info!(worker = %name, queue = %settings.name, concurrency = settings.concurrency, "export workers starting");
    let concurrency = settings.concurrency.max(1);
    let timeout = settings.job_timeout;
    let poll_interval = settings.poll_interval;
    let stop = ctx.shutdown.clone();
    let monitor = Monitor::new()
        .register(move |restarts| {
            WorkerBuilder::new(format!("{name}-{restarts}"))
                .backend(storage.clone().poll_with_interval(poll_interval))
                .data(Arc::clone(&ctx))
                .data(storage.clone())
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
                shutdown.await;
                info!("export workers stopping: handing running tasks back");
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
            info!("export workers stopped");
            Ok(())
        }
        () = deadline => Err(RunnerError::ShutdownTimedOut(grace)),
    }
}
