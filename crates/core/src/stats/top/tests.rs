use std::borrow::Cow;
use std::collections::HashMap;

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
        "domain_name": "all",
        "action": "top_url_detail",
        "start_time": day(),
        "end_time": day() + 86_400_000,
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

fn limits(top_keys: u32) -> SketchLimits {
    SketchLimits {
        top_keys,
        ..SketchLimits::default()
    }
}

/// One generated request.
#[derive(Clone)]
struct Req {
    host: String,
    path: String,
    query: Option<String>,
    referer: Option<String>,
    ua: Option<String>,
    ip: String,
    bytes: u64,
}

impl Req {
    fn record(&self) -> LogRecord<'_> {
        LogRecord {
            timestamp_ms: day() + 1000,
            host: Cow::Borrowed(&self.host),
            bytes: self.bytes,
            scheme: Scheme::Https,
            client_ip: &self.ip,
            edge_location: "SFO5-C1",
            method: "GET",
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            status: 200,
            raw_referer: self.referer.as_deref(),
            raw_user_agent: self.ua.as_deref(),
            origin_fetch: false,
            service_area: None,
        }
    }
}

/// A deterministic, skewed stream over about `keys` keys (a heavy head, a long tail).
fn stream(n: usize, keys: u64, seed: u64) -> Vec<Req> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 16
    };
    (0..n)
        .map(|_| {
            let r = next();
            // A third of the requests go to ten heavy keys; the rest spread over all keys.
            let k = if r % 3 == 0 {
                next() % 10
            } else {
                (r % keys) / (1 + next() % 8)
            };
            let host = format!("h{}.example.com", next() % 3);
            Req {
                host,
                path: format!("/p/{k}"),
                query: (k % 3 == 0).then(|| format!("v={}", k % 5)),
                referer: (k % 4 != 0).then(|| format!("https://ref{}.example/", k % 11)),
                ua: (k % 7 != 0).then(|| format!("agent%20{}", k % 13)),
                ip: format!("198.51.100.{}", k % 200),
                bytes: 100 + next() % 10_000,
            }
        })
        .collect()
}

type Totals = HashMap<(String, String), (u64, u64)>;

