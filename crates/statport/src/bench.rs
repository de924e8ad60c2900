//! `statport bench`: the end-to-end benchmark.
//!
//! Generates a day of CloudFront logs (about a million lines by default) into a fresh bucket,
//! measures the parse-and-aggregate loop alone on one core, then runs the real service (API,
//! Redis queue, worker, S3) on one task per format and checks every number of every file against
//! a sum computed straight from the generated records. Reports lines per second and the peak
//! resident memory of the process, then lines per second of every available action
//! ([`actions`]; `isp_detail` through the IP database [`crate::genipdb`] writes for the day)
//! and the peak memory of a top-URL export over a million distinct URLs; last, a `logs` export
//! of every row of the day (csv and JSON Lines) with its peak memory and temp disk.

mod actions;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};
use statport_core::log::format::LogFormat;
use statport_core::log::geo::mmdb::MmdbGeo;
use statport_core::stats::aggregate::ReportAggregate;
use statport_core::time::{format_rfc3339, parse_rfc3339, DAY_MS, HOUR_MS};
use statport_core::ExportRequest;
use statport_worker::scan::{scan_cloudfront, ScanSignals};

use crate::config::{Settings, TenantConfig};
use crate::genlogs::{GenSpec, GeneratedRecord, Generator};
use crate::launch::launch;
use crate::services::object_store;

/// What to generate.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Lines per hourly file (24 files).
    pub lines_per_hour: u64,
    /// Distinct domains the lines are spread over.
    pub hosts: u32,
    /// Seed of the generator: the same seed writes the same logs.
    pub seed: u64,
}

/// `(hour start, domain) → (flux, req_num)`, summed from the generated records.
type Expected = BTreeMap<(i64, String), (u64, u64)>;

