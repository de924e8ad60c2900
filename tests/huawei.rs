//! End-to-end over Huawei CDN logs: generated Huawei files (both service areas, Beijing-time
//! names, lines in several zones, garbage lines) in the real S3 server, exports run through the
//! real Redis queue, every row compared with a sum over the generator's own records.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::Harness;
use serde_json::{json, Value};
use statport::genlogs::{GenSpec, GeneratedRecord};
use statport::launch::LaunchOptions;
use statport::services::object_store;
use statport_core::log::format::LogFormat;
use statport_core::time::{ms_from_civil, parse_rfc3339, HOUR_MS};

fn day_start() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("valid date")
}

/// Tenant `t1` reads Huawei logs.
async fn huawei_harness() -> Harness {
    Harness::start_with(
        |s| {
            if let Some(t1) = s.tenants.get_mut("t1") {
                t1.log_format = LogFormat::Huawei;
            }
        },
        LaunchOptions::default(),
    )
    .await
}

/// `(hour start, domain) → value` of the records `selected`, summed with `value`.
fn hourly_sums(
    records: &[GeneratedRecord],
    selected: impl Fn(&GeneratedRecord) -> bool,
    value: impl Fn(&GeneratedRecord) -> u64,
) -> BTreeMap<(i64, String), u64> {
    let mut sums = BTreeMap::new();
    for r in records.iter().filter(|r| selected(r)) {
        let hour = r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS);
        *sums.entry((hour, r.host.clone())).or_default() += value(r);
    }
    sums
}

/// The rows of a downloaded JSON export as `(time, domain) → column`.
async fn json_rows(h: &Harness, task: &Value, column: &str) -> BTreeMap<(i64, String), u64> {
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
    rows.iter()
        .map(|row| {
            let ts = parse_rfc3339(row["time"].as_str().expect("time")).expect("RFC 3339");
            let domain = row["domain"].as_str().unwrap_or_default().to_string();
            ((ts, domain), row[column].as_u64().expect("a count"))
        })
        .collect()
}

/// `want` with the zero rows `got` has for idle hours.
fn assert_rows_match(got: &BTreeMap<(i64, String), u64>, want: &BTreeMap<(i64, String), u64>) {
    for (key, value) in got {
        assert_eq!(*value, want.get(key).copied().unwrap_or(0), "{key:?}");
    }
    for (key, value) in want {
        assert_eq!(got.get(key), Some(value), "{key:?} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huawei_exports_match_an_independent_sum() {
    let h = huawei_harness().await;
    let (records, stats) = h
        .upload_logs(&GenSpec {
            seed: 19,
            start_ms: day_start(),
            hours: 4,
            lines_per_hour: 1_500,
            hosts: 6,
            bad_line_every: 97,
            format: LogFormat::Huawei,
            ..GenSpec::default()
        })
        .await;
    assert!(stats.bad_lines > 0);

    // The bucket holds Huawei names of both service areas, hours in Beijing time.
    let listed = object_store(&h.settings)
        .list(&h.log_bucket, "cf/")
        .await
        .expect("list the logs");
    assert_eq!(listed.len() as u64, stats.files);
    let names: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert!(names.iter().any(|n| n.ends_with("-cn.gz")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("-ov.gz")), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("cf/20261124")),
        "{names:?}"
    );
    // Beijing 08:00 is the first UTC hour of the day.
    assert!(names.iter().any(|n| n.starts_with("cf/2026112408-")));
    assert!(!names.iter().any(|n| n.starts_with("cf/2026112407-")));

    let end = day_start() + 4 * HOUR_MS;
    let in_range = |r: &GeneratedRecord| r.timestamp_ms >= day_start() && r.timestamp_ms < end;

    // 1. reports_detail, flux per domain and hour, every domain.
    let flux_task = h
        .submit(
            &json!({"domain_name": "all", "start_time": day_start(), "end_time": end,
                        "interval": 3600, "group_by": "domain", "stat_type": "flux",
                        "export_format": "json"}),
        )
        .await;
    // 2. origin_detail: bytes of the MISS lines per domain and hour.
    let origin_task = h
        .submit(
            &json!({"action": "origin_detail", "domain_name": "all", "group_by": "domain",
                        "start_time": day_start(), "end_time": end, "interval": 3600,
                        "export_format": "json"}),
        )
        .await;
    // 3. One domain over two inner hours: other domains' files are skipped unread, and the
    //    lines of those hours logged late in the next hour's file still count.
    let hosts: BTreeSet<&str> = records.iter().map(|r| r.host.as_str()).collect();
    let one = *hosts.iter().next().expect("a domain");
    let (inner_start, inner_end) = (day_start() + HOUR_MS, day_start() + 3 * HOUR_MS);
    let one_task = h
        .submit(
            &json!({"domain_name": one, "start_time": inner_start, "end_time": inner_end,
                        "interval": 3600, "group_by": "domain", "stat_type": "flux",
                        "export_format": "json"}),
        )
        .await;

    let task = h.wait_final(&flux_task).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(
        task["skipped_lines"], stats.bad_lines,
        "every garbage line is counted"
    );
    let want = hourly_sums(&records, in_range, |r| r.bytes);
    let got = json_rows(&h, &task, "flux").await;
    assert_eq!(got.len(), 4 * hosts.len(), "every hour for every domain");
    assert_rows_match(&got, &want);

    let task = h.wait_final(&origin_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let want = hourly_sums(&records, |r| in_range(r) && r.origin_fetch, |r| r.bytes);
    assert!(want.values().sum::<u64>() > 0);
    let got = json_rows(&h, &task, "origin_flux").await;
    assert_rows_match(&got, &want);

    let task = h.wait_final(&one_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let want = hourly_sums(
        &records,
        |r| r.host == one && r.timestamp_ms >= inner_start && r.timestamp_ms < inner_end,
        |r| r.bytes,
    );
    let got = json_rows(&h, &task, "flux").await;
    assert_eq!(got.len(), 2);
    assert_rows_match(&got, &want);
    // Only the chosen domain's files were read, of hours 1 to 4 (2 late hours after the end):
    // exactly its lines there, garbage included, which the whole-day task saw all of.
    let read = task["read_lines"].as_u64().expect("read_lines");
    let theirs = records
        .iter()
        .filter(|r| r.host == one && r.timestamp_ms >= inner_start)
        .count() as u64;
    assert!(read >= theirs, "{read} < {theirs}");
    assert!(read < (stats.records + stats.bad_lines) / 2, "{task}");

    h.stop().await;
}
