//! Recurring exports end to end, on whichever backend the run uses: schedules over HTTP, three
//! schedulers (each with its own connections to the store) ticking at once under one manual
//! clock create exactly one task per fire time with the right window, and the task runs;
//! catch-up after downtime; a run that cannot create its task is recorded on the schedule.

use std::sync::Arc;

use serde_json::{json, Value};
use statport::genlogs::GenSpec;
use statport::launch::LaunchOptions;
use statport::services::{object_store, Services};
use statport_core::time::clock::{Clock, ManualClock, SystemClock};
use statport_core::time::{DAY_MS, HOUR_MS};
use statport_scheduler::Scheduler;

use crate::common::Harness;

const SCHEDULES: &str = "/v1/cdn/statistics/export-schedules";

/// API and workers, no scheduler of its own: the test's schedulers tick under a manual clock.
async fn harness() -> Harness {
    Harness::start_with(
        |_| {},
        LaunchOptions {
            scheduler: false,
            ..LaunchOptions::default()
        },
    )
    .await
}

async fn post(h: &Harness, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = h
        .http
        .post(format!("{}{path}", h.base))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("POST reaches the API");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Three schedulers, each over its own connections (its own `Services`), sharing `clock`.
async fn schedulers(h: &Harness, clock: &Arc<ManualClock>) -> Vec<Scheduler> {
    let mut all = Vec::new();
    for i in 0..3 {
        let services = Services::connect(h.settings.clone())
            .await
            .expect("connect");
        let mut scheduler = services.scheduler().expect("scheduler");
        scheduler.submitter.clock = clock.clone();
        scheduler.owner = format!("test-scheduler-{i}");
        all.push(scheduler);
    }
    all
}

/// All three tick at once; returns the tasks created in total.
async fn tick_all(schedulers: &[Scheduler]) -> usize {
    let ticks = schedulers.iter().map(Scheduler::tick);
    futures::future::join_all(ticks)
        .await
        .into_iter()
        .map(|r| r.expect("tick").created)
        .sum()
}

async fn tasks(h: &Harness) -> Vec<Value> {
    let (status, page) = h
        .get_as(Some(&h.key), "/v1/cdn/statistics/export-tasks?limit=100")
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_schedulers_create_exactly_one_task_per_fire_time_with_its_window() {
    let h = harness().await;
    let now = SystemClock.now_ms();
    let hour = now - now.rem_euclid(HOUR_MS);
    // Logs for the two hours the runs will export.
    let (records, _) = h
        .upload_logs(&GenSpec {
            seed: 5,
            start_ms: hour,
            hours: 3,
            lines_per_hour: 300,
            hosts: 4,
            ..GenSpec::default()
        })
        .await;

    let (status, schedule) = post(
        &h,
        &h.key,
        SCHEDULES,
        &json!({"name": "hourly", "cron": "0 * * * *", "time_zone": "UTC",
                "window": {"unit": "hour", "count": 1},
                "task": {"domain_name": "all", "interval": 3600, "export_format": "json"}}),
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    let id = schedule["schedule_id"].as_str().expect("id").to_owned();
    let next = schedule["next_runs"].as_array().expect("next_runs");
    assert_eq!(next.len(), 5, "{schedule}");
    assert_eq!(next[0]["fire_time"], hour + HOUR_MS);
    assert_eq!(next[0]["start_time"], hour);
    assert_eq!(next[0]["end_time"], hour + HOUR_MS);
    assert_eq!(next[1]["fire_time"], hour + 2 * HOUR_MS);

    let clock = Arc::new(ManualClock::new(now));
    let schedulers = schedulers(&h, &clock).await;
    assert_eq!(
        tick_all(&schedulers).await,
        0,
        "nothing is due before the first fire time"
    );
    for round in 1..=2 {
        clock.set(hour + round * HOUR_MS + 1_000);
        assert_eq!(
            tick_all(&schedulers).await,
            1,
            "round {round}: one task per fire time"
        );
        // Ticking again in the same hour creates nothing more.
        assert_eq!(tick_all(&schedulers).await, 0);
    }
    let created = tasks(&h).await;
    assert_eq!(created.len(), 2, "{created:?}");
    let mut ranges: Vec<(i64, i64)> = created
        .iter()
        .map(|t| {
            (
                t["condition"]["range_start"].as_i64().expect("start"),
                t["condition"]["range_end"].as_i64().expect("end"),
            )
        })
        .collect();
    ranges.sort_unstable();
    assert_eq!(
        ranges,
        [(hour, hour + HOUR_MS), (hour + HOUR_MS, hour + 2 * HOUR_MS)]
    );

    // The schedule lists both runs with their tasks; the first task's numbers are right.
    let (_, detail) = h.get_as(Some(&h.key), &format!("{SCHEDULES}/{id}")).await;
    let runs = detail["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{detail}");
    assert!(runs.iter().all(|r| r["state"] == "created"), "{detail}");
    assert_eq!(detail["last_fire_time"], hour + 2 * HOUR_MS);
    let first = runs
        .iter()
        .find(|r| r["fire_time"] == hour + HOUR_MS)
        .expect("the first run");
    let task = h
        .wait_final(first["task_id"].as_str().expect("task id"))
        .await;
    assert_eq!(task["status"], "success", "{task}");
    let want: u64 = records
        .iter()
        .filter(|r| r.timestamp_ms >= hour && r.timestamp_ms < hour + HOUR_MS)
        .map(|r| r.bytes)
        .sum();
    let (_, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("JSON rows");
    let got: u64 = rows.iter().map(|r| r["flux"].as_u64().expect("flux")).sum();
    assert_eq!(got, want);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downtime_runs_the_latest_missed_fire_time_once_and_counts_the_rest() {
    let h = harness().await;
    object_store(&h.settings)
        .ensure_bucket(&h.log_bucket)
        .await
        .expect("the log bucket");
    let now = SystemClock.now_ms();
    let (status, schedule) = post(
        &h,
        &h.key,
        SCHEDULES,
        &json!({"name": "daily", "cron": "0 1 * * *", "time_zone": "Asia/Shanghai",
                "window": {"unit": "day", "count": 1, "time_zone": "+08:00"},
                "task": {"domain_name": "all", "granularity": "daily+8"}}),
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    let id = schedule["schedule_id"].as_str().expect("id").to_owned();
    let first_fire = schedule["next_runs"][0]["fire_time"]
        .as_i64()
        .expect("fire time");
    // 01:00 in Shanghai is 17:00 UTC.
    assert_eq!(first_fire.rem_euclid(DAY_MS), 17 * HOUR_MS);
    let clock = Arc::new(ManualClock::new(now));
    let schedulers = schedulers(&h, &clock).await;
    // Everything was down for the first three fire times; then the schedulers come back.
    clock.set(first_fire + 2 * DAY_MS + 5 * 60_000);
    let created = tick_all(&schedulers).await;
    let (_, detail) = h.get_as(Some(&h.key), &format!("{SCHEDULES}/{id}")).await;
    assert_eq!(
        created, 1,
        "only the latest missed fire time runs: {detail}"
    );
    assert_eq!(detail["skipped_fires"], 2, "{detail}");
    assert_eq!(detail["runs"].as_array().map(Vec::len), Some(1));
    let latest = first_fire + 2 * DAY_MS;
    assert_eq!(detail["runs"][0]["fire_time"], latest);
    // Its task exports the previous day in UTC+8: [16:00 UTC two days before, 16:00 UTC the day
    // before the fire time).
    let task_id = detail["runs"][0]["task_id"].as_str().expect("task");
    let (_, task) = h
        .get_as(
            Some(&h.key),
            &format!("/v1/cdn/statistics/export-tasks/{task_id}"),
        )
        .await;
    let day_end = latest - HOUR_MS; // 16:00 UTC = 00:00 +08:00 of the fire day
    assert_eq!(task["condition"]["range_end"], day_end, "{task}");
    assert_eq!(task["condition"]["range_start"], day_end - DAY_MS);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_cannot_create_its_task_is_recorded_and_pause_resume_delete_work() {
    let h = harness().await;
    let now = SystemClock.now_ms();
    let hour = now - now.rem_euclid(HOUR_MS);
    // Bad requests name what is wrong.
    let body = |cron: &str, task: Value| json!({"name": "n", "cron": cron, "window": {"unit": "hour", "count": 1}, "task": task});
    let (status, answer) = post(
        &h,
        &h.key,
        SCHEDULES,
        &body("61 * * * *", json!({"domain_name": "all"})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("cron")),
        "{answer}"
    );
    let (status, answer) = post(
        &h,
        &h.key,
        SCHEDULES,
        &body("0 * * * *", json!({"domain_name": "not a host"})),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (400, Some("InvalidHostnames")),
        "{answer}"
    );
    let (status, answer) = post(
        &h,
        &h.key,
        SCHEDULES,
        &body("0 * * * *", json!({"domain_name": "all", "start_time": 1})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Tenant t2's log bucket does not exist: its run is refused and says why on the schedule.
    let (status, schedule) = post(
        &h,
        &h.other_key,
        SCHEDULES,
        &body("0 * * * *", json!({"domain_name": "all", "interval": 300})),
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    let id = schedule["schedule_id"].as_str().expect("id").to_owned();
    let clock = Arc::new(ManualClock::new(now));
    let schedulers = schedulers(&h, &clock).await;
    clock.set(hour + HOUR_MS + 1_000);
    assert_eq!(tick_all(&schedulers).await, 0);
    let (_, detail) = h
        .get_as(Some(&h.other_key), &format!("{SCHEDULES}/{id}"))
        .await;
    assert_eq!(
        detail["last_error"]["error_code"], "StatPort.LogBucketNotFound",
        "{detail}"
    );
    assert_eq!(detail["runs"][0]["state"], "refused");
    // Other tenants don't see it.
    let (status, _) = h.get_as(Some(&h.key), &format!("{SCHEDULES}/{id}")).await;
    assert_eq!(status, 404);

    // Paused, the next fire time passes without a run; resumed, the one after runs again.
    let (status, paused) = post(
        &h,
        &h.other_key,
        &format!("{SCHEDULES}/{id}/pause"),
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, paused["paused"].as_bool()),
        (200, Some(true)),
        "{paused}"
    );
    assert_eq!(paused["next_runs"].as_array().map(Vec::len), Some(0));
    clock.set(hour + 2 * HOUR_MS + 1_000);
    tick_all(&schedulers).await;
    let (_, detail) = h
        .get_as(Some(&h.other_key), &format!("{SCHEDULES}/{id}"))
        .await;
    assert_eq!(detail["runs"].as_array().map(Vec::len), Some(1), "{detail}");
    let (status, _) = post(
        &h,
        &h.other_key,
        &format!("{SCHEDULES}/{id}/resume"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = h.get_as(Some(&h.other_key), SCHEDULES).await;
    assert_eq!(list["total"], 1);

    let response = h
        .http
        .delete(format!("{}{SCHEDULES}/{id}", h.base))
        .bearer_auth(&h.other_key)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status().as_u16(), 204);
    let (status, answer) = h
        .get_as(Some(&h.other_key), &format!("{SCHEDULES}/{id}"))
        .await;
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (404, Some("StatPort.ScheduleNotFound"))
    );
    h.stop().await;
}
