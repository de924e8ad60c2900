//! The tenant limits of the seeds over HTTP, against the real Redis: at most 5 unfinished tasks
//! (also when 20 arrive at once) and the same condition replacing a task.

use serde_json::json;
use statport::launch::LaunchOptions;
use statport_core::time::{ms_from_civil, HOUR_MS};

use crate::common::Harness;

fn day() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_at_once_exactly_five_accepted_and_the_same_condition_replaces() {
    // API only: no worker ends a task while the submissions race; a higher call rate than the
    // seeds' 20/s, so the 22 calls of this test are not rate-limited.
    let h = Harness::start_with(
        |s| {
            for t in s.tenants.values_mut() {
                t.limits.api_per_second = 100;
                t.limits.api_burst = 100;
            }
        },
        LaunchOptions {
            wait_ready: true,
            workers: false,
            scheduler: false,
        },
    )
    .await;
    let requests = (0..20).map(|i| {
        let body = json!({"domain_name": format!("d{i}.example.com"), "start_time": day(),
                          "end_time": day() + HOUR_MS, "interval": 3600});
        let h = &h;
        async move { h.submit_as(&h.key, &body).await }
    });
    let answers = futures::future::join_all(requests).await;
    let accepted: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    let refused: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, body)| body)
        .collect();
    assert_eq!((accepted.len(), refused.len()), (5, 15), "{answers:?}");
    assert!(refused
        .iter()
        .all(|b| b["error"]["error_code"] == "LimitExceeded.Export"));
    assert!(refused[0]["error"]["error_msg"]
        .as_str()
        .is_some_and(|m| m.contains("at most 5")));

    // The same condition again (start off the grid, same hour after normalizing): the existing
    // task takes it, 200 with its id, and nothing new is counted.
    let first_id = accepted[0]["task_id"].as_str().expect("id");
    let (status, body) = h
        .submit_as(
            &h.key,
            &json!({"domain_name": accepted_domain(accepted[0]), "start_time": day() + 60_000,
                    "end_time": day() + HOUR_MS - 60_000, "interval": 3600, "task_name": "again"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["task_id"], first_id);
    assert_eq!(body["task_name"], "again");
    let (_, page) = h
        .get_as(Some(&h.key), "/v1/cdn/statistics/export-tasks?limit=100")
        .await;
    assert_eq!(page["total"], 5);
    h.stop().await;
}

/// The domain a task was submitted with (its `condition.domains` as text).
fn accepted_domain(task: &serde_json::Value) -> String {
    task["condition"]["domains"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("condition.domains as text: {task}"))
}
