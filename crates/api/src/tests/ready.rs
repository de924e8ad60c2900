//! `/readyz` needs no key: it says `ok`, `unavailable` or `not checked yet` per dependency and
//! never the error text of a probe (hosts, buckets, URLs with credentials).

use super::*;

/// The status and JSON body of `GET /readyz`, with the raw body text.
async fn readyz(state: &AppState) -> (StatusCode, Value, String) {
    let (status, body) = call(state, "GET", "/readyz", None, None).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    (status, as_json(&body), text)
}

#[tokio::test]
async fn readyz_answers_coarse_states_and_never_the_error_text() {
    let f = fixture().await;
    let r = &f.state.readiness;
    let (status, body, _) = readyz(&f.state).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"ready": false, "task_store": "not checked yet", "object_store": "not checked yet"})
    );

    let redis_error = "status store request failed: redis://app:hunter2@10.1.2.3:6379/: Connection refused (os error 111)";
    let s3_error = "result bucket 'results': head bucket s3://results: dispatch failure: io error: tcp connect error";
    r.record_task_store(Err(redis_error.into()));
    r.record_object_store(Err(s3_error.into()));
    let (status, body, text) = readyz(&f.state).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"ready": false, "task_store": "unavailable", "object_store": "unavailable"})
    );
    for secret in [
        "hunter2",
        "10.1.2.3",
        "Connection refused",
        "s3://results",
        "dispatch failure",
        "redacted",
    ] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }

    r.record_task_store(Ok(()));
    r.record_object_store(Ok(()));
    let (status, body, _) = readyz(&f.state).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ready": true, "task_store": "ok", "object_store": "ok"})
    );
}
