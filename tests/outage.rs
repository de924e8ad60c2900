//! Outages and starts while a dependency is away: the service keeps running, says it is not
//! ready, refuses writes at once with the JSON error body, and works when the dependency
//! returns. Redis and S3 sit behind relays the test cuts and restores (see `common::relay`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use statport::genlogs::GenSpec;
use statport_core::time::{ms_from_civil, HOUR_MS};

use crate::common::relay::Relay;
use crate::common::Harness;
use statport::launch::LaunchOptions;

fn target(url: &str, default: &str) -> SocketAddr {
    let hostport = url
        .trim_start_matches("redis://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    hostport
        .parse()
        .unwrap_or_else(|_| default.parse().expect("default address"))
}

/// Polls `/readyz` until it says `ready` (bounded).
async fn wait_readyz(h: &Harness, ready: bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = h.get_as(None, "/readyz").await;
        if (status == 200) == ready {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz did not become {ready}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn started_while_redis_and_s3_are_down_it_waits_then_works() {
    let redis = Relay::start(
        target(
            &std::env::var("REDIS_URL").unwrap_or_default(),
            "127.0.0.1:6379",
        ),
        false,
    )
    .await;
    let s3 = Relay::start(
        target(
            &std::env::var("S3_ENDPOINT").unwrap_or_default(),
            "127.0.0.1:9000",
        ),
        false,
    )
    .await;
    let (redis_addr, s3_addr) = (redis.addr, s3.addr);
    let h = Harness::start_with(
        move |s| {
            s.redis.url = format!("redis://{redis_addr}/");
            s.s3.endpoint = format!("http://{s3_addr}");
        },
        LaunchOptions {
            wait_ready: false,
            workers: true,
            scheduler: false,
        },
    )
    .await;

    // Running, not ready, and a write is refused at once with the error body.
    let body = wait_readyz(&h, false).await;
    assert_eq!(body["ready"], false, "{body}");
    let day = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date");
    let request = json!({"domain_name": "all", "start_time": day, "end_time": day + 2 * HOUR_MS, "interval": 3600});
    let started = Instant::now();
    let (status, body) = h.submit_as(&h.key, &request).await;
    eprintln!(
        "create while Redis is down: {status} in {:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["error_code"], "StatPort.ServiceUnavailable");

    // Both come back: ready, and a task runs to the end.
    redis.set_up(true);
    s3.set_up(true);
    wait_readyz(&h, true).await;
    h.upload_logs(&GenSpec {
        seed: 5,
        start_ms: day,
        hours: 2,
        lines_per_hour: 100,
        ..GenSpec::default()
    })
    .await;
    let id = h.submit(&request).await;
    let task = h.wait_final(&id).await;
    assert_eq!(task["status"], "success", "{task}");

    // Redis goes away again: not ready within the probe period, writes refused at once.
    redis.set_up(false);
    wait_readyz(&h, false).await;
    let started = Instant::now();
    let (status, body) = h
        .submit_as(&h.key, &json!({"domain_name": "b.example.com", "start_time": day, "end_time": day + HOUR_MS, "interval": 3600}))
        .await;
    eprintln!(
        "create after Redis went away: {status} in {:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    redis.set_up(true);
    wait_readyz(&h, true).await;
    h.stop().await;
}
