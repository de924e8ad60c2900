//! Wiring: builds the stores, the queue, the worker context (with the completion callbacks as
//! its `TaskEnded` port) from [`Settings`], and runs the API and the workers. The binary and the end-to-end tests start statport through here, so the
//! tests exercise exactly what ships.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis_redis::ConnectionManager;
use sqlx::SqlitePool;
use statport_access::{KeyRing, LinkSigner, MemoryRateLimiter, RateLimiter, RedisRateLimiter};
use statport_api::ops::Metrics;
use statport_api::origin_volume::OriginVolume;
use statport_api::ready::{probe_forever, Readiness};
use statport_api::AppState;
use statport_core::callback::AddressPolicy;
use statport_core::log::geo::mmdb::MmdbGeo;
use statport_core::log::geo::GeoLookup;
use statport_core::tenant::TenantDirectory;
use statport_core::time::clock::{Clock, SystemClock};
use statport_queue::dead_letter::{DeadLetters, RedisDeadLetters, SqliteDeadLetters};
use statport_queue::finished::{FinishedJobs, RedisFinishedJobs, SqliteFinishedJobs};
use statport_queue::redis::RedisQueue;
use statport_queue::sqlite::SqliteQueue;
use statport_queue::{JobQueue, QueueSettings};
use statport_records::{
    open_sqlite, RedisScheduleStore, RedisTaskStore, ScheduleStore, SqliteScheduleStore,
    SqliteTaskStore, TaskStore,
};
use statport_scheduler::Scheduler;
use statport_storage::{LocalStore, ObjectStore, S3Settings, S3Store};
use statport_submit::{Deployment, Submitter};
use statport_worker::janitor::{Janitor, StaleSortDirs, TenantRetention};
use statport_worker::origin_volume::{OriginVolumeReporter, OriginVolumeSettings};
use statport_worker::retry::RetryPolicy;
use statport_worker::runner::run_workers;
use statport_worker::CancellationToken;
use statport_worker::{ExportContext, TaskEnded, WorkerSettings};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::callback::{
    CallbackSender, Delivery, SenderParts, SHUTDOWN_GRACE as CALLBACK_SHUTDOWN_GRACE,
};
use crate::config::{ObjectBackend, QueueBackend, Settings, StoreBackend};

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
    /// Task records, over the patient connection (workers, sweeps).
    pub tasks: Arc<dyn TaskStore>,
    /// Task records, over the fail-fast connection (API requests).
    pub api_tasks: Arc<dyn TaskStore>,
    /// Schedules, over the fail-fast connection (API requests, schedulers).
    pub schedules: Arc<dyn ScheduleStore>,
    /// Logs and results.
    pub objects: Arc<dyn ObjectStore>,
    /// The Redis connections, when a backend is `redis`.
    pub redis: Option<RedisConnections>,
    /// The SQLite pool, when a backend is `sqlite`.
    pub sqlite: Option<SqlitePool>,
    /// What the background probe last saw of the task store and the object store.
    pub readiness: Arc<Readiness>,
    /// The one clock every part of the process reads, so tests can fix it.
    pub clock: Arc<dyn Clock>,
    /// The IP database, when `ip_database.path` is set.
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// Signs and checks download links (one secret for the whole process).
    pub links: Arc<LinkSigner>,
    /// The process's counters, shared by the API (`/metrics`) and the workers' callbacks.
    pub metrics: Arc<Metrics>,
    /// Sends the completion callbacks of the tasks this process's workers end.
    pub callbacks: Arc<CallbackSender>,
}

/// The two Redis connections of a process.
#[derive(Debug, Clone)]
pub struct RedisConnections {
    /// Workers and sweeps.
    pub patient: ConnectionManager,
    /// API requests.
    pub fail_fast: ConnectionManager,
}

