//! `callback_url` at submission: refused without the tenant's callback secret, checked against
//! the address policy, the same for a schedule's task template.

use super::*;

fn with_callbacks(mut f: Fixture, allow_private: bool) -> Fixture {
    f.state.submitter.deployment.callback_policy = AddressPolicy { allow_private };
    f.tenant("t1", |t| {
        t.callback_secret = CallbackSecret::new("a receiver's shared secret");
    });
    f
}

fn body_with(url: &str) -> Value {
    let mut body = valid_body();
    body["callback_url"] = json!(url);
    body
}

#[tokio::test]
async fn a_signed_tenant_gets_its_callback_and_an_unsigned_one_a_clear_refusal() {
    let f = with_callbacks(fixture().await, false);
    let path = "/v1/cdn/statistics/export-tasks";
    let (status, body) = call(
        &f.state,
        "POST",
        path,
        Some("k1"),
        Some(body_with("https://hooks.example.com/done")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&body));
    assert_eq!(
        as_json(&body)["condition"]["callback_url"],
        "https://hooks.example.com/done"
    );
    // A private address named literally: refused at submission.
    let (status, headers, body) = send(
        &f.state,
        "POST",
        path,
        Some("k1"),
        Body::from(body_with("http://10.0.0.7/done").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&headers, &body), "InvalidParameter");
    // t2 has no callback secret.
    let (status, headers, body) = send(
        &f.state,
        "POST",
        path,
        Some("k2"),
        Body::from(body_with("https://hooks.example.com/done").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&headers, &body),
        "StatPort.CallbackNotConfigured"
    );
    // A schedule's template goes through the same validation.
    let mut template = body_with("https://hooks.example.com/done");
    let template_obj = template.as_object_mut().expect("object");
    template_obj.remove("start_time");
    template_obj.remove("end_time");
    let schedule = json!({"name": "daily", "cron": "0 1 * * *", "time_zone": "UTC",
        "window": {"unit": "day", "count": 1}, "task": template});
    let (status, headers, body) = send(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-schedules",
        Some("k2"),
        Body::from(schedule.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&headers, &body),
        "StatPort.CallbackNotConfigured"
    );
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-schedules",
        Some("k1"),
        Some(schedule),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&body));
}

#[tokio::test]
async fn the_operator_may_allow_private_destinations() {
    let f = with_callbacks(fixture().await, true);
    let (status, body) = call(
        &f.state,
        "POST",
        "/v1/cdn/statistics/export-tasks",
        Some("k1"),
        Some(body_with("http://127.0.0.1:9/done")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&body));
}
