//! The schedule object over HTTP: a failure the scheduler recorded on a schedule is shown on it
//! (read and listed) until a run of it is recorded.

use super::*;

const SCHEDULES: &str = "/v1/cdn/statistics/export-schedules";

#[tokio::test]
async fn a_recorded_failure_is_shown_on_the_schedule_until_a_run_is_recorded() {
    let f = fixture().await;
    let body = json!({"name": "hourly", "cron": "0 * * * *", "window": {"unit": "hour"},
                      "task": {"domain_name": "www.example.com", "interval": 3600}});
    let (status, created) = call(&f.state, "POST", SCHEDULES, Some("k1"), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", as_json(&created));
    let created = as_json(&created);
    assert!(created.get("last_failure").is_none(), "{created}");
    let id = created["schedule_id"].as_str().expect("id").to_owned();
    let path = format!("{SCHEDULES}/{id}");

    let message = "the scheduler could not handle this schedule: the schedule store could not be reached; it tries again at its next tick";
    for at in [NOW + 1_000, NOW + 2_000] {
        assert!(f
            .state
            .schedules
            .record_failure("t1", &id, at, message)
            .await
            .expect("record"));
    }
    let expected = json!({"at": NOW + 2_000, "message": message, "consecutive": 2});
    let (status, detail) = call(&f.state, "GET", &path, Some("k1"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(as_json(&detail)["last_failure"], expected);
    let (_, listed) = call(&f.state, "GET", SCHEDULES, Some("k1"), None).await;
    assert_eq!(as_json(&listed)["data"][0]["last_failure"], expected);

    // The scheduler then makes the run: the failure is gone from the answer.
    let fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    let store = &f.state.schedules;
    let claim = store
        .claim_fire("t1", &id, fire, "s", fire, 60_000)
        .await
        .expect("claim");
    assert_eq!(claim, statport_records::FireClaim::Claimed);
    let result = statport_records::FireResult::Created {
        task_id: "x".into(),
    };
    assert!(store
        .complete_fire("t1", &id, fire, "s", result, fire + 1)
        .await
        .expect("complete"));
    let (_, detail) = call(&f.state, "GET", &path, Some("k1"), None).await;
    let detail = as_json(&detail);
    assert!(detail.get("last_failure").is_none(), "{detail}");
    assert_eq!(detail["runs"][0]["state"], "created", "{detail}");
}
