//! Top lists and distinct IPs end to end over the real Redis and S3, each compared with a count
//! made straight from the generated records (not through statport's parser or aggregates): exact
//! within the budgets, and with the documented bounds once the budgets are small.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use statport::genlogs::{GenSpec, GeneratedRecord};
use statport::launch::LaunchOptions;
use statport_core::time::{ms_from_civil, parse_rfc3339, DAY_MS, HOUR_MS};

use crate::common::Harness;

fn day() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date")
}

fn spec() -> GenSpec {
    GenSpec {
        seed: 23,
        start_ms: day(),
        hours: 6,
        lines_per_hour: 2000,
        hosts: 5,
        bad_line_every: 301,
        ..GenSpec::default()
    }
}

fn in_range(r: &GeneratedRecord) -> bool {
    r.timestamp_ms >= day() && r.timestamp_ms < day() + 6 * HOUR_MS
}

/// The key a top list ranks, from a generated record; `None` when the record has none.
fn key_of(action: &str, r: &GeneratedRecord) -> Option<String> {
    let k = match action {
        "top_url_detail" => match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        },
        "top_path_detail" => r.path.clone(),
        "top_referer_detail" => r.referer.clone()?,
        "top_ua_detail" => r.user_agent.clone(),
        "top_ip_detail" => r.client_ip.clone(),
        other => panic!("not a top action: {other}"),
    };
    (!k.is_empty()).then_some(k)
}

/// (domain or "", key) → (flux, req_num), counted from the records.
fn totals(
    records: &[GeneratedRecord],
    action: &str,
    grouped: bool,
) -> HashMap<(String, String), (u64, u64)> {
    let mut m: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for r in records.iter().filter(|r| in_range(r)) {
        if let Some(k) = key_of(action, r) {
            let d = if grouped {
                r.host.clone()
            } else {
                String::new()
            };
            let e = m.entry((d, k)).or_default();
            e.0 += r.bytes;
            e.1 += 1;
        }
    }
    m
}

/// The rows a top list must have: per domain, ranked by `stat` (then the other value, then the
/// key by bytes), the first `top_n`.
fn expected_top(
    totals: &HashMap<(String, String), (u64, u64)>,
    stat: &str,
    top_n: usize,
) -> Vec<(String, String, u64, u64)> {
    let mut all: Vec<(String, String, u64, u64)> = totals
        .iter()
        .map(|((d, k), (f, n))| (d.clone(), k.clone(), *f, *n))
        .collect();
    let rank = |r: &(String, String, u64, u64)| {
        if stat == "flux" {
            (r.2, r.3)
        } else {
            (r.3, r.2)
        }
    };
    all.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| rank(b).cmp(&rank(a)))
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    all.into_iter()
        .filter(|r| {
            let t = taken.entry(r.0.clone()).or_default();
            *t += 1;
            *t <= top_n
        })
        .collect()
}

/// The rows of a csv file as (domain or "", key, flux, req_num).
fn top_rows_csv(body: &[u8], grouped: bool) -> Vec<(String, String, u64, u64)> {
    let mut reader = csv::Reader::from_reader(body);
    reader
        .records()
        .map(|row| {
            let row = row.expect("csv row");
            let o = usize::from(grouped);
            (
                if grouped {
                    row[0].to_string()
                } else {
                    String::new()
                },
                row[o].to_string(),
                row[o + 1].parse().expect("flux"),
                row[o + 2].parse().expect("req_num"),
            )
        })
        .collect()
}

fn top_rows_json(body: &[u8], key: &str) -> Vec<(String, String, u64, u64)> {
    let rows: Vec<Value> = serde_json::from_slice(body).expect("json array");
    rows.iter()
        .map(|r| {
            (
                r.get("domain")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                r[key].as_str().expect("key").to_string(),
                r["flux"].as_u64().expect("flux"),
                r["req_num"].as_u64().expect("req_num"),
            )
        })
        .collect()
}

