//! Durable completion callbacks: a worker killed with SIGKILL while its task's callback is in
//! flight loses nothing: the callback was recorded with the task's end, its lease runs out, and
//! a worker started afterwards delivers it, under the same delivery id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use statport_core::callback::DELIVERY_HEADER;
use statport_core::time::{ms_from_civil, HOUR_MS};
use tokio::sync::mpsc;

use crate::common::unique;
use crate::restart::{
    create_task, free_port, gen_logs, statport, task, wait_ready, write_config, Running,
};

/// What the receiver saw of one request: its delivery id.
type Seen = mpsc::UnboundedSender<Option<String>>;

/// A receiver whose first request never gets an answer (the sender is killed while it waits);
/// every later one is answered 200.
async fn hanging_receiver() -> (String, mpsc::UnboundedReceiver<Option<String>>) {
    async fn hook(
        State((seen, count)): State<(Seen, Arc<AtomicUsize>)>,
        headers: HeaderMap,
    ) -> StatusCode {
        let delivery = headers
            .get(DELIVERY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let _ = seen.send(delivery);
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        StatusCode::OK
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state((tx, Arc::new(AtomicUsize::new(0))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// Polls the task until `check` holds (bounded: 60 s).
async fn wait_task(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let t = task(http, base, key, id).await;
        if check(&t) {
            return t;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited for {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_in_flight_when_its_worker_is_killed_is_delivered_by_the_next_worker() {
    let dir = std::env::temp_dir().join(unique("statport-outbox"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let key = unique("key");
    let config = write_config(
        &dir,
        port,
        &key,
        "callback_secret = \"outbox-test-callback-secret\"\n",
        // A short request timeout: the lease of an attempt is twice that plus a second.
        "[callbacks]\nallow_private = true\ntimeout_ms = 1000\n",
    );
    let (hook, mut seen) = hanging_receiver().await;
    let http = reqwest::Client::new();
    let day = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date");
    gen_logs(&config, 1, 100);
    let base = format!("http://127.0.0.1:{port}");
    let _api = Running(statport(&config, &["api"]).spawn().expect("api"));
    let worker = Running(statport(&config, &["worker"]).spawn().expect("worker"));
    wait_ready(&http, &base).await;
    let id = create_task(
        &http,
        &base,
        &key,
        &json!({"domain_name": "all", "start_time": day, "end_time": day + HOUR_MS,
                      "interval": 3600, "export_format": "csv", "callback_url": hook}),
    )
    .await;

    // The end is recorded with its callback; the worker's attempt is in flight: kill it.
    let first = tokio::time::timeout(Duration::from_secs(60), seen.recv())
        .await
        .expect("the first attempt within a minute")
        .expect("a request");
    drop(worker);
    let pending = task(&http, &base, &key, &id).await;
    assert_eq!(pending["status"], "success", "{pending}");
    assert_eq!(pending["callback"]["state"], "pending", "{pending}");
    assert_eq!(
        pending["callback"]["attempts"], 0,
        "the cut attempt is not counted"
    );

    // A new worker process takes it over once the dead one's lease ran out.
    let _worker = Running(statport(&config, &["worker"]).spawn().expect("worker 2"));
    let second = tokio::time::timeout(Duration::from_secs(60), seen.recv())
        .await
        .expect("delivered again within a minute")
        .expect("a request");
    let done = wait_task(&http, &base, &key, &id, |t| {
        t["callback"]["state"] == "delivered"
    })
    .await;
    assert_eq!(done["callback"]["attempts"], 1, "{done}");
    assert_eq!(done["callback"]["last_status"], 200);
    let delivery_id = done["callback"]["delivery_id"].as_str().map(str::to_owned);
    assert!(delivery_id.is_some());
    assert_eq!(first, delivery_id, "the same delivery id on every attempt");
    assert_eq!(second, delivery_id);
    // Delivered: nothing more arrives.
    assert!(seen.try_recv().is_err(), "no third request");
    let _ = std::fs::remove_dir_all(&dir);
}
