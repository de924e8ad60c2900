//! Wiring: builds the stores, the queue, the worker context (with the completion callbacks as
//! its `TaskEnded` port) from [`Settings`], and runs the API, the workers and the scheduler. The
//! binary and the end-to-end tests start statport through here, so the tests exercise exactly
//! what ships.
//!
//! # Layout
//! - [`backends`]: one bundle of ports per backend, chosen once ([`Backends::connect`]).
//! - [`link_keys`]: [`StoredLinkKeys`](link_keys::StoredLinkKeys), the download-link keys kept
//!   in the task store (the signer's source when `links.secret` is empty).
//! - [`redis`]: the Redis backend's connections, bundles and persistence check.
//! - [`sqlite`]: the embedded backend's file, bundles and setup.
//! - this module: [`Services`], which holds the bundles and runs the parts of a process.

pub mod backends;
pub mod link_keys;
pub mod redis;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use statport_access::{KeyRing, LinkSigner};
use statport_api::ops::Metrics;
use statport_api::origin_volume::OriginVolume;
use statport_api::ready::{probe_forever, Readiness};
use statport_api::AppState;
use statport_core::callback::AddressPolicy;
use statport_core::log::geo::mmdb::MmdbGeo;
use statport_core::log::geo::GeoLookup;
use statport_core::tenant::TenantDirectory;
use statport_core::time::clock::{Clock, SystemClock};
use statport_queue::dead_letter::DeadLetters;
use statport_queue::QueueSettings;
use statport_scheduler::Scheduler;
use statport_storage::{LocalStore, ObjectStore, S3Store};
use statport_submit::{Deployment, Submitter};
use statport_worker::janitor::{Janitor, OrphanSweep, StaleSortDirs, TenantRetention};
use statport_worker::origin_volume::{OriginVolumeReporter, OriginVolumeSettings};
use statport_worker::retry::RetryPolicy;
use statport_worker::temp_disk::TempDiskBudget;
use statport_worker::CancellationToken;
use statport_worker::{ExportContext, JobTimeouts, TaskEnded, WorkerSettings};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

pub use backends::Backends;

use crate::callback::{CallbackSender, Delivery, SenderParts};
use crate::config::{ObjectBackend, Settings, LINK_KEY_RELOAD_SECS};

/// The connected parts of a statport process, on the backends `[backends]` names.
///
/// Redis and S3 connections are made lazily: a process started while they are down keeps
/// running, reports not ready, and starts working when they return (see
/// [`Services::run_probe`]). The SQLite file is opened (and its tables created) at once: a
/// file that cannot be opened stops the start with an error naming it.
#[derive(Debug, Clone)]
pub struct Services {
    /// The settings it was built from.
    pub settings: Settings,
    /// Every configured tenant: the one directory the API, submission, the scheduler, the
    /// workers and the callbacks look tenants up in.
    pub tenants: Arc<TenantDirectory>,
    /// The store and queue backends `[backends]` chose, as bundles of ports.
    pub backends: Backends,
    /// Logs and results.
    pub objects: Arc<dyn ObjectStore>,
    /// What the background probe last saw of the task store and the object store.
    pub readiness: Arc<Readiness>,
    /// The one clock every part of the process reads, so tests can fix it.
    pub clock: Arc<dyn Clock>,
    /// The IP database, when `ip_database.path` is set.
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// Signs and checks download links: the configured secret, or the deployment's keys kept in
    /// the task store.
    pub links: Arc<LinkSigner>,
    /// The process's counters, shared by the API (`/metrics`) and the workers' callbacks.
    pub metrics: Arc<Metrics>,
    /// Sends the completion callbacks recorded in the task store (any process's ended tasks).
    pub callbacks: Arc<CallbackSender>,
    /// The process's one temp disk budget (`worker.temp_disk_bytes`), made here once so every
    /// export context of the process, and so every run, shares it.
    pub temp_disk: TempDiskBudget,
}

