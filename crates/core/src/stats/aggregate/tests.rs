use std::borrow::Cow;

use serde_json::json;

use super::*;
use crate::log::Scheme;
use crate::request::ExportRequest;
use crate::time::ms_from_civil;

fn at(d: u32, h: u32, mi: u32) -> i64 {
    ms_from_civil(2026, 11, d, h, mi, 0).expect("valid test date")
}

fn condition(extra: serde_json::Value) -> ExportCondition {
    let mut body = json!({
        "domain_name": "a.example.com,b.example.com",
        "start_time": at(1, 0, 0),
        "end_time": at(1, 1, 0),
        "interval": 300,
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

/// A selected record of `host` at `ts` (shared with the other aggregation tests).
pub(crate) fn rec(host: &str, ts: i64, bytes: u64, miss: bool) -> LogRecord<'static> {
    LogRecord {
        timestamp_ms: ts,
        host: Cow::Owned(host.to_string()),
        bytes,
        scheme: Scheme::Https,
        client_ip: "192.0.2.1",
        edge_location: "SFO5-C1",
        method: "GET",
        raw_path: "/",
        raw_query: None,
        status: 200,
        raw_referer: None,
        raw_user_agent: None,
        origin_fetch: miss,
        service_area: None,
    }
}

fn texts(rows: impl Iterator<Item = Vec<Cell>>) -> Vec<String> {
    rows.map(|r| {
        r.iter()
            .map(|c| match c {
                Cell::Text(t) => t.clone(),
                Cell::Count(n) => n.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
    .collect()
}

#[test]
fn every_interval_present_with_zeros() {
    let c = condition(json!({}));
    let mut agg = ReportAggregate::new(&c);
    agg.add(&rec("a.example.com", at(1, 0, 7), 100, false));
    agg.add(&rec("b.example.com", at(1, 0, 9), 50, true));
    agg.add(&rec("a.example.com", at(1, 0, 59), 1, false));
    let rows = texts(agg.rows(&c));
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0], "2026-11-01T00:00:00Z 0");
    assert_eq!(rows[1], "2026-11-01T00:05:00Z 150");
    assert_eq!(rows[11], "2026-11-01T00:55:00Z 1");
    assert_eq!(
        ReportAggregate::columns(&c),
        vec![Column::Time, Column::Flux]
    );
    assert_eq!(
        agg.totals(),
        Counters {
            flux: 151,
            req_num: 3,
            origin_flux: 50
        }
    );
}

#[test]
fn grouped_rows_ordered_by_time_then_domain_with_named_hosts_always_present() {
    let c = condition(
        json!({"group_by": "domain", "stat_type": "req_num", "domain_name": "b.example.com,a.example.com,*.w.example.com"}),
    );
    let mut agg = ReportAggregate::new(&c);
    agg.add(&rec("x.w.example.com", at(1, 0, 1), 10, false));
    agg.add(&rec("b.example.com", at(1, 0, 2), 10, false));
    agg.add(&rec("b.example.com", at(1, 0, 3), 10, false));
    let rows = texts(agg.rows(&c));
    assert_eq!(agg.row_count(), 36);
    assert_eq!(
        &rows[..4],
        &[
            "2026-11-01T00:00:00Z a.example.com 0",
            "2026-11-01T00:00:00Z b.example.com 2",
            "2026-11-01T00:00:00Z x.w.example.com 1",
            "2026-11-01T00:05:00Z a.example.com 0",
        ]
    );
    assert_eq!(
        ReportAggregate::columns(&c),
        vec![Column::Time, Column::Domain, Column::ReqNum]
    );
}

#[test]
fn records_outside_the_range_are_ignored() {
    let c = condition(json!({}));
    let mut agg = ReportAggregate::new(&c);
    agg.add(&rec("a.example.com", at(1, 1, 0), 100, false));
    agg.add(&rec("a.example.com", at(1, 0, 0) - 1, 100, false));
    assert_eq!(agg.totals(), Counters::default());
}

#[test]
fn merge_equals_single_pass() {
    let c = condition(json!({"group_by": "domain", "domain_name": "all"}));
    let records: Vec<_> = (0..200)
        .map(|i| {
            rec(
                ["a.example.com", "b.example.com", "c.example.com"][i % 3],
                at(1, 0, 0) + (i as i64) * 17_000,
                i as u64,
                i % 4 == 0,
            )
        })
        .collect();
    let mut whole = ReportAggregate::new(&c);
    records.iter().for_each(|r| whole.add(r));
    let mut left = ReportAggregate::new(&c);
    let mut right = ReportAggregate::new(&c);
    records[..77].iter().for_each(|r| left.add(r));
    records[77..].iter().for_each(|r| right.add(r));
    right.merge(&left).expect("same shape");
    assert_eq!(texts(right.rows(&c)), texts(whole.rows(&c)));
    let other = condition(json!({"interval": 3600}));
    assert_eq!(
        right.merge(&ReportAggregate::new(&other)),
        Err(ShapeMismatch)
    );
}

#[test]
fn monthly_buckets_with_offset() {
    let c = condition(
        json!({"interval": null, "granularity": "monthly+8", "start_time": at(1, 0, 0), "end_time": at(30, 18, 0)}),
    );
    let mut agg = ReportAggregate::new(&c);
    // 2026-11-30T17:00Z is already December in UTC+8
    agg.add(&rec(
        "a.example.com",
        ms_from_civil(2026, 11, 30, 17, 0, 0).expect("date"),
        5,
        false,
    ));
    agg.add(&rec("a.example.com", at(5, 0, 0), 7, false));
    let rows = texts(agg.rows(&c));
    assert_eq!(
        rows,
        vec!["2026-11-01T00:00:00+08:00 7", "2026-12-01T00:00:00+08:00 5"]
    );
}

#[test]
fn round_trips_through_json_and_still_merges() {
    let c = condition(json!({"group_by": "domain"}));
    let mut agg = ReportAggregate::new(&c);
    agg.add(&rec("a.example.com", at(1, 0, 7), 100, false));
    let text = serde_json::to_string(&agg).expect("serialize");
    let mut back: ReportAggregate = serde_json::from_str(&text).expect("deserialize");
    back.reindex();
    back.merge(&agg).expect("same shape");
    assert_eq!(back.totals().flux, 200);
    assert_eq!(back.row_count(), agg.row_count());
}

#[test]
fn a_bounded_aggregate_stops_growing_and_says_so() {
    // 12 buckets; a cap of 30 rows holds two series, not three.
    let c = condition(json!({"group_by": "domain", "domain_name": "all"}));
    let mut agg = ReportAggregate::bounded(&c, 30);
    agg.add(&rec("a.example.com", at(1, 0, 7), 100, false));
    agg.add(&rec("b.example.com", at(1, 0, 7), 10, false));
    assert_eq!(agg.overflowed(), None);
    agg.add(&rec("c.example.com", at(1, 0, 7), 1, false));
    assert_eq!(agg.overflowed(), Some(36));
    assert_eq!(agg.row_count(), 24);
    // Existing series still count; new ones stay out.
    agg.add(&rec("a.example.com", at(1, 0, 8), 5, false));
    agg.add(&rec("d.example.com", at(1, 0, 8), 5, false));
    assert_eq!(agg.row_count(), 24);
    assert_eq!(agg.totals().flux, 115);
    assert_eq!(agg.overflowed(), Some(36));

    // A thousand hosts against a 1,000-row cap: memory stays at the cap.
    let mut many = ReportAggregate::bounded(&c, 1_000);
    for i in 0..1_000 {
        many.add(&rec(&format!("h{i}.example.com"), at(1, 0, 0), 1, false));
    }
    assert_eq!(many.row_count(), 996);
    assert_eq!(many.overflowed(), Some(1_008));
}

#[test]
fn merging_keeps_the_overflow_and_the_cap() {
    let c = condition(json!({"group_by": "domain", "domain_name": "all"}));
    let mut full = ReportAggregate::bounded(&c, 24);
    for host in ["a.example.com", "b.example.com", "c.example.com"] {
        full.add(&rec(host, at(1, 0, 0), 1, false));
    }
    assert_eq!(full.overflowed(), Some(36));
    let mut fresh = ReportAggregate::bounded(&c, 24);
    assert_eq!(fresh.overflowed(), None);
    fresh.merge(&full).expect("same shape");
    assert_eq!(fresh.overflowed(), Some(36));
    // Two parts that each fit can overflow together.
    let mut left = ReportAggregate::bounded(&c, 24);
    let mut right = ReportAggregate::bounded(&c, 24);
    left.add(&rec("a.example.com", at(1, 0, 0), 1, false));
    left.add(&rec("b.example.com", at(1, 0, 0), 1, false));
    right.add(&rec("c.example.com", at(1, 0, 0), 1, false));
    left.merge(&right).expect("same shape");
    assert_eq!(left.overflowed(), Some(36));
    assert_eq!(left.row_count(), 24);
    // The flag survives a round trip through JSON (partial results travel between workers).
    let back: ReportAggregate =
        serde_json::from_str(&serde_json::to_string(&left).expect("serialize")).expect("json");
    assert_eq!(back.overflowed(), Some(36));
    assert_eq!(back.max_rows(), 24);
}

#[test]
fn named_hosts_and_ungrouped_exports_past_the_cap_overflow_at_once() {
    let c = condition(json!({"group_by": "domain"}));
    let agg = ReportAggregate::bounded(&c, 12);
    assert_eq!(agg.overflowed(), Some(24));
    let flat = condition(json!({}));
    let mut agg = ReportAggregate::bounded(&flat, 11);
    assert_eq!(agg.overflowed(), Some(12));
    agg.add(&rec("a.example.com", at(1, 0, 7), 100, false));
    assert_eq!(agg.totals(), Counters::default());
    assert_eq!(ReportAggregate::new(&flat).overflowed(), None);
}
