//! Shared set-up of the queue tests: a fresh queue and status namespace in a real Redis, a local
//! folder as object store with a few hours of CloudFront logs, workers started and stopped.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use flate2::write::GzEncoder;
use flate2::Compression;
use redis::AsyncCommands;
use statport_core::log::format::LogFormat;
use statport_core::stats::sketch::SketchLimits;
use statport_core::task::{ExportJob, TaskRecord, TaskStatus};
use statport_core::tenant::{LogSource, Tenant, TenantDirectory};
use statport_core::time::clock::SystemClock;
use statport_core::time::ms_from_civil;
use statport_core::ExportRequest;
use statport_queue::redis::{connect as connect_redis, storage as job_storage, worker_backend};
use statport_queue::{QueueSettings, RunnerError};
use statport_records::{RedisTaskStore, TaskStore};
use statport_storage::{LocalStore, ObjectMeta, ObjectReader, ObjectStore, StorageError};
use statport_worker::retry::RetryPolicy;
use statport_worker::runner::run_workers;
use statport_worker::{CancellationToken, ExportContext, WorkerSettings};
use tokio::sync::Notify;

/// The tenant of every test task.
pub const TENANT: &str = "t1";

/// `REDIS_URL` or the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

/// One test's world: its own queue, status namespace and object-store folder.
pub struct Env {
    /// Redis.
    pub conn: ConnectionManager,
    /// The task store (namespace of this test).
    pub tasks: Arc<RedisTaskStore>,
    /// Logs and results.
    pub objects: Arc<LocalStore>,
    /// The queue (name of this test).
    pub settings: QueueSettings,
    namespace: String,
    root: PathBuf,
}

fn line(time: &str, bytes: u64) -> String {
    format!("2026-11-01\t{time}\tSFO5-C1\t{bytes}\t192.0.2.1\tGET\td1.cloudfront.net\t/a.png\t200\t-\tcurl/8\t-\t-\tMiss\tid\ta.example.com\thttps\t100\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tMiss\tHTTP/2.0\t-\t-")
}

const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields";

fn gz(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text.as_bytes()).expect("in-memory write");
    e.finish().expect("in-memory gzip")
}

impl Env {
    /// Connects to `url` and prepares a fresh queue, namespace and folder.
    pub async fn new(url: &str) -> Env {
        let conn = tokio::time::timeout(Duration::from_secs(10), connect_redis(url))
            .await
            .unwrap_or_else(|_| panic!("redis at {url} did not answer within 10 s (set REDIS_URL)"))
            .unwrap_or_else(|e| panic!("redis at {url} is unreachable (set REDIS_URL): {e}"));
        Env::with_connection(conn).await
    }

