//! End-to-end: HTTP → queue → worker → object store → download link, against the real servers
//! (Redis + S3) or the embedded default (SQLite + a local folder): `STATPORT_E2E_BACKEND`.

mod callbacks;
mod chaos;
mod common;
mod geo;
mod huawei;
mod limits;
mod links;
mod logs;
mod outage;
mod outbox;
mod restart;
mod schedules;
mod top_uv;
mod wangsu;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use common::Harness;
use serde_json::{json, Value};
use statport::genlogs::{GenSpec, GeneratedRecord};
use statport_core::time::granularity::Granularity;
use statport_core::time::{format_rfc3339, ms_from_civil, DAY_MS, HOUR_MS};

fn day_start() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("valid date")
}

fn spec() -> GenSpec {
    GenSpec {
        seed: 7,
        start_ms: day_start(),
        hours: 24,
        lines_per_hour: 1500,
        hosts: 12,
        bad_line_every: 401,
        ..GenSpec::default()
    }
}

/// Expected rows computed straight from the generated records, without the parser or the
/// aggregator: `(bucket start, domain or "") → (flux, req_num)`.
fn expected(
    records: &[GeneratedRecord],
    selected: impl Fn(&GeneratedRecord) -> bool,
    bucket: impl Fn(i64) -> i64,
    grouped: bool,
) -> BTreeMap<(i64, String), (u64, u64)> {
    let mut sums = BTreeMap::new();
    for r in records.iter().filter(|r| selected(r)) {
        let key = (
            bucket(r.timestamp_ms),
            if grouped {
                r.host.clone()
            } else {
                String::new()
            },
        );
        let e = sums.entry(key).or_insert((0u64, 0u64));
        e.0 += r.bytes;
        e.1 += 1;
    }
    sums
}

