//! Completion callbacks end to end, on whichever backend the run uses: a receiver on 127.0.0.1
//! (private destinations allowed, as tests need) gets the ended task, signed so that
//! `statport_core::callback::verify` accepts it with the tenant's secret, with the body `GET`
//! shows; a receiver answering 500 first is tried again; one that always answers 500 gets
//! exactly `callbacks.max_attempts` attempts, the task stays `success` and `/metrics` counts
//! the failure. A tenant without a callback secret may not ask for a callback.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use statport::genlogs::GenSpec;
use statport::launch::LaunchOptions;
use statport_core::callback::{verify, DELIVERY_HEADER, REPLAY_WINDOW_SECS, SIGNATURE_HEADER};
use statport_core::tenant::CallbackSecret;
use statport_core::time::{ms_from_civil, HOUR_MS};
use tokio::sync::mpsc;

use crate::common::Harness;

const SECRET: &str = "e2e-callback-secret-0123456789";
const OTHER_SECRET: &str = "e2e-other-tenant-secret-98765";
const MAX_ATTEMPTS: u32 = 3;

/// One `POST` the receiver got.
#[derive(Debug)]
struct Hit {
    signature: Option<String>,
    delivery: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A callback receiver on 127.0.0.1 answering the statuses of its script, then `then`.
struct Receiver {
    url: String,
    hits: mpsc::UnboundedReceiver<Hit>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Script {
    statuses: Arc<Mutex<VecDeque<u16>>>,
    then: u16,
    hits: mpsc::UnboundedSender<Hit>,
}

async fn hook(State(script): State<Script>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Recorded before answering: once statport has seen the answer, the hit is in the channel.
    let _ = script.hits.send(Hit {
        signature: header(SIGNATURE_HEADER),
        delivery: header(DELIVERY_HEADER),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    let status = script
        .statuses
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(script.then);
    StatusCode::from_u16(status).expect("a status")
}

async fn receiver(script: &[u16], then: u16) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Script {
        statuses: Arc::new(Mutex::new(script.iter().copied().collect())),
        then,
        hits: tx,
    };
    let app = axum::Router::new()
        .route("/hooks/statport", axum::routing::post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/hooks/statport?from=statport"),
        hits: rx,
        server,
    }
}

impl Receiver {
    /// The next hit (generous bound: the task must run first).
    async fn next(&mut self) -> Hit {
        tokio::time::timeout(Duration::from_secs(120), self.hits.recv())
            .await
            .expect("a callback arrives in time")
            .expect("the receiver runs")
    }

    /// The hits received so far, without waiting.
    fn drain(&mut self) -> Vec<Hit> {
        let mut all = Vec::new();
        while let Ok(hit) = self.hits.try_recv() {
            all.push(hit);
        }
        all
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn day_start() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("valid date")
}

/// Callbacks to 127.0.0.1 allowed, tiny backoffs, `t1` with a secret (and `t2` when asked).
async fn harness(t2_secret: bool) -> Harness {
    let h = Harness::start_with(
        move |s| {
            s.callbacks.allow_private = true;
            s.callbacks.max_attempts = MAX_ATTEMPTS;
            s.callbacks.initial_backoff_ms = 10;
            s.callbacks.max_backoff_ms = 40;
            s.callbacks.timeout_ms = 10_000;
            if let Some(t1) = s.tenants.get_mut("t1") {
                t1.callback_secret = CallbackSecret::new(SECRET);
            }
            if let Some(t2) = s.tenants.get_mut("t2").filter(|_| t2_secret) {
                t2.callback_secret = CallbackSecret::new(OTHER_SECRET);
            }
        },
        LaunchOptions::default(),
    )
    .await;
    h.upload_logs(&GenSpec {
        seed: 5,
        start_ms: day_start(),
        hours: 2,
        lines_per_hour: 100,
        hosts: 3,
        ..GenSpec::default()
    })
    .await;
    h
}

fn task_body(url: &str) -> Value {
    json!({"task_name": "with-callback", "domain_name": "all", "start_time": day_start(),
           "end_time": day_start() + 2 * HOUR_MS, "interval": 3600, "export_format": "csv",
           "callback_url": url})
}

/// `statport_callbacks_total{result}` from `/metrics`.
async fn callbacks_metric(h: &Harness, result: &str) -> u64 {
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!("statport_callbacks_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

/// Polls `/metrics` until the counter reaches `want` (bounded: 120 s).
async fn wait_metric(h: &Harness, result: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let got = callbacks_metric(h, result).await;
        assert!(got <= want, "{result}: {got} > {want}");
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "statport_callbacks_total{{result=\"{result}\"}} stayed {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hit's body, after checking it is JSON signed with `secret` just now.
fn verified(hit: &Hit, secret: &str) -> Value {
    assert_eq!(hit.content_type.as_deref(), Some("application/json"));
    let signature = hit.signature.as_deref().expect("a signature header");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    let now = i64::try_from(now).expect("seconds fit");
    assert!(
        verify(
            secret.as_bytes(),
            signature,
            &hit.body,
            now,
            REPLAY_WINDOW_SECS
        ),
        "the signature {signature} verifies"
    );
    assert!(
        !verify(b"another-secret-entirely", signature, &hit.body, now, 300),
        "and only with the tenant's secret"
    );
    serde_json::from_slice(&hit.body).expect("a JSON body")
}

/// `task` without its download link's query (re-signed, with a new expiry, on every read) and
/// without its callback's delivery state (which the body leaves out: it is what is delivering).
fn without_link_signature(mut task: Value) -> Value {
    if let Some(link) = task["download_link"].as_str() {
        let path = link.split('?').next().unwrap_or_default().to_owned();
        task["download_link"] = json!(path);
    }
    if let Some(map) = task.as_object_mut() {
        map.remove("callback");
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_task_is_posted_signed_as_get_shows_it() {
    let h = harness(true).await;
    let mut rx = receiver(&[], 200).await;
    let id = h.submit(&task_body(&rx.url)).await;
    let task = h.wait_final(&id).await;
    assert_eq!(task["status"], "success", "{task}");
    let hit = rx.next().await;
    let body = verified(&hit, SECRET);
    assert_eq!(body["task_id"], id.as_str());
    assert_eq!(body["status"], "success");
    assert_eq!(body["condition"]["callback_url"], rx.url.as_str());
    assert_eq!(
        without_link_signature(body.clone()),
        without_link_signature(task.clone()),
        "the body is the task object GET answers"
    );
    let link = body["download_link"].as_str().expect("a download link");
    let (status, file) = h.download(link).await;
    assert_eq!(status, 200, "the callback's link works");
    assert_eq!(task["file_size"], file.len());
    wait_metric(&h, "delivered", 1).await;
    assert!(rx.drain().is_empty(), "delivered once");
    assert!(
        body.get("callback").is_none(),
        "the body leaves out its own delivery"
    );
    // The task shows the delivery, under the id the request carried.
    let (_, shown) = h
        .get_as(
            Some(&h.key),
            &format!("/v1/cdn/statistics/export-tasks/{id}"),
        )
        .await;
    let callback = &shown["callback"];
    assert_eq!(callback["state"], "delivered", "{shown}");
    assert_eq!(callback["attempts"], 1);
    assert_eq!(callback["last_status"], 200);
    assert!(callback["delivered_at"].is_i64(), "{callback}");
    assert_eq!(
        callback["delivery_id"].as_str(),
        hit.delivery.as_deref(),
        "X-Statport-Delivery names the delivery"
    );

    // A task that fails calls back too (t2's log bucket does not exist), signed with t2's secret.
    let (status, created) = h.submit_as(&h.other_key, &task_body(&rx.url)).await;
    assert_eq!(status, 201, "{created}");
    let other = created["task_id"].as_str().expect("id").to_owned();
    let body = verified(&rx.next().await, OTHER_SECRET);
    assert_eq!(body["task_id"], other.as_str());
    assert_eq!(body["status"], "fail");
    assert_eq!(body["error"]["error_code"], "StatPort.LogBucketNotFound");
    assert!(body.get("download_link").is_none());
    wait_metric(&h, "delivered", 2).await;
    assert_eq!(callbacks_metric(&h, "retried").await, 0);
    assert_eq!(callbacks_metric(&h, "failed").await, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_500_is_retried_and_the_second_attempt_delivers() {
    let h = harness(false).await;
    let mut rx = receiver(&[500], 200).await;
    let id = h.submit(&task_body(&rx.url)).await;
    let first = verified(&rx.next().await, SECRET);
    let second = verified(&rx.next().await, SECRET);
    assert_eq!(first["task_id"], id.as_str());
    assert_eq!(
        without_link_signature(first),
        without_link_signature(second),
        "the same task object, signed again for the retry"
    );
    wait_metric(&h, "delivered", 1).await;
    assert_eq!(callbacks_metric(&h, "retried").await, 1);
    assert!(rx.drain().is_empty(), "two deliveries, no more");
    assert_eq!(h.wait_final(&id).await["status"], "success");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_always_failing_receiver_is_given_up_after_max_attempts() {
    let h = harness(false).await;
    let mut rx = receiver(&[], 500).await;
    let id = h.submit(&task_body(&rx.url)).await;
    // The failure is counted once the last attempt's answer came back: then nothing more.
    wait_metric(&h, "failed", 1).await;
    let hits = rx.drain();
    assert_eq!(hits.len(), MAX_ATTEMPTS as usize, "exactly max_attempts");
    for hit in &hits {
        assert_eq!(verified(hit, SECRET)["task_id"], id.as_str());
    }
    assert_eq!(
        callbacks_metric(&h, "retried").await,
        u64::from(MAX_ATTEMPTS - 1)
    );
    assert_eq!(callbacks_metric(&h, "delivered").await, 0);
    let task = h.wait_final(&id).await;
    assert_eq!(
        task["status"], "success",
        "the callback never changes the task"
    );
    assert!(task["download_link"].is_string());

    // A tenant without a callback secret may not ask for one (nothing would sign it).
    let (status, answer) = h.submit_as(&h.other_key, &task_body(&rx.url)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"]["error_code"],
        "StatPort.CallbackNotConfigured"
    );
    h.stop().await;
}