async fn finished(h: &Harness, id: &str) -> (Value, Vec<u8>) {
    let task = h.wait_final(id).await;
    assert_eq!(task["status"], "success", "{task}");
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    (task, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn top_lists_and_uv_match_an_independent_count() {
    let h = Harness::start().await;
    let (records, _) = h.upload_logs(&spec()).await;
    let range = json!({"start_time": day(), "end_time": day() + 6 * HOUR_MS});
    let with = |extra: Value| {
        let mut body = range.clone();
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };

    // Every top list in csv (grouped, by flux), the URL list also in json by requests.
    let cases = [
        ("top_url_detail", "url"),
        ("top_path_detail", "path"),
        ("top_referer_detail", "referer"),
        ("top_ua_detail", "ua"),
        ("top_ip_detail", "ip"),
    ];
    let mut ids = Vec::new();
    for (action, _) in cases {
        ids.push(
            h.submit(&with(
                json!({"domain_name": "all", "action": action, "group_by": "domain",
                                  "stat_type": "flux", "top_n": 30, "language": "en"}),
            ))
            .await,
        );
        if ids.len() == 4 {
            // At most five unfinished tasks per tenant: drain before submitting more.
            for id in &ids {
                h.wait_final(id).await;
            }
        }
    }
    for ((action, key), id) in cases.iter().zip(&ids) {
        let (task, body) = finished(&h, id).await;
        assert_eq!(task["approximate"], false, "{action}: {task}");
        let want = expected_top(&totals(&records, action, true), "flux", 30);
        let got = top_rows_csv(&body, true);
        assert_eq!(got, want, "{action}");
        assert_eq!(task["export_count"], want.len());
        let header = csv::Reader::from_reader(&body[..])
            .headers()
            .expect("header")
            .clone();
        assert_eq!(
            header.iter().collect::<Vec<_>>(),
            ["domain", key, "flux", "req_num"]
        );
    }
    let json_task = h
        .submit(&with(
            json!({"domain_name": "*.example.com", "action": "top_url_detail",
                             "stat_type": "req_num", "top_n": 100, "export_format": "json"}),
        ))
        .await;
    let (_, body) = finished(&h, &json_task).await;
    let selected: Vec<GeneratedRecord> = records
        .iter()
        .filter(|r| r.host.ends_with(".example.com"))
        .cloned()
        .collect();
    let want = expected_top(&totals(&selected, "top_url_detail", false), "req_num", 100);
    assert_eq!(top_rows_json(&body, "url"), want);

    // uv per hour per domain, csv: distinct client IPs counted from the records.
    let uv_task = h
        .submit(&with(
            json!({"domain_name": "all", "action": "uv", "group_by": "domain",
                             "interval": 3600, "language": "en"}),
        ))
        .await;
    let (task, body) = finished(&h, &uv_task).await;
    assert_eq!(task["approximate"], false, "{task}");
    let mut sets: BTreeMap<(i64, String), BTreeSet<&str>> = BTreeMap::new();
    for r in records.iter().filter(|r| in_range(r)) {
        let hour = r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS);
        sets.entry((hour, r.host.clone()))
            .or_default()
            .insert(&r.client_ip);
    }
    let hosts: BTreeSet<&String> = records.iter().map(|r| &r.host).collect();
    let mut reader = csv::Reader::from_reader(&body[..]);
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["time", "domain", "uv"]
    );
    let mut rows = 0;
    for row in reader.records() {
        let row = row.expect("row");
        let ts = parse_rfc3339(&row[0]).expect("time");
        let want = sets.get(&(ts, row[1].to_string())).map_or(0, BTreeSet::len);
        assert_eq!(
            row[2].parse::<usize>().expect("uv"),
            want,
            "{} {}",
            &row[0],
            &row[1]
        );
        rows += 1;
    }
    assert_eq!(rows, 6 * hosts.len());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_their_budgets_top_lists_and_uv_are_estimates_within_their_bounds() {
    let h = Harness::start_with(
        |s| {
            s.worker.sketches.top_keys = 200;
            s.worker.sketches.uv_exact_per_interval = 100;
        },
        LaunchOptions::default(),
    )
    .await;
    let (records, _) = h.upload_logs(&spec()).await;
    let top = h
        .submit(
            &json!({"domain_name": "all", "action": "top_url_detail", "stat_type": "flux",
                        "top_n": 20, "start_time": day(), "end_time": day() + 6 * HOUR_MS}),
        )
        .await;
    let uv = h
        .submit(
            &json!({"domain_name": "all", "action": "uv", "granularity": "daily",
                        "start_time": day(), "end_time": day() + DAY_MS, "export_format": "json"}),
        )
        .await;

    let (task, body) = finished(&h, &top).await;
    assert_eq!(task["approximate"], true, "{task}");
    let note = task["approximation"].as_str().expect("says why");
    assert!(
        note.contains("Space-Saving") && note.contains("200 counters"),
        "{note}"
    );
    let truth = totals(&records, "top_url_detail", false);
    let rows = top_rows_csv(&body, false);
    assert_eq!(rows.len(), 20);
    for (_, url, flux, req_num) in &rows {
        let (true_flux, true_req) = truth
            .get(&(String::new(), url.clone()))
            .copied()
            .unwrap_or((0, 0));
        assert!(
            *flux >= true_flux,
            "{url}: the ranked value is an upper bound"
        );
        assert!(
            *req_num <= true_req,
            "{url}: the other value is a lower bound"
        );
    }

    // The parts are merged in file order, so the approximate list is the same on every run:
    // the same condition submitted again runs again and writes the same bytes.
    let (status, again) = h
        .submit_as(
            &h.key,
            &json!({"domain_name": "all", "action": "top_url_detail", "stat_type": "flux",
                    "top_n": 20, "start_time": day(), "end_time": day() + 6 * HOUR_MS}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    let (_, body_again) = finished(&h, again["task_id"].as_str().expect("id")).await;
    assert_eq!(body_again, body, "an approximate top list is deterministic");

    let (task, body) = finished(&h, &uv).await;
    assert_eq!(task["approximate"], true, "{task}");
    let note = task["approximation"].as_str().expect("says which");
    assert!(
        note.contains("HyperLogLog") && note.contains("2026-11-24T00:00:00Z"),
        "{note}"
    );
    let rows: Vec<Value> = serde_json::from_slice(&body).expect("json");
    let distinct: BTreeSet<&str> = records.iter().map(|r| r.client_ip.as_str()).collect();
    let est = rows[0]["uv"].as_u64().expect("uv") as f64;
    let exact = distinct.len() as f64;
    assert!(
        (est - exact).abs() / exact < 4.0 * 0.0081,
        "{est} vs {exact}"
    );
    h.stop().await;
}
