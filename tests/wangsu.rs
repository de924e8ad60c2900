//! The Wangsu origin-volume report (`POST /cdn/report/volOrigin`) over HTTP, against the real
//! Redis and S3: every point equals an independent sum over the generator's records (not
//! through statport's parser), with `daily+8` and `hourly`, wildcard hostnames and server groups;
//! and a report over the byte bound is refused with a pointer to export tasks.

use serde_json::Value;
use statport::genlogs::{GenSpec, GeneratedRecord, Generator};
use statport::launch::LaunchOptions;
use statport_core::time::{format_rfc3339, ms_from_civil, DAY_MS, HOUR_MS};

use crate::common::Harness;

/// 2026-11-23T08:00Z: 48 hourly files, enough for the UTC+8 days of 2026-11-24 and 25 and their
/// late hours.
fn spec() -> GenSpec {
    GenSpec {
        seed: 23,
        start_ms: ms_from_civil(2026, 11, 23, 8, 0, 0).expect("date"),
        hours: 48,
        lines_per_hour: 400,
        hosts: 8,
        bad_line_every: 97,
        ..GenSpec::default()
    }
}

/// `POST` the report as `key`; status and JSON body.
async fn report(h: &Harness, key: &str, query: &str, body: &str) -> (u16, Value) {
    // The query string is sent as written: `type=daily+8` arrives with a raw `+`.
    let response = h
        .http
        .post(format!("{}/cdn/report/volOrigin?{query}", h.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST reaches the API");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// `(timestamp, megabytes)` of every point, checking the seed's envelope.
fn series(body: &Value) -> Vec<(String, f64)> {
    assert_eq!(body["dataName"], "origin response volume", "{body}");
    assert_eq!(body["dataUnit"], "megabytes");
    body["dataSeries"]
        .as_array()
        .expect("dataSeries")
        .iter()
        .map(|p| {
            (
                p["timestamp"].as_str().expect("timestamp").to_owned(),
                p["data"].as_f64().expect("a number"),
            )
        })
        .collect()
}

/// Origin bytes per interval start, straight from the generated records.
fn expected(
    records: &[GeneratedRecord],
    starts: &[i64],
    step: impl Fn(i64) -> i64,
    selected: impl Fn(&GeneratedRecord) -> bool,
) -> Vec<u64> {
    starts
        .iter()
        .map(|&s| {
            records
                .iter()
                .filter(|r| r.origin_fetch && r.timestamp_ms >= s && r.timestamp_ms < step(s))
                .filter(|r| selected(r))
                .map(|r| r.bytes)
                .sum()
        })
        .collect()
}

/// Megabytes (10^6 bytes) back to bytes: exact for the six decimals the API sends.
fn bytes_of(mb: f64) -> u64 {
    (mb * 1_000_000.0).round() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origin_volume_matches_an_independent_sum() {
    let h = Harness::start_with(|_| {}, LaunchOptions::default()).await;
    let (records, _) = h.upload_logs(&spec()).await;
    assert!(records.iter().any(|r| r.origin_fetch));
    let standard = h.settings.reports.server_groups["standard"].clone();

    // 1. daily+8, a wildcard, the configured group "standard": days start at 16:00 UTC and are
    //    shown in UTC.
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-24T00:00:00Z&enddate=2026-11-25T00:00:00Z&type=daily+8",
        r#"{"filters": {"hostnames": ["*.example.com"], "serverGroups": ["standard"]}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = series(&body);
    let first = ms_from_civil(2026, 11, 23, 16, 0, 0).expect("date");
    let starts = [first, first + DAY_MS];
    let want = expected(
        &records,
        &starts,
        |s| s + DAY_MS,
        |r| {
            r.host.ends_with(".example.com")
                && standard
                    .iter()
                    .any(|p| r.edge_location.starts_with(p.as_str()))
        },
    );
    assert_eq!(
        got.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["2026-11-23T16:00:00Z", "2026-11-24T16:00:00Z"]
    );
    assert_eq!(
        got.iter().map(|(_, mb)| bytes_of(*mb)).collect::<Vec<_>>(),
        want
    );
    assert!(want.iter().all(|&b| b > 0), "{want:?}");

    // 2. hourly over https only, one host and a wildcard, raw edge prefixes; the start off the
    //    hour is floored, the end ceiled.
    let host = records
        .iter()
        .map(|r| r.host.clone())
        .find(|h| !h.ends_with(".example.org") && !h.contains("cloudfront"))
        .expect("a host");
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-24T03:14:01Z&enddate=2026-11-24T08:30:00Z&type=hourly&scheme=https",
        &format!(r#"{{"filters": {{"hostnames": ["{host}", "*.example.org"], "serverGroups": ["NRT", "FRA2", "IAD89"]}}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = series(&body);
    let start = ms_from_civil(2026, 11, 24, 3, 0, 0).expect("date");
    let starts: Vec<i64> = (0..6).map(|i| start + i * HOUR_MS).collect();
    let want = expected(
        &records,
        &starts,
        |s| s + HOUR_MS,
        |r| {
            r.https
                && (r.host == host || r.host.ends_with(".example.org"))
                && ["NRT", "FRA2", "IAD89"]
                    .iter()
                    .any(|p| r.edge_location.starts_with(p))
        },
    );
    assert_eq!(
        got.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        starts
            .iter()
            .map(|&s| format_rfc3339(s, 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        got.iter().map(|(_, mb)| bytes_of(*mb)).collect::<Vec<_>>(),
        want
    );
    assert!(want.iter().any(|&b| b > 0), "{want:?}");

    // 3. The seed's errors over HTTP, and tenancy: t2's log bucket does not exist.
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-24T00:00:00Z&enddate=2026-11-25T00:00:00Z&type=weekly",
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"]["error_code"].as_str()),
        (400, Some("InvalidType"))
    );
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-24T00:00:00Z&enddate=2026-11-25T00:00:00Z&type=hourly",
        r#"{"filters": {"hostnames": ["sfasdfsdfasdfasdf"]}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["error_msg"],
        "Invalid hostname(s): 'sfasdfsdfasdfasdf'."
    );
    let (status, body) = report(
        &h,
        &h.other_key,
        "startdate=2026-11-24T00:00:00Z&enddate=2026-11-25T00:00:00Z&type=hourly",
        "",
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["error_code"], "StatPort.LogBucketNotFound");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_over_the_byte_bound_points_to_an_export_task() {
    // The files' sizes, from the generator itself, before statport starts.
    let spec = GenSpec { hours: 6, ..spec() };
    let mut generator = Generator::new(&spec);
    let mut sizes = Vec::new();
    while let Some(file) = generator.next_file(&mut |_| {}) {
        sizes.push(file.gz.len() as u64);
    }
    let total: u64 = sizes.iter().sum();
    let h = Harness::start_with(
        |s| s.reports.max_compressed_bytes = total - 1,
        LaunchOptions::default(),
    )
    .await;
    h.upload_logs(&spec).await;
    // Every file (hours 08–13) is needed: one byte too many.
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-23T08:00:00Z&enddate=2026-11-23T14:00:00Z&type=hourly",
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["error_code"], "StatPort.ReportTooLarge");
    let message = body["error"]["error_msg"].as_str().expect("message");
    let thousands = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    assert!(
        message.contains(&format!("{} bytes", thousands(total))),
        "{message}"
    );
    assert!(message.contains("(6 files)"), "{message}");
    assert!(
        message.contains("\"action\": \"origin_detail\""),
        "{message}"
    );
    // The first hour needs its file and two late hours' files: within the bound.
    let (status, body) = report(
        &h,
        &h.key,
        "startdate=2026-11-23T08:00:00Z&enddate=2026-11-23T09:00:00Z&type=fiveminutes",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(series(&body).len(), 12);
    h.stop().await;
}
