//! Realistic CDN log files, CloudFront standard logs or Huawei CDN logs ([`GenSpec::format`]),
//! generated deterministically from a seed: for the demo, tests and the end-to-end benchmark.
//!
//! Huawei ([`LogFormat::Huawei`]): one gzip file per hour, domain and service area, named
//! `YYYYMMDDHH-<domain>-<cn|ov>.gz` with the hour in Beijing time (see `huawei.rs` for the
//! lines); ~30% of the requests are served outside mainland China (`-ov`), the rest inside
//! (`-cn`). The same traffic as below (hosts, URLs, statuses, sizes, `MISS` ~20%, late lines,
//! garbage every Nth line: cut off, a non-numeric size, a bad time, an unclosed quote, invalid
//! UTF-8, no domain, or an HTML error page).
//!
//! CloudFront: one gzip file per UTC hour, named `<distribution_id>.YYYY-MM-DD-HH.<8 hex>.gz` as CloudFront
//! names them. The traffic has what real logs have and a parser must cope with:
//! - many domains with skewed popularity, popular and rare URLs (Zipf-like), some URLs needing
//!   URL encoding (spaces, non-ASCII, `&`, `=`, `%`), queries or `-`;
//! - `Hit` / `RefreshHit` / `Miss` (~20%) / `Error` results, status codes mostly 200 with
//!   206, 304, 403, 404, 502, 503 and `000`, sizes from hundreds of bytes to tens of MB;
//! - `http`, `https`, `ws`, `wss`; IPv4 and IPv6 viewers; several edge locations; URL-encoded
//!   user agents (one with a literal `%20`, logged as `%2520`) and referers;
//! - a few requests on the distribution's own `*.cloudfront.net` domain (`x-host-header` is `-`)
//!   or with an upper-case host;
//! - even hours in the 33-column layout, odd hours in the 26-column one; every third hour's file
//!   is two gzip members, each with its own `#Version` / `#Fields` header, the second in the other
//!   layout (as when CloudFront files are concatenated);
//! - ~2% "late" lines in every file but the first, stamped in the previous hour; lines within a
//!   file are not sorted by time;
//! - with [`GenSpec::bad_line_every`] = N, every Nth line (counted over the whole run) is garbage
//!   (cut off, non-numeric bytes, bad date or time, unknown protocol, invalid UTF-8, no host, or
//!   no tabs at all).
//!
//! Every valid line is reported as a [`GeneratedRecord`] holding the decoded values a correct
//! parser must return, so tests can compare sums computed independently. Only one hour's
//! compressed file is in memory at a time.
//!
//! The random numbers come from our own SplitMix64 with integer-only arithmetic: the same spec
//! gives the same bytes on every platform.

mod huawei;
mod line;
mod rng;
mod vocab;

pub use vocab::{IPV4_FIRST_OCTETS, IPV6_PREFIXES};

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::path::Path;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use statport_core::log::format::LogFormat;
use statport_core::log::ServiceArea;
use statport_core::log::{LogRecord, Scheme};
use statport_core::time::{civil_from_days, ms_from_civil, DAY_MS, HOUR_MS};
use statport_storage::{ObjectStore, StorageError};

use self::line::Layout;
use self::rng::Rng;
use self::vocab::Vocab;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSpec {
    /// Same seed, same files, byte for byte.
    pub seed: u64,
    /// Start of the first hour (epoch ms, UTC); rounded down to a whole hour.
    pub start_ms: i64,
    /// Number of hourly files.
    pub hours: u32,
    /// Lines per file (valid and garbage together).
    pub lines_per_hour: u64,
    /// The CloudFront distribution id that starts every file name, e.g. `E2EXAMPLE1ABCD`.
    pub distribution_id: String,
    /// Number of distinct domains (at least one is used).
    pub hosts: u32,
    /// 0: no garbage; N: every Nth line of the run is garbage.
    pub bad_line_every: u64,
    /// The log format written.
    pub format: LogFormat,
}

impl Default for GenSpec {
    /// One day (2026-11-24 UTC) of 1,000 lines per hour over 20 domains, no garbage.
    fn default() -> Self {
        GenSpec {
            seed: 1,
            start_ms: ms_from_civil(2026, 11, 24, 0, 0, 0).unwrap_or_default(),
            hours: 24,
            lines_per_hour: 1000,
            distribution_id: "E2EXAMPLE1ABCD".to_string(),
            hosts: 20,
            bad_line_every: 0,
            format: LogFormat::Cloudfront,
        }
    }
}

