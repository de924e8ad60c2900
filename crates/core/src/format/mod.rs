//! Log formats: each format is one module that owns its file-name rule and its line parser,
//! both producing the common [`LogRecord`]. The scan and the worker see a format only through
//! [`LogFormat`] and [`LineParser`], so a new format is one new file plus one enum variant.
//!
//! # Layout
//! - [`cloudfront`]: AWS CloudFront standard logs (W3C, `#Fields`-driven; hourly file names).

pub mod cloudfront;

use serde::{Deserialize, Serialize};

use crate::log::LogRecord;

/// The log format of a tenant's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// AWS CloudFront standard logs.
    Cloudfront,
    /// Huawei CDN access logs (not read yet: tasks over them fail with a clear error).
    Huawei,
}

impl LogFormat {
    /// The UTC hour (epoch ms) whose lines the file named `key` holds (late lines aside), or
    /// `None` when the name does not follow the format's convention or the format cannot be
    /// read yet.
    pub fn file_hour(self, key: &str) -> Option<i64> {
        match self {
            LogFormat::Cloudfront => cloudfront::file_hour(key),
            LogFormat::Huawei => None,
        }
    }

    /// True when statport can read this format.
    pub fn is_readable(self) -> bool {
        matches!(self, LogFormat::Cloudfront)
    }
}

/// A parser of one log format: fed one line at a time (without its line end), it turns each
/// into a [`ParsedLine`] and counts the lines it could not parse.
pub trait LineParser {
    /// A new file starts: per-file state (a header's layout) is reset.
    fn start_file(&mut self);
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
    /// The line has a different number of tab-separated fields than the layout.
    #[error("wrong number of fields")]
    WrongFieldCount,
    /// `date` / `time` are not a valid `YYYY-MM-DD` / `HH:MM:SS`.
    #[error("bad date or time")]
    BadTimestamp,
    /// `sc-bytes` or `sc-status` is not a number.
    #[error("bad number")]
    BadNumber,
    /// `cs-protocol` is not `http`, `https`, `ws` or `wss`.
    #[error("bad protocol")]
    BadScheme,
    /// Neither `x-host-header` nor `cs(Host)` holds a value.
    #[error("no host")]
    MissingHost,
    /// A field we read is not UTF-8 as logged, or the domain is not once URL-decoded. (Path,
    /// query, referer and user agent are decoded only when read, lossily: see [`LogRecord`].)
    #[error("not utf-8")]
    NotUtf8,
}

impl BadLine {
    /// Every kind, in declaration order (the index used by the per-kind counters).
    pub const ALL: [BadLine; 6] = [
        BadLine::WrongFieldCount,
        BadLine::BadTimestamp,
        BadLine::BadNumber,
        BadLine::BadScheme,
        BadLine::MissingHost,
        BadLine::NotUtf8,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
