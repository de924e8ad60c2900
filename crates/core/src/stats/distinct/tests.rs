use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::*;
use crate::log::Scheme;
use crate::request::ExportRequest;
use crate::time::ms_from_civil;

fn day() -> i64 {
    ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date")
}

fn condition(extra: serde_json::Value) -> ExportCondition {
    let mut body = json!({
        "domain_name": "a.example.com,b.example.com",
        "action": "uv",
        "start_time": day(),
        "end_time": day() + 6 * 3_600_000,
        "interval": 3600,
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid condition")
}

/// (timestamp, host, ip) visits; IPs repeat so distinct counts differ from request counts.
fn visits(n: usize, ips: u64, seed: u64) -> Vec<(i64, String, String)> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 16
    };
    (0..n)
        .map(|_| {
            let ts = day() + i64::try_from(next() % (6 * 3_600_000)).expect("small");
            let host = if next() % 2 == 0 {
                "a.example.com"
            } else {
                "b.example.com"
            };
            let i = next() % ips;
            let ip = if i.is_multiple_of(5) {
                format!("2001:db8::{:x}:{:x}", i >> 16, i & 0xffff)
            } else {
                format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255)
            };
            (ts, host.to_string(), ip)
        })
        .collect()
}

fn record<'a>(ts: i64, host: &'a str, ip: &'a str) -> LogRecord<'a> {
    LogRecord {
        timestamp_ms: ts,
        host: Cow::Borrowed(host),
        bytes: 1,
        scheme: Scheme::Https,
        client_ip: ip,
        edge_location: "SFO5-C1",
        method: "GET",
        raw_path: "/",
        raw_query: None,
        status: 200,
        raw_referer: None,
        raw_user_agent: None,
        origin_fetch: false,
        service_area: None,
    }
}

fn feed(d: &mut DistinctCounts, v: &[(i64, String, String)]) {
    for (ts, host, ip) in v {
        d.add(&record(*ts, host, ip));
    }
}

/// Independent distinct counts per (hour, host or "").
fn exact(v: &[(i64, String, String)], grouped: bool) -> HashMap<(i64, String), usize> {
    let mut sets: HashMap<(i64, String), HashSet<&str>> = HashMap::new();
    for (ts, host, ip) in v {
        let hour = (ts - day()) / 3_600_000;
        let h = if grouped { host.clone() } else { String::new() };
        sets.entry((hour, h)).or_default().insert(ip.as_str());
    }
    sets.into_iter().map(|(k, s)| (k, s.len())).collect()
}

fn counts(d: &DistinctCounts) -> Vec<u64> {
    d.rows()
        .map(|r| match r.last() {
            Some(Cell::Count(n)) => *n,
            _ => panic!("uv column"),
        })
        .collect()
}

#[test]
fn exact_counts_match_an_independent_count() {
    let v = visits(20_000, 3_000, 1);
    for grouped in [false, true] {
        let extra = if grouped {
            json!({"group_by": "domain"})
        } else {
            json!({})
        };
        let c = condition(extra);
        let mut d = DistinctCounts::new(&c, &SketchLimits::default(), u64::MAX);
        feed(&mut d, &v);
        let want = exact(&v, grouped);
        let hosts: Vec<&str> = if grouped {
            vec!["a.example.com", "b.example.com"]
        } else {
            vec![""]
        };
        let mut expected = Vec::new();
        for hour in 0..6 {
            for h in &hosts {
                expected.push(want.get(&(hour, h.to_string())).copied().unwrap_or(0) as u64);
            }
        }
        assert_eq!(counts(&d), expected, "grouped {grouped}");
        assert!(d.estimated_rows().is_empty());
        assert_eq!(
            DistinctCounts::columns(&c).len(),
            if grouped { 3 } else { 2 }
        );
    }
}

fn through_serde(d: &DistinctCounts) -> DistinctCounts {
    let mut back: DistinctCounts =
        serde_json::from_str(&serde_json::to_string(d).expect("serialize")).expect("parse");
    back.reindex();
    back
}

