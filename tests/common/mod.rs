//! The end-to-end harness: a real statport (API + workers, started through the same
//! `Services` code as the binary) with a fresh namespace, queue and buckets per test, on the
//! backends [`E2eBackend::from_env`] names: the real Redis (`REDIS_URL`) and the real
//! S3-compatible server (`S3_ENDPOINT`), or the embedded default (a SQLite file and a local
//! folder under the temp dir). `scripts/test.sh` runs the suite once on each.

#![allow(dead_code)]

pub mod relay;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use statport::config::{
    BackendSettings, ObjectBackend, QueueBackend, Settings, StoreBackend, TenantConfig,
};
use statport::genlogs::{GenSpec, GeneratedRecord, Generator};
use statport::launch::LaunchOptions;
use statport::services::object_store;
use statport_core::log::format::LogFormat;
use statport_core::tenant::TenantLimits;

/// A running statport and a client for it.
pub struct Harness {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The API key of tenant `t1` (logs in `log_bucket`).
    pub key: String,
    /// The API key of tenant `t2` (whose log bucket does not exist).
    pub other_key: String,
    /// Tenant `t1`'s log bucket.
    pub log_bucket: String,
    /// The settings it runs with.
    pub settings: Settings,
    /// The embedded backends' folder (removed at stop), if any.
    pub data_dir: Option<std::path::PathBuf>,
    running: statport::launch::Running,
}

/// The seeds' limits, but one download a second instead of one per 30 s, so a test downloads
/// several files in seconds.
fn test_limits() -> TenantLimits {
    TenantLimits {
        download_interval_secs: 1,
        ..TenantLimits::default()
    }
}

/// The backends an end-to-end run uses: `STATPORT_E2E_BACKEND=embedded` or `redis` (the
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E2eBackend {
    /// Redis for records and queue, the S3-compatible server for objects.
    Redis,
    /// SQLite for records and queue, a local folder for objects.
    Embedded,
}

impl E2eBackend {
    /// From `STATPORT_E2E_BACKEND`; an unknown value stops the run rather than testing the
    /// wrong thing.
    pub fn from_env() -> Self {
        match std::env::var("STATPORT_E2E_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("redis") => E2eBackend::Redis,
            Ok("embedded") => E2eBackend::Embedded,
            Ok(other) => {
                panic!("STATPORT_E2E_BACKEND must be 'redis' or 'embedded', not '{other}'")
            }
        }
    }

