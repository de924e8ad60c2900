//! Per-tenant rate limits through the router: 429 with `Retry-After` and the JSON body.

use axum::http::header::{CONTENT_DISPOSITION, RETRY_AFTER};
use statport_access::{RateLimiter, RedisRateLimiter};
use statport_core::tenant::TenantLimits;

use super::*;
use statport_core::tenant::Rate;

const TASKS: &str = "/v1/cdn/statistics/export-tasks";

async fn list(state: &AppState, key: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    send(state, "GET", TASKS, Some(key), Body::empty()).await
}

fn retry_after(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_21st_api_call_in_a_burst_gets_429() {
    let f = fixture().await;
    for i in 0..20 {
        assert_eq!(list(&f.state, "k1").await.0, StatusCode::OK, "call {i}");
    }
    let (status, headers, body) = list(&f.state, "k1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&headers), Some("1"), "50 ms rounds up to 1 s");
    assert_eq!(error_code(&headers, &body), "StatPort.TooManyRequests");
    assert!(as_json(&body)["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("20 per second")));
    assert_eq!(
        list(&f.state, "k2").await.0,
        StatusCode::OK,
        "another tenant has its own budget"
    );
    f.clock.advance(50);
    assert_eq!(list(&f.state, "k1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unauthenticated_calls_do_not_count_and_limits_are_per_tenant() {
    let mut f = fixture().await;
    let strict = TenantLimits {
        api_per_second: 2,
        api_burst: 2,
        ..TenantLimits::DEFAULT
    };
    f.tenant("t1", |t| t.limits = strict);
    for _ in 0..5 {
        assert_eq!(list(&f.state, "wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(list(&f.state, "k1").await.0, StatusCode::OK);
    assert_eq!(list(&f.state, "k1").await.0, StatusCode::OK);
    let (status, headers, _) = list(&f.state, "k1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&headers), Some("1"));
    for _ in 0..3 {
        assert_eq!(
            list(&f.state, "k2").await.0,
            StatusCode::OK,
            "t2 keeps the defaults"
        );
    }
}

#[tokio::test]
async fn one_download_per_30_seconds_and_invalid_links_do_not_count() {
    let f = fixture().await;
    let path = finished_task(&f.state, "流量报表").await;
    let forged = format!("{}0", path);
    assert_eq!(
        send(&f.state, "GET", &forged, None, Body::empty()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, headers, _) = send(&f.state, "GET", &path, None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok()),
        Some("attachment; filename=\"export.csv\"; filename*=UTF-8''%E6%B5%81%E9%87%8F%E6%8A%A5%E8%A1%A8.csv")
    );
    f.clock.advance(10_000);
    let (status, headers, body) = send(&f.state, "GET", &path, None, Body::empty()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&headers), Some("20"));
    assert_eq!(error_code(&headers, &body), "StatPort.TooManyRequests");
    assert!(as_json(&body)["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("one every 30 s")));
    f.clock.advance(20_000);
    assert_eq!(
        send(&f.state, "GET", &path, None, Body::empty()).await.0,
        StatusCode::OK
    );
}

/// A limiter whose store is down.
#[derive(Debug)]
struct Unreachable;

#[async_trait]
impl RateLimiter for Unreachable {
    async fn check(
        &self,
        _key: &str,
        _rate: Rate,
        _now_ms: i64,
    ) -> Result<statport_access::Decision, statport_access::LimiterError> {
        Err(statport_access::LimiterError("connection refused".into()))
    }
}

#[tokio::test]
async fn an_unreachable_limiter_fails_open() {
    let mut f = fixture().await;
    f.state.rate_limiter = Arc::new(Unreachable);
    for i in 0..30 {
        assert_eq!(list(&f.state, "k1").await.0, StatusCode::OK, "call {i}");
    }
}

#[tokio::test]
async fn api_processes_sharing_redis_share_the_limit() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    // the keys expire by themselves within two seconds, so nothing needs cleaning up
    let namespace = format!("statport-test-{}", uuid::Uuid::new_v4().simple());
    let mut processes = Vec::new();
    for _ in 0..2 {
        let mut f = fixture().await;
        let limiter = RedisRateLimiter::connect(&url, &namespace)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} must be reachable: {e}"));
        f.state.rate_limiter = Arc::new(limiter);
        processes.push(f);
    }
    for i in 0..20 {
        let (status, _, _) = list(&processes[i % 2].state, "k1").await;
        assert_eq!(status, StatusCode::OK, "call {i}");
    }
    for f in &processes {
        let (status, headers, _) = list(&f.state, "k1").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&headers), Some("1"));
    }
}