/// The IP database the settings name, read once at start; `None` when `ip_database.path` is
/// empty. A file that is missing, unreadable or not a MaxMind DB is an error: the process must
/// not start and quietly refuse every geography request.
pub fn ip_database(settings: &Settings) -> anyhow::Result<Option<Arc<dyn GeoLookup>>> {
    let s = &settings.ip_database;
    if s.path.is_empty() {
        if !s.isp_path.is_empty() {
            anyhow::bail!("invalid configuration: ip_database.isp_path is set but ip_database.path is not; set both, or put the ISP in the main database");
        }
        return Ok(None);
    }
    let read = |key: &str, path: &str| -> anyhow::Result<Vec<u8>> {
        std::fs::read(path).with_context(|| format!("cannot read the IP database {key} = '{path}'"))
    };
    let mut db = MmdbGeo::from_bytes(read("ip_database.path", &s.path)?)
        .with_context(|| format!("ip_database.path = '{}'", s.path))?;
    if !s.isp_path.is_empty() {
        db = db
            .with_isp(read("ip_database.isp_path", &s.isp_path)?)
            .with_context(|| format!("ip_database.isp_path = '{}'", s.isp_path))?;
    }
    info!(path = %s.path, isp_path = %s.isp_path, "ip database loaded");
    Ok(Some(Arc::new(db)))
}

/// The signer of download links: one key for good when `links.secret` is set, else the keys
/// kept in the task store, shared by every process of the deployment and rotated every
/// `links.rotate_secs` (loaded by [`Services::run_probe`], or on first use).
pub fn link_signer(settings: &Settings, backends: &Backends) -> LinkSigner {
    let l = &settings.links;
    if !l.secret.is_empty() {
        return LinkSigner::new(l.secret.as_bytes().to_vec(), l.ttl_secs);
    }
    let ms = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
    let source = link_keys::StoredLinkKeys {
        store: Arc::clone(&backends.store.link_keys),
        rotate_after_ms: ms(l.rotate_secs),
        ttl_ms: ms(l.ttl_secs),
    };
    LinkSigner::from_source(Arc::new(source), l.ttl_secs)
}

/// The object store the settings describe: the local folder `embedded.objects_dir` or the
/// S3-compatible server of `[s3]` (`backends.objects`).
pub fn object_store(settings: &Settings) -> Arc<dyn ObjectStore> {
    if settings.backends.objects == ObjectBackend::Local {
        return Arc::new(LocalStore::new(&settings.embedded.objects_dir));
    }
    Arc::new(S3Store::new(settings.s3.clone()))
}

/// How far past the longest job timeout the queue's own timeout lies.
const QUEUE_TIMEOUT_MARGIN: Duration = Duration::from_secs(300);

/// The job timeouts of `[queue]`, by action.
pub fn job_timeouts(settings: &Settings) -> JobTimeouts {
    JobTimeouts {
        statistics: Duration::from_secs(settings.queue.job_timeout_secs),
        logs: Duration::from_secs(settings.queue.logs_job_timeout_secs),
    }
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
        // A last resort only: a run ends itself at its own timeout (`job_timeouts`) and
        // records why; the queue drops a run that has not stopped well after that.
        job_timeout: job_timeouts(settings)
            .longest()
            .saturating_add(Duration::from_secs(q.shutdown_timeout_secs))
            .saturating_add(QUEUE_TIMEOUT_MARGIN),
        shutdown_timeout: Duration::from_secs(q.shutdown_timeout_secs),
    }
}

