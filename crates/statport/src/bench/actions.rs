//! The benchmark's per-action part: lines per second of every available action on the same
//! generated day (the scan alone on one core, and end to end through the service), and the peak
//! memory of a top-list export over a million distinct URLs.

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use statport_core::log::format::LogFormat;
use statport_core::log::geo::{GeoLookup, GeoSupport};
use statport_core::request::GeoSink;
use statport_core::request::{Action, RequestLimits};
use statport_core::stats::partial::Partial;
use statport_core::stats::sketch::SketchLimits;
use statport_core::ExportRequest;
use statport_worker::scan::{scan_cloudfront, ScanSignals};

use crate::genlogs::{GenSpec, Generator};
use crate::services::object_store;

use super::{peak_rss, reset_peak_rss};

/// The actions measured, with the extra request fields each needs.
fn measured() -> Vec<(&'static str, Value)> {
    vec![
        (
            "reports_detail",
            json!({"interval": 3600, "group_by": "domain", "stat_type": "req_num"}),
        ),
        (
            "origin_detail",
            json!({"interval": 3600, "group_by": "domain"}),
        ),
        ("top_url_detail", json!({"top_n": 100})),
        ("top_path_detail", json!({"top_n": 100})),
        ("top_referer_detail", json!({"top_n": 100})),
        ("top_ua_detail", json!({"top_n": 100})),
        ("top_ip_detail", json!({"top_n": 100})),
        ("uv", json!({"interval": 3600, "group_by": "domain"})),
        // Looks every client up in the IP database `statport gen-ipdb` wrote for the day.
        ("isp_detail", json!({"interval": 3600})),
    ]
}

fn request(action: &str, extra: &Value, day: i64) -> Value {
    let mut body = json!({"action": action, "domain_name": "all", "start_time": day,
                          "end_time": day + statport_core::time::DAY_MS, "language": "en"});
    if let Some(fields) = extra.as_object() {
        for (k, v) in fields {
            body[k] = v.clone();
        }
    }
    body
}

/// The scan alone (gunzip, parse, select, the action's partial result) on one core, per action.
/// An action that needs geography scans through the IP lookup and its cache ([`GeoSink`]), as a
/// worker does, so its figure includes the lookups in `geo`.
pub fn scan_alone(spec: &GenSpec, day: i64, geo: &dyn GeoLookup) -> anyhow::Result<()> {
    // Validated as the service validates a CloudFront tenant's request with a database.
    let limits = RequestLimits {
        geo: GeoSupport::new(true, LogFormat::Cloudfront),
        ..RequestLimits::default()
    };
    for (action, extra) in measured() {
        let condition = ExportRequest::from_json(&request(action, &extra, day))
            .and_then(|r| r.validate_with(&limits))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let signals = Arc::new(ScanSignals::default());
        let partial = Partial::for_condition(&condition, u64::MAX, &SketchLimits::default());
        // One GeoSink per file, as a worker builds one per log object (its cache included).
        let mut partial = Some(partial);
        let (mut lines, mut took) = (0u64, Duration::ZERO);
        let mut generator = Generator::new(spec);
        while let Some(file) = generator.next_file(&mut |_| {}) {
            let mut inner = partial.take().context("the partial result")?;
            let started = Instant::now();
            lines += if condition.geo_needed() {
                let mut sink = GeoSink::new(inner, geo, &condition);
                let stats =
                    scan_cloudfront(&file.name, &file.gz[..], &condition, &mut sink, &signals)?;
                inner = sink.into_inner();
                stats
            } else {
                scan_cloudfront(&file.name, &file.gz[..], &condition, &mut inner, &signals)?
            }
            .lines;
            took += started.elapsed();
            partial = Some(inner);
        }
        let partial = partial.context("the partial result")?;
        let rows = partial.rows(&condition).count();
        println!(
            "  {action:<19} scan alone: {:>9.0} lines/s ({rows} rows)",
            lines as f64 / took.as_secs_f64()
        );
    }
    Ok(())
}

