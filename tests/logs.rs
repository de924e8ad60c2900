//! The `logs` action end to end: raw log rows selected by a query, ordered by time across
//! files (late lines included), cut at `count`, in csv, JSON Lines and xlsx, compared with an
//! independent filter and sort of the generated records. The sort buffer is made tiny so every
//! export spills many runs and merges them in several passes.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};
use statport::genlogs::{GenSpec, GeneratedRecord};
use statport::launch::LaunchOptions;
use statport_core::time::{format_rfc3339, HOUR_MS};

use crate::common::Harness;
use crate::day_start;

const COLUMNS: [&str; 13] = [
    "time", "host", "method", "scheme", "path", "query", "status", "bytes", "ip", "referer", "ua",
    "edge", "result",
];

/// A record as the row the export must write, every cell as text.
fn row(r: &GeneratedRecord) -> Vec<String> {
    vec![
        format_rfc3339(r.timestamp_ms, 0),
        r.host.clone(),
        r.method.clone(),
        if r.https { "https" } else { "http" }.to_string(),
        r.path.clone(),
        r.query.clone().unwrap_or_default(),
        r.status.to_string(),
        r.bytes.to_string(),
        r.client_ip.clone(),
        r.referer.clone().unwrap_or_default(),
        r.user_agent.clone(),
        r.edge_location.clone(),
        if r.origin_fetch { "miss" } else { "hit" }.to_string(),
    ]
}

/// The expected rows: records in `[start, end)` that `keep` selects, ordered by time, then file
/// (in key order), then line; reversed for `desc`; cut at `count`.
fn expected(
    files: &[(String, Vec<GeneratedRecord>)],
    (start, end): (i64, i64),
    keep: impl Fn(&GeneratedRecord) -> bool,
    desc: bool,
    count: usize,
) -> Vec<Vec<String>> {
    let mut files: Vec<&(String, Vec<GeneratedRecord>)> = files.iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all: Vec<(i64, usize, usize, &GeneratedRecord)> = Vec::new();
    for (f, (_, records)) in files.iter().enumerate() {
        for (line, r) in records.iter().enumerate() {
            if r.timestamp_ms >= start && r.timestamp_ms < end && keep(r) {
                all.push((r.timestamp_ms, f, line, r));
            }
        }
    }
    all.sort_by_key(|&(t, f, l, _)| (t, f, l));
    if desc {
        all.reverse();
    }
    all.into_iter()
        .take(count)
        .map(|(_, _, _, r)| row(r))
        .collect()
}

fn spec() -> GenSpec {
    GenSpec {
        seed: 29,
        start_ms: day_start(),
        hours: 6,
        lines_per_hour: 1200,
        hosts: 4,
        bad_line_every: 97,
        ..GenSpec::default()
    }
}

