//! The router without a socket (`tower::ServiceExt::oneshot`), over the in-process stores and a
//! manual clock: auth, the error body, creation and the expiry of download links; `errors`: the
//! body on responses axum makes itself; `limits`: per-tenant rate limits; `origin_volume`: the
//! synchronous origin-volume report over a scripted engine; `callbacks`: `callback_url` at submission;
//! `ready`: `/readyz` says coarse states, never a probe's error text; `schedules`: the failure
//! the scheduler recorded on a schedule is shown on it.

mod callbacks;
mod errors;
mod geo;
mod limits;
mod links;
mod origin_volume;
mod ready;
mod schedules;
mod socket;

use std::sync::Mutex;

use statport_core::ErrorCode;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use statport_access::{hash_api_key, MemoryRateLimiter};
use statport_core::callback::AddressPolicy;
use statport_core::log::format::LogFormat;
use statport_core::task::{ExportJob, TaskStatus};
use statport_core::tenant::{CallbackSecret, LogSource, Tenant, TenantDirectory};
use statport_core::time::clock::ManualClock;
use statport_core::time::HOUR_MS;
use statport_core::ExportRequest;
use statport_records::{MemoryScheduleStore, MemoryTaskStore};
use statport_storage::{LocalStore, ObjectStore};
use tower::ServiceExt;

use super::*;
use statport_queue::{JobQueue, QueueError};
use statport_submit::{Deployment, Submitter};

#[derive(Debug, Default)]
struct RecordingQueue(Mutex<Vec<ExportJob>>);

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn push(&self, job: ExportJob) -> Result<(), QueueError> {
        self.0
            .lock()
            .map_err(|e| QueueError(e.to_string()))?
            .push(job);
        Ok(())
    }

    async fn push_at(&self, job: ExportJob, _at_ms: i64) -> Result<(), QueueError> {
        self.push(job).await
    }
}

struct Fixture {
    state: AppState,
    queue: Arc<RecordingQueue>,
    clock: Arc<ManualClock>,
    engine: Arc<origin_volume::ScriptedEngine>,
    root: std::path::PathBuf,
}