/// Submits `body` as the bench tenant and waits for it; the task object and the seconds taken.
pub async fn run_task(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<(Value, f64)> {
    let started = Instant::now();
    let response = http.post(url).bearer_auth(key).json(body).send().await?;
    ensure!(
        response.status().as_u16() == 201,
        "submit answered {}",
        response.status()
    );
    let task: Value = response.json().await?;
    let id = task["task_id"].as_str().context("task_id")?.to_string();
    loop {
        let task: Value = http
            .get(format!("{url}/{id}"))
            .bearer_auth(key)
            .send()
            .await?
            .json()
            .await?;
        match task["status"].as_str() {
            Some("success") => return Ok((task, started.elapsed().as_secs_f64())),
            Some("fail") => bail!("the task failed: {task}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Every measured action end to end through the running service.
pub async fn end_to_end(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    day: i64,
) -> anyhow::Result<()> {
    for (action, extra) in measured() {
        let (task, secs) = run_task(http, url, key, &request(action, &extra, day)).await?;
        println!(
            "  {action:<19} end to end: {:>9.0} lines/s, {:.2} s, {} rows{}",
            task["read_lines"].as_u64().unwrap_or(0) as f64 / secs,
            secs,
            task["export_count"],
            if task["approximate"] == true {
                " (approximate)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// The same generated day with every data line's path made unique (`/u/<n>`), so a top-URL
/// export sees as many distinct URLs as lines; uploaded under `prefix`. Returns the lines.
pub async fn upload_unique_urls(
    settings: &crate::config::Settings,
    spec: &GenSpec,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<u64> {
    let store = object_store(settings);
    let mut generator = Generator::new(spec);
    let mut n = 0u64;
    while let Some(file) = generator.next_file(&mut |_| {}) {
        let mut out = GzEncoder::new(Vec::new(), Compression::fast());
        let mut stem_column = None;
        for line in BufReader::new(MultiGzDecoder::new(&file.gz[..])).split(b'\n') {
            let line = line?;
            if let Some(fields) = line.strip_prefix(b"#Fields: ") {
                stem_column = fields
                    .split(|b| *b == b' ')
                    .position(|f| f == b"cs-uri-stem");
                out.write_all(&line)?;
            } else if line.starts_with(b"#") {
                out.write_all(&line)?;
            } else {
                let mut fields: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
                let unique = format!("/u/{n}");
                match stem_column {
                    Some(c) if c < fields.len() => {
                        fields[c] = unique.as_bytes();
                        n += 1;
                    }
                    _ => {}
                }
                out.write_all(&fields.join(&b'\t'))?;
            }
            out.write_all(b"\n")?;
        }
        store
            .put_bytes(
                bucket,
                &format!("{prefix}{}", file.name),
                bytes::Bytes::from(out.finish()?),
                "application/gzip",
            )
            .await?;
    }
    Ok(n)
}

/// A top-URL export over the unique-URL logs: time, lines/s and the peak resident memory of the
/// process during it.
pub async fn million_urls(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    day: i64,
    distinct: u64,
) -> anyhow::Result<()> {
    reset_peak_rss();
    let before = peak_rss();
    let body = request(Action::TopUrlDetail.as_str(), &json!({"top_n": 1000}), day);
    let (task, secs) = run_task(http, url, key, &body).await?;
    println!(
        "top_url_detail over {distinct} distinct URLs: {:.2} s = {:.0} lines/s end to end, {} rows, approximate: {}; peak resident memory of the process during the export: {} (before it: {before})",
        secs,
        task["read_lines"].as_u64().unwrap_or(0) as f64 / secs,
        task["export_count"],
        task["approximate"],
        peak_rss()
    );
    Ok(())
}

/// A `logs` export of every row of the day (csv, newest first): rows per second end to end, the
/// peak resident memory of the process during it and the peak disk its run used in the
/// worker's temp dir (sampled every 20 ms). `rows` is the number of valid lines generated in
/// the day, which the export must write exactly.
pub async fn logs_export(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    day: i64,
    temp_dir: std::path::PathBuf,
    rows: u64,
) -> anyhow::Result<()> {
    for format in ["csv", "json"] {
        reset_peak_rss();
        let before = peak_rss();
        let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let watcher = {
            let watching = Arc::clone(&watching);
            let temp_dir = temp_dir.clone();
            tokio::task::spawn_blocking(move || {
                let mut peak = 0u64;
                while watching.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(logs_temp_bytes(&temp_dir));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        let body = request(
            Action::Logs.as_str(),
            &json!({"export_format": format}),
            day,
        );
        let outcome = run_task(http, url, key, &body).await;
        watching.store(false, std::sync::atomic::Ordering::Relaxed);
        let peak_disk = watcher.await?;
        let (task, secs) = outcome?;
        ensure!(
            task["export_count"] == rows,
            "the logs export wrote {} rows, the day has {rows}",
            task["export_count"]
        );
        println!(
            "logs ({format}, every row, newest first): {rows} rows in {secs:.2} s = {:.0} rows/s end to end, file {:.1} MB; peak resident memory during it: {} (before it: {before}); peak temp disk: {:.1} MB",
            rows as f64 / secs,
            task["file_size"].as_f64().unwrap_or(0.0) / 1e6,
            peak_rss(),
            peak_disk as f64 / 1e6
        );
    }
    Ok(())
}

/// Bytes under the `statport-logs-*` run directories in `temp_dir`.
fn logs_temp_bytes(temp_dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("statport-logs-")
        })
        .filter_map(|e| std::fs::read_dir(e.path()).ok())
        .flat_map(|files| files.flatten())
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum()
}
