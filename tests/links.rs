//! Download links across processes, with no `links.secret` configured: the key is generated
//! once and kept in the task store, so a link signed by a worker process (in a completion
//! callback) or by one API process downloads through any other API process.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};
use statport_core::time::{ms_from_civil, HOUR_MS};
use tokio::sync::mpsc;

use crate::common::unique;
use crate::restart::{
    create_task, free_port, gen_logs, statport, task, wait_ready, write_config, Running,
};

/// A callback receiver on 127.0.0.1 that hands every body it gets to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
    async fn hook(State(tx): State<mpsc::UnboundedSender<Vec<u8>>>, body: Bytes) -> StatusCode {
        let _ = tx.send(body.to_vec());
        StatusCode::OK
    }
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// Downloads `link`, waiting out the tenant's download limit when it answers 429 (the wait is
/// the `Retry-After` the API gives, not a guess).
async fn download(http: &reqwest::Client, link: &str) -> (u16, String) {
    loop {
        let response = http.get(link).send().await.expect("download");
        let status = response.status().as_u16();
        if status == 429 {
            let secs = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a Retry-After on 429");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            continue;
        }
        return (status, response.text().await.expect("body"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_signed_by_a_worker_or_another_api_process_download_everywhere() {
    let dir = std::env::temp_dir().join(unique("statport-links"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (port_a, port_b) = (free_port(), free_port());
    let key = unique("key");
    let config = write_config(
        &dir,
        port_a,
        &key,
        "callback_secret = \"links-test-callback-secret\"\n",
        "[tenants.r.limits]\ndownload_interval_secs = 1\n[callbacks]\nallow_private = true\n",
    );
    let (hook, mut bodies) = receiver().await;
    let http = reqwest::Client::new();
    let day = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date");
    gen_logs(&config, 1, 200);

    // Three processes: two APIs and a worker, none of them configured with a link secret.
    let a = format!("http://127.0.0.1:{port_a}");
    let b = format!("http://127.0.0.1:{port_b}");
    let _api_a = Running(statport(&config, &["api"]).spawn().expect("api a"));
    let listen_b = format!("127.0.0.1:{port_b}");
    let _api_b = Running(
        statport(&config, &["api", "--listen", &listen_b])
            .spawn()
            .expect("api b"),
    );
    let _worker = Running(statport(&config, &["worker"]).spawn().expect("worker"));
    wait_ready(&http, &a).await;
    wait_ready(&http, &b).await;

    let id = create_task(
        &http,
        &a,
        &key,
        &json!({"domain_name": "all", "start_time": day, "end_time": day + HOUR_MS,
                      "interval": 3600, "export_format": "csv", "callback_url": hook}),
    )
    .await;

    // The worker process signs the link of its callback; API process b serves it.
    let body = tokio::time::timeout(Duration::from_secs(120), bodies.recv())
        .await
        .expect("the callback within 2 minutes")
        .expect("a body");
    let ended: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(ended["status"], "success", "{ended}");
    let from_worker = ended["download_link"].as_str().expect("a link").to_owned();
    assert!(from_worker.starts_with(&a), "{from_worker}");
    let (status, csv) = download(&http, &from_worker.replacen(&a, &b, 1)).await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.lines().count() > 1, "{csv}");

    // A link read from b downloads through a.
    let seen = task(&http, &b, &key, &id).await;
    let from_b = seen["download_link"].as_str().expect("a link").to_owned();
    let (status, again) = download(&http, &from_b).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, csv);

    // A tampered signature is still refused everywhere.
    let forged = format!("{}0", &from_b[..from_b.len() - 1]);
    let forged = if forged == from_b {
        format!("{}1", &from_b[..from_b.len() - 1])
    } else {
        forged
    };
    let (status, refused) = download(&http, &forged).await;
    assert_eq!(status, 403, "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}
