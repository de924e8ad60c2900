//! Log formats: each format is one module that owns its file-name rule and its line parser,
//! both producing the common [`LogRecord`]. The scan and the worker see a format only through
//! [`LogFormat`] and [`LineParser`], so a new format is one new file plus one enum variant.
//!
//! # Layout
//! - [`cloudfront`]: AWS CloudFront standard logs (W3C, `#Fields`-driven; hourly file names).
//! - [`huawei`]: Huawei CDN access logs (space-separated, quoted fields; one file per domain,
//!   hour and service area, named in Beijing time).
//! - `fields`: the number and `-` rules every format's fields share.

pub mod cloudfront;
mod fields;
pub mod huawei;

use serde::{Deserialize, Serialize};

use crate::log::LogRecord;
use crate::log::ServiceArea;

/// The log format of a tenant's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// AWS CloudFront standard logs.
    Cloudfront,
    /// Huawei CDN access logs.
    Huawei,
}

impl LogFormat {
    /// What the name of the file `key` says about its lines, or `None` when the name does not
    /// follow the format's convention (such objects are ignored, never guessed at).
    pub fn file_name(self, key: &str) -> Option<FileName> {
        match self {
            LogFormat::Cloudfront => cloudfront::file_hour(key).map(FileName::hour_only),
            LogFormat::Huawei => huawei::file_name(key),
        }
    }

    /// The UTC hour (epoch ms) whose lines the file named `key` holds (late lines aside); see
    /// [`LogFormat::file_name`].
    pub fn file_hour(self, key: &str) -> Option<i64> {
        self.file_name(key).map(|f| f.hour_ms)
    }

    /// Runs `job` with a fresh parser of this format: the one place a format is turned into its
    /// parser type, so the scan is generic over [`LineParser`] (static dispatch, no `dyn` per
    /// line) and knows no format by name.
    pub fn with_parser<J: WithParser>(self, job: J) -> J::Output {
        match self {
            LogFormat::Cloudfront => job.run(cloudfront::CloudFrontParser::new()),
            LogFormat::Huawei => job.run(huawei::HuaweiParser::new()),
        }
    }
}

/// Work to do with a parser whose type depends on the [`LogFormat`] (a generic closure, which
/// Rust closures cannot be): see [`LogFormat::with_parser`].
pub trait WithParser {
    /// What the work returns.
    type Output;
    /// Does the work with `parser`.
    fn run<P: LineParser>(self, parser: P) -> Self::Output;
}

/// What a log file's name says about the lines in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The UTC hour (epoch ms) whose lines the file holds; it may also hold late lines of
    /// earlier hours. Not always a whole UTC hour: a name written in a zone whose offset is not
    /// whole hours starts at a half hour.
    pub hour_ms: i64,
    /// The one domain (lowercase) every line of the file is for, when the format writes one file
    /// per domain (Huawei); `None` when the file may hold any domain.
    pub domain: Option<String>,
    /// The service area every line of the file was served in, when the name says it (Huawei
    /// `-cn` / `-ov`).
    pub service_area: Option<ServiceArea>,
}

impl FileName {
    /// A name that gives only the hour (CloudFront).
    pub fn hour_only(hour_ms: i64) -> Self {
        FileName {
            hour_ms,
            domain: None,
            service_area: None,
        }
    }
}

/// A parser of one log format: fed one line at a time (without its line end), it turns each
/// into a [`ParsedLine`] and counts the lines it could not parse.
pub trait LineParser {
    /// A new file, the object `key`, starts: per-file state is reset (CloudFront: the header's
    /// layout) or taken from the name (Huawei: the service area).
    fn start_file(&mut self, key: &str);
    /// Parses one line.
    fn parse_line<'a>(&mut self, line: &'a [u8]) -> ParsedLine<'a>;
}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedLine<'a> {
    /// A `#` line (consumed: `#Fields` changes the layout) or a blank line; not counted.
    Header,
    /// A data line that parsed.
    Record(LogRecord<'a>),
    /// A data line that did not parse; counted by the parser.
    Bad(BadLine),
}

/// Why a data line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BadLine {
    /// The line has a different number of fields than the layout (CloudFront: tab-separated;
    /// Huawei: fewer than the 13 space-separated fields).
    #[error("wrong number of fields")]
    WrongFieldCount,
    /// CloudFront: `date` / `time` are not a valid `YYYY-MM-DD` / `HH:MM:SS`; Huawei: the first
    /// field is not a valid `[DD/Mon/YYYY:HH:MM:SS +hhmm]`.
    #[error("bad date or time")]
    BadTimestamp,
    /// The bytes or status field is not a number.
    #[error("bad number")]
    BadNumber,
    /// `cs-protocol` is not `http`, `https`, `ws` or `wss`.
    #[error("bad protocol")]
    BadScheme,
    /// No domain: neither `x-host-header` nor `cs(Host)` (CloudFront), or the domain field
    /// (Huawei), holds a value.
    #[error("no host")]
    MissingHost,
    /// A field we read is not UTF-8 as logged, or the domain is not once URL-decoded. (Path,
    /// query, referer and user agent are decoded only when read, lossily: see [`LogRecord`].)
    #[error("not utf-8")]
    NotUtf8,
    /// Huawei: a `"` or `[` field that does not end, or is not followed by a space.
    #[error("bad quoting")]
    BadQuoting,
}

impl BadLine {
    /// Every kind, in declaration order (the index used by the per-kind counters).
    pub const ALL: [BadLine; 7] = [
        BadLine::WrongFieldCount,
        BadLine::BadTimestamp,
        BadLine::BadNumber,
        BadLine::BadScheme,
        BadLine::MissingHost,
        BadLine::NotUtf8,
        BadLine::BadQuoting,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What a parser has seen: data lines that parsed, and those skipped per [`BadLine`] kind.
/// Every format's parser counts through this, so the counting is the same for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    records: u64,
    bad: [u64; BadLine::ALL.len()],
}

impl LineCounts {
    /// Counts the outcome of parsing one data line and turns it into a [`ParsedLine`].
    #[inline]
    pub fn tally<'a>(&mut self, parsed: Result<LogRecord<'a>, BadLine>) -> ParsedLine<'a> {
        match parsed {
            Ok(record) => {
                self.records += 1;
                ParsedLine::Record(record)
            }
            Err(kind) => {
                self.bad[kind.index()] += 1;
                ParsedLine::Bad(kind)
            }
        }
    }

    /// Data lines that parsed into records.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Data lines skipped, all kinds together.
    pub fn bad_lines(&self) -> u64 {
        self.bad.iter().sum()
    }

    /// Data lines skipped for one reason.
    pub fn bad_lines_of(&self, kind: BadLine) -> u64 {
        self.bad[kind.index()]
    }
}

/// `line` without a trailing `\r` and a leading UTF-8 byte-order mark, as every format reads it.
#[inline]
pub(crate) fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}