/// One valid line as a correct parser must return it (URL-decoded values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GeneratedRecord {
    /// When the request was served (whole seconds), epoch ms.
    pub timestamp_ms: i64,
    /// Lowercase domain: `x-host-header`, or `cs(Host)` when that is `-`.
    pub host: String,
    /// `sc-bytes`.
    pub bytes: u64,
    /// CloudFront: `https` or `wss`; Huawei: the line holds a full `https://` URL.
    pub https: bool,
    /// `x-edge-result-type` is `Miss`.
    pub origin_fetch: bool,
    /// `c-ip`.
    pub client_ip: String,
    /// `x-edge-location`.
    pub edge_location: String,
    /// `cs-method`.
    pub method: String,
    /// Decoded `cs-uri-stem`.
    pub path: String,
    /// Decoded `cs-uri-query`; `None` for `-`.
    pub query: Option<String>,
    /// `sc-status`; 0 for `000`.
    pub status: u16,
    /// Decoded `cs(Referer)`; `None` for `-`.
    pub referer: Option<String>,
    /// Decoded `cs(User-Agent)`.
    pub user_agent: String,
    /// Huawei: the area of the file's name, as the API names it ([`area_name`]); CloudFront:
    /// `None`. (A name, since [`ServiceArea`] has no order and records are sorted.)
    pub service_area: Option<&'static str>,
}

/// The API's name of a service area: `mainland_china`, `outside_mainland_china` or `global`.
pub fn area_name(area: ServiceArea) -> &'static str {
    match area {
        ServiceArea::Global => "global",
        ServiceArea::MainlandChina => "mainland_china",
        ServiceArea::OutsideMainlandChina => "outside_mainland_china",
    }
}

impl From<&LogRecord<'_>> for GeneratedRecord {
    /// The same fields taken from a parsed line (a missing user agent becomes `""`).
    fn from(r: &LogRecord<'_>) -> Self {
        GeneratedRecord {
            timestamp_ms: r.timestamp_ms,
            host: r.host.to_string(),
            bytes: r.bytes,
            https: r.scheme == Scheme::Https,
            origin_fetch: r.origin_fetch,
            client_ip: r.client_ip.to_string(),
            edge_location: r.edge_location.to_string(),
            method: r.method.to_string(),
            path: r.path().into_owned(),
            query: r.query().map(Cow::into_owned),
            status: r.status,
            referer: r.referer().map(Cow::into_owned),
            user_agent: r.user_agent().map(Cow::into_owned).unwrap_or_default(),
            service_area: r.service_area.map(area_name),
        }
    }
}

/// One log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// CloudFront: `<distribution_id>.YYYY-MM-DD-HH.<8 hex>.gz`, hour in UTC; Huawei:
    /// `YYYYMMDDHH-<domain>-<cn|ov>.gz`, hour in Beijing time.
    pub name: String,
    /// The gzip bytes (one or two members).
    pub gz: Vec<u8>,
}

/// What a run produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Log files written (CloudFront: one per hour; Huawei: one per hour, domain and area).
    pub files: u64,
    /// Valid lines (each reported as a [`GeneratedRecord`]).
    pub records: u64,
    /// Malformed lines mixed in on purpose, which a reader must skip and count.
    pub bad_lines: u64,
    /// Uncompressed size of all files, header lines included.
    pub raw_bytes: u64,
    /// Compressed size of all files.
    pub gz_bytes: u64,
}

/// Produces the files of a [`GenSpec`] one hour at a time.
#[derive(Debug, Clone)]
pub struct Generator {
    spec: GenSpec,
    vocab: Vocab,
    first_hour_ms: i64,
    next_hour: u32,
    /// Lines written so far in the run (for `bad_line_every`).
    lines: u64,
    stats: GenStats,
    /// Huawei: the files of the current hour not handed out yet, with their records.
    pending: VecDeque<(LogFile, Vec<GeneratedRecord>)>,
}

