//! Geography filters and `isp_detail` against the deployment's IP database (or its absence).

use super::*;

const TASKS: &str = "/v1/cdn/statistics/export-tasks";

fn body_with(key: &str, value: &str) -> Value {
    let mut body = valid_body();
    body[key] = json!(value);
    body
}

#[tokio::test]
async fn without_a_database_geography_is_a_400_with_its_own_code() {
    let f = fixture().await;
    for (key, value, field) in [
        ("action", "isp_detail", "isp_detail"),
        ("country", "CN", "'country'"),
        ("province", "Guangdong", "'province'"),
        ("isp", "China Telecom", "'isp'"),
        ("service_area", "mainland_china", "'service_area'"),
    ] {
        let (status, body) = call(
            &f.state,
            "POST",
            TASKS,
            Some("k1"),
            Some(body_with(key, value)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}");
        let error = &as_json(&body)["error"];
        assert_eq!(
            error["error_code"], "StatPort.IpDatabaseNotConfigured",
            "{key}"
        );
        assert!(
            error["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{key}: {error}"
        );
    }
    assert!(f.queue.0.lock().expect("lock").is_empty(), "nothing queued");
    // `all` / `global` need no database.
    let (status, _) = call(
        &f.state,
        "POST",
        TASKS,
        Some("k1"),
        Some(body_with("country", "all")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn logs_that_state_their_area_need_no_database_for_service_area() {
    let f = fixture().await;
    // t2's logs are Huawei's: the file name states the area.
    let (status, body) = call(
        &f.state,
        "POST",
        TASKS,
        Some("k2"),
        Some(body_with("service_area", "outside_mainland_china")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&body));
    let (status, body) = call(
        &f.state,
        "POST",
        TASKS,
        Some("k2"),
        Some(body_with("country", "CN")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        as_json(&body)["error"]["error_code"],
        "StatPort.IpDatabaseNotConfigured"
    );
}

#[tokio::test]
async fn with_a_database_the_filters_are_accepted_and_validated() {
    let mut f = fixture().await;
    f.state.submitter.deployment.ip_database = true;
    let mut body = body_with("action", "isp_detail");
    body["country"] = json!("cn,us");
    body["service_area"] = json!("mainland_china");
    let (status, created) = call(&f.state, "POST", TASKS, Some("k1"), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&created));
    let (status, body) = call(
        &f.state,
        "POST",
        TASKS,
        Some("k1"),
        Some(body_with("country", "China")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = &as_json(&body)["error"];
    assert_eq!(error["error_code"], "InvalidParameter");
    assert!(error["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("'country'")));
}