impl Services {
    /// Prepares the connections `[backends]` asks for: lazy ones to Redis and S3 (nothing is
    /// dialled here: [`Services::run_probe`] finds out when they answer and creates the result
    /// bucket), and the SQLite file, opened and set up at once.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let demo = settings.tenants_with_demo_key();
        if !demo.is_empty() {
            warn!(tenants = ?demo, "DEMO MODE: these tenants accept the published API key \"demo-key\"; anyone who can reach this API can use them. Never run a real deployment with config/demo.toml");
        }
        let backends = Backends::connect(&settings).await?;
        let geo = ip_database(&settings)?;
        let links = Arc::new(link_signer(&settings, &backends));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::default());
        let tenants = Arc::new(settings.tenants());
        let callbacks = Arc::new(CallbackSender::new(SenderParts {
            outbox: Arc::clone(&backends.store.outbox),
            links: Arc::clone(&links),
            public_url: settings.public_url(),
            clock: Arc::clone(&clock),
            tenants: Arc::clone(&tenants),
            policy: AddressPolicy {
                allow_private: settings.callbacks.allow_private,
            },
            delivery: Delivery::from_settings(&settings.callbacks),
            metrics: Arc::clone(&metrics),
        }));
        Ok(Services {
            temp_disk: TempDiskBudget::new(settings.worker.temp_disk_bytes),
            tenants,
            links,
            metrics,
            callbacks,
            geo,
            objects: object_store(&settings),
            backends,
            readiness: Arc::new(Readiness::new()),
            clock,
            settings,
        })
    }

    /// The queue's dead letters (jobs it gave up on).
    pub fn dead_letters(&self) -> Arc<dyn DeadLetters> {
        Arc::clone(&self.backends.queue.dead_letters)
    }

    /// A scheduler over this process's stores and queue (`statport serve` and
    /// `statport scheduler` run one; any number may run at once).
    pub fn scheduler(&self) -> anyhow::Result<Scheduler> {
        Ok(Scheduler {
            schedules: Arc::clone(&self.backends.store.schedules),
            submitter: self.submitter()?,
            owner: format!("scheduler-{}", statport_queue::unique_worker_name()),
            settings: self.settings.scheduler.clone(),
        })
    }

    /// The one submitter of this process's API and scheduler: the fail-fast task store, the
    /// API's queue, the tenant directory and what the deployment supports.
    pub fn submitter(&self) -> anyhow::Result<Submitter> {
        Ok(Submitter {
            tasks: Arc::clone(&self.backends.store.api_tasks),
            queue: Arc::clone(&self.backends.queue.api_queue),
            objects: Arc::clone(&self.objects),
            results_bucket: self.settings.results.bucket.clone(),
            results_prefix: self.settings.results.prefix.clone(),
            tenants: Arc::clone(&self.tenants),
            deployment: Deployment {
                ip_database: self.geo.is_some(),
                callback_policy: AddressPolicy {
                    allow_private: self.settings.callbacks.allow_private,
                },
            },
            clock: Arc::clone(&self.clock),
            counts: Arc::clone(&self.metrics.submissions),
        })
    }

    /// Runs a scheduler until `shutdown` is cancelled, once the task store and the object store
    /// answer (a [`Services::run_probe`] must be running in the process).
    pub async fn run_scheduler(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let scheduler = self.scheduler()?;
        tokio::select! {
            () = self.readiness.wait_ready() => {},
            () = shutdown.cancelled() => return Ok(()),
        }
        scheduler.run(shutdown).await;
        Ok(())
    }

    /// Probes Redis and the object store every second (creating the result bucket once S3
    /// answers) until `shutdown` is cancelled, and says once what Redis's persistence means for
    /// accepted tasks. Workers start pulling jobs, and `/readyz` says ready, once both answered.
    pub async fn run_probe(&self, shutdown: CancellationToken) {
        let probe = probe_forever(
            Arc::clone(&self.readiness),
            // The fail-fast connection: an outage is seen within a probe period.
            Arc::clone(&self.backends.store.api_tasks),
            Arc::clone(&self.objects),
            self.settings.results.bucket.clone(),
            Duration::from_secs(1),
            shutdown,
        );
        let persistence = async {
            self.readiness.wait_ready().await;
            if let Some(redis) = &self.backends.redis {
                redis::warn_about_persistence(&redis.patient).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = probe => {},
            () = persistence => {},
            () = self.reload_link_keys() => {},
        }
    }

    /// Loads the download-link keys once the task store answers, then again every
    /// [`LINK_KEY_RELOAD_SECS`] (rotating them when due), forever; a failed load keeps the keys
    /// held and is tried again a probe period later.
    async fn reload_link_keys(&self) {
        let mut loaded = false;
        loop {
            self.readiness.wait_ready().await;
            match self.links.reload(self.clock.now_ms()).await {
                Ok(()) => loaded = true,
                Err(e) => warn!(error = %e, "the download link keys could not be loaded"),
            }
            let wait = if loaded { LINK_KEY_RELOAD_SECS } else { 1 };
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// The retention sweeper of this process's settings.
    pub fn janitor(&self) -> anyhow::Result<Janitor> {
        Ok(Janitor {
            tasks: Arc::clone(&self.backends.store.tasks),
            objects: Arc::clone(&self.objects),
            results_bucket: self.settings.results.bucket.clone(),
            tenants: self
                .tenants
                .iter()
                .map(|(tenant, t)| TenantRetention {
                    tenant: tenant.to_owned(),
                    file_retention: Duration::from_secs(t.limits.result_retention_secs),
                })
                .collect(),
            queue: Some(Arc::clone(&self.backends.queue.finished)),
            clock: Arc::clone(&self.clock),
            sort_dirs: Some(StaleSortDirs {
                temp_dir: self.settings.temp_dir(),
                older_than: job_timeouts(&self.settings).longest(),
            }),
            orphans: Some(OrphanSweep::new(
                self.settings.results.prefix.clone(),
                Duration::from_secs(self.settings.retention.orphan_grace_secs),
            )),
        })
    }

    /// The API state.
    pub fn app_state(&self) -> anyhow::Result<AppState> {
        let keys = KeyRing::for_tenants(&self.tenants)
            .map_err(|e| anyhow::anyhow!("invalid configuration: tenants.*.api_key_hashes: {e}"))?;
        Ok(AppState {
            submitter: self.submitter()?,
            schedules: Arc::clone(&self.backends.store.schedules),
            max_schedules: self.settings.scheduler.max_per_tenant,
            readiness: Arc::clone(&self.readiness),
            rate_limiter: Arc::clone(&self.backends.store.rate_limiter),
            keys: Arc::new(keys),
            links: Arc::clone(&self.links),
            public_url: self.settings.public_url(),
            metrics: Arc::clone(&self.metrics),
            origin_volume: OriginVolume {
                engine: Arc::new(self.origin_volume_engine()),
                server_groups: Arc::new(self.settings.reports.server_groups().map_err(|e| {
                    anyhow::anyhow!(
                        "invalid configuration: reports.server_groups.{}: {}",
                        e.group,
                        e.reason
                    )
                })?),
            },
        })
    }

    /// The engine of the synchronous origin-volume report: the worker's scan over the tenants'
    /// logs, within the `[reports]` bounds.
    pub fn origin_volume_engine(&self) -> OriginVolumeReporter {
        let r = &self.settings.reports;
        OriginVolumeReporter::new(
            Arc::clone(&self.objects),
            Arc::clone(&self.tenants),
            OriginVolumeSettings {
                max_compressed_bytes: r.max_compressed_bytes,
                timeout: Duration::from_millis(r.timeout_ms),
                max_concurrent: r.max_concurrent,
                scan_parallelism: cores_if_zero(r.scan_parallelism),
                late_hours: self.settings.worker.late_hours,
            },
        )
    }

    /// The worker context: every one of the process shares its temp disk budget.
    pub fn export_context(&self) -> ExportContext {
        let w = &self.settings.worker;
        let parallelism = cores_if_zero(w.scan_parallelism);
        ExportContext {
            tasks: Arc::clone(&self.backends.store.tasks),
            objects: Arc::clone(&self.objects),
            tenants: Arc::clone(&self.tenants),
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
                sketches: w.sketches,
                logs: w.logs,
                timeouts: job_timeouts(&self.settings),
            },
            geo: self.geo.clone(),
            shutdown: CancellationToken::new(),
            task_ended: Some(Arc::clone(&self.callbacks) as Arc<dyn TaskEnded>),
            temp_disk: self.temp_disk.clone(),
        }
    }

    /// Serves the API on `listener` until `shutdown` is cancelled.
    pub async fn run_api(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let app = statport_api::app(self.app_state()?);
        info!(addr = %listener.local_addr()?, "api listening");
        // With connect info: refused download links are counted per client address.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving the API")
    }

    /// Runs export workers, the retention sweeps and the completion callbacks' sender until
    /// `shutdown` is cancelled. Workers start pulling jobs once
    /// Redis and the object store answer (a [`Services::run_probe`] must be running in the
    /// process).
    pub async fn run_workers(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            () = self.readiness.wait_ready() => {},
            () = shutdown.cancelled() => return Ok(()),
        }
        let sweeps = self.janitor()?.run(
            Duration::from_secs(self.settings.retention.sweep_interval_secs.max(1)),
            shutdown.clone(),
        );
        let ctx = Arc::new(self.export_context());
        let settings = queue_settings(&self.settings);
        // One generic runner, instantiated for the configured queue backend by its bundle.
        let workers = (self.backends.queue.workers)(ctx, settings, shutdown.clone());
        // The callbacks of every process's ended tasks, from the outbox in the task store.
        let callbacks = self.callbacks.run(shutdown.clone());
        let (result, (), ()) = tokio::join!(workers, sweeps, callbacks);
        result.map_err(|e| {
            error!(error = %e, "export workers stopped");
            anyhow::anyhow!("export workers: {e}")
        })
    }
}

/// `n`, or the number of cores when `n` is 0 (the `scan_parallelism` settings).
fn cores_if_zero(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        n
    }
}