impl Generator {
    /// A generator positioned before the first hour.
    pub fn new(spec: &GenSpec) -> Self {
        Generator {
            vocab: Vocab::new(spec.seed, spec.hosts),
            first_hour_ms: spec.start_ms.div_euclid(HOUR_MS) * HOUR_MS,
            next_hour: 0,
            lines: 0,
            stats: GenStats::default(),
            pending: VecDeque::new(),
            spec: spec.clone(),
        }
    }

    /// Totals of the files produced so far.
    pub fn stats(&self) -> GenStats {
        self.stats
    }

    /// The next file, calling `on_record` for each valid line in it; `None` when done.
    pub fn next_file(&mut self, on_record: &mut dyn FnMut(&GeneratedRecord)) -> Option<LogFile> {
        match self.spec.format {
            LogFormat::Cloudfront => self.next_cloudfront_file(on_record),
            LogFormat::Huawei => self.next_huawei_file(on_record),
        }
    }

    /// The next Huawei file: the files of an hour are made together, then handed out in name
    /// order.
    fn next_huawei_file(&mut self, on_record: &mut dyn FnMut(&GeneratedRecord)) -> Option<LogFile> {
        while self.pending.is_empty() {
            if self.next_hour >= self.spec.hours {
                return None;
            }
            let hour = self.next_hour;
            self.next_hour += 1;
            self.pending = self.huawei_hour(hour);
        }
        let (file, records) = self.pending.pop_front()?;
        for r in &records {
            on_record(r);
        }
        Some(file)
    }

    /// Every Huawei file of one hour (one per domain and service area), with their records.
    fn huawei_hour(&mut self, hour: u32) -> VecDeque<(LogFile, Vec<GeneratedRecord>)> {
        let hour_ms = self.first_hour_ms + i64::from(hour) * HOUR_MS;
        let mut rng = Rng::fork(self.spec.seed, u64::from(hour));
        let mut files: BTreeMap<String, (Vec<u8>, Vec<GeneratedRecord>)> = BTreeMap::new();
        for _ in 0..self.spec.lines_per_hour {
            self.lines += 1;
            let late = hour > 0 && rng.chance(20);
            let timestamp_ms = if late {
                hour_ms - 1000 * rng.range(1, 600) as i64
            } else {
                hour_ms + 1000 * rng.below(3600) as i64
            };
            let mut req = line::request(&mut rng, &self.vocab, timestamp_ms);
            let area = if rng.chance(300) {
                ServiceArea::OutsideMainlandChina
            } else {
                ServiceArea::MainlandChina
            };
            req.record.service_area = Some(area_name(area));
            req.record.edge_location = String::new();
            let name = huawei::file_name(hour_ms, &req.record.host, area);
            let (text, records) = files.entry(name).or_default();
            let every = self.spec.bad_line_every;
            if every > 0 && self.lines.is_multiple_of(every) {
                if rng.chance(125) {
                    line::write_junk(text);
                } else {
                    huawei::write_garbage(text, &mut rng, &mut req);
                }
                self.stats.bad_lines += 1;
            } else {
                huawei::write_line(text, &mut rng, &mut req);
                records.push(req.record);
                self.stats.records += 1;
            }
            text.push(b'\n');
        }
        files
            .into_iter()
            .map(|(name, (text, records))| {
                let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                encoder
                    .write_all(&text)
                    .expect("gzip into memory cannot fail");
                let gz = encoder.finish().expect("gzip into memory cannot fail");
                self.stats.files += 1;
                self.stats.raw_bytes += text.len() as u64;
                self.stats.gz_bytes += gz.len() as u64;
                (LogFile { name, gz }, records)
            })
            .collect()
    }

