//! Wiring: builds the stores, the queue and the worker context from [`Settings`], and runs the
//! API and the workers. The binary and the end-to-end tests start statport through here, so the
//! tests exercise exactly what ships.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis_redis::RedisStorage;
use statport_core::clock::{Clock, SystemClock};
use statport_core::task::ExportJob;
use statport_ingest::ops::Metrics;
use statport_ingest::queue::ApalisQueue;
use statport_ingest::AppState;
use statport_status::{KeyRing, LinkSigner, RedisTaskStore, TaskStore};
use statport_storage::{ObjectStore, S3Settings, S3Store};
use statport_worker::retry::RetryPolicy;
use statport_worker::runner::{connect_redis, job_storage, run_workers, QueueSettings};
use statport_worker::CancellationToken;
use statport_worker::{ExportContext, LogSource, WorkerSettings};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::Settings;

/// The connected parts of a statport process.
#[derive(Debug, Clone)]
pub struct Services {
    /// The settings it was built from.
    pub settings: Settings,
    /// Task records.
    pub tasks: Arc<dyn TaskStore>,
    /// Logs and results.
    pub objects: Arc<dyn ObjectStore>,
    /// The apalis job storage.
    pub jobs: RedisStorage<ExportJob>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// The object store the settings describe.
pub fn object_store(settings: &Settings) -> Arc<dyn ObjectStore> {
    let s3 = &settings.s3;
    Arc::new(S3Store::new(S3Settings {
        endpoint: Some(s3.endpoint.clone()).filter(|e| !e.is_empty()),
        region: s3.region.clone(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: s3.secret_access_key.clone(),
        path_style: s3.path_style,
    }))
}

/// The queue settings of the `[queue]` section.
pub fn queue_settings(settings: &Settings) -> QueueSettings {
    let q = &settings.queue;
    QueueSettings {
        name: q.name.clone(),
        heartbeat: Duration::from_secs(q.heartbeat_secs),
        missed_heartbeats: q.missed_heartbeats,
        poll_interval: Duration::from_millis(q.poll_interval_ms.max(10)),
        concurrency: q.concurrency,
        job_timeout: Duration::from_secs(q.job_timeout_secs),
        shutdown_timeout: Duration::from_secs(q.shutdown_timeout_secs),
    }
}

impl Services {
    /// Connects to Redis and the object store and makes sure the result bucket exists.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let conn = connect_redis(&settings.redis.url).await.with_context(|| {
            format!("connecting to Redis at {} (redis.url)", settings.redis.url)
        })?;
        let tasks: Arc<dyn TaskStore> = Arc::new(RedisTaskStore::with_connection(
            conn.clone(),
            &settings.redis.namespace,
        ));
        let objects = object_store(&settings);
        objects
            .ensure_bucket(&settings.results.bucket)
            .await
            .with_context(|| {
                format!(
                    "preparing the result bucket '{}' (results.bucket, s3.*)",
                    settings.results.bucket
                )
            })?;
        let jobs = job_storage(conn, &queue_settings(&settings));
        Ok(Services {
            settings,
            tasks,
            objects,
            jobs,
            clock: Arc::new(SystemClock),
        })
    }

    /// The API state.
    pub fn app_state(&self) -> anyhow::Result<AppState> {
        let mut entries = Vec::new();
        for (tenant, t) in &self.settings.tenants {
            for hash in &t.api_key_hashes {
                entries.push((tenant.clone(), hash.to_ascii_lowercase()));
            }
        }
        let keys = KeyRing::new(entries)
            .map_err(|e| anyhow::anyhow!("invalid configuration: tenants.*.api_key_hashes: {e}"))?;
        let secret = if self.settings.links.secret.is_empty() {
            warn!("links.secret is not set: using a random secret, download links work only on this process");
            let mut s = uuid::Uuid::new_v4().as_bytes().to_vec();
            s.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            s
        } else {
            self.settings.links.secret.as_bytes().to_vec()
        };
        Ok(AppState {
            tasks: Arc::clone(&self.tasks),
            objects: Arc::clone(&self.objects),
            queue: Arc::new(ApalisQueue::new(self.jobs.clone())),
            keys: Arc::new(keys),
            links: Arc::new(LinkSigner::new(secret, self.settings.links.ttl_secs)),
            clock: Arc::clone(&self.clock),
            results_bucket: self.settings.results.bucket.clone(),
            public_url: self.settings.public_url(),
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// The worker context.
    pub fn export_context(&self) -> ExportContext {
        let sources: HashMap<String, LogSource> = self
            .settings
            .tenants
            .iter()
            .map(|(id, t)| {
                (
                    id.clone(),
                    LogSource {
                        bucket: t.log_bucket.clone(),
                        prefix: t.log_prefix.clone(),
                        format: t.log_format,
                    },
                )
            })
            .collect();
        let w = &self.settings.worker;
        let parallelism = if w.scan_parallelism == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            w.scan_parallelism
        };
        ExportContext {
            tasks: Arc::clone(&self.tasks),
            objects: Arc::clone(&self.objects),
            sources: Arc::new(sources),
            clock: Arc::clone(&self.clock),
            settings: WorkerSettings {
                late_hours: w.late_hours,
                max_attempts: w.max_attempts,
                retry: RetryPolicy::with_span(Duration::from_secs(w.retry_span_secs)),
                progress_interval: Duration::from_millis(w.progress_interval_ms.max(10)),
                scan_parallelism: parallelism,
                temp_dir: self.settings.temp_dir(),
                results_bucket: self.settings.results.bucket.clone(),
                results_prefix: self.settings.results.prefix.clone(),
            },
            shutdown: CancellationToken::new(),
        }
    }

    /// Serves the API on `listener` until `shutdown` resolves.
    pub async fn run_api(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = statport_ingest::app(self.app_state()?);
        info!(addr = %listener.local_addr()?, "api listening");
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the API")
    }

    /// Runs export workers until `shutdown` resolves.
    pub async fn run_workers(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        run_workers(
            Arc::new(self.export_context()),
            self.jobs.clone(),
            queue_settings(&self.settings),
            shutdown,
        )
        .await
        .map_err(|e| anyhow::anyhow!("export workers: {e}"))
    }
}