/// How a Redis connection behaves when Redis is slow or away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisProfile {
    /// Workers and sweeps: queue scripts may take a while under load; reconnects are retried
    /// patiently (10 s per reply, 5 s per connection attempt, 6 tries).
    Patient,
    /// API requests: a client waits at most about 3 s before a 503 while Redis is away
    /// (2 s per reply, 1 s per connection attempt, 1 retry).
    FailFast,
}

/// A lazy Redis connection: nothing is dialled until the first command, so a process starts
/// while Redis is down. Fails only on a malformed URL.
pub fn redis_connection(url: &str, profile: RedisProfile) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .with_context(|| format!("invalid configuration: redis.url '{url}'"))?;
    let config = redis::aio::ConnectionManagerConfig::new();
    let config = match profile {
        RedisProfile::Patient => config
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_connection_timeout(Some(Duration::from_secs(5))),
        RedisProfile::FailFast => config
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200)),
    };
    ConnectionManager::new_lazy_with_config(client, config)
        .with_context(|| format!("preparing the Redis connection to {url}"))
}

/// How much the connected Redis keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisPersistence {
    /// The append-only file is on: with `appendfsync always` or `everysec`, at most about a
    /// second of writes is lost in a crash.
    AppendOnly {
        /// The `appendfsync` setting.
        fsync: String,
    },
    /// Snapshots only (`save` rules): a crash loses everything since the last snapshot.
    SnapshotsOnly,
    /// Nothing: a restart loses every task and queued job.
    None,
}

/// Reads the persistence of the Redis behind `conn` (`CONFIG GET`, which managed services may
/// refuse: then the error says so).
pub async fn redis_persistence(conn: &ConnectionManager) -> redis::RedisResult<RedisPersistence> {
    let mut conn = conn.clone();
    let get = |name: &'static str| {
        let mut c = redis::cmd("CONFIG");
        c.arg("GET").arg(name);
        c
    };
    let appendonly: Vec<String> = get("appendonly").query_async(&mut conn).await?;
    let fsync: Vec<String> = get("appendfsync").query_async(&mut conn).await?;
    let save: Vec<String> = get("save").query_async(&mut conn).await?;
    Ok(persistence_from(
        appendonly.get(1).map_or("", String::as_str),
        fsync.get(1).map_or("", String::as_str),
        save.get(1).map_or("", String::as_str),
    ))
}

/// [`RedisPersistence`] from the `appendonly`, `appendfsync` and `save` settings.
pub fn persistence_from(appendonly: &str, appendfsync: &str, save: &str) -> RedisPersistence {
    if appendonly.eq_ignore_ascii_case("yes") {
        RedisPersistence::AppendOnly {
            fsync: appendfsync.to_owned(),
        }
    } else if !save.trim().is_empty() {
        RedisPersistence::SnapshotsOnly
    } else {
        RedisPersistence::None
    }
}

