//! Criterion benchmarks of the core hot paths: parsing CloudFront lines, selecting and
//! aggregating the records, and merging partial aggregates.
//!
//! `cargo bench -p statport-core --bench hot_paths` (add a filter such as `parse` to run one
//! group). The lines are made here by a small deterministic generator (the realistic one lives
//! in the `statport` crate, which this crate cannot depend on): a day of requests over ~25
//! domains, user agents, paths and referers URL-encoded as CloudFront logs them, IPv4 and IPv6
//! clients, the odd uppercase or missing `x-host-header`.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use statport_core::log::format::cloudfront::CloudFrontParser;
use statport_core::log::format::ParsedLine;
use statport_core::log::Scheme;
use statport_core::stats::aggregate::ReportAggregate;
use statport_core::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use statport_core::{ExportCondition, ExportRequest, LogRecord};

/// Lines per benchmark input.
const LINES: usize = 4_000;

#[path = "support/sample.rs"]
mod sample;

use sample::{data_line, day, header, Rng, HOSTS};

/// `n` data lines of `fields` (26 or 33) tab-separated fields, spread over [`day`].
fn log_lines(seed: u64, n: usize, fields: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let secs = (i as u64 * 86_400 / n as u64 + rng.below(30)).min(86_399);
            data_line(&mut rng, secs, fields)
        })
        .collect()
}

/// Every line's record, parsed after the layout's header.
fn parse_all(lines: &[String], fields: usize) -> Vec<LogRecord<'_>> {
    let mut parser = CloudFrontParser::new();
    for h in header(fields) {
        parser.parse_line(h.as_bytes());
    }
    lines
        .iter()
        .map(|l| match parser.parse_line(l.as_bytes()) {
            ParsedLine::Record(r) => r,
            other => panic!("generated line did not parse: {other:?}\n{l}"),
        })
        .collect()
}

/// A condition validated from a request body, as the API does.
fn condition(body: Value) -> ExportCondition {
    ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid condition")
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(LINES as u64));
    // 2–4 ms per iteration: 50 linear samples take ~5 s.
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(10));
    for (fields, read_text) in [(26, false), (33, false), (33, true)] {
        let lines = log_lines(fields as u64, LINES, fields);
        let id = if read_text {
            format!("cloudfront_{fields}_fields_path_and_ua_read")
        } else {
            format!("cloudfront_{fields}_fields")
        };
        let mut parser = CloudFrontParser::new();
        for h in header(fields) {
            parser.parse_line(h.as_bytes());
        }
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for l in &lines {
                    if let ParsedLine::Record(r) = parser.parse_line(black_box(l.as_bytes())) {
                        sum += r.bytes + r.host.len() as u64;
                        if read_text {
                            let ua = r.user_agent().map_or(0, |ua| ua.len());
                            sum += (r.path().len() + ua) as u64;
                        }
                    }
                }
                sum
            })
        });
        assert_eq!(parser.bad_lines(), 0, "every generated line parses");
    }
    group.finish();
}

fn select_and_add(c: &mut Criterion) {
    let lines = log_lines(7, LINES, 33);
    let records = parse_all(&lines, 33);
    let (start, end) = (day(), day() + DAY_MS);
    let cases = [
        (
            "hourly_by_domain",
            condition(json!({
                "domain_name": "www.example.com,img.example.com,static.example.com,api.example.com,*.example.net",
                "start_time": start,
                "end_time": end,
                "interval": 3600,
                "group_by": "domain",
            })),
        ),
        (
            "five_minutes_https",
            condition(json!({
                "domain_name": "all",
                "start_time": start,
                "end_time": end,
                "interval": 300,
                "scheme": "https",
            })),
        ),
    ];
    let mut group = c.benchmark_group("select_and_add");
    group.throughput(Throughput::Elements(records.len() as u64));
    for (name, condition) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut aggregate = ReportAggregate::new(condition);
                for r in &records {
                    if condition.selects(black_box(r)) {
                        aggregate.add(r);
                    }
                }
                aggregate
            })
        });
    }
    group.finish();
}

/// An aggregate for `condition` with traffic in every interval of every one of [`HOSTS`].
fn full_aggregate(condition: &ExportCondition, step_ms: i64) -> ReportAggregate {
    let mut aggregate = ReportAggregate::new(condition);
    let mut ts = condition.range_start;
    while ts < condition.range_end {
        for (i, host) in HOSTS.iter().enumerate() {
            aggregate.add(&LogRecord {
                timestamp_ms: ts,
                host: Cow::Borrowed(host),
                bytes: 1_000 + i as u64,
                scheme: Scheme::Https,
                client_ip: "192.0.2.1",
                edge_location: "SFO5-C1",
                method: "GET",
                raw_path: "/index.html",
                raw_query: None,
                status: 200,
                raw_referer: None,
                raw_user_agent: None,
                origin_fetch: i % 4 == 0,
                service_area: None,
            });
        }
        ts += step_ms;
    }
    aggregate
}

fn merge(c: &mut Criterion) {
    let start = day();
    let cases = [
        ("hourly_by_domain_1_day", 1, 3600, HOUR_MS),
        ("five_minutes_by_domain_31_days", 31, 300, 5 * MINUTE_MS),
    ];
    let mut group = c.benchmark_group("merge");
    for (name, days, interval, step_ms) in cases {
        let condition = condition(json!({
            "domain_name": "all",
            "start_time": start,
            "end_time": start + days * DAY_MS,
            "interval": interval,
            "group_by": "domain",
        }));
        let part = full_aggregate(&condition, step_ms);
        let mut total = ReportAggregate::new(&condition);
        total.merge(&part).expect("same shape");
        // Counters merged per call: one per interval and domain.
        group.throughput(Throughput::Elements(part.row_count() as u64));
        group.bench_function(name, |b| {
            b.iter(|| total.merge(black_box(&part)).expect("same shape"))
        });
    }
    group.finish();
}

criterion_group!(benches, parse, select_and_add, merge);
criterion_main!(benches);