    /// As [`Env::new`] over an existing connection.
    pub async fn with_connection(conn: ConnectionManager) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let root = std::env::temp_dir().join(format!("statport-queue-{id}"));
        let objects = Arc::new(LocalStore::new(root.join("store")));
        objects.ensure_bucket("logs").await.expect("bucket");
        objects.ensure_bucket("results").await.expect("bucket");
        for hour in 0..2 {
            let text = format!(
                "#Version: 1.0\n{FIELDS}\n{}\n{}\n",
                line(&format!("0{hour}:10:00"), 100),
                line(&format!("0{hour}:20:00"), 7)
            );
            objects
                .put_bytes(
                    "logs",
                    &format!("cf/E.2026-11-01-0{hour}.a.gz"),
                    gz(&text).into(),
                    "application/gzip",
                )
                .await
                .expect("put");
        }
        std::fs::create_dir_all(root.join("tmp")).expect("temp dir");
        let namespace = format!("statport-test-{id}");
        let settings = QueueSettings {
            name: format!("statport-test-queue-{id}"),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            poll_interval: Duration::from_millis(50),
            concurrency: 2,
            job_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
        };
        Env {
            tasks: Arc::new(RedisTaskStore::with_connection(conn.clone(), &namespace)),
            conn,
            objects,
            settings,
            namespace,
            root,
        }
    }

    /// Creates the waiting task `id` (a csv of two hours of traffic).
    pub async fn task(&self, id: &str) {
        self.try_task(id).await.expect("create");
    }

    /// As [`Env::task`], handing back the store's error.
    pub async fn try_task(&self, id: &str) -> Result<(), String> {
        let body = serde_json::json!({"domain_name": "a.example.com",
            "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
            "end_time": ms_from_civil(2026, 11, 1, 2, 0, 0).expect("date"),
            "interval": 3600, "export_format": "csv", "language": "en"});
        let condition = ExportRequest::from_json(&body)
            .and_then(|r| r.validate())
            .expect("valid");
        let record = TaskRecord::waiting(id.into(), TENANT.into(), id.into(), condition, 0);
        self.tasks.create(&record).await.map_err(|e| e.to_string())
    }

    /// The job storage of this test's queue.
    pub fn storage(&self) -> RedisStorage<ExportJob> {
        job_storage(self.conn.clone(), &self.settings)
    }

    /// The export context of a worker reading through `objects`.
    pub fn ctx(&self, objects: Arc<dyn ObjectStore>) -> ExportContext {
        ExportContext {
            tasks: self.tasks.clone(),
            objects,
            tenants: Arc::new(TenantDirectory::from(HashMap::from([(
                TENANT.to_string(),
                Tenant::reading(LogSource {
                    bucket: "logs".into(),
                    prefix: "cf/".into(),
                    format: LogFormat::Cloudfront,
                }),
            )]))),
            clock: Arc::new(SystemClock),
            settings: WorkerSettings {
                late_hours: 2,
                max_attempts: 3,
                retry: RetryPolicy::default(),
                progress_interval: Duration::from_millis(100),
                scan_parallelism: 2,
                temp_dir: self.root.join("tmp"),
                results_bucket: "results".into(),
                results_prefix: "exports/".into(),
                sketches: SketchLimits::default(),
                logs: statport_worker::sort::LogSortSettings::default(),
                timeouts: statport_worker::JobTimeouts::default(),
            },
            geo: None,
            shutdown: CancellationToken::new(),
            task_ended: None,
            temp_disk: statport_worker::temp_disk::TempDiskBudget::new(u64::MAX),
        }
    }

    /// Starts a worker process's workers reading through `objects`.
    pub fn start_workers(&self, objects: Arc<dyn ObjectStore>) -> Workers {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(run_workers(
            Arc::new(self.ctx(objects)),
            worker_backend(self.conn.clone(), &self.settings),
            self.settings.clone(),
            stop.clone(),
        ));
        Workers { stop, handle }
    }

    /// The task's record.
    pub async fn record(&self, id: &str) -> TaskRecord {
        self.tasks
            .get(TENANT, id)
            .await
            .expect("get")
            .expect("exists")
    }

    /// The task's status.
    pub async fn status(&self, id: &str) -> TaskStatus {
        self.record(id).await.status
    }

    /// Waits until the task is `status`; panics after `within`.
    pub async fn wait_for(&self, id: &str, status: TaskStatus, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.tasks.get(TENANT, id).await.ok().flatten();
            if now.as_ref().is_some_and(|r| r.status == status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} not {status:?} after {within:?}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes this test's keys and folder.
    pub async fn cleanup(&self) {
        let mut conn = self.conn.clone();
        for pattern in [
            format!("{}:*", self.settings.name),
            format!("{}:*", self.namespace),
        ] {
            let keys: Vec<String> = {
                let mut iter = conn.scan_match::<_, String>(pattern).await.expect("scan");
                let mut keys = Vec::new();
                while let Some(key) = iter.next_item().await {
                    keys.push(key.expect("key"));
                }
                keys
            };
            for chunk in keys.chunks(500) {
                let _: () = conn.del(chunk).await.expect("del");
            }
        }
        let _: () = conn
            .zrem(
                "core:apalis:queues:list",
                format!("{}:workers", self.settings.name),
            )
            .await
            .expect("zrem");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Pushes the job of task `id`.
pub async fn push(storage: &mut RedisStorage<ExportJob>, id: &str) {
    storage
        .push(ExportJob {
            tenant_id: TENANT.into(),
            task_id: id.into(),
        })
        .await
        .expect("push");
}

/// Running workers.
pub struct Workers {
    stop: CancellationToken,
    /// Ends when they stopped.
    pub handle: tokio::task::JoinHandle<Result<(), RunnerError>>,
}

impl Workers {
    /// Starts their shutdown (as SIGINT would).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// A local store whose reads hand back the first bytes of the object and then stall (a stream
/// that stopped moving), or with [`HangingStore::gated`] wait until `open` is set, notifying
/// `reading` each time a read starts.
#[derive(Debug)]
pub struct HangingStore {
    inner: Arc<LocalStore>,
    /// Notified when a read starts.
    pub reading: Notify,
    /// Gated reads go on once this is `true`.
    pub open: tokio::sync::watch::Sender<bool>,
    stall: bool,
    /// Reads left to refuse as an unreachable S3 would (see [`HangingStore::flaky`]).
    refuse: std::sync::atomic::AtomicUsize,
}

impl HangingStore {
    /// Wraps `inner`; every read stalls.
    pub fn new(inner: Arc<LocalStore>) -> Arc<Self> {
        Arc::new(HangingStore {
            inner,
            reading: Notify::new(),
            open: tokio::sync::watch::channel(false).0,
            stall: true,
            refuse: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Wraps `inner`; the first `n` reads fail with "connection refused", the rest go through.
    pub fn flaky(inner: Arc<LocalStore>, n: usize) -> Arc<Self> {
        let store = Arc::into_inner(HangingStore::gated(inner)).expect("sole owner");
        store.open.send_replace(true);
        store.refuse.store(n, std::sync::atomic::Ordering::SeqCst);
        Arc::new(store)
    }

    /// Wraps `inner`; reads wait until `open` is set.
    pub fn gated(inner: Arc<LocalStore>) -> Arc<Self> {
        Arc::new(HangingStore {
            stall: false,
            ..Arc::into_inner(HangingStore::new(inner)).expect("sole owner")
        })
    }
}

struct Stalled;

impl tokio::io::AsyncRead for Stalled {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

#[async_trait::async_trait]
impl ObjectStore for HangingStore {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner.list(bucket, prefix).await
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<ObjectReader, StorageError> {
        use tokio::io::AsyncReadExt;
        self.reading.notify_one();
        let refused = self
            .refuse
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if refused {
            return Err(StorageError::Unavailable("connection refused".into()));
        }
        if !self.stall {
            let _ = self.open.subscribe().wait_for(|open| *open).await;
            return self.inner.get(bucket, key).await;
        }
        let reader = self.inner.get(bucket, key).await?;
        Ok(ObjectReader::new(None, reader.take(16).chain(Stalled)))
    }
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        self.inner.put_file(bucket, key, path, content_type).await
    }
    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.inner.put_bytes(bucket, key, body, content_type).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.inner.delete(bucket, key).await
    }
    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.inner.ensure_bucket(bucket).await
    }
    async fn ping(&self, bucket: &str) -> Result<(), StorageError> {
        self.inner.ping(bucket).await
    }
}