/// Logs what the connected Redis's persistence means for accepted tasks.
async fn warn_about_persistence(conn: &ConnectionManager) {
    match redis_persistence(conn).await {
        Ok(RedisPersistence::AppendOnly { fsync }) if fsync == "always" || fsync == "everysec" => {
            info!(appendfsync = %fsync, "redis persists with the append-only file");
        }
        Ok(RedisPersistence::AppendOnly { fsync }) => warn!(appendfsync = %fsync, "redis appendfsync is neither always nor everysec: a Redis crash can lose accepted tasks; set appendfsync everysec"),
        Ok(RedisPersistence::SnapshotsOnly) => warn!("redis persists with snapshots only: a Redis crash loses the tasks accepted since the last snapshot; set appendonly yes and appendfsync everysec"),
        Ok(RedisPersistence::None) => warn!("redis persists nothing (no append-only file, no snapshots): a Redis restart loses every accepted task and queued job; set appendonly yes and appendfsync everysec"),
        Err(e) => warn!(error = %e, "could not read redis persistence settings (CONFIG GET refused?); make sure appendonly yes and appendfsync everysec are set"),
    }
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

/// The object store the settings describe: the local folder `embedded.objects_dir` or the
/// S3-compatible server of `[s3]` (`backends.objects`).
pub fn object_store(settings: &Settings) -> Arc<dyn ObjectStore> {
    if settings.backends.objects == ObjectBackend::Local {
        return Arc::new(LocalStore::new(&settings.embedded.objects_dir));
    }
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
    /// Prepares the connections `[backends]` asks for: lazy ones to Redis and S3 (nothing is
    /// dialled here: [`Services::run_probe`] finds out when they answer and creates the result
    /// bucket), and the SQLite file, opened and set up at once.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let demo = settings.tenants_with_demo_key();
        if !demo.is_empty() {
            warn!(tenants = ?demo, "DEMO MODE: these tenants accept the published API key \"demo-key\"; anyone who can reach this API can use them. Never run a real deployment with config/demo.toml");
        }
        let backends = settings.backends;
        let redis = if backends.uses_redis() {
            let url = &settings.redis.url;
            Some(RedisConnections {
                patient: redis_connection(url, RedisProfile::Patient)?,
                fail_fast: redis_connection(url, RedisProfile::FailFast)?,
            })
        } else {
            None
        };
        let sqlite = if backends.uses_sqlite() {
            Some(sqlite_pool(&settings).await?)
        } else {
            None
        };
        let ns = &settings.redis.namespace;
        let (tasks, api_tasks, schedules): (
            Arc<dyn TaskStore>,
            Arc<dyn TaskStore>,
            Arc<dyn ScheduleStore>,
        ) = match (backends.store, &redis, &sqlite) {
            (StoreBackend::Redis, Some(r), _) => (
                Arc::new(RedisTaskStore::with_connection(r.patient.clone(), ns)),
                Arc::new(RedisTaskStore::with_connection(r.fail_fast.clone(), ns)),
                Arc::new(RedisScheduleStore::with_connection(r.fail_fast.clone(), ns)),
            ),
            (StoreBackend::Sqlite, _, Some(pool)) => {
                let tasks: Arc<dyn TaskStore> =
                    Arc::new(SqliteTaskStore::open(pool.clone()).await?);
                (
                    Arc::clone(&tasks),
                    tasks,
                    Arc::new(SqliteScheduleStore::open(pool.clone()).await?),
                )
            }
            _ => anyhow::bail!("internal: the store backend's connection was not made"),
        };
        let geo = ip_database(&settings)?;
        let secret = if settings.links.secret.is_empty() {
            warn!("links.secret is not set: using a random secret, download links work only on this process until it stops (reading a task again gives a fresh link)");
            let mut s = uuid::Uuid::new_v4().as_bytes().to_vec();
            s.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            s
        } else {
            settings.links.secret.as_bytes().to_vec()
        };
        let links = Arc::new(LinkSigner::new(secret, settings.links.ttl_secs));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::default());
        let tenants = Arc::new(settings.tenants());
        let callbacks = Arc::new(CallbackSender::new(SenderParts {
            tasks: Arc::clone(&tasks),
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
            tenants,
            links,
            metrics,
            callbacks,
            geo,
            objects: object_store(&settings),
            redis,
            sqlite,
            tasks,
            api_tasks,
            schedules,
            readiness: Arc::new(Readiness::new()),
            clock,
            settings,
        })
    }

    /// The queue the API pushes to: apalis-redis over the fail-fast connection, or
    /// apalis-sqlite over the pool.
    pub fn api_queue(&self) -> anyhow::Result<Arc<dyn JobQueue>> {
        let settings = queue_settings(&self.settings);
        Ok(match self.settings.backends.queue {
            QueueBackend::Redis => Arc::new(RedisQueue::new(
                self.redis_connections()?.fail_fast.clone(),
                &settings,
            )),
            QueueBackend::Sqlite => Arc::new(SqliteQueue::new(self.sqlite_pool()?, &settings)),
        })
    }

    /// The queue's dead letters (jobs it gave up on).
    pub fn dead_letters(&self) -> anyhow::Result<Arc<dyn DeadLetters>> {
        let settings = queue_settings(&self.settings);
        Ok(match self.settings.backends.queue {
            QueueBackend::Redis => Arc::new(RedisDeadLetters::new(
                self.redis_connections()?.patient.clone(),
                statport_queue::redis::config(&settings),
            )),
            QueueBackend::Sqlite => Arc::new(SqliteDeadLetters::new(
                self.sqlite_pool()?.clone(),
                &settings,
            )),
        })
    }

    fn redis_connections(&self) -> anyhow::Result<&RedisConnections> {
        self.redis
            .as_ref()
            .context("internal: a redis backend without a Redis connection")
    }

    fn sqlite_pool(&self) -> anyhow::Result<&SqlitePool> {
        self.sqlite
            .as_ref()
            .context("internal: a sqlite backend without the SQLite pool")
    }

    /// A scheduler over this process's stores and queue (`statport serve` and
    /// `statport scheduler` run one; any number may run at once).
    pub fn scheduler(&self) -> anyhow::Result<Scheduler> {
        Ok(Scheduler {
            schedules: Arc::clone(&self.schedules),
            submitter: self.submitter()?,
            objects: Arc::clone(&self.objects),
            clock: Arc::clone(&self.clock),
            owner: format!("scheduler-{}", statport_queue::unique_worker_name()),
            settings: self.settings.scheduler.clone(),
        })
    }

    /// The one submitter of this process's API and scheduler: the fail-fast task store, the
    /// API's queue, the tenant directory and what the deployment supports.
    pub fn submitter(&self) -> anyhow::Result<Submitter> {
        Ok(Submitter {
            tasks: Arc::clone(&self.api_tasks),
            queue: self.api_queue()?,
            objects: Arc::clone(&self.objects),
            results_bucket: self.settings.results.bucket.clone(),
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
            Arc::clone(&self.api_tasks),
            Arc::clone(&self.objects),
            self.settings.results.bucket.clone(),
            Duration::from_secs(1),
            shutdown,
        );
        let persistence = async {
            self.readiness.wait_ready().await;
            if let Some(redis) = &self.redis {
                warn_about_persistence(&redis.patient).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = probe => {},
            () = persistence => {},
        }
    }

    /// The retention sweeper of this process's settings.
    pub fn janitor(&self) -> anyhow::Result<Janitor> {
        let settings = queue_settings(&self.settings);
        let queue: Arc<dyn FinishedJobs> = match self.settings.backends.queue {
            QueueBackend::Redis => Arc::new(RedisFinishedJobs::new(
                self.redis_connections()?.patient.clone(),
                apalis_redis::Config::default().queue(&settings.name),
            )),
            QueueBackend::Sqlite => Arc::new(SqliteFinishedJobs::new(
                self.sqlite_pool()?.clone(),
                &settings,
                FINISHED_JOB_RETENTION,
            )),
        };
        Ok(Janitor {
            tasks: Arc::clone(&self.tasks),
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
            queue: Some(queue),
            clock: Arc::clone(&self.clock),
            sort_dirs: Some(StaleSortDirs {
                temp_dir: self.settings.temp_dir(),
                older_than: Duration::from_secs(self.settings.queue.job_timeout_secs),
            }),
        })
    }

    /// The API state.
    pub fn app_state(&self) -> anyhow::Result<AppState> {
        let keys = KeyRing::for_tenants(&self.tenants)
            .map_err(|e| anyhow::anyhow!("invalid configuration: tenants.*.api_key_hashes: {e}"))?;
        let rate_limiter: Arc<dyn RateLimiter> = match (&self.settings.backends.store, &self.redis)
        {
            (StoreBackend::Redis, Some(redis)) => Arc::new(RedisRateLimiter::with_connection(
                redis.fail_fast.clone(),
                &self.settings.redis.namespace,
            )),
            // One machine: each process counts its own calls.
            _ => Arc::new(MemoryRateLimiter::new()),
        };
        Ok(AppState {
            submitter: self.submitter()?,
            schedules: Arc::clone(&self.schedules),
            max_schedules: self.settings.scheduler.max_per_tenant,
            readiness: Arc::clone(&self.readiness),
            rate_limiter,
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

    /// The worker context.
    pub fn export_context(&self) -> ExportContext {
        let w = &self.settings.worker;
        let parallelism = cores_if_zero(w.scan_parallelism);
        ExportContext {
            tasks: Arc::clone(&self.tasks),
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
            },
            geo: self.geo.clone(),
            shutdown: CancellationToken::new(),
            task_ended: Some(Arc::clone(&self.callbacks) as Arc<dyn TaskEnded>),
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
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("serving the API")
    }

    /// Runs export workers and the retention sweeps until `shutdown` is cancelled, then gives
    /// the completion callbacks still pending a short grace. Workers start pulling jobs once
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
        // One generic runner, instantiated for the configured backend.
        let workers = async {
            match self.settings.backends.queue {
                QueueBackend::Redis => {
                    let conn = self.redis_connections()?.patient.clone();
                    let backend = statport_queue::redis::worker_backend(conn, &settings);
                    run_workers(ctx, backend, settings, shutdown.clone())
                        .await
                        .map_err(anyhow::Error::from)
                }
                QueueBackend::Sqlite => {
                    let backend =
                        statport_queue::sqlite::worker_backend(self.sqlite_pool()?, &settings);
                    run_workers(ctx, backend, settings, shutdown.clone())
                        .await
                        .map_err(anyhow::Error::from)
                }
            }
        };
        let (result, ()) = tokio::join!(workers, sweeps);
        // The workers are done: what is left of their callbacks gets a short grace.
        self.callbacks.drain(CALLBACK_SHUTDOWN_GRACE).await;
        result.map_err(|e| {
            error!(error = %e, "export workers stopped");
            anyhow::anyhow!("export workers: {e}")
        })
    }
}

/// How long the SQLite queue keeps the rows of finished jobs (the janitor trims older ones).
const FINISHED_JOB_RETENTION: Duration = Duration::from_secs(3600);

/// Opens the SQLite file of `embedded.sqlite_path` and creates every table in it: the task
/// store's, the schedule store's and (when the queue is on SQLite) apalis-sqlite's. Every pooled
/// connection runs with WAL and `synchronous = NORMAL`: a committed write survives a crash of the
/// process; a power loss may lose the last transactions, never corrupt the file.
async fn sqlite_pool(settings: &Settings) -> anyhow::Result<SqlitePool> {
    let path = std::path::Path::new(&settings.embedded.sqlite_path);
    let pool = open_sqlite(path).await.with_context(|| {
        format!(
            "opening the SQLite file embedded.sqlite_path = '{}'",
            path.display()
        )
    })?;
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
    info!(path = %path.display(), "sqlite file ready");
    Ok(pool)
}

/// `n`, or the number of cores when `n` is 0 (the `scan_parallelism` settings).
fn cores_if_zero(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_is_read_from_the_redis_settings() {
        assert_eq!(
            persistence_from("no", "everysec", ""),
            RedisPersistence::None
        );
        assert_eq!(
            persistence_from("no", "everysec", "3600 1 300 100"),
            RedisPersistence::SnapshotsOnly
        );
        assert_eq!(
            persistence_from("yes", "everysec", ""),
            RedisPersistence::AppendOnly {
                fsync: "everysec".into()
            }
        );
    }

    #[tokio::test]
    async fn the_live_redis_reports_its_persistence() {
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
        let conn = redis_connection(&url, RedisProfile::FailFast).expect("url");
        let persistence = redis_persistence(&conn).await.expect("CONFIG GET answers");
        // Whatever it is, it must be one of the three (the CI Redis persists nothing).
        assert!(matches!(
            persistence,
            RedisPersistence::None
                | RedisPersistence::SnapshotsOnly
                | RedisPersistence::AppendOnly { .. }
        ));
    }
}