    /// The next CloudFront file: one per hour.
    fn next_cloudfront_file(
        &mut self,
        on_record: &mut dyn FnMut(&GeneratedRecord),
    ) -> Option<LogFile> {
        if self.next_hour >= self.spec.hours {
            return None;
        }
        let hour = self.next_hour;
        self.next_hour += 1;
        let hour_ms = self.first_hour_ms + i64::from(hour) * HOUR_MS;
        let mut rng = Rng::fork(self.spec.seed, u64::from(hour));
        let name = format!(
            "{}.{}.{:08x}.gz",
            self.spec.distribution_id,
            hour_label(hour_ms),
            rng.next_u64() as u32
        );

        let mut layout = if hour.is_multiple_of(2) {
            Layout::Fields33
        } else {
            Layout::Fields26
        };
        let second_member_at = (hour % 3 == 2).then_some(self.spec.lines_per_hour / 2);
        let mut member = Member::start(Vec::new(), layout);
        let mut raw = member.raw;
        let mut buf = Vec::with_capacity(1024);
        for i in 0..self.spec.lines_per_hour {
            if Some(i) == second_member_at {
                layout = layout.other();
                member = Member::start(member.finish(), layout);
                raw += member.raw;
            }
            self.lines += 1;
            let late = hour > 0 && rng.chance(20);
            let timestamp_ms = if late {
                hour_ms - 1000 * rng.range(1, 600) as i64
            } else {
                hour_ms + 1000 * rng.below(3600) as i64
            };
            let req = line::request(&mut rng, &self.vocab, timestamp_ms);
            buf.clear();
            let every = self.spec.bad_line_every;
            if every > 0 && self.lines.is_multiple_of(every) {
                if rng.chance(125) {
                    line::write_junk(&mut buf);
                } else {
                    line::write_garbage(&mut buf, &mut rng, &self.vocab, &req, layout);
                }
                self.stats.bad_lines += 1;
            } else {
                line::write_line(&mut buf, &mut rng, &self.vocab, &req, layout);
                on_record(&req.record);
                self.stats.records += 1;
            }
            buf.push(b'\n');
            member.write(&buf);
            raw += buf.len() as u64;
        }
        let gz = member.finish();
        self.stats.files += 1;
        self.stats.raw_bytes += raw;
        self.stats.gz_bytes += gz.len() as u64;
        Some(LogFile { name, gz })
    }
}

/// One gzip member being written, appended to the bytes of the members before it.
struct Member {
    encoder: GzEncoder<Vec<u8>>,
    /// Uncompressed bytes of the header.
    raw: u64,
}

impl Member {
    fn start(out: Vec<u8>, layout: Layout) -> Self {
        let header = layout.header();
        let mut member = Member {
            encoder: GzEncoder::new(out, Compression::fast()),
            raw: header.len() as u64,
        };
        member.write(header.as_bytes());
        member
    }

    fn write(&mut self, bytes: &[u8]) {
        // Writing into a Vec cannot fail.
        self.encoder
            .write_all(bytes)
            .expect("gzip into memory cannot fail");
    }

    fn finish(self) -> Vec<u8> {
        self.encoder.finish().expect("gzip into memory cannot fail")
    }
}

/// `YYYY-MM-DD-HH` of an hour start (UTC).
fn hour_label(hour_ms: i64) -> String {
    let (y, m, d) = civil_from_days(hour_ms.div_euclid(DAY_MS));
    let h = hour_ms.rem_euclid(DAY_MS) / HOUR_MS;
    format!("{y:04}-{m:02}-{d:02}-{h:02}")
}

/// Generates every file in order, calling `on_record` for each valid line and `on_file` for each
/// finished file; stops at the first error of `on_file`.
pub fn generate<E>(
    spec: &GenSpec,
    mut on_record: impl FnMut(&GeneratedRecord),
    mut on_file: impl FnMut(LogFile) -> Result<(), E>,
) -> Result<GenStats, E> {
    let mut generator = Generator::new(spec);
    while let Some(file) = generator.next_file(&mut on_record) {
        on_file(file)?;
    }
    Ok(generator.stats())
}

/// Writes the files into `dir` (created if missing).
pub fn write_to_dir(dir: &Path, spec: &GenSpec) -> io::Result<GenStats> {
    std::fs::create_dir_all(dir)?;
    generate(
        spec,
        |_| {},
        |file| std::fs::write(dir.join(&file.name), &file.gz),
    )
}

/// Creates `bucket` if needed and uploads the files as `prefix + name`.
///
/// Each hour is generated (CPU work, a few ms per thousand lines) between two uploads.
pub async fn upload(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    spec: &GenSpec,
) -> Result<GenStats, StorageError> {
    store.ensure_bucket(bucket).await?;
    let mut generator = Generator::new(spec);
    while let Some(file) = generator.next_file(&mut |_| {}) {
        let key = format!("{prefix}{}", file.name);
        store
            .put_bytes(bucket, &key, Bytes::from(file.gz), "application/gzip")
            .await?;
    }
    Ok(generator.stats())
}
