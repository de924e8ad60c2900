//! The apalis-redis workers that pull export jobs and run them.
//!
//! Shaped by what apalis-redis 1.0 does (see `shared/design/APALIS-NOTES.md`): worker names are
//! unique per process (host, pid, random suffix); heartbeat interval and missed beats are set
//! explicitly so an orphaned job is picked up again in seconds, not 300 s; the retry count of the
//! task's own record decides when to give up, since the backend retries any error; Redis errors
//! restart the worker instead of ending the process; shutdown waits a bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{ConnectionManager, RedisStorage};
use statport_core::task::ExportJob;
use tracing::{info, warn};

use crate::job::{run_export, ExportContext};

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

/// The apalis storage of export jobs for `settings`.
pub fn job_storage(conn: ConnectionManager, settings: &QueueSettings) -> RedisStorage<ExportJob> {
    let config = apalis_redis::Config::default()
        .queue(&settings.name)
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats);
    RedisStorage::new(conn).with_config(config)
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

async fn handle(job: ExportJob, ctx: Data<Arc<ExportContext>>) -> Result<(), BoxDynError> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    match run_export(&ctx.0, &job, &run_id).await {
        Ok(_) => Ok(()),
        Err(retry) => Err(Box::new(retry)),
    }
}

/// Runs export workers until `shutdown` resolves, then lets running jobs finish for at most
/// `settings.shutdown_timeout`.
pub async fn run_workers(
    ctx: Arc<ExportContext>,
    storage: RedisStorage<ExportJob>,
    settings: QueueSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MonitorError> {
    let name = unique_worker_name();
    info!(worker = %name, queue = %settings.name, concurrency = settings.concurrency, "export workers starting");
    let concurrency = settings.concurrency.max(1);
    let timeout = settings.job_timeout;
    let poll_interval = settings.poll_interval;
    Monitor::new()
        .register(move |restarts| {
            WorkerBuilder::new(format!("{name}-{restarts}"))
                .backend(storage.clone().poll_with_interval(poll_interval))
                .data(Arc::clone(&ctx))
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
        .shutdown_timeout(settings.shutdown_timeout)
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
}