impl Fixture {
    /// Changes tenant `id` in the directory the state submits under.
    fn tenant(&mut self, id: &str, change: impl FnOnce(&mut Tenant)) {
        let tenants = &mut self.state.submitter.tenants;
        let mut tenant = tenants.get(id).cloned().expect("a fixture tenant");
        change(&mut tenant);
        *tenants = Arc::new((**tenants).clone().with(id, tenant));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const NOW: i64 = 1_795_000_000_000;

async fn fixture() -> Fixture {
    let root = std::env::temp_dir().join(format!("statport-api-{}", uuid::Uuid::new_v4().simple()));
    let objects = Arc::new(LocalStore::new(&root));
    objects.ensure_bucket("results").await.expect("bucket");
    let queue = Arc::new(RecordingQueue::default());
    let clock = Arc::new(ManualClock::new(NOW));
    let keys = KeyRing::new(vec![
        ("t1".into(), hash_api_key("k1")),
        ("t2".into(), hash_api_key("k2")),
    ])
    .expect("keys");
    let engine = Arc::new(origin_volume::ScriptedEngine::default());
    let reading = |format| {
        Tenant::reading(LogSource {
            bucket: "logs".into(),
            prefix: String::new(),
            format,
        })
    };
    let tenants = TenantDirectory::default()
        .with("t1", reading(LogFormat::Cloudfront))
        .with("t2", reading(LogFormat::Huawei));
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        submitter: Submitter {
            tasks: Arc::new(MemoryTaskStore::new()),
            queue: queue.clone(),
            objects,
            results_bucket: "results".into(),
            results_prefix: "exports/".into(),
            tenants: Arc::new(tenants),
            deployment: Deployment::default(),
            clock: clock.clone(),
            counts: Arc::clone(&metrics.submissions),
        },
        schedules: Arc::new(MemoryScheduleStore::new()),
        max_schedules: 20,
        keys: Arc::new(keys),
        links: Arc::new(LinkSigner::new(b"secret".to_vec(), 60)),
        public_url: "http://api.test".into(),
        metrics,
        readiness: Arc::new(crate::ready::Readiness::new()),
        rate_limiter: Arc::new(MemoryRateLimiter::new()),
        origin_volume: crate::origin_volume::OriginVolume {
            engine: engine.clone(),
            server_groups: Arc::new(origin_volume::server_groups()),
        },
    };
    Fixture {
        state,
        queue,
        clock,
        engine,
        root,
    }
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let (status, _, body) = send(
        state,
        method,
        uri,
        key,
        body.map_or_else(Body::empty, |b| Body::from(b.to_string())),
    )
    .await;
    (status, body)
}

/// One request through the router; the status, headers and body of the answer.
async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Body,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request.body(body).expect("request");
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

/// The `error_code` of a JSON error body, after checking the content type says JSON.
fn error_code(headers: &axum::http::HeaderMap, body: &[u8]) -> String {
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "error bodies are JSON"
    );
    let value = as_json(body);
    assert!(
        value["error"]["error_msg"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a sentence in {value}"
    );
    value["error"]["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn valid_body() -> Value {
    json!({"domain_name": "www.example.com", "start_time": NOW - 24 * HOUR_MS, "end_time": NOW, "interval": 3600})
}

#[tokio::test]
async fn create_records_and_queues_the_task() {
    let f = fixture().await;
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-tasks",
        Some("k1"),
        Some(valid_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let task = as_json(&body);
    assert_eq!(task["status"], "waiting");
    assert_eq!(task["create_time"], NOW);
    assert!(task["task_name"]
        .as_str()
        .is_some_and(|n| n.starts_with("reports_detail-")));
    assert!(task.get("download_link").is_none());
    let id = task["task_id"].as_str().expect("id").to_string();
    let queued = f.queue.0.lock().expect("lock").clone();
    assert_eq!(
        queued,
        vec![ExportJob {
            tenant_id: "t1".into(),
            task_id: id.clone()
        }]
    );
    let (status, _) = call(
        &f.state,
        "GET",
        &format!("/v1/cdn/statistics/export-tasks/{id}"),
        Some("k2"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's task answers 404"
    );
}

#[tokio::test]
async fn errors_share_one_body() {
    let f = fixture().await;
    let (status, body) = call(
        &f.state,
        "GET",
        "/v1/cdn/statistics/export-tasks",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        as_json(&body)["error"]["error_code"],
        "StatPort.Unauthorized"
    );
    let mut bad = valid_body();
    bad["interval"] = json!(7);
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-tasks",
        Some("k1"),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = &as_json(&body)["error"];
    assert_eq!(error["error_code"], "InvalidParameter");
    assert!(error["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("interval")));
    let (status, body) = call(&f.state, "GET", "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(as_json(&body)["error"]["error_code"], "StatPort.NotFound");
    assert!(
        f.queue.0.lock().expect("lock").is_empty(),
        "nothing queued for refused requests"
    );
}

/// Stores a finished task `done` of tenant t1 named `task_name`, with its file; returns the path
/// of its download link (signed at the clock's time).
async fn finished_task(state: &AppState, task_name: &str) -> String {
    let condition = ExportRequest::from_json(&valid_body())
        .and_then(|r| r.validate())
        .expect("valid");
    state
        .submitter
        .objects
        .put_bytes(
            "results",
            "exports/t1/done.csv",
            "time,flux\r\n".into(),
            "text/csv",
        )
        .await
        .expect("put");
    let mut record =
        TaskRecord::waiting("done".into(), "t1".into(), task_name.into(), condition, NOW);
    record.status = TaskStatus::Success;
    record.progress = 100;
    record.file_size = Some(11);
    record.file_key = Some("exports/t1/done.csv".into());
    record.end_time = Some(NOW);
    record.attempts = 1;
    record.run_id = Some("r".into());
    state.tasks().create(&record).await.expect("create");
    let (_, body) = call(
        state,
        "GET",
        "/v1/cdn/statistics/export-tasks/done",
        Some("k1"),
        None,
    )
    .await;
    let link = as_json(&body)["download_link"]
        .as_str()
        .expect("link")
        .to_string();
    link.strip_prefix("http://api.test")
        .expect("absolute link on the public URL")
        .to_owned()
}

#[tokio::test]
async fn download_links_expire() {
    let f = fixture().await;
    let path = finished_task(&f.state, "my export").await;
    let path = path.as_str();
    let (status, file) = call(&f.state, "GET", path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(file, b"time,flux\r\n");
    f.clock.advance(61_000);
    let (status, body) = call(&f.state, "GET", path, None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(as_json(&body)["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
    // a fresh read of the task signs a fresh link
    let (_, body) = call(
        &f.state,
        "GET",
        "/v1/cdn/statistics/export-tasks/done",
        Some("k1"),
        None,
    )
    .await;
    let fresh = as_json(&body)["download_link"]
        .as_str()
        .expect("link")
        .to_string();
    let (status, _) = call(
        &f.state,
        "GET",
        fresh.strip_prefix("http://api.test").expect("prefix"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_file_past_its_retention_is_gone_and_the_task_says_so() {
    let f = fixture().await;
    let path = finished_task(&f.state, "kept three days").await;
    let key = f
        .state
        .tasks()
        .expire_file("t1", "done", NOW, NOW + 1)
        .await
        .expect("expire")
        .expect("a file to expire");
    f.state
        .submitter
        .objects
        .delete("results", &key)
        .await
        .expect("delete");
    let (_, body) = call(
        &f.state,
        "GET",
        "/v1/cdn/statistics/export-tasks/done",
        Some("k1"),
        None,
    )
    .await;
    let task = as_json(&body);
    assert!(task.get("download_link").is_none(), "{task}");
    assert_eq!(task["file_status"], "expired");
    assert_eq!(task["file_expired_at"], NOW + 1);
    // The old link (still within its own lifetime) is told why, not "invalid".
    let (status, headers, body) = send(&f.state, "GET", &path, None, Body::empty()).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(error_code(&headers, &body), "StatPort.FileExpired");
}

/// A task reset by a resubmission of its condition names no file, but the previous run's file
/// is still at the task's key: DELETE removes it all the same.
#[tokio::test]
async fn deleting_a_resubmitted_task_deletes_the_file_at_its_key() {
    let f = fixture().await;
    finished_task(&f.state, "once").await;
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-tasks",
        Some("k1"),
        Some(valid_body()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the same condition takes the task");
    let task = as_json(&body);
    assert_eq!(
        (task["task_id"].as_str(), task["status"].as_str()),
        (Some("done"), Some("waiting"))
    );
    let reset = f
        .state
        .tasks()
        .get("t1", "done")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(reset.file_key, None);
    let (status, _) = call(
        &f.state,
        "DELETE",
        "/v1/cdn/statistics/export-tasks/done",
        Some("k1"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        f.state
            .submitter
            .objects
            .get("results", "exports/t1/done.csv")
            .await
            .is_err(),
        "the file at the task's key is deleted"
    );
}
