//! Reading one log object: decompress (multi-member gzip), parse, select, aggregate.
//!
//! [`scan`] reads an object in any [`LogFormat`]: the format picks its parser once per object
//! ([`LogFormat::with_parser`]) and the loop over the lines is generic over [`LineParser`], so
//! each format gets its own compiled loop and no line goes through a `dyn` call.
//!
//! Runs on a blocking thread over a synchronous reader, so the hot loop is plain code with no
//! awaits; it reports the compressed bytes consumed through a shared counter and stops when the
//! shared cancel flag is raised.
//!
//! Lines are read in bounded memory: a line longer than the scan's cap
//! ([`DEFAULT_MAX_LINE_BYTES`] unless [`scan_capped`] says otherwise) is read and
//! discarded up to its newline without being buffered, and counted as skipped and too long.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use statport_core::log::format::{LineParser, LogFormat, ParsedLine, WithParser};
use statport_core::log::RecordSink;
use statport_core::ExportCondition;

/// Counters of one scan, recorded in the task (`read_lines`, `skipped_lines`) and logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Data lines read (header and blank lines excluded).
    pub lines: u64,
    /// Lines that did not parse and were skipped.
    pub skipped: u64,
    /// Records inside the condition (counted into the aggregate).
    pub selected: u64,
    /// Lines longer than the cap, discarded unread (also counted in `skipped`).
    pub too_long: u64,
}

/// The default longest log line a scan reads, in bytes (without its newline). Real CloudFront
/// lines are under 8 KiB even with long URLs and user agents; a longer one is corrupt or
/// hostile, and buffering it would cost its whole size in memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// Shared between a scan and the task that watches it.
#[derive(Debug, Default)]
pub struct ScanSignals {
    /// Compressed bytes consumed so far, over every object of the task.
    pub bytes_read: AtomicU64,
    /// Raised to stop the scan early (task cancelled, superseded or shutting down).
    pub cancel: AtomicBool,
}

/// Why a scan stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The object is not valid gzip (or is truncated): permanent.
    #[error("log file '{key}' is not valid gzip: {reason}")]
    Corrupt {
        /// The object's key, named in the task's error.
        key: String,
        /// What the decoder said.
        reason: String,
    },
    /// Reading the object failed (network): retryable.
    #[error("reading log file '{key}' failed: {reason}")]
    Read {
        /// The object's key, named in the retry's cause.
        key: String,
        /// What failed.
        reason: String,
    },
    /// The cancel flag was raised.
    #[error("scan cancelled")]
    Cancelled,
}

struct CountingReader<R> {
    inner: R,
    signals: Arc<ScanSignals>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Checked on every read of compressed bytes too, so a cancel is seen inside one long
        // line (or a run of lines that are all skipped) within one buffer of input.
        if self.signals.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other(ScanError::Cancelled));
        }
        let n = self.inner.read(buf)?;
        self.signals
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Lines between two looks at the cancel flag inside a scan (besides the look at every read of
/// compressed input): at ~500 bytes a line, about 2 MB of text.
const CANCEL_CHECK_LINES: u64 = 4_096;

/// Marks errors that come from the transport rather than from the gzip stream.
#[derive(Debug)]
struct TransportError(io::Error);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {}

struct TaggingReader<R>(R);

impl<R: Read> Read for TaggingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), TransportError(e)))
    }
}

/// Scans the gzip object `key`, a log file in `format`, from `compressed`, handing every
/// selected record to `sink`; lines longer than [`DEFAULT_MAX_LINE_BYTES`] are skipped.
pub fn scan(
    format: LogFormat,
    key: &str,
    compressed: impl Read,
    condition: &ExportCondition,
    sink: &mut impl RecordSink,
    signals: &Arc<ScanSignals>,
) -> Result<ScanStats, ScanError> {
    scan_capped(
        format,
        key,
        compressed,
        condition,
        sink,
        signals,
        DEFAULT_MAX_LINE_BYTES,
    )
}

/// [`scan`] with the longest line read set to `max_line_bytes` (without the newline): longer
/// lines are discarded without being buffered and counted in [`ScanStats::too_long`] and
/// [`ScanStats::skipped`].
pub fn scan_capped(
    format: LogFormat,
    key: &str,
    compressed: impl Read,
    condition: &ExportCondition,
    sink: &mut impl RecordSink,
    signals: &Arc<ScanSignals>,
    max_line_bytes: usize,
) -> Result<ScanStats, ScanError> {
    format.with_parser(ScanJob {
        key,
        compressed,
        condition,
        sink,
        signals,
        max_line_bytes,
    })
}

