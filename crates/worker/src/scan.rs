//! Reading one log object: decompress (multi-member gzip), parse, select, aggregate.
//!
//! Runs on a blocking thread over a synchronous reader, so the hot loop is plain code with no
//! awaits; it reports the compressed bytes consumed through a shared counter and stops when the
//! shared cancel flag is raised.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use statport_core::aggregate::ReportAggregate;
use statport_core::cloudfront::{CloudFrontParser, ParsedLine};
use statport_core::ExportCondition;

/// Counters of one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Data lines read (header and blank lines excluded).
    pub lines: u64,
    /// Lines that did not parse and were skipped.
    pub skipped: u64,
    /// Records inside the condition (counted into the aggregate).
    pub selected: u64,
}

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
        /// The object's key.
        key: String,
        /// What the decoder said.
        reason: String,
    },
    /// Reading the object failed (network): retryable.
    #[error("reading log file '{key}' failed: {reason}")]
    Read {
        /// The object's key.
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
        let n = self.inner.read(buf)?;
        self.signals
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

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

/// Scans the gzip object `key` from `compressed`, adding every selected record to `aggregate`.
pub fn scan_cloudfront(
    key: &str,
    compressed: impl Read,
    condition: &ExportCondition,
    aggregate: &mut ReportAggregate,
    signals: &Arc<ScanSignals>,
) -> Result<ScanStats, ScanError> {
    let counted = CountingReader {
        inner: TaggingReader(compressed),
        signals: Arc::clone(signals),
    };
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, counted)),
    );
    let mut parser = CloudFrontParser::new();
    let mut stats = ScanStats::default();
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| classify(key, e))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        match parser.parse_line(&line) {
            ParsedLine::Header => {}
            ParsedLine::Bad(_) => {
                stats.lines += 1;
                stats.skipped += 1;
            }
            ParsedLine::Record(record) => {
                stats.lines += 1;
                if condition.selects(&record) {
                    stats.selected += 1;
                    aggregate.add(&record);
                }
            }
        }
        if stats.lines % 65_536 == 0 && signals.cancel.load(Ordering::Relaxed) {
            return Err(ScanError::Cancelled);
        }
    }
    Ok(stats)
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
                selected: 2
            }
        );
        assert_eq!(agg.totals().flux, 107);
        assert_eq!(
            signals.bytes_read.load(Ordering::Relaxed),
            data.len() as u64
        );
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
}