fn in_day(r: &GeneratedRecord) -> bool {
    r.timestamp_ms >= day_start() && r.timestamp_ms < day_start() + DAY_MS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exports_match_an_independent_sum_in_every_format() {
    let h = Harness::start().await;
    let (records, stats) = h.upload_logs(&spec()).await;
    assert!(records.len() > 30_000, "{}", records.len());
    let hosts: BTreeSet<String> = records.iter().map(|r| r.host.clone()).collect();
    assert!(hosts.len() >= 10);

    // 1. csv, hourly, grouped by domain, all domains, flux, English headers.
    let csv_task = h
        .submit(&json!({"domain_name": "all", "start_time": day_start(), "end_time": day_start() + DAY_MS,
                       "interval": 3600, "group_by": "domain", "stat_type": "flux", "export_format": "csv", "language": "en"}))
        .await;
    // 2. json, daily in UTC+8, *.example.com over https only, req_num.
    let json_task = h
        .submit(&json!({"domain_name": "*.example.com", "start_time": day_start(), "end_time": day_start() + DAY_MS,
                       "granularity": "daily+8", "stat_type": "req_num", "scheme": "https", "export_format": "json"}))
        .await;
    // 3. xlsx, 5 minutes, two named domains, not grouped, flux, Chinese headers; start and end
    //    off the grid to check floor and ceil.
    let two: Vec<String> = hosts.iter().take(2).cloned().collect();
    let xlsx_start = day_start() + 3 * HOUR_MS + 7 * 60_000 + 13_000;
    let xlsx_end = day_start() + 9 * HOUR_MS + 58 * 60_000;
    let xlsx_task = h
        .submit(
            &json!({"domain_name": two.join(","), "start_time": xlsx_start, "end_time": xlsx_end,
                       "interval": 300, "export_format": "xls"}),
        )
        .await;

    // csv
    let task = h.wait_final(&csv_task).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["progress"], 100);
    assert_eq!(
        task["skipped_lines"], stats.bad_lines,
        "every garbage line is counted"
    );
    let want = expected(&records, in_day, |ts| ts - ts.rem_euclid(HOUR_MS), true);
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(task["file_size"], body.len());
    let mut reader = csv::Reader::from_reader(&body[..]);
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["time", "domain", "flux"]
    );
    let mut rows = 0;
    let mut seen_domains = BTreeSet::new();
    let mut last = (String::new(), String::new());
    for row in reader.records() {
        let row = row.expect("csv row");
        rows += 1;
        let time = row[0].to_string();
        let domain = row[1].to_string();
        assert!(
            (time.clone(), domain.clone()) > last,
            "rows ordered by time then domain"
        );
        last = (time.clone(), domain.clone());
        let ts = statport_core::time::parse_rfc3339(&time).expect("RFC 3339 time");
        let flux: u64 = row[2].parse().expect("number");
        let want_flux = want.get(&(ts, domain.clone())).map_or(0, |v| v.0);
        assert_eq!(flux, want_flux, "flux of {domain} at {time}");
        seen_domains.insert(domain);
    }
    assert_eq!(
        seen_domains,
        hosts
            .iter()
            .filter(|_| true)
            .cloned()
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        rows,
        24 * hosts.len(),
        "every hour present for every domain"
    );
    assert_eq!(task["export_count"], rows);

    // json
    let task = h.wait_final(&json_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let g = Granularity::Daily { offset_hours: 8 };
    let want = expected(
        &records,
        |r| in_day(r) && r.https && r.host.ends_with(".example.com"),
        |ts| g.floor(ts),
        false,
    );
    let (_, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
    let got: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["time"].as_str().expect("time").to_string(),
                r["req_num"].as_u64().expect("req_num"),
            )
        })
        .collect();
    let first = g.floor(day_start());
    let want_rows: Vec<(String, u64)> = [first, first + DAY_MS]
        .iter()
        .map(|&b| {
            (
                format_rfc3339(b, 8 * 3600),
                want.get(&(b, String::new())).map_or(0, |v| v.1),
            )
        })
        .collect();
    assert_eq!(got, want_rows);
    assert_eq!(got[0].0, "2026-11-24T00:00:00+08:00");
    assert!(got[0].1 > 0 && got[1].1 > 0);

    // xlsx
    let task = h.wait_final(&xlsx_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let g = Granularity::FiveMinutes;
    let (range_start, range_end) = (g.floor(xlsx_start), g.ceil(xlsx_end));
    let want = expected(
        &records,
        |r| r.timestamp_ms >= range_start && r.timestamp_ms < range_end && two.contains(&r.host),
        |ts| g.floor(ts),
        false,
    );
    let (_, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    let mut book = Xlsx::new(Cursor::new(body)).expect("an xlsx file");
    let sheet = book.worksheet_range("Sheet1").expect("Sheet1");
    let mut rows = sheet.rows();
    let header: Vec<String> = rows
        .next()
        .expect("header row")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header, ["时间", "流量(Byte)"]);
    let mut count = 0;
    for (i, row) in rows.enumerate() {
        let b = range_start + i as i64 * 300_000;
        assert_eq!(row[0], Data::String(format_rfc3339(b, 0)));
        let want_flux = want.get(&(b, String::new())).map_or(0, |v| v.0);
        assert_eq!(
            row[1],
            Data::Float(want_flux as f64),
            "flux at {}",
            format_rfc3339(b, 0)
        );
        count += 1;
    }
    assert_eq!(count, ((range_end - range_start) / 300_000) as usize);
    assert_eq!(task["export_count"], count);
    assert_eq!(task["condition"]["range_start"], range_start);

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_their_codes() {
    let h = Harness::start().await;
    let path = "/v1/cdn/statistics/export-tasks";
    let base = json!({"domain_name": "www.example.com", "start_time": day_start(), "end_time": day_start() + HOUR_MS, "interval": 300});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("domain_name", Value::Null), 400, "MissingParameter"),
        (with("granularity", json!("weekly")), 400, "InvalidType"),
        (
            with("end_time", json!(day_start() - 1)),
            400,
            "InvalidTimeSpan",
        ),
        (
            with("domain_name", json!("not a host")),
            400,
            "InvalidHostnames",
        ),
        (
            with("start_time", json!("yesterday")),
            400,
            "InvalidParameter",
        ),
        (with("export_format", json!("pdf")), 400, "InvalidParameter"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = h.submit_as(&h.key, &body).await;
        assert_eq!(
            (got, answer["error"]["error_code"].as_str()),
            (status, Some(code)),
            "{body} → {answer}"
        );
        assert!(answer["error"]["error_msg"]
            .as_str()
            .is_some_and(|m| m.len() > 10));
    }
    // malformed JSON
    let response = h
        .http
        .post(format!("{}{path}", h.base))
        .bearer_auth(&h.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.expect("JSON error body");
    assert_eq!(answer["error"]["error_code"], "StatPort.MalformedBody");
    // authentication
    let (status, answer) = h.get_as(None, path).await;
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (401, Some("StatPort.Unauthorized"))
    );
    let (status, _) = h.get_as(Some("wrong-key"), path).await;
    assert_eq!(status, 401);
    // a task of t1 is invisible to t2, exactly like an unknown id
    let id = h.submit(&base).await;
    let (status, answer) = h.get_as(Some(&h.other_key), &format!("{path}/{id}")).await;
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (404, Some("StatPort.TaskNotFound"))
    );
    let (status, _) = h
        .get_as(Some(&h.key), &format!("{path}/0123456789abcdef"))
        .await;
    assert_eq!(status, 404);
    let (status, answer) = h.get_as(Some(&h.key), &format!("{path}?limit=0")).await;
    assert_eq!(
        (status, answer["error"]["error_code"].as_str()),
        (400, Some("InvalidParameter"))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_paging_links_and_delete() {
    let h = Harness::start().await;
    let (_records, _) = h
        .upload_logs(&GenSpec {
            seed: 3,
            start_ms: day_start(),
            hours: 2,
            lines_per_hour: 200,
            ..GenSpec::default()
        })
        .await;
    let path = "/v1/cdn/statistics/export-tasks";
    let mut ids = Vec::new();
    for (i, format) in ["csv", "json", "xlsx"].iter().enumerate() {
        let id = h
            .submit(&json!({"task_name": format!("job-{i}"), "domain_name": "all", "start_time": day_start(),
                           "end_time": day_start() + 2 * HOUR_MS, "interval": 3600, "export_format": format}))
            .await;
        ids.push(id);
    }
    for id in &ids {
        assert_eq!(h.wait_final(id).await["status"], "success");
    }
    let (status, page) = h
        .get_as(Some(&h.key), &format!("{path}?limit=2&offset=0"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 3);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    let times: Vec<i64> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["update_time"].as_i64().expect("time"))
        .collect();
    assert!(times[0] >= times[1], "newest update_time first");
    let (_, page2) = h
        .get_as(Some(&h.key), &format!("{path}?limit=2&offset=2"))
        .await;
    assert_eq!(page2["data"].as_array().map(Vec::len), Some(1));
    let (_, by_name) = h
        .get_as(Some(&h.key), &format!("{path}?task_name=job-1"))
        .await;
    assert_eq!(by_name["total"], 1);
    assert_eq!(by_name["data"][0]["task_id"], ids[1].as_str());
    let (_, other) = h.get_as(Some(&h.other_key), path).await;
    assert_eq!(other["total"], 0, "tenants see only their own tasks");

    // a link works without a key; an altered one does not
    let (_, task) = h.get_as(Some(&h.key), &format!("{path}/{}", ids[0])).await;
    let link = task["download_link"].as_str().expect("link").to_string();
    let (status, body) = h.download(&link).await;
    assert_eq!(status, 200);
    assert!(!body.is_empty());
    let forged = link.replace(&ids[0], &ids[1]);
    assert_eq!(h.download(&forged).await.0, 403);
    let tampered = format!("{}0", link);
    assert_eq!(h.download(&tampered).await.0, 403);

    // delete: 204, then 404, and the link is dead
    assert_eq!(h.delete(&ids[0]).await, 204);
    assert_eq!(
        h.get_as(Some(&h.key), &format!("{path}/{}", ids[0]))
            .await
            .0,
        404
    );
    assert_eq!(h.download(&link).await.0, 403);
    assert_eq!(h.delete(&ids[0]).await, 404);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_over_a_missing_bucket_fails_with_a_readable_error() {
    let h = Harness::start().await;
    let (status, task) = h
        .submit_as(&h.other_key, &json!({"domain_name": "all", "start_time": day_start(), "end_time": day_start() + HOUR_MS, "interval": 300}))
        .await;
    assert_eq!(status, 201, "{task}");
    let id = task["task_id"].as_str().expect("id").to_string();
    let task = h.wait_final(&id).await;
    assert_eq!(task["status"], "fail", "{task}");
    assert!(task.get("download_link").is_none());
    assert_eq!(task["error"]["error_code"], "StatPort.LogBucketNotFound");
    let msg = task["error"]["error_msg"].as_str().expect("message");
    assert!(
        msg.contains(&h.settings.tenants["t2"].log_bucket) && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(task["end_time"].as_i64().is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origin_detail_counts_the_bytes_of_misses() {
    let h = Harness::start().await;
    let (records, _) = h
        .upload_logs(&GenSpec {
            seed: 11,
            start_ms: day_start(),
            hours: 3,
            lines_per_hour: 800,
            hosts: 5,
            ..GenSpec::default()
        })
        .await;
    assert!(records.iter().any(|r| r.origin_fetch) && records.iter().any(|r| !r.origin_fetch));
    let id = h
        .submit(
            &json!({"action": "origin_detail", "domain_name": "all", "group_by": "domain",
                        "start_time": day_start(), "end_time": day_start() + 3 * HOUR_MS,
                        "interval": 3600, "export_format": "json"}),
        )
        .await;
    let task = h.wait_final(&id).await;
    assert_eq!(task["status"], "success", "{task}");
    // Independent sum: bytes of the generated lines the edge fetched from the origin.
    let mut want: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for r in records.iter().filter(|r| {
        r.origin_fetch
            && r.timestamp_ms >= day_start()
            && r.timestamp_ms < day_start() + 3 * HOUR_MS
    }) {
        *want
            .entry((
                r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS),
                r.host.clone(),
            ))
            .or_default() += r.bytes;
    }
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
    assert!(!rows.is_empty());
    let mut total = 0u64;
    for row in &rows {
        let ts = statport_core::time::parse_rfc3339(row["time"].as_str().expect("time"))
            .expect("RFC 3339");
        let domain = row["domain"].as_str().expect("domain").to_string();
        let got = row["origin_flux"].as_u64().expect("origin_flux");
        assert_eq!(
            got,
            want.get(&(ts, domain.clone())).copied().unwrap_or(0),
            "{domain} at {ts}"
        );
        total += got;
    }
    assert_eq!(total, want.values().sum::<u64>());
    h.stop().await;
}