/// [`scan`] of a CloudFront object (the benchmarks' entry point).
pub fn scan_cloudfront(
    key: &str,
    compressed: impl Read,
    condition: &ExportCondition,
    sink: &mut impl RecordSink,
    signals: &Arc<ScanSignals>,
) -> Result<ScanStats, ScanError> {
    scan(
        LogFormat::Cloudfront,
        key,
        compressed,
        condition,
        sink,
        signals,
    )
}

/// The arguments of one scan, run by [`LogFormat::with_parser`] with the format's parser.
struct ScanJob<'a, R, S> {
    key: &'a str,
    compressed: R,
    condition: &'a ExportCondition,
    sink: &'a mut S,
    signals: &'a Arc<ScanSignals>,
    max_line_bytes: usize,
}

impl<R: Read, S: RecordSink> WithParser for ScanJob<'_, R, S> {
    type Output = Result<ScanStats, ScanError>;

    fn run<P: LineParser>(self, mut parser: P) -> Self::Output {
        let ScanJob {
            key,
            compressed,
            condition,
            sink,
            signals,
            max_line_bytes,
        } = self;
        let counted = CountingReader {
            inner: TaggingReader(compressed),
            signals: Arc::clone(signals),
        };
        let mut reader = LineReader::new(
            BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, counted)),
            ),
            max_line_bytes,
        );
        parser.start_file(key);
        let mut stats = ScanStats::default();
        let cancelled = || signals.cancel.load(Ordering::Relaxed);
        while let Some(line) = reader.next_line().map_err(|e| {
            if cancelled() {
                ScanError::Cancelled
            } else {
                classify(key, e)
            }
        })? {
            match line {
                Line::TooLong => {
                    stats.lines += 1;
                    stats.skipped += 1;
                    stats.too_long += 1;
                }
                Line::Text(line) => match parser.parse_line(line) {
                    ParsedLine::Header => {}
                    ParsedLine::Bad(_) => {
                        stats.lines += 1;
                        stats.skipped += 1;
                    }
                    ParsedLine::Record(record) => {
                        stats.lines += 1;
                        if condition.selects(&record) {
                            stats.selected += 1;
                            sink.add(&record);
                        }
                    }
                },
            }
            if stats.lines.is_multiple_of(CANCEL_CHECK_LINES) && cancelled() {
                return Err(ScanError::Cancelled);
            }
        }
        Ok(stats)
    }
}

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// The line without its `\n`.
    Text(&'a [u8]),
    /// A line longer than the cap, already discarded.
    TooLong,
}

/// Splits a [`BufRead`] into lines without ever holding more than `max` bytes of one line:
/// the buffer's capacity never exceeds `max`, and a longer line is consumed from the reader's
/// own buffer and dropped (`BufRead::read_until` would grow without bound).
struct LineReader<R> {
    inner: R,
    line: Vec<u8>,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            line: Vec::with_capacity(max.min(1024)),
            max,
        }
    }

    /// The next line, `None` at the end (a last line without `\n` is still returned).
    fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(if too_long {
                    Some(Line::TooLong)
                } else if self.line.is_empty() {
                    None
                } else {
                    Some(Line::Text(&self.line))
                });
            }
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.line.len() + chunk.len() > self.max {
                    too_long = true;
                    self.line.clear();
                } else {
                    append_bounded(&mut self.line, chunk, self.max);
                }
            }
            self.inner.consume(used);
            if done {
                return Ok(Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Text(&self.line)
                }));
            }
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.line.capacity()
    }
}

/// Appends `chunk` to `line` (whose length stays within `max`), growing the allocation by
/// doubling but never past `max`.
fn append_bounded(line: &mut Vec<u8>, chunk: &[u8], max: usize) {
    let needed = line.len() + chunk.len();
    if needed > line.capacity() {
        let target = needed.max(line.capacity().saturating_mul(2)).min(max);
        line.reserve_exact(target - line.len());
    }
    line.extend_from_slice(chunk);
}