/// Independent exact totals per (domain, key): (flux, req_num).
fn exact(reqs: &[Req], key: impl Fn(&Req) -> Option<String>, grouped: bool) -> Totals {
    let mut m: Totals = HashMap::new();
    for r in reqs {
        if let Some(k) = key(r) {
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

/// The expected rows: per domain, ranked by `by`, then the other value, then the key.
fn expected_rows(totals: &Totals, by: StatType, top_n: usize, grouped: bool) -> Vec<Vec<Cell>> {
    let mut all: Vec<_> = totals.iter().collect();
    let rank = |v: &(u64, u64)| match by {
        StatType::Flux => (v.0, v.1),
        StatType::ReqNum => (v.1, v.0),
    };
    all.sort_by(|a, b| {
        a.0 .0
            .cmp(&b.0 .0)
            .then_with(|| rank(b.1).cmp(&rank(a.1)))
            .then_with(|| a.0 .1.as_bytes().cmp(b.0 .1.as_bytes()))
    });
    let mut rows = Vec::new();
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for ((d, k), (flux, req)) in all {
        let t = taken.entry(d.as_str()).or_default();
        if *t < top_n {
            *t += 1;
            let mut row = Vec::new();
            if grouped {
                row.push(Cell::Text(d.clone()));
            }
            row.push(Cell::Text(k.clone()));
            row.push(Cell::Count(*flux));
            row.push(Cell::Count(*req));
            rows.push(row);
        }
    }
    rows
}

fn feed(list: &mut TopList, reqs: &[Req]) {
    for r in reqs {
        list.add(&r.record());
    }
}

fn url_key(r: &Req) -> Option<String> {
    Some(match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    })
}

#[test]
fn each_key_kind_is_exact_within_the_budget() {
    let reqs = stream(20_000, 400, 7);
    type KeyFn = fn(&Req) -> Option<String>;
    let kinds: [(&str, KeyFn); 5] = [
        ("top_url_detail", url_key),
        ("top_path_detail", |r| Some(r.path.clone())),
        ("top_referer_detail", |r| r.referer.clone()),
        ("top_ua_detail", |r| {
            r.ua.as_ref().map(|u| u.replace("%20", " "))
        }),
        ("top_ip_detail", |r| Some(r.ip.clone())),
    ];
    for (action, key) in kinds {
        for (stat, by) in [("flux", StatType::Flux), ("req_num", StatType::ReqNum)] {
            for grouped in [false, true] {
                let mut extra = json!({"action": action, "stat_type": stat, "top_n": 25});
                if grouped {
                    extra["group_by"] = json!("domain");
                }
                let c = condition(extra);
                let mut list = TopList::new(&c, &limits(100_000), u64::MAX);
                feed(&mut list, &reqs);
                assert!(list.approximation().is_none(), "{action}: exact");
                let want = expected_rows(&exact(&reqs, key, grouped), by, 25, grouped);
                assert_eq!(
                    list.rows().collect::<Vec<_>>(),
                    want,
                    "{action} {stat} {grouped}"
                );
                assert_eq!(TopList::columns(&c).len(), want[0].len());
            }
        }
    }
}

#[test]
fn ties_break_by_the_other_value_then_the_key() {
    let c = condition(json!({"action": "top_path_detail", "stat_type": "flux", "top_n": 10}));
    let mut list = TopList::new(&c, &limits(100), u64::MAX);
    let mk = |path: &str, bytes| Req {
        host: "a.example.com".into(),
        path: path.into(),
        query: None,
        referer: None,
        ua: None,
        ip: "192.0.2.1".into(),
        bytes,
    };
    // /b and /a: 100 bytes in one request each; /c: 100 bytes in two; /d: 101 bytes.
    let reqs = [
        mk("/b", 100),
        mk("/a", 100),
        mk("/c", 50),
        mk("/c", 50),
        mk("/d", 101),
    ];
    feed(&mut list, &reqs);
    let keys: Vec<Cell> = list.rows().map(|r| r[0].clone()).collect();
    let names = ["/d", "/c", "/a", "/b"].map(|s| Cell::Text(s.into()));
    assert_eq!(keys, names);
}

fn through_serde(t: &TopList) -> TopList {
    let mut back: TopList =
        serde_json::from_str(&serde_json::to_string(t).expect("serialize")).expect("parse");
    back.reindex();
    back
}

fn split_merge(c: &ExportCondition, lim: &SketchLimits, reqs: &[Req], parts: usize) -> TopList {
    let size = reqs.len().div_ceil(parts);
    let mut merged = TopList::new(c, lim, u64::MAX);
    for chunk in reqs.chunks(size) {
        let mut p = TopList::new(c, lim, u64::MAX);
        feed(&mut p, chunk);
        merged.merge(&through_serde(&p)).expect("same shape");
    }
    merged
}

#[test]
fn merging_any_split_equals_one_pass_while_exact() {
    let reqs = stream(10_000, 300, 3);
    let c = condition(json!({"group_by": "domain", "top_n": 50}));
    let lim = limits(10_000);
    let mut one = TopList::new(&c, &lim, u64::MAX);
    feed(&mut one, &reqs);
    for parts in [2, 3, 7, 40] {
        let merged = split_merge(&c, &lim, &reqs, parts);
        assert_eq!(merged, one, "{parts} parts");
        assert_eq!(
            merged.rows().collect::<Vec<_>>(),
            one.rows().collect::<Vec<_>>()
        );
    }
}

/// Checks Space-Saving's guarantees of `list` against the exact totals.
fn assert_guarantees(list: &TopList, totals: &Totals, by: StatType) {
    let value = |v: &(u64, u64)| match by {
        StatType::Flux => v.0,
        StatType::ReqNum => v.1,
    };
    let other = |v: &(u64, u64)| match by {
        StatType::Flux => v.1,
        StatType::ReqNum => v.0,
    };
    let mut held = std::collections::HashSet::new();
    for h in &list.held {
        let k = (list.domain(h.series).to_string(), h.key.to_string());
        let truth = totals.get(&k).expect("only seen keys are held");
        assert!(h.ranked >= value(truth), "upper bound: {k:?}");
        assert!(h.ranked - h.error <= value(truth), "lower bound: {k:?}");
        assert!(h.error <= list.floor, "error within the floor");
        assert!(h.other <= other(truth), "other column is a lower bound");
        held.insert(k);
    }
    for (k, v) in totals {
        if !held.contains(k) {
            assert!(
                value(v) <= list.floor,
                "a key not held is under the floor: {k:?}"
            );
        }
    }
}

#[test]
fn past_the_budget_space_saving_keeps_its_guarantees() {
    let reqs = stream(50_000, 20_000, 11);
    for (stat, by) in [("flux", StatType::Flux), ("req_num", StatType::ReqNum)] {
        let c = condition(json!({"stat_type": stat, "top_n": 20}));
        let lim = limits(500);
        let totals = exact(&reqs, url_key, false);
        let mut one = TopList::new(&c, &lim, u64::MAX);
        feed(&mut one, &reqs);
        let a = one.approximation().expect("approximate past the budget");
        assert_eq!(a.counters, 500);
        assert!(one.held.len() <= 500, "memory bounded by the budget");
        assert_guarantees(&one, &totals, by);
        // One pass: floor <= N / counters.
        let n: u64 = totals
            .values()
            .map(|v| if by == StatType::Flux { v.0 } else { v.1 })
            .sum();
        assert!(
            one.floor <= n / 500,
            "floor {} <= N/c {}",
            one.floor,
            n / 500
        );
        // The head of a skewed stream is found: the exact top 5 are listed, in order.
        let want: Vec<Cell> = expected_rows(&totals, by, 5, false)
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let got: Vec<Cell> = one.rows().take(5).map(|r| r[0].clone()).collect();
        assert_eq!(got, want, "{stat}: heavy hitters");
        // Merged parts keep the guarantees too.
        for parts in [2, 5, 16] {
            let merged = split_merge(&c, &lim, &reqs, parts);
            assert!(merged.approximation().is_some());
            assert!(merged.held.len() <= 500);
            assert_guarantees(&merged, &totals, by);
        }
    }
}

#[test]
fn rows_past_the_tenant_limit_overflow() {
    let reqs = stream(5_000, 300, 5);
    let c = condition(json!({"group_by": "domain", "top_n": 100}));
    let mut list = TopList::new(&c, &limits(10_000), 150);
    feed(&mut list, &reqs);
    assert_eq!(list.overflowed(), Some(300), "3 domains x 100 rows");
    let mut fits = TopList::new(&c, &limits(10_000), 300);
    feed(&mut fits, &reqs);
    assert_eq!(fits.overflowed(), None);
}

#[test]
fn records_outside_the_range_or_without_a_key_are_not_ranked() {
    let c = condition(json!({"action": "top_referer_detail"}));
    let mut list = TopList::new(&c, &limits(10), u64::MAX);
    let r = Req {
        host: "a.example.com".into(),
        path: "/x".into(),
        query: None,
        referer: None,
        ua: None,
        ip: "192.0.2.1".into(),
        bytes: 5,
    };
    list.add(&r.record());
    let mut late = r.record();
    late.raw_referer = Some("https://r.example/");
    late.timestamp_ms = day() + 86_400_000;
    list.add(&late);
    assert_eq!(list.rows().count(), 0);
}