fn split_merge(
    c: &ExportCondition,
    lim: &SketchLimits,
    v: &[(i64, String, String)],
    parts: usize,
) -> DistinctCounts {
    let mut merged = DistinctCounts::new(c, lim, u64::MAX);
    for chunk in v.chunks(v.len().div_ceil(parts)) {
        let mut p = DistinctCounts::new(c, lim, u64::MAX);
        feed(&mut p, chunk);
        merged.merge(&through_serde(&p)).expect("same shape");
    }
    merged
}

#[test]
fn merging_any_split_equals_one_pass() {
    let v = visits(30_000, 20_000, 2);
    let c = condition(json!({"group_by": "domain"}));
    // Exact, and past the per-interval bound (estimates): both merge to the one-pass result,
    // because a sketch built from the same IPs holds the same registers however it was split.
    for per_interval in [1_000_000, 500] {
        let lim = SketchLimits {
            uv_exact_per_interval: per_interval,
            ..SketchLimits::default()
        };
        let mut one = DistinctCounts::new(&c, &lim, u64::MAX);
        feed(&mut one, &v);
        for parts in [2, 3, 9] {
            let merged = split_merge(&c, &lim, &v, parts);
            assert_eq!(
                counts(&merged),
                counts(&one),
                "{per_interval}: {parts} parts"
            );
            assert_eq!(merged.estimated_rows(), one.estimated_rows());
        }
    }
}

#[test]
fn past_the_bound_an_interval_is_an_estimate_within_the_standard_error() {
    let v = visits(120_000, 200_000, 3);
    let c = condition(json!({}));
    let lim = SketchLimits {
        uv_exact_per_interval: 1_000,
        ..SketchLimits::default()
    };
    let mut d = DistinctCounts::new(&c, &lim, u64::MAX);
    feed(&mut d, &v);
    let want = exact(&v, false);
    let got = counts(&d);
    for hour in 0..6 {
        let truth = want[&(hour, String::new())] as f64;
        let est = got[hour as usize] as f64;
        // 0.81 % standard error: 4 sigma is a bound this fixed input never crosses by chance.
        assert!(
            (est - truth).abs() / truth < 4.0 * 0.0081,
            "hour {hour}: {est} vs {truth}"
        );
    }
    assert_eq!(
        d.estimated_rows().len(),
        6,
        "every interval crossed the bound"
    );
    assert!(d.estimated_rows()[0].starts_with("2026-11-01T00:00:00"));
}

#[test]
fn the_task_budget_bounds_exact_sets_together() {
    let v = visits(20_000, 3_000, 4);
    let c = condition(json!({"group_by": "domain"}));
    let lim = SketchLimits {
        uv_exact_per_interval: 1_000_000,
        uv_exact_per_task: 2_000,
        ..SketchLimits::default()
    };
    let mut d = DistinctCounts::new(&c, &lim, u64::MAX);
    feed(&mut d, &v);
    assert!(d.exact_total <= 2_000, "exact IPs held: {}", d.exact_total);
    assert!(!d.estimated_rows().is_empty());
    assert!(
        d.estimated_rows().len() < 12,
        "the intervals under the budget stay exact"
    );
}

#[test]
fn ips_parse_as_one_space_and_junk_is_not_counted() {
    assert_eq!(ip_number("10.0.0.1"), ip_number("::ffff:10.0.0.1"));
    assert!(ip_number("2001:db8::1").is_some());
    assert_eq!(ip_number("-"), None);
    let c = condition(json!({}));
    let mut d = DistinctCounts::new(&c, &SketchLimits::default(), u64::MAX);
    for ip in ["10.0.0.1", "::ffff:10.0.0.1", "not-an-ip", "2001:db8::1"] {
        d.add(&record(day(), "a.example.com", ip));
    }
    assert_eq!(counts(&d)[0], 2);
}

#[test]
fn rows_past_the_tenant_limit_overflow() {
    let c = condition(json!({"group_by": "domain", "domain_name": "all"}));
    let mut d = DistinctCounts::new(&c, &SketchLimits::default(), 6);
    d.add(&record(day(), "a.example.com", "10.0.0.1"));
    assert_eq!(d.overflowed(), None);
    d.add(&record(day(), "b.example.com", "10.0.0.1"));
    assert_eq!(d.overflowed(), Some(12));
}
