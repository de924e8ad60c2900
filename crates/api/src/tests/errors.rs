//! Responses axum makes itself (405, 413, rejections) and the URI limit carry our JSON body.

use axum::http::header::{ALLOW, RETRY_AFTER};
use axum::response::IntoResponse;

use super::*;
use crate::error::{json_errors, MAX_URI_BYTES};

const TASKS: &str = "/v1/cdn/statistics/export-tasks";

#[tokio::test]
async fn method_not_allowed_is_json_and_keeps_allow() {
    let f = fixture().await;
    let (status, headers, body) = send(&f.state, "PUT", TASKS, Some("k1"), Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&headers, &body), "StatPort.MethodNotAllowed");
    let allow = headers
        .get(ALLOW)
        .and_then(|v| v.to_str().ok())
        .expect("Allow");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(as_json(&body)["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("POST")));
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let f = fixture().await;
    let big = Body::from(vec![b' '; 1 << 20]);
    let (status, headers, body) = send(&f.state, "POST", TASKS, Some("k1"), big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&headers, &body), "StatPort.PayloadTooLarge");
    assert!(f.queue.0.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_long_request_target_is_refused_with_414_before_auth() {
    let f = fixture().await;
    let long = format!("{TASKS}?task_name={}", "a".repeat(10 * 1024));
    let (status, headers, body) = send(&f.state, "GET", &long, None, Body::empty()).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(error_code(&headers, &body), "StatPort.UriTooLong");
    // exactly at the limit passes on to authentication
    let prefix = format!("{TASKS}?task_name=");
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_URI_BYTES - prefix.len()));
    let (status, _, _) = send(&f.state, "GET", &at_limit, None, Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_paths_and_bad_parameters_are_json() {
    let f = fixture().await;
    let (status, headers, body) = send(&f.state, "GET", "/nope", None, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&headers, &body), "StatPort.NotFound");
    let (status, headers, body) = send(
        &f.state,
        "GET",
        &format!("{TASKS}?limit=abc"),
        Some("k1"),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&headers, &body), "InvalidParameter");
    // axum's own `Path` rejection (a task id that is not UTF-8)
    let (status, headers, body) = send(
        &f.state,
        "GET",
        &format!("{TASKS}/%FF"),
        Some("k1"),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&headers, &body), "InvalidParameter");
    assert!(as_json(&body)["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("UTF-8")));
}

#[tokio::test]
async fn successes_and_json_errors_pass_through_unchanged() {
    let f = fixture().await;
    let (status, headers, body) = send(&f.state, "GET", "/metrics", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain")));
    assert!(String::from_utf8_lossy(&body).contains("statport_downloads_total"));
    let ours = crate::error::Failure::new(ErrorCode::TaskNotFound, "there is no task 'x'");
    let response = json_errors(ours.into_response()).await;
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    assert_eq!(
        as_json(&bytes)["error"]["error_msg"],
        "there is no task 'x'"
    );
}

#[tokio::test]
async fn plain_server_errors_get_a_code_and_keep_their_headers() {
    let plain = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(RETRY_AFTER, "5")],
        "redis: connection refused at 10.0.0.3",
    )
        .into_response();
    let response = json_errors(plain).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers().clone();
    assert_eq!(
        headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    assert_eq!(error_code(&headers, &bytes), "StatPort.ServiceUnavailable");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("10.0.0.3"),
        "internal details stay out of 5xx bodies"
    );
    let response = json_errors(StatusCode::INTERNAL_SERVER_ERROR.into_response()).await;
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    assert_eq!(error_code(&headers, &bytes), "StatPort.InternalError");
}
