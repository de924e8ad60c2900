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
use statport_core::aggregate::ReportAggregate;
use statport_core::cloudfront::{FIELDS_26, FIELDS_33};
use statport_core::table::{Cell, Column, Language};
use statport_core::time::{format_rfc3339, ms_from_civil, DAY_MS, MINUTE_MS};
use statport_core::{ExportCondition, ExportRequest};
use statport_worker::output::{csv_writer, json_writer, xlsx_writer, OutputError, RowWriter};
use statport_worker::scan::{scan_cloudfront, ScanSignals};

/// Data lines per gzip member.
const LINES_PER_MEMBER: usize = 10_000;
/// Gzip members in the scanned object.
const MEMBERS: usize = 4;
/// Rows per written export file.
const ROWS: usize = 100_000;

/// SplitMix64: a tiny deterministic PRNG, so every run benchmarks the same log.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Any element.
    fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An element, the first ones far more often than the last (the smaller of two draws).
    fn skewed<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        let n = items.len() as u64;
        &items[self.below(n).min(self.below(n)) as usize]
    }
}

/// Domains, most popular first.
const HOSTS: &[&str] = &[
    "www.example.com",
    "img.example.com",
    "static.example.com",
    "cdn3.shop.example.net",
    "video.example.org",
    "api.example.com",
    "m.example.com",
    "assets.shop.example.net",
    "downloads.example.org",
    "media.example.net",
    "blog.example.com",
    "news.example.org",
    "fonts.example.com",
    "img2.shop.example.net",
    "live.example.net",
    "dl.example.com",
    "static.news.example.org",
    "beta.example.com",
    "files.example.org",
    "cdn1.example.org",
    "cdn2.example.net",
    "cdn4.example.net",
    "cdn5.example.net",
    "cdn6.example.net",
    "cdn7.example.net",
];

/// User agents as sent (decoded); one carries a literal `%20`, logged as `%2520`.
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "MyShop%20App/4.2.1 CFNetwork/1496.0.7 Darwin/23.5.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 12; 小米 12 Build/SKQ1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "okhttp/4.12.0",
    "curl/8.5.0",
];

/// Paths as requested (decoded); a few need URL encoding.
const PATHS: &[&str] = &[
    "/index.html",
    "/images/hero-1920.jpg",
    "/static/js/app.3f9a1c.js",
    "/video/intro/seg-00042.ts",
    "/api/v2/products",
    "/images/summer sale/banner.jpg",
    "/文档/使用说明.pdf",
    "/favicon.ico",
];

/// URL-encodes as CloudFront does in its logs: everything but a few safe ASCII characters
/// becomes `%XX` (spaces `%20`, a `%` itself `%25`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:;,()+!*'@$".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The day the log covers, 2026-11-01 (UTC), in epoch ms.
fn day() -> i64 {
    ms_from_civil(2026, 11, 1, 0, 0, 0).expect("valid date")
}

/// One gzip member: the `#Version` and `#Fields` header of a `fields` (26 or 33) layout, then
/// `n` data lines spread over [`day`] from second `first_sec` on. Returns the member and its
/// raw size.
fn member(rng: &mut Rng, fields: usize, n: usize, first_sec: u64) -> (Vec<u8>, u64) {
    let names: &[&str] = if fields == 26 { &FIELDS_26 } else { &FIELDS_33 };
    let mut text = format!("#Version: 1.0\n#Fields: {}\n", names.join(" "));
    for i in 0..n {
        let secs = (first_sec + i as u64 * 21_600 / n as u64).min(86_399);
        let host = *rng.skewed(HOSTS);
        let https = rng.below(1000) < 780;
        let result = if rng.below(1000) < 220 { "Miss" } else { "Hit" };
        let bytes = 300 + (1u64 << rng.below(24)) + rng.below(1 << 10);
        let ip = format!(
            "{}.{}.{}.{}",
            rng.below(223) + 1,
            rng.below(256),
            rng.below(256),
            rng.below(256)
        );
        let request_id: String = (0..52)
            .map(|_| {
                char::from(
                    *rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
                )
            })
            .collect();
        let path = *rng.skewed(PATHS);
        let user_agent = *rng.skewed(USER_AGENTS);
        let mut f = vec![
            "2026-11-01".to_string(),
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            "SFO5-C1".to_string(),
            bytes.to_string(),
            ip,
            "GET".to_string(),
            "d1a2b3c4d5e6f7.cloudfront.net".to_string(),
            encode(path),
            rng.pick(&["200", "200", "200", "304", "404"]).to_string(),
            "-".to_string(),
            encode(user_agent),
            "-".to_string(),
            "-".to_string(),
            result.to_string(),
            request_id,
            host.to_string(),
            (if https { "https" } else { "http" }).to_string(),
            (100 + rng.below(400)).to_string(),
            format!("0.{:03}", rng.below(1000)),
            "-".to_string(),
            (if https { "TLSv1.3" } else { "-" }).to_string(),
            (if https { "TLS_AES_128_GCM_SHA256" } else { "-" }).to_string(),
            result.to_string(),
            "HTTP/2.0".to_string(),
            "-".to_string(),
            "-".to_string(),
        ];
        if fields == 33 {
            f.extend([
                (1024 + rng.below(60_000)).to_string(),
                format!("0.{:03}", rng.below(1000)),
                result.to_string(),
                "image/jpeg".to_string(),
                bytes.saturating_sub(300).to_string(),
                "-".to_string(),
                "-".to_string(),
            ]);
        }
        text.push_str(&f.join("\t"));
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