    /// Points `settings` at this backend; embedded files go under a fresh folder in the temp
    /// dir, which is returned.
    pub fn apply(self, settings: &mut Settings) -> Option<std::path::PathBuf> {
        match self {
            E2eBackend::Redis => {
                settings.backends = BackendSettings {
                    store: StoreBackend::Redis,
                    queue: QueueBackend::Redis,
                    objects: ObjectBackend::S3,
                };
                None
            }
            E2eBackend::Embedded => {
                let dir = std::env::temp_dir().join(unique("statport-e2e"));
                settings.backends = BackendSettings {
                    store: StoreBackend::Sqlite,
                    queue: QueueBackend::Sqlite,
                    objects: ObjectBackend::Local,
                };
                settings.embedded.sqlite_path = dir.join("statport.db").display().to_string();
                settings.embedded.objects_dir = dir.join("objects").display().to_string();
                Some(dir)
            }
        }
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl Harness {
    /// Starts API and workers on a free port.
    pub async fn start() -> Harness {
        Self::start_with(|_| {}, LaunchOptions::default()).await
    }

    /// Starts statport with `adjust` applied to the test settings, as `options` say.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings), options: LaunchOptions) -> Harness {
        let mut settings = Settings::load(None).expect("default settings");
        if let Ok(url) = std::env::var("REDIS_URL") {
            settings.redis.url = url;
        }
        settings.s3.endpoint =
            std::env::var("S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
        let data_dir = E2eBackend::from_env().apply(&mut settings);
        settings.redis.namespace = unique("statport-test");
        settings.queue.name = unique("statport-test-queue");
        settings.queue.heartbeat_secs = 1;
        settings.queue.missed_heartbeats = 3;
        settings.queue.shutdown_timeout_secs = 5;
        settings.results.bucket = unique("results");
        settings.worker.progress_interval_ms = 20;
        settings.worker.scan_parallelism = 2;
        let key = unique("key");
        let other_key = unique("key");
        let log_bucket = unique("logs");
        settings.tenants = BTreeMap::from([
            (
                "t1".to_string(),
                TenantConfig {
                    api_key_hashes: vec![statport_access::hash_api_key(&key)],
                    log_bucket: log_bucket.clone(),
                    log_prefix: "cf/".into(),
                    log_format: LogFormat::Cloudfront,
                    limits: test_limits(),
                    callback_secret: Default::default(),
                    csv_escape_formulas: true,
                },
            ),
            (
                "t2".to_string(),
                TenantConfig {
                    api_key_hashes: vec![statport_access::hash_api_key(&other_key)],
                    log_bucket: unique("missing"),
                    log_prefix: "cf/".into(),
                    log_format: LogFormat::Cloudfront,
                    limits: test_limits(),
                    callback_secret: Default::default(),
                    csv_escape_formulas: true,
                },
            ),
        ]);
        adjust(&mut settings);
        let running = statport::launch::launch_with(settings.clone(), options)
            .await
            .expect("Redis and the S3 server must be running (scripts/test.sh starts them)");
        let settings = running.services.settings.clone();
        Harness {
            base: running.base_url.clone(),
            http: reqwest::Client::new(),
            key,
            other_key,
            log_bucket,
            settings,
            data_dir,
            running,
        }
    }

    /// Uploads generated logs to `t1`'s bucket and returns every valid record written.
    pub async fn upload_logs(
        &self,
        spec: &GenSpec,
    ) -> (Vec<GeneratedRecord>, statport::genlogs::GenStats) {
        let (files, stats) = self.upload_log_files(spec).await;
        (files.into_iter().flat_map(|(_, r)| r).collect(), stats)
    }

    /// Uploads generated logs to `t1`'s bucket and returns each file's key with the valid
    /// records written to it, in the order of their lines.
    pub async fn upload_log_files(
        &self,
        spec: &GenSpec,
    ) -> (
        Vec<(String, Vec<GeneratedRecord>)>,
        statport::genlogs::GenStats,
    ) {
        let store = object_store(&self.settings);
        store
            .ensure_bucket(&self.log_bucket)
            .await
            .expect("create the log bucket");
        let mut files = Vec::new();
        let mut generator = Generator::new(spec);
        loop {
            let mut records = Vec::new();
            let Some(file) =
                generator.next_file(&mut |r: &GeneratedRecord| records.push(r.clone()))
            else {
                break;
            };
            let key = format!("cf/{}", file.name);
            store
                .put_bytes(
                    &self.log_bucket,
                    &key,
                    bytes::Bytes::from(file.gz),
                    "application/gzip",
                )
                .await
                .expect("upload a log file");
            files.push((key, records));
        }
        (files, generator.stats())
    }

    /// `POST` a task as `key`; returns status and body.
    pub async fn submit_as(&self, key: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/cdn/statistics/export-tasks", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("POST reaches the API");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// `POST` a task as tenant `t1`, expecting 201; returns the task id.
    pub async fn submit(&self, body: &Value) -> String {
        let (status, task) = self.submit_as(&self.key, body).await;
        assert_eq!(status, 201, "{task}");
        task["task_id"].as_str().expect("task_id").to_string()
    }

    /// `GET path` with `key`; returns status and JSON body (Null when empty).
    pub async fn get_as(&self, key: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("GET reaches the API");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Polls the task until it is `success` or `fail` (bounded: 180 s).
    pub async fn wait_final(&self, task_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let (status, task) = self
                .get_as(
                    Some(&self.key),
                    &format!("/v1/cdn/statistics/export-tasks/{task_id}"),
                )
                .await;
            let task = if status == 404 {
                self.get_as(
                    Some(&self.other_key),
                    &format!("/v1/cdn/statistics/export-tasks/{task_id}"),
                )
                .await
                .1
            } else {
                task
            };
            match task["status"].as_str() {
                Some("success") | Some("fail") => return task,
                _ => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {task_id} did not end in time: {task}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `DELETE` a task of tenant `t1`; returns the status.
    pub async fn delete(&self, task_id: &str) -> u16 {
        self.http
            .delete(format!(
                "{}/v1/cdn/statistics/export-tasks/{task_id}",
                self.base
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("DELETE reaches the API")
            .status()
            .as_u16()
    }

    /// Downloads a link (no Authorization header), as a well-behaved client: a 429 is retried
    /// after its `Retry-After` (the harness's tenants may download once a second).
    pub async fn download(&self, link: &str) -> (u16, Vec<u8>) {
        for _ in 0..5 {
            let response = self.http.get(link).send().await.expect("GET the link");
            let status = response.status().as_u16();
            if status == 429 {
                let wait: u64 = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .expect("a 429 carries Retry-After");
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            return (status, response.bytes().await.expect("body").to_vec());
        }
        panic!("the download of {link} stayed rate-limited");
    }

    /// Stops API and workers and waits for them.
    pub async fn stop(self) {
        self.running.stop().await.expect("clean shutdown");
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