/// Runs the benchmark and prints its report.
pub async fn run(mut settings: Settings, options: BenchOptions) -> anyhow::Result<()> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let key = format!("bench-key-{tag}");
    let urls_key = format!("bench-urls-key-{tag}");
    let log_bucket = format!("statport-bench-logs-{tag}");
    settings.redis.namespace = format!("statport-bench-{tag}");
    settings.queue.name = format!("statport-bench-{tag}");
    settings.results.bucket = format!("statport-bench-results-{tag}");
    // On the embedded backends, the SQLite file and the folder go in a fresh directory under
    // the temp dir, removed at the end (about 260 MB of logs and results).
    let bench_dir = TempDir(std::env::temp_dir().join(format!("statport-bench-{tag}")));
    if settings.backends.uses_sqlite() {
        settings.embedded.sqlite_path = bench_dir.0.join("statport.db").display().to_string();
    }
    if settings.backends.objects == crate::config::ObjectBackend::Local {
        settings.embedded.objects_dir = bench_dir.0.join("objects").display().to_string();
    }
    println!(
        "backends: store {:?}, queue {:?}, objects {:?}",
        settings.backends.store, settings.backends.queue, settings.backends.objects
    );
    let tenant = |key: &str, prefix: &str| TenantConfig {
        api_key_hashes: vec![statport_access::hash_api_key(key)],
        log_bucket: log_bucket.clone(),
        log_prefix: prefix.into(),
        log_format: LogFormat::Cloudfront,
        // One download a second (not the seeds' one per 30 s) and 1,000 calls a second (not
        // 20): the bench downloads a file per format in a row and polls every 20 ms.
        limits: statport_core::tenant::TenantLimits {
            download_interval_secs: 1,
            api_per_second: 1000,
            api_burst: 1000,
            ..Default::default()
        },
        callback_secret: Default::default(),
        csv_escape_formulas: true,
    };
    // The IP database for isp_detail: the one `statport gen-ipdb` writes, which places every
    // generated client; a temporary file for the service, removed at the end.
    let ipdb = crate::genipdb::database()?;
    let ipdb_path = TempFile(std::env::temp_dir().join(format!("statport-bench-{tag}.mmdb")));
    std::fs::write(&ipdb_path.0, &ipdb)
        .with_context(|| format!("writing {}", ipdb_path.0.display()))?;
    settings.ip_database.path = ipdb_path.0.display().to_string();
    settings.ip_database.isp_path = String::new();
    let geo = MmdbGeo::from_bytes(ipdb).context("the generated IP database")?;
    settings.tenants = BTreeMap::from([
        ("bench".to_string(), tenant(&key, "cf/")),
        // The same day with a unique path on every line, for the top-list memory figure.
        ("bench-urls".to_string(), tenant(&urls_key, "urls/")),
    ]);
    let now = statport_core::time::clock::Clock::now_ms(&statport_core::time::clock::SystemClock);
    let day = now - now.rem_euclid(DAY_MS) - DAY_MS;
    let spec = GenSpec {
        seed: options.seed,
        start_ms: day,
        hours: 24,
        lines_per_hour: options.lines_per_hour,
        hosts: options.hosts,
        bad_line_every: 10_007,
        ..GenSpec::default()
    };

    // 1. generate and upload, summing independently
    let store = object_store(&settings);
    store.ensure_bucket(&log_bucket).await?;
    let started = Instant::now();
    let mut expected: Expected = BTreeMap::new();
    let mut generator = Generator::new(&spec);
    while let Some(file) = generator.next_file(&mut |r: &GeneratedRecord| {
        if r.timestamp_ms >= day && r.timestamp_ms < day + DAY_MS {
            let e = expected
                .entry((
                    r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS),
                    r.host.clone(),
                ))
                .or_default();
            e.0 += r.bytes;
            e.1 += 1;
        }
    }) {
        store
            .put_bytes(
                &log_bucket,
                &format!("cf/{}", file.name),
                bytes::Bytes::from(file.gz),
                "application/gzip",
            )
            .await?;
    }
    let stats = generator.stats();
    let total_lines = stats.records + stats.bad_lines;
    println!(
        "generated {} files: {} lines ({} garbage), {:.1} MB raw, {:.1} MB gzipped, in {:.1} s (with upload)",
        stats.files,
        total_lines,
        stats.bad_lines,
        stats.raw_bytes as f64 / 1e6,
        stats.gz_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // 2. the hot loop alone: gunzip + parse + select + aggregate, one core, from memory (the
    //    files are made again, one at a time, from the same seed; only scanning is timed)
    let body = json!({"domain_name": "all", "start_time": day, "end_time": day + DAY_MS, "interval": 3600, "group_by": "domain"});
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let signals = Arc::new(ScanSignals::default());
    let mut aggregate = ReportAggregate::new(&condition);
    let mut lines = 0;
    let mut scan_time = Duration::ZERO;
    let mut generator = Generator::new(&spec);
    while let Some(file) = generator.next_file(&mut |_| {}) {
        let started = Instant::now();
        lines += scan_cloudfront(
            &file.name,
            &file.gz[..],
            &condition,
            &mut aggregate,
            &signals,
        )?
        .lines;
        scan_time += started.elapsed();
    }
    let secs = scan_time.as_secs_f64();
    println!(
        "scan alone (1 core): {lines} lines in {secs:.2} s = {:.0} lines/s, {:.0} MB/s of raw log",
        lines as f64 / secs,
        stats.raw_bytes as f64 / 1e6 / secs
    );

    println!("per action, the same day:");
    actions::scan_alone(&spec, day, &geo)?;
    let distinct_urls = actions::upload_unique_urls(&settings, &spec, &log_bucket, "urls/").await?;

    // 3. the real service, one task per format
    let temp_dir = settings.temp_dir();
    let running = launch(settings).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/cdn/statistics/export-tasks", running.base_url);
    for format in ["csv", "json", "xlsx"] {
        let mut request = body.clone();
        request["export_format"] = json!(format);
        request["language"] = json!("en");
        let started = Instant::now();
        let response = http
            .post(&url)
            .bearer_auth(&key)
            .json(&request)
            .send()
            .await?;
        ensure!(
            response.status().as_u16() == 201,
            "submit answered {}",
            response.status()
        );
        let task: Value = response.json().await?;
        let id = task["task_id"].as_str().context("task_id")?.to_string();
        let task = loop {
            let task: Value = http
                .get(format!("{url}/{id}"))
                .bearer_auth(&key)
                .send()
                .await?
                .json()
                .await?;
            match task["status"].as_str() {
                Some("success") => break task,
                Some("fail") => bail!("the {format} task failed: {task}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let link = task["download_link"].as_str().context("download_link")?;
        let file = loop {
            let response = http.get(link).send().await?;
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            ensure!(
                response.status().is_success(),
                "downloading the {format} file: {}",
                response.status()
            );
            break response.bytes().await?;
        };
        let rows = check_file(format, &file, &expected)?;
        ensure!(
            task["skipped_lines"] == stats.bad_lines,
            "skipped_lines {} != {}",
            task["skipped_lines"],
            stats.bad_lines
        );
        println!(
            "{format}: success in {secs:.2} s = {:.0} lines/s end to end; {rows} rows, {} bytes, every number equal to the independent sum",
            task["read_lines"].as_u64().unwrap_or(0) as f64 / secs,
            file.len()
        );
    }
    println!("per action, end to end (csv):");
    actions::end_to_end(&http, &url, &key, day).await?;
    actions::million_urls(&http, &url, &urls_key, day, distinct_urls).await?;
    let day_rows: u64 = expected.values().map(|(_, requests)| requests).sum();
    actions::logs_export(&http, &url, &key, day, temp_dir, day_rows).await?;
    running.stop().await?;
    println!(
        "peak resident memory of this process (generator, service and checks): {}",
        peak_rss()
    );
    Ok(())
}

/// A file removed when the bench ends, however it ends.
struct TempFile(std::path::PathBuf);

/// A directory removed with everything in it when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn check_file(format: &str, file: &[u8], expected: &Expected) -> anyhow::Result<usize> {
    let mut got: Vec<(String, String, u64)> = Vec::new();
    match format {
        "csv" => {
            for row in csv::Reader::from_reader(file).records() {
                let row = row?;
                got.push((row[0].to_string(), row[1].to_string(), row[2].parse()?));
            }
        }
        "json" => {
            let rows: Vec<Value> = serde_json::from_slice(file)?;
            for r in rows {
                got.push((
                    r["time"].as_str().context("time")?.to_string(),
                    r["domain"].as_str().context("domain")?.to_string(),
                    r["flux"].as_u64().context("flux")?,
                ));
            }
        }
        _ => {
            let mut book = Xlsx::new(Cursor::new(file.to_vec()))?;
            let sheet = book.worksheet_range("Sheet1")?;
            for row in sheet.rows().skip(1) {
                let flux = match &row[2] {
                    Data::Float(f) => *f as u64,
                    other => bail!("flux cell is {other:?}"),
                };
                got.push((row[0].to_string(), row[1].to_string(), flux));
            }
        }
    }
    let domains: std::collections::BTreeSet<&String> = expected.keys().map(|(_, d)| d).collect();
    ensure!(
        got.len() == 24 * domains.len(),
        "{} rows, expected {}",
        got.len(),
        24 * domains.len()
    );
    for (time, domain, flux) in &got {
        let ts = parse_rfc3339(time).context("row time")?;
        let want = expected.get(&(ts, domain.clone())).map_or(0, |v| v.0);
        ensure!(
            *flux == want,
            "{format}: flux of {domain} at {time} is {flux}, expected {want}"
        );
        ensure!(format_rfc3339(ts, 0) == *time, "time format");
    }
    Ok(got.len())
}

/// Resets the peak resident memory (`VmHWM`) of this process to its current size (Linux 4.0+;
/// elsewhere nothing happens and the peak stays the process's whole-life peak).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` of `/proc/self/status` (Linux), e.g. `85.3 MB`.
pub fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".to_string(),
            |kb| format!("{:.1} MB", kb / 1000.0),
        )
}
