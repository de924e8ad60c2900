//! Criterion benchmarks of the worker's hot paths: scanning one gzip log object (gunzip + parse
//! + select + aggregate) and writing an export file in each format.
//!
//! `cargo bench -p statport-worker --bench scan_write` (add `scan` or `write` to run one
//! group). The log is made here by a small deterministic generator (the realistic one lives in
//! the `statport` crate, which depends on this one): four gzip members, each with its own
//! header, alternating the 33- and 26-field layouts, user agents and paths URL-encoded as
//! CloudFront logs them. The writers write to files in a fresh folder of the temp dir.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use statport_core::stats::aggregate::ReportAggregate;
use statport_core::table::{Cell, Column, Language};
use statport_core::time::{format_rfc3339, DAY_MS, MINUTE_MS};
use statport_core::{ExportCondition, ExportRequest};
use statport_worker::output::{csv_writer, json_writer, xlsx_writer, OutputError, RowWriter};
use statport_worker::scan::{scan_cloudfront, ScanSignals};

/// Data lines per gzip member.
const LINES_PER_MEMBER: usize = 10_000;
/// Gzip members in the scanned object.
const MEMBERS: usize = 4;
/// Rows per written export file.
const ROWS: usize = 100_000;

#[path = "../../core/benches/support/sample.rs"]
mod sample;

use sample::{data_line, day, header, Rng, HOSTS};

/// One gzip member: the `#Version` and `#Fields` header of a `fields` (26 or 33) layout, then
/// `n` data lines spread over [`day`] from second `first_sec` on. Returns the member and its
/// raw size.
fn member(rng: &mut Rng, fields: usize, n: usize, first_sec: u64) -> (Vec<u8>, u64) {
    let mut text = header(fields).join("\n");
    text.push('\n');
    for i in 0..n {
        let secs = (first_sec + i as u64 * 21_600 / n as u64).min(86_399);
        text.push_str(&data_line(rng, secs, fields));
        text.push('\n');
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).expect("in-memory gzip");
    (gz.finish().expect("in-memory gzip"), text.len() as u64)
}

/// A log object of [`MEMBERS`] concatenated gzip members; returns it and its raw size.
fn log_object() -> (Vec<u8>, u64) {
    let mut rng = Rng(42);
    let (mut object, mut raw) = (Vec::new(), 0);
    for m in 0..MEMBERS {
        let fields = if m % 2 == 0 { 33 } else { 26 };
        let (gz, size) = member(&mut rng, fields, LINES_PER_MEMBER, m as u64 * 21_600);
        object.extend(gz);
        raw += size;
    }
    (object, raw)
}

fn scan(c: &mut Criterion) {
    let (object, raw) = log_object();
    let condition: ExportCondition = ExportRequest::from_json(&json!({
        "domain_name": "all",
        "start_time": day(),
        "end_time": day() + DAY_MS,
        "interval": 3600,
        "group_by": "domain",
    }))
    .and_then(|r| r.validate())
    .expect("valid condition");
    let signals = Arc::new(ScanSignals::default());
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(raw));
    group.sample_size(20);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("cloudfront_hourly_by_domain", |b| {
        b.iter(|| {
            let mut aggregate = ReportAggregate::new(&condition);
            let stats = scan_cloudfront(
                "bench.gz",
                black_box(&object[..]),
                &condition,
                &mut aggregate,
                &signals,
            )
            .expect("scan");
            assert_eq!(stats.selected, (MEMBERS * LINES_PER_MEMBER) as u64);
            aggregate
        })
    });
    group.finish();
}

/// [`ROWS`] rows of (time, domain, flux): five-minute intervals, one row per domain.
fn rows() -> Vec<Vec<Cell>> {
    let mut rng = Rng(7);
    (0..ROWS)
        .map(|i| {
            let start = day() + (i / HOSTS.len()) as i64 * 5 * MINUTE_MS;
            vec![
                Cell::Text(format_rfc3339(start, 8 * 3600)),
                Cell::Text(HOSTS[i % HOSTS.len()].to_string()),
                Cell::Count(rng.below(1 << 34)),
            ]
        })
        .collect()
}

type MakeWriter = fn(&Path, &[Column]) -> Result<Box<dyn RowWriter + Send>, OutputError>;

fn write(c: &mut Criterion) {
    let rows = rows();
    let columns = [Column::Time, Column::Domain, Column::Flux];
    let dir: PathBuf = std::env::temp_dir().join(format!("statport-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the bench folder");
    let writers: [(&str, MakeWriter); 3] = [
        ("csv", |p, c| csv_writer(p, c, Language::Zh)),
        ("json", |p, c| json_writer(p, c)),
        ("xlsx", |p, c| xlsx_writer(p, c, Language::Zh)),
    ];
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    for (format, make) in writers {
        let path = dir.join(format!("export.{format}"));
        group.bench_function(format, |b| {
            b.iter(|| {
                let mut writer = make(&path, &columns).expect("create the file");
                for row in &rows {
                    writer.write_row(black_box(row)).expect("write a row");
                }
                writer.finish().expect("finish the file")
            })
        });
    }
    group.finish();
    std::fs::remove_dir_all(&dir).expect("remove the bench folder");
}

criterion_group!(benches, scan, write);
criterion_main!(benches);