fn classify(key: &str, e: io::Error) -> ScanError {
    let transport = e
        .get_ref()
        .is_some_and(|inner| inner.is::<TransportError>());
    if transport {
        ScanError::Read {
            key: key.to_string(),
            reason: e.to_string(),
        }
    } else {
        ScanError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;
    use serde_json::json;
    use statport_core::ExportRequest;

    use statport_core::stats::aggregate::ReportAggregate;

    use super::*;

    const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields";

    fn line(time: &str, bytes: u64, host: &str, proto: &str) -> String {
        format!("2026-11-01\t{time}\tSFO5-C1\t{bytes}\t192.0.2.1\tGET\td1.cloudfront.net\t/a.png\t200\t-\tcurl/8\t-\t-\tHit\tid\t{host}\t{proto}\t100\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-")
    }

    fn gz(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(text.as_bytes()).expect("in-memory write");
        e.finish().expect("in-memory gzip")
    }

    fn condition() -> ExportCondition {
        let body = json!({"domain_name": "a.example.com", "start_time": statport_core::time::ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"), "end_time": statport_core::time::ms_from_civil(2026, 11, 1, 1, 0, 0).expect("date"), "interval": 3600, "scheme": "https"});
        ExportRequest::from_json(&body)
            .and_then(|r| r.validate())
            .expect("valid")
    }

    #[test]
    fn reads_multi_member_gzip_and_counts_bad_lines() {
        let first = format!(
            "#Version: 1.0\n{FIELDS}\n{}\n{}\n",
            line("00:10:00", 100, "a.example.com", "https"),
            line("00:11:00", 5, "b.example.com", "https")
        );
        let second = format!(
            "#Version: 1.0\n{FIELDS}\n{}\nnot a log line\n{}\n",
            line("00:12:00", 7, "a.example.com", "https"),
            line("00:13:00", 9, "a.example.com", "http")
        );
        let mut data = gz(&first);
        data.extend(gz(&second));
        let c = condition();
        let mut agg = ReportAggregate::new(&c);
        let signals = Arc::new(ScanSignals::default());
        let stats = scan_cloudfront("k.gz", &data[..], &c, &mut agg, &signals).expect("scan");
        assert_eq!(
            stats,
            ScanStats {
                lines: 5,
                skipped: 1,
                selected: 2,
                too_long: 0,
            }
        );
        assert_eq!(agg.totals().flux, 107);
        assert_eq!(
            signals.bytes_read.load(Ordering::Relaxed),
            data.len() as u64
        );
    }

    #[test]
    fn a_cancel_is_seen_inside_one_long_line() {
        // 32 MiB of one line after a good one: before, the scan read it all (no line ended, so
        // the every-N-lines check never came) and finished as if nothing was asked.
        let huge = "x".repeat(32 << 20);
        let text = format!(
            "#Version: 1.0\n{FIELDS}\n{}\n{huge}\n",
            line("00:10:00", 100, "a.example.com", "https")
        );
        let data = gz(&text);
        let c = condition();
        let mut agg = ReportAggregate::new(&c);
        let signals = Arc::new(ScanSignals::default());
        // Raised once the scan has read its first 64 KiB of compressed input.
        struct RaiseAfter<'a> {
            data: &'a [u8],
            at: usize,
            signals: Arc<ScanSignals>,
        }
        impl Read for RaiseAfter<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.at >= 64 << 10 {
                    self.signals.cancel.store(true, Ordering::Relaxed);
                }
                let n = buf.len().min(self.data.len() - self.at).min(4096);
                buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                self.at += n;
                Ok(n)
            }
        }
        let input = RaiseAfter {
            data: &data,
            at: 0,
            signals: Arc::clone(&signals),
        };
        let result = scan_cloudfront("k.gz", input, &c, &mut agg, &signals);
        assert!(matches!(result, Err(ScanError::Cancelled)), "{result:?}");
        let read = signals.bytes_read.load(Ordering::Relaxed);
        assert!(
            read < data.len() as u64,
            "stopped early: {read} of {} bytes",
            data.len()
        );
    }

    #[test]
    fn a_line_of_several_megabytes_is_skipped_without_being_buffered() {
        // 8 MiB of one "line" between good ones, in a gzip stream: before the cap it was read
        // whole into memory (and counted as one bad line).
        let huge = "x".repeat(8 << 20);
        let text = format!(
            "#Version: 1.0\n{FIELDS}\n{}\n{huge}\n{}\n",
            line("00:10:00", 100, "a.example.com", "https"),
            line("00:12:00", 7, "a.example.com", "https")
        );
        let data = gz(&text);
        let c = condition();
        let mut agg = ReportAggregate::new(&c);
        let signals = Arc::new(ScanSignals::default());
        let stats = scan_cloudfront("k.gz", &data[..], &c, &mut agg, &signals).expect("scan");
        assert_eq!(
            stats,
            ScanStats {
                lines: 3,
                skipped: 1,
                selected: 2,
                too_long: 1,
            }
        );
        assert_eq!(agg.totals().flux, 107);

        // The same stream line by line: the buffer never grows past the cap.
        let mut reader = LineReader::new(
            BufReader::new(MultiGzDecoder::new(&data[..])),
            DEFAULT_MAX_LINE_BYTES,
        );
        let mut kinds = Vec::new();
        while let Some(l) = reader.next_line().expect("read") {
            kinds.push(matches!(l, Line::TooLong));
        }
        assert_eq!(kinds, [false, false, false, true, false]);
        assert!(reader.capacity() <= DEFAULT_MAX_LINE_BYTES);
    }

    #[test]
    fn line_reader_splits_at_the_cap_across_buffer_boundaries() {
        let text = b"abcd\nabcde\n\nabc\nabcdefghijk\nab";
        // A 3-byte read buffer splits every line across several fill_buf calls.
        for buf in [1, 3, 64] {
            let mut reader = LineReader::new(BufReader::with_capacity(buf, &text[..]), 4);
            let mut got = Vec::new();
            while let Some(l) = reader.next_line().expect("read") {
                got.push(match l {
                    Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    Line::TooLong => "<too long>".to_string(),
                });
                assert!(reader.capacity() <= 4);
            }
            assert_eq!(
                got,
                ["abcd", "<too long>", "", "abc", "<too long>", "ab"],
                "buffer {buf}"
            );
        }
        // A too-long last line without a newline is still reported.
        let mut reader = LineReader::new(&b"abcdefgh"[..], 4);
        assert_eq!(reader.next_line().expect("read"), Some(Line::TooLong));
        assert_eq!(reader.next_line().expect("read"), None);
    }

    #[test]
    fn corrupt_gzip_names_the_file() {
        let c = condition();
        let mut agg = ReportAggregate::new(&c);
        let signals = Arc::new(ScanSignals::default());
        let mut data = gz("#Version: 1.0\n");
        data.truncate(data.len() - 4);
        let err = scan_cloudfront(
            "logs/E.2026-11-01-00.x.gz",
            &data[..],
            &c,
            &mut agg,
            &signals,
        )
        .expect_err("corrupt");
        assert!(matches!(err, ScanError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("logs/E.2026-11-01-00.x.gz"));
        let err = scan_cloudfront(
            "plain.gz",
            &b"hello world, not gzip"[..],
            &c,
            &mut agg,
            &signals,
        )
        .expect_err("not gzip");
        assert!(matches!(err, ScanError::Corrupt { .. }), "{err:?}");
    }

    /// A sink that keeps what it was given.
    #[derive(Default)]
    struct Seen(Vec<(String, u64, Option<statport_core::log::ServiceArea>)>);

    impl RecordSink for Seen {
        fn add(&mut self, r: &statport_core::LogRecord<'_>) {
            self.0.push((r.host.to_string(), r.bytes, r.service_area));
        }
    }

    #[test]
    fn scans_a_huawei_file_with_the_area_of_its_name() {
        // 08:10 in Beijing is 00:10 UTC, inside the condition's hour; 07:59 is before it.
        let text = [
            r#"[01/Nov/2026:08:10:00 +0800] 192.0.2.1 3 "-" "HTTP/1.1" "GET" "a.example.com" "https://a.example.com/x.png" 200 100 HIT "curl/8" "-""#,
            r#"[01/Nov/2026:00:20:00 +0000] 192.0.2.1 3 "-" "HTTP/2.0" "GET" "a.example.com" "https://a.example.com/y.png" 200 7 MISS "curl/8" "-""#,
            r#"[01/Nov/2026:07:59:59 +0800] 192.0.2.1 3 "-" "HTTP/1.1" "GET" "a.example.com" "https://a.example.com/z.png" 200 5 HIT "curl/8" "-""#,
            r#"[01/Nov/2026:08:30:00 +0800] 192.0.2.1 3 "-" "HTTP/1.1" "GET" "a.example.com" "/plain-is-http.png" 200 9 HIT "curl/8" "-""#,
            r#"[01/Nov/2026:08:40:00 +0800] 192.0.2.1 3 "-" "HTTP/1.1" "GET" "a.example.com" "/unclosed 200 9 HIT "curl/8" "-""#,
        ]
        .join("\n");
        let data = gz(&text);
        let c = condition();
        let mut seen = Seen::default();
        let signals = Arc::new(ScanSignals::default());
        let stats = scan(
            LogFormat::Huawei,
            "logs/2026110108-a.example.com-ov.gz",
            &data[..],
            &c,
            &mut seen,
            &signals,
        )
        .expect("scan");
        assert_eq!(
            stats,
            ScanStats {
                lines: 5,
                skipped: 1,
                selected: 2,
                too_long: 0,
            }
        );
        let ov = Some(statport_core::log::ServiceArea::OutsideMainlandChina);
        assert_eq!(
            seen.0,
            [
                ("a.example.com".to_string(), 100, ov),
                ("a.example.com".to_string(), 7, ov)
            ]
        );
    }
}