async fn start() -> Harness {
    Harness::start_with(
        |s| {
            // A few dozen rows per run and three runs per merge: many runs, several passes.
            s.worker.logs.sort_buffer_bytes = 16 * 1024;
            s.worker.logs.merge_fan_in = 3;
        },
        LaunchOptions::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_exports_match_an_independent_filter_in_every_format_and_order() {
    let h = start().await;
    let (files, stats) = h.upload_log_files(&spec()).await;
    assert!(stats.bad_lines > 0);
    // Off the hour on both ends: the range is kept to the millisecond. The last hours' late
    // lines sit in the next files.
    let range = (
        day_start() + HOUR_MS + 17 * 60_000,
        day_start() + 4 * HOUR_MS + 3 * 60_000 + 1,
    );
    let late = files
        .iter()
        .enumerate()
        .flat_map(|(i, (_, records))| {
            records
                .iter()
                .map(move |r| (i as i64, r.timestamp_ms.div_euclid(HOUR_MS)))
        })
        .filter(|&(i, hour)| hour < day_start() / HOUR_MS + i)
        .count();
    assert!(late > 0, "the generated files hold late lines");

    // 1. csv, English headers, oldest first, everything the query selects.
    let query = "status:[400 TO 599] OR (result:miss AND bytes:>50000)";
    let csv_task = h
        .submit(&json!({"action": "logs", "domain_name": "all", "start_time": range.0, "end_time": range.1,
                        "query": query, "order": "asc", "export_format": "csv", "language": "en"}))
        .await;
    // 2. JSON Lines, newest first (the default), one domain, a group and NOT, cut at 40 rows.
    let host = files[0].1[0].host.clone();
    let json_task = h
        .submit(&json!({"action": "logs", "domain_name": host, "start_time": range.0, "end_time": range.1,
                        "query": "method:(GET OR HEAD) AND NOT status:200", "count": 40, "export_format": "json"}))
        .await;
    // 3. xlsx, Chinese headers, every row, newest first, cut at 700 rows.
    let xlsx_task = h
        .submit(&json!({"action": "logs", "domain_name": "all", "start_time": range.0, "end_time": range.1,
                        "count": 700, "export_format": "xlsx"}))
        .await;

    // csv
    let task = h.wait_final(&csv_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let want = expected(
        &files,
        range,
        |r| (400..=599).contains(&r.status) || (r.origin_fetch && r.bytes > 50_000),
        false,
        usize::MAX,
    );
    assert!(want.len() > 100, "{}", want.len());
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(&body[..]);
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        COLUMNS
    );
    let got: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("csv row").iter().map(str::to_string).collect())
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert_eq!(task["export_count"], want.len());
    assert_eq!(task["condition"]["logs"]["order"], "asc");

    // JSON Lines
    let task = h.wait_final(&json_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let selected = |r: &GeneratedRecord| {
        r.host == host && (r.method == "GET" || r.method == "HEAD") && r.status != 200
    };
    assert!(
        expected(&files, range, selected, true, usize::MAX).len() > 40,
        "enough rows for the cut to matter"
    );
    let want = expected(&files, range, selected, true, 40);
    let (_, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    let text = String::from_utf8(body).expect("UTF-8");
    let got: Vec<Vec<String>> = text
        .lines()
        .map(|line| {
            let object: Value = serde_json::from_str(line).expect("one JSON object per line");
            COLUMNS
                .iter()
                .map(|c| match &object[*c] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("{c} is {other}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        matches!(
            serde_json::from_str::<Value>(text.lines().next().expect("a line")).expect("json")
                ["status"],
            Value::Number(_)
        ),
        "status is a number"
    );

    // xlsx
    let task = h.wait_final(&xlsx_task).await;
    assert_eq!(task["status"], "success", "{task}");
    let want = expected(&files, range, |_| true, true, 700);
    let (_, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    let mut book = Xlsx::new(Cursor::new(body)).expect("an xlsx file");
    let sheet = book.worksheet_range("Sheet1").expect("Sheet1");
    let mut rows = sheet.rows();
    let header: Vec<String> = rows
        .next()
        .expect("header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "时间");
    assert_eq!(header[6], "状态码");
    let got: Vec<Vec<String>> = rows
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f}"),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(task["export_count"], 700);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_requests_are_checked_at_submission() {
    let h = start().await;
    let base = json!({"action": "logs", "domain_name": "all", "start_time": day_start(), "end_time": day_start() + HOUR_MS});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("query", json!("status:404 AND")), "position 14"),
        (
            with("query", json!("color:red")),
            "the fields are time, host",
        ),
        (with("count", json!(0)), "'count'"),
        (with("count", json!(50_000_001)), "50,000,000"),
        (with("order", json!("random")), "'order'"),
        (with("interval", json!(300)), "does not apply"),
        (
            with("end_time", json!(day_start() + 32 * 24 * HOUR_MS)),
            "31 days",
        ),
    ];
    for (body, says) in cases {
        let (status, answer) = h.submit_as(&h.key, &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let message = answer["error"]["error_msg"].as_str().expect("a message");
        assert!(message.contains(says), "{body} → {message}");
    }
    // `query` outside `logs` is refused too.
    let (status, _) = h
        .submit_as(&h.key, &json!({"domain_name": "all", "start_time": day_start(), "end_time": day_start() + HOUR_MS, "interval": 300, "query": "status:200"}))
        .await;
    assert_eq!(status, 400);
    h.stop().await;
}
