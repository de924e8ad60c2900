//! CloudFront standard-log parser: W3C tab-separated lines, columns found by the `#Fields` header.
//!
//! A [`CloudFrontParser`] is fed one line at a time (without the trailing newline) and keeps the
//! column layout of the last `#Fields` line it saw, so concatenated files whose layouts differ
//! (26 and 33 fields) parse correctly. A data line seen before any `#Fields` line is read with the
//! standard AWS layout of its own field count ([`FIELDS_26`] or [`FIELDS_33`]); any other count
//! is a [`BadLine::WrongFieldCount`].
//!
//! Only the columns a [`LogRecord`] needs are looked at, and only those are checked for UTF-8
//! (as logged; a line whose bytes there are not UTF-8 is [`BadLine::NotUtf8`]). The domain is
//! `x-host-header`, else `cs(Host)`, URL-decoded at once and ASCII-lowercased (a domain that is
//! not UTF-8 once decoded is [`BadLine::NotUtf8`]). Path, query, referer and user agent are kept
//! as logged, still URL-encoded, and decoded only when read ([`LogRecord::path`] and the like:
//! once, so a `%2520` in a user agent reads `%20`; `+` stays `+`; bytes that are not UTF-8 once
//! decoded read as U+FFFD and do not make the line bad). `-` means empty: `None` for query,
//! referer and user agent, `""` for path, client ip, edge and method, 0 for `sc-status` (as is
//! `000`) and for `sc-bytes`. `cs-protocol` `ws` counts as http and `wss` as https. Lines that do
//! not parse are returned as [`ParsedLine::Bad`] and counted, never fatal; a `#Fields` line that
//! lacks `date`, `time`, `sc-bytes`, `cs-protocol` or both host columns makes every line under it
//! bad.
//!
//! Speed: one pass over the line finds the tabs eight bytes at a time, then only the needed fields
//! are sliced; nothing is allocated unless the domain holds a `%` or an uppercase letter (the
//! user agent, whose spaces are logged as `%20`, is not decoded until read). About 2.2 million
//! varied realistic lines per second per core in release builds, about 1.2 million when the
//! decoded path and user agent are read too (`cargo bench -p statport-core --bench hot_paths`).

use std::borrow::Cow;
use std::str;

use super::fields::{digits, number, DASH};
use super::{trim_line, BadLine, LineCounts, LineParser, ParsedLine};
use crate::log::{percent_decode, LogRecord, Scheme};
use crate::time::{ms_from_civil, HOUR_MS, MINUTE_MS};

/// The 26 columns of the older standard log layout, in order.
pub const FIELDS_26: [&str; 26] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
];

/// The 33 columns of the current standard log layout: [`FIELDS_26`] plus seven more.
pub const FIELDS_33: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// The columns a [`LogRecord`] is built from; the discriminant indexes a line's value array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Date,
    Time,
    Edge,
    ScBytes,
    ClientIp,
    Method,
    CsHost,
    UriStem,
    Status,
    Referer,
    UserAgent,
    Query,
    ResultType,
    XHostHeader,
    Protocol,
}

/// Number of [`Col`] variants.
const COLS: usize = 15;
/// Slot value of a column we do not read.
const UNUSED: u8 = u8::MAX;
/// Columns past this index are never read (the standard layouts need the first 17).
const MAX_SLOTS: usize = 64;

impl Col {
    fn from_name(name: &[u8]) -> Option<Col> {
        let col = match name {
            b"date" => Col::Date,
            b"time" => Col::Time,
            b"x-edge-location" => Col::Edge,
            b"sc-bytes" => Col::ScBytes,
            b"c-ip" => Col::ClientIp,
            b"cs-method" => Col::Method,
            b"cs(Host)" => Col::CsHost,
            b"cs-uri-stem" => Col::UriStem,
            b"sc-status" => Col::Status,
            b"cs(Referer)" => Col::Referer,
            b"cs(User-Agent)" => Col::UserAgent,
            b"cs-uri-query" => Col::Query,
            b"x-edge-result-type" => Col::ResultType,
            b"x-host-header" => Col::XHostHeader,
            b"cs-protocol" => Col::Protocol,
            _ => return None,
        };
        Some(col)
    }
}

/// Where the columns we read sit in one layout.
#[derive(Debug, Clone)]
struct Layout {
    /// Number of fields every data line must have.
    fields: usize,
    /// For each field up to the last one we read, the [`Col`] it holds or [`UNUSED`].
    slots: Vec<u8>,
    /// Set when the layout lacks a column we cannot do without: every line is then this bad kind.
    missing: Option<BadLine>,
}

impl Layout {
    fn from_names<'n>(names: impl Iterator<Item = &'n [u8]>) -> Layout {
        let mut slots = Vec::new();
        let mut seen = [false; COLS];
        let mut fields = 0;
        for (i, name) in names.enumerate() {
            fields = i + 1;
            if let Some(col) = Col::from_name(name).filter(|_| i < MAX_SLOTS) {
                if !seen[col as usize] {
                    seen[col as usize] = true;
                    slots.resize(i + 1, UNUSED);
                    slots[i] = col as u8;
                }
            }
        }
        let has = |c: Col| seen[c as usize];
        let missing = if !has(Col::Date) || !has(Col::Time) {
            Some(BadLine::BadTimestamp)
        } else if !has(Col::ScBytes) {
            Some(BadLine::BadNumber)
        } else if !has(Col::Protocol) {
            Some(BadLine::BadScheme)
        } else if !has(Col::XHostHeader) && !has(Col::CsHost) {
            Some(BadLine::MissingHost)
        } else {
            None
        };
        Layout {
            fields,
            slots,
            missing,
        }
    }

    fn standard(names: &[&str]) -> Layout {
        Layout::from_names(names.iter().map(|n| n.as_bytes()))
    }
}

/// Parses CloudFront standard-log lines; keeps the `#Fields` layout and counts what it saw.
///
/// One parser per stream of lines: the layout of one file's `#Fields` line applies to the lines
/// after it. Call [`CloudFrontParser::start_file`] between unrelated files, or keep the parser
/// going over concatenated files (each carries its own header).
#[derive(Debug, Clone)]
pub struct CloudFrontParser {
    /// The layout from the last `#Fields` line, if one was seen.
    layout: Option<Layout>,
    std26: Layout,
    std33: Layout,
    /// The last `date` field and its epoch ms at midnight, to skip civil arithmetic per line.
    day_cache: Option<([u8; 10], i64)>,
    counts: LineCounts,
}

impl Default for CloudFrontParser {
    fn default() -> Self {
        Self::new()
    }
}

impl CloudFrontParser {
    /// A parser that has seen no `#Fields` line yet.
    pub fn new() -> Self {
        CloudFrontParser {
            layout: None,
            std26: Layout::standard(&FIELDS_26),
            std33: Layout::standard(&FIELDS_33),
            day_cache: None,
            counts: LineCounts::default(),
        }
    }

    /// Forgets the `#Fields` layout (counters are kept), for a new, unrelated file.
    pub fn start_file(&mut self) {
        self.layout = None;
    }

    /// Data lines that parsed into records so far.
    pub fn records(&self) -> u64 {
        self.counts.records()
    }

    /// Data lines skipped so far, all kinds together.
    pub fn bad_lines(&self) -> u64 {
        self.counts.bad_lines()
    }

    /// Data lines skipped so far for one reason.
    pub fn bad_lines_of(&self, kind: BadLine) -> u64 {
        self.counts.bad_lines_of(kind)
    }

    /// Parses one line, given without its `\n` (a trailing `\r` is ignored).
    pub fn parse_line<'a>(&mut self, line: &'a [u8]) -> ParsedLine<'a> {
        let line = trim_line(line);
        match line.first() {
            None => return ParsedLine::Header,
            Some(b'#') => {
                self.header(line);
                return ParsedLine::Header;
            }
            Some(_) => {}
        }
        let parsed = self.record(line);
        self.counts.tally(parsed)
    }

    fn header(&mut self, line: &[u8]) {
        if let Some(rest) = line.strip_prefix(b"#Fields:") {
            let names = rest
                .split(|b| b.is_ascii_whitespace())
                .filter(|n| !n.is_empty());
            self.layout = Some(Layout::from_names(names));
        }
    }

    fn record<'a>(&mut self, line: &'a [u8]) -> Result<LogRecord<'a>, BadLine> {
        let mut tabs = [0u32; MAX_SLOTS];
        let fields = scan_tabs(line, &mut tabs) + 1;
        let layout = match &self.layout {
            Some(layout) => layout,
            None if fields == FIELDS_26.len() => &self.std26,
            None if fields == FIELDS_33.len() => &self.std33,
            None => return Err(BadLine::WrongFieldCount),
        };
        if fields != layout.fields {
            return Err(BadLine::WrongFieldCount);
        }
        if let Some(kind) = layout.missing {
            return Err(kind);
        }

        let mut v: [&'a [u8]; COLS] = [DASH; COLS];
        let mut start = 0;
        for (i, &slot) in layout.slots.iter().enumerate() {
            let end = if i + 1 < fields {
                tabs[i] as usize
            } else {
                line.len()
            };
            if slot != UNUSED {
                v[usize::from(slot)] = &line[start..end];
            }
            start = end + 1;
        }
        let get = |c: Col| v[c as usize];

        let timestamp_ms = self.timestamp(get(Col::Date), get(Col::Time))?;
        let bytes = number(get(Col::ScBytes))?;
        let status = match get(Col::Status) {
            b"-" => 0,
            s => u16::try_from(number(s)?).map_err(|_| BadLine::BadNumber)?,
        };
        let scheme = match get(Col::Protocol) {
            b"https" | b"wss" => Scheme::Https,
            b"http" | b"ws" => Scheme::Http,
            _ => return Err(BadLine::BadScheme),
        };
        let host = host(get(Col::XHostHeader), get(Col::CsHost))?;
        Ok(LogRecord {
            timestamp_ms,
            host,
            bytes,
            scheme,
            client_ip: plain(get(Col::ClientIp))?,
            edge_location: plain(get(Col::Edge))?,
            method: plain(get(Col::Method))?,
            raw_path: optional(get(Col::UriStem))?.unwrap_or(""),
            raw_query: optional(get(Col::Query))?,
            status,
            raw_referer: optional(get(Col::Referer))?,
            raw_user_agent: optional(get(Col::UserAgent))?,
            origin_fetch: get(Col::ResultType) == b"Miss",
            service_area: None,
        })
    }

    /// `YYYY-MM-DD` and `HH:MM:SS` (UTC) to epoch ms; the day is cached across lines.
    fn timestamp(&mut self, date: &[u8], time: &[u8]) -> Result<i64, BadLine> {
        let day_ms = match self.day_cache {
            Some((cached, ms)) if cached == date => ms,
            _ => {
                let d: [u8; 10] = date.try_into().map_err(|_| BadLine::BadTimestamp)?;
                if d[4] != b'-' || d[7] != b'-' {
                    return Err(BadLine::BadTimestamp);
                }
                let y = digits(&d[0..4])?;
                let (mo, dd) = (digits(&d[5..7])?, digits(&d[8..10])?);
                let ms =
                    ms_from_civil(i64::from(y), mo, dd, 0, 0, 0).ok_or(BadLine::BadTimestamp)?;
                self.day_cache = Some((d, ms));
                ms
            }
        };
        let t: &[u8; 8] = time.try_into().map_err(|_| BadLine::BadTimestamp)?;
        if t[2] != b':' || t[5] != b':' {
            return Err(BadLine::BadTimestamp);
        }
        let (h, mi, s) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
        if h > 23 || mi > 59 || s > 60 {
            return Err(BadLine::BadTimestamp);
        }
        Ok(day_ms + i64::from(h) * HOUR_MS + i64::from(mi) * MINUTE_MS + i64::from(s) * 1000)
    }
}

/// Counts the tabs of `line` and records the positions of the first [`MAX_SLOTS`] of them.
///
/// Eight bytes at a time: [`tab_mask`] turns a word into a bit per tab, then the set bits are
/// walked, so a line of ~400 bytes costs ~50 word steps plus one step per tab.
fn scan_tabs(line: &[u8], tabs: &mut [u32; MAX_SLOTS]) -> usize {
    let (words, tail) = line.as_chunks::<8>();
    let mut n = 0;
    let mut take = |mut mask: u32, base: u32| {
        while mask != 0 {
            if let Some(slot) = tabs.get_mut(n) {
                *slot = base + mask.trailing_zeros();
            }
            n += 1;
            mask &= mask - 1;
        }
    };
    let mut base = 0u32;
    for word in words {
        take(tab_mask(u64::from_le_bytes(*word)), base);
        base += 8;
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    take(tab_mask(u64::from_le_bytes(last)), base);
    n
}

/// Bit `i` set when byte `i` (little-endian) of `word` is a tab.
fn tab_mask(word: u64) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ 0x0909_0909_0909_0909;
    // High bit of each byte set exactly where `x` has a zero byte (no carries across bytes).
    let zero = !(((x & LOW7) + LOW7) | x | LOW7);
    // Gather the eight high bits into the low byte.
    ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// A field that is never URL-encoded (ip, edge, method); `-` is empty.
fn plain(b: &[u8]) -> Result<&str, BadLine> {
    if b == DASH {
        return Ok("");
    }
    str::from_utf8(b).map_err(|_| BadLine::NotUtf8)
}

/// A URL-encoded field kept as logged (decoded later, on access); `-` (or empty) is `None`.
fn optional(b: &[u8]) -> Result<Option<&str>, BadLine> {
    if b == DASH || b.is_empty() {
        Ok(None)
    } else {
        str::from_utf8(b).map(Some).map_err(|_| BadLine::NotUtf8)
    }
}

/// `x-host-header`, else `cs(Host)`, URL-decoded and ASCII-lowercased; borrowed unless it holds
/// a `%` or an uppercase letter.
fn host<'a>(x_host_header: &'a [u8], cs_host: &'a [u8]) -> Result<Cow<'a, str>, BadLine> {
    let raw = match x_host_header {
        DASH | b"" => cs_host,
        x => x,
    };
    if raw == DASH || raw.is_empty() {
        return Err(BadLine::MissingHost);
    }
    let host = match percent_decode(raw) {
        Cow::Borrowed(b) => Cow::Borrowed(str::from_utf8(b).map_err(|_| BadLine::NotUtf8)?),
        Cow::Owned(v) => Cow::Owned(String::from_utf8(v).map_err(|_| BadLine::NotUtf8)?),
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Ok(host)
    }
}

/// The UTC hour (epoch ms) in a CloudFront log file name,
/// `<prefix><distribution-id>.YYYY-MM-DD-HH.<unique>.gz`, or `None` when the name does not
/// follow the convention (such objects are ignored, never guessed at).
pub fn file_hour(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    let name = name.strip_suffix(".gz")?;
    // <distribution-id>.YYYY-MM-DD-HH.<unique>
    let mut parts = name.rsplitn(3, '.');
    let _unique = parts.next()?;
    let stamp = parts.next()?;
    let _distribution = parts.next()?;
    let b = stamp.as_bytes();
    if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u32>().ok();
    let y = i64::from(num(0..4)?);
    ms_from_civil(y, num(5..7)?, num(8..10)?, num(11..13)?, 0, 0)
}

impl LineParser for CloudFrontParser {
    /// The name says nothing the lines need: only the layout is forgotten.
    fn start_file(&mut self, _key: &str) {
        CloudFrontParser::start_file(self);
    }

    #[inline]
    fn parse_line<'a>(&mut self, line: &'a [u8]) -> ParsedLine<'a> {
        CloudFrontParser::parse_line(self, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hour_from_the_file_name() {
        let hour = |d, h| ms_from_civil(2026, 11, d, h, 0, 0).expect("valid date");
        assert_eq!(
            file_hour("logs/E2ABC.2026-11-01-05.a1b2c3d4.gz"),
            Some(hour(1, 5))
        );
        assert_eq!(file_hour("E2ABC.2026-11-01-23.x.gz"), Some(hour(1, 23)));
        assert_eq!(file_hour("logs/E2ABC.2026-11-01-24.a.gz"), None);
        assert_eq!(file_hour("logs/readme.txt"), None);
        assert_eq!(file_hour("logs/E2ABC.2026-11-01.a.gz"), None);
        assert_eq!(file_hour("x.2026-1x-01-05.a.gz"), None);
    }

    const V: &str = "#Version: 1.0";

    fn fields_line(names: &[&str]) -> String {
        format!("#Fields: {}", names.join(" "))
    }

    /// The AWS documentation's 33-field example line (one field per element).
    fn aws33() -> Vec<&'static str> {
        vec![
            "2019-12-04",
            "21:02:31",
            "LAX1",
            "392",
            "192.0.2.100",
            "GET",
            "d111111abcdef8.cloudfront.net",
            "/index.html",
            "200",
            "-",
            "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)%20Chrome/78.0.3904.108%20Safari/537.36",
            "-",
            "-",
            "Hit",
            "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
            "d111111abcdef8.cloudfront.net",
            "https",
            "23",
            "0.001",
            "-",
            "TLSv1.2",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "Hit",
            "HTTP/2.0",
            "-",
            "-",
            "11040",
            "0.001",
            "Hit",
            "text/html",
            "78",
            "-",
            "-",
        ]
    }

    fn aws26() -> Vec<&'static str> {
        aws33()[..26].to_vec()
    }

    fn with(mut fields: Vec<&'static str>, i: usize, value: &'static str) -> Vec<&'static str> {
        fields[i] = value;
        fields
    }

    fn line(fields: &[&str]) -> String {
        fields.join("\t")
    }

    /// Parses a whole text; returns the records and the bad kinds, in order.
    fn parse_text<'t>(
        parser: &mut CloudFrontParser,
        text: &'t str,
    ) -> (Vec<LogRecord<'t>>, Vec<BadLine>) {
        let mut records = Vec::new();
        let mut bad = Vec::new();
        for l in text.as_bytes().split(|b| *b == b'\n') {
            match parser.parse_line(l) {
                ParsedLine::Header => {}
                ParsedLine::Record(r) => records.push(r),
                ParsedLine::Bad(kind) => bad.push(kind),
            }
        }
        (records, bad)
    }

    fn one<'t>(parser: &mut CloudFrontParser, l: &'t str) -> ParsedLine<'t> {
        parser.parse_line(l.as_bytes())
    }

    fn record<'t>(parser: &mut CloudFrontParser, l: &'t str) -> LogRecord<'t> {
        match one(parser, l) {
            ParsedLine::Record(r) => r,
            other => panic!("expected a record, got {other:?}"),
        }
    }

    fn ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, s).expect("valid date")
    }

    #[test]
    fn parses_the_aws_33_field_example() {
        let text = format!("{V}\n{}\n{}\n", fields_line(&FIELDS_33), line(&aws33()));
        let mut p = CloudFrontParser::new();
        let (records, bad) = parse_text(&mut p, &text);
        assert!(bad.is_empty());
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.timestamp_ms, ms(2019, 12, 4, 21, 2, 31));
        assert_eq!(r.host, "d111111abcdef8.cloudfront.net");
        assert_eq!(r.bytes, 392);
        assert_eq!(r.scheme, Scheme::Https);
        assert_eq!(r.client_ip, "192.0.2.100");
        assert_eq!(r.edge_location, "LAX1");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path(), "/index.html");
        assert_eq!(r.query(), None);
        assert_eq!(r.status, 200);
        assert_eq!(r.referer(), None);
        assert_eq!(
            r.user_agent().as_deref(),
            Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36")
        );
        assert!(!r.origin_fetch);
        assert_eq!(r.url(), "/index.html");
        assert_eq!((p.records(), p.bad_lines()), (1, 0));
    }

    #[test]
    fn parses_a_26_field_file() {
        let l = line(&with(with(aws26(), 13, "Miss"), 16, "http"));
        let text = format!("{V}\n{}\n{l}\n{l}\n", fields_line(&FIELDS_26));
        let mut p = CloudFrontParser::new();
        let (records, bad) = parse_text(&mut p, &text);
        assert!(bad.is_empty());
        assert_eq!(records.len(), 2);
        assert!(records[0].origin_fetch);
        assert_eq!(records[0].scheme, Scheme::Http);
        assert_eq!(records[0].bytes, 392);
        // A 33-field line does not fit the 26-field header.
        assert_eq!(
            one(&mut p, &line(&aws33())),
            ParsedLine::Bad(BadLine::WrongFieldCount)
        );
    }

    #[test]
    fn borrows_when_nothing_needs_decoding() {
        let l = line(&with(with(aws26(), 10, "curl/8.5.0"), 11, "a=1&b=2"));
        let mut p = CloudFrontParser::new();
        match p.parse_line(l.as_bytes()) {
            ParsedLine::Record(r) => {
                assert!(matches!(r.host, Cow::Borrowed(_)));
                assert!(matches!(r.path(), Cow::Borrowed(_)));
                assert!(matches!(r.query(), Some(Cow::Borrowed("a=1&b=2"))));
                assert!(matches!(r.user_agent(), Some(Cow::Borrowed("curl/8.5.0"))));
                assert_eq!(r.url(), "/index.html?a=1&b=2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn falls_back_to_the_standard_layout_by_field_count() {
        let mut p = CloudFrontParser::new();
        assert_eq!(record(&mut p, &line(&aws26())).bytes, 392);
        assert_eq!(record(&mut p, &line(&aws33())).bytes, 392);
        let short = line(&aws33()[..30]);
        assert_eq!(
            one(&mut p, &short),
            ParsedLine::Bad(BadLine::WrongFieldCount)
        );
        assert_eq!(p.bad_lines_of(BadLine::WrongFieldCount), 1);
    }

    #[test]
    fn ipv6_client() {
        let mut p = CloudFrontParser::new();
        let lr = line(&with(aws33(), 4, "2001:db8:85a3::8a2e:370:7334"));
        let r = record(&mut p, &lr);
        assert_eq!(r.client_ip, "2001:db8:85a3::8a2e:370:7334");
    }

    #[test]
    fn decodes_url_encoded_fields_once() {
        let f = with(aws33(), 15, "Shop.Example%2ECOM");
        let f = with(f, 7, "/files/annual%20report%20%E2%80%94%202024.pdf");
        let f = with(f, 11, "q=caf%C3%A9&tag=a%26b");
        let f = with(
            f,
            10,
            "MyApp%2520Beta/1.0%20CFNetwork/1240.0.4%20Darwin/20.5.0",
        );
        let f = with(f, 9, "https://www.example.com/search?q=a%20b");
        let mut p = CloudFrontParser::new();
        let lr = line(&f);
        let r = record(&mut p, &lr);
        assert_eq!(r.host, "shop.example.com");
        // Kept as logged until read.
        assert_eq!(r.raw_path, "/files/annual%20report%20%E2%80%94%202024.pdf");
        assert_eq!(r.raw_query, Some("q=caf%C3%A9&tag=a%26b"));
        assert_eq!(r.path(), "/files/annual report — 2024.pdf");
        assert_eq!(r.query().as_deref(), Some("q=café&tag=a&b"));
        assert_eq!(
            r.user_agent().as_deref(),
            Some("MyApp%20Beta/1.0 CFNetwork/1240.0.4 Darwin/20.5.0")
        );
        assert_eq!(
            r.referer().as_deref(),
            Some("https://www.example.com/search?q=a b")
        );
        assert_eq!(r.url(), "/files/annual report — 2024.pdf?q=café&tag=a&b");
        // A `%` that starts no escape stays as it is.
        let lr = line(&with(aws33(), 7, "/100%/x"));
        let r = record(&mut p, &lr);
        assert_eq!(r.path(), "/100%/x");
    }

    #[test]
    fn decoded_text_that_is_not_utf8_is_replaced() {
        // Only the raw bytes must be UTF-8; what an escape decodes to is checked when read, and
        // read lossily, so the line still counts in statistics.
        let f = with(aws33(), 7, "/a%FF");
        let f = with(f, 11, "q=%C3");
        let f = with(f, 10, "Bot%E9/1.0");
        let mut p = CloudFrontParser::new();
        let lr = line(&f);
        let r = record(&mut p, &lr);
        assert_eq!(r.raw_path, "/a%FF");
        assert_eq!(r.path(), "/a\u{FFFD}");
        assert_eq!(r.query().as_deref(), Some("q=\u{FFFD}"));
        assert_eq!(r.user_agent().as_deref(), Some("Bot\u{FFFD}/1.0"));
        assert_eq!(r.url(), "/a\u{FFFD}?q=\u{FFFD}");
        assert_eq!((p.records(), p.bad_lines()), (1, 0));
    }

    #[test]
    fn dash_fields_are_empty() {
        let f = with(aws33(), 10, "-");
        let f = with(f, 8, "-");
        let f = with(f, 4, "-");
        let f = with(f, 3, "-");
        let mut p = CloudFrontParser::new();
        let lr = line(&f);
        let r = record(&mut p, &lr);
        assert_eq!(
            (r.raw_user_agent, r.status, r.client_ip, r.bytes),
            (None, 0, "", 0)
        );
        let lr = line(&with(aws33(), 8, "000"));
        let r = record(&mut p, &lr);
        assert_eq!(r.status, 0);
    }

    #[test]
    fn host_falls_back_to_cs_host() {
        let f = with(with(aws33(), 15, "-"), 6, "D111111ABCDEF8.cloudfront.net");
        let mut p = CloudFrontParser::new();
        assert_eq!(
            record(&mut p, &line(&f)).host,
            "d111111abcdef8.cloudfront.net"
        );
        let f = with(with(aws33(), 15, "www.example.com"), 6, "d1.cloudfront.net");
        assert_eq!(record(&mut p, &line(&f)).host, "www.example.com");
        let f = with(with(aws33(), 15, "-"), 6, "-");
        assert_eq!(
            one(&mut p, &line(&f)),
            ParsedLine::Bad(BadLine::MissingHost)
        );
    }

    #[test]
    fn origin_fetch_only_on_miss() {
        let mut p = CloudFrontParser::new();
        for (kind, fetch) in [
            ("Miss", true),
            ("Hit", false),
            ("RefreshHit", false),
            ("Error", false),
        ] {
            let lr = line(&with(aws33(), 13, kind));
            let r = record(&mut p, &lr);
            assert_eq!(r.origin_fetch, fetch, "{kind}");
        }
    }

    #[test]
    fn websocket_protocols_map_to_schemes() {
        let mut p = CloudFrontParser::new();
        for (proto, scheme) in [
            ("http", Scheme::Http),
            ("https", Scheme::Https),
            ("ws", Scheme::Http),
            ("wss", Scheme::Https),
        ] {
            assert_eq!(
                record(&mut p, &line(&with(aws33(), 16, proto))).scheme,
                scheme
            );
        }
        assert_eq!(
            one(&mut p, &line(&with(aws33(), 16, "ftp"))),
            ParsedLine::Bad(BadLine::BadScheme)
        );
    }

    #[test]
    fn counts_bad_lines_of_each_kind() {
        let mut p = CloudFrontParser::new();
        let bad = [
            (line(&aws33()[..20]), BadLine::WrongFieldCount),
            ("garbage".to_string(), BadLine::WrongFieldCount),
            (line(&with(aws33(), 0, "2019-13-04")), BadLine::BadTimestamp),
            (line(&with(aws33(), 0, "2019-02-30")), BadLine::BadTimestamp),
            (line(&with(aws33(), 0, "04/12/2019")), BadLine::BadTimestamp),
            (line(&with(aws33(), 1, "24:00:00")), BadLine::BadTimestamp),
            (line(&with(aws33(), 1, "1:02:03")), BadLine::BadTimestamp),
            (line(&with(aws33(), 3, "39x")), BadLine::BadNumber),
            (line(&with(aws33(), 3, "")), BadLine::BadNumber),
            (
                line(&with(aws33(), 3, "99999999999999999999999")),
                BadLine::BadNumber,
            ),
            (line(&with(aws33(), 8, "OK")), BadLine::BadNumber),
            (line(&with(aws33(), 8, "70000")), BadLine::BadNumber),
            (line(&with(aws33(), 16, "gopher")), BadLine::BadScheme),
        ];
        for (l, kind) in &bad {
            assert_eq!(one(&mut p, l), ParsedLine::Bad(*kind), "{l}");
        }
        let mut not_utf8 = line(&aws33()).into_bytes();
        let ua = not_utf8
            .windows(7)
            .position(|w| w == b"Mozilla")
            .expect("ua");
        not_utf8[ua] = 0xFF;
        assert_eq!(p.parse_line(&not_utf8), ParsedLine::Bad(BadLine::NotUtf8));
        // The domain is decoded at once; the other text fields only when read (see
        // `decoded_text_that_is_not_utf8_is_replaced`).
        let encoded_bad = line(&with(aws33(), 15, "www.ex%FFample.com"));
        assert_eq!(one(&mut p, &encoded_bad), ParsedLine::Bad(BadLine::NotUtf8));
        let no_host = line(&with(with(aws33(), 15, "-"), 6, "-"));
        assert_eq!(one(&mut p, &no_host), ParsedLine::Bad(BadLine::MissingHost));

        assert_eq!(p.bad_lines(), bad.len() as u64 + 3);
        assert_eq!(p.bad_lines_of(BadLine::WrongFieldCount), 2);
        assert_eq!(p.bad_lines_of(BadLine::BadTimestamp), 5);
        assert_eq!(p.bad_lines_of(BadLine::BadNumber), 5);
        assert_eq!(p.bad_lines_of(BadLine::BadScheme), 1);
        assert_eq!(p.bad_lines_of(BadLine::NotUtf8), 2);
        assert_eq!(p.bad_lines_of(BadLine::MissingHost), 1);
        assert_eq!(p.records(), 0);
        assert_eq!(BadLine::BadNumber.to_string(), "bad number");
    }

    #[test]
    fn a_fields_line_midway_changes_positions() {
        // A custom order first (as a concatenated file from another pipeline could have), then
        // the standard 26, then the standard 33 layout: each header governs the lines after it.
        let custom = [
            "time",
            "date",
            "cs-protocol",
            "sc-bytes",
            "x-host-header",
            "c-ip",
        ];
        let text = [
            V.to_string(),
            fields_line(&custom),
            "07:08:09\t2024-02-29\thttps\t1234\twww.example.com\t2001:db8::1".to_string(),
            V.to_string(),
            fields_line(&FIELDS_26),
            line(&aws26()),
            V.to_string(),
            fields_line(&FIELDS_33),
            line(&with(aws33(), 3, "77")),
            String::new(),
        ]
        .join("\n");
        let mut p = CloudFrontParser::new();
        let (records, bad) = parse_text(&mut p, &text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].timestamp_ms, ms(2024, 2, 29, 7, 8, 9));
        assert_eq!(records[0].bytes, 1234);
        assert_eq!(records[0].host, "www.example.com");
        assert_eq!(records[0].client_ip, "2001:db8::1");
        assert_eq!((records[0].raw_path, records[0].status), ("", 0));
        assert_eq!(records[0].path(), "");
        assert_eq!(records[1].bytes, 392);
        assert_eq!(records[2].bytes, 77);
        // After start_file the layout is forgotten: back to the fallback by field count.
        p.start_file();
        assert_eq!(record(&mut p, &line(&aws26())).bytes, 392);
    }

    #[test]
    fn a_layout_without_a_needed_column_marks_its_lines_bad() {
        let mut p = CloudFrontParser::new();
        assert_eq!(
            one(&mut p, "#Fields: date time x-host-header cs-protocol"),
            ParsedLine::Header
        );
        assert_eq!(
            one(&mut p, "2024-01-01\t00:00:00\twww.example.com\thttps"),
            ParsedLine::Bad(BadLine::BadNumber)
        );
    }

    #[test]
    fn crlf_blank_and_comment_lines() {
        let text = format!(
            "{V}\r\n{}\r\n\r\n{}\r\n# a comment\r\n{}\r\n",
            fields_line(&FIELDS_33),
            line(&aws33()),
            line(&with(aws33(), 16, "http"))
        );
        let mut p = CloudFrontParser::new();
        let (records, bad) = parse_text(&mut p, &text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(records.len(), 2);
        // The trailing `\r` does not stick to the last field we read.
        assert_eq!(records[1].scheme, Scheme::Http);
        assert_eq!((p.records(), p.bad_lines()), (2, 0));
    }

    #[test]
    fn midnight_and_day_cache() {
        let mut p = CloudFrontParser::new();
        let la = line(&with(with(aws33(), 0, "2024-12-31"), 1, "23:59:59"));
        let a = record(&mut p, &la);
        let lb = line(&with(with(aws33(), 0, "2025-01-01"), 1, "00:00:00"));
        let b = record(&mut p, &lb);
        let lc = line(&with(with(aws33(), 0, "2025-01-01"), 1, "00:00:01"));
        let c = record(&mut p, &lc);
        assert_eq!(b.timestamp_ms - a.timestamp_ms, 1000);
        assert_eq!(c.timestamp_ms - b.timestamp_ms, 1000);
        assert_eq!(b.timestamp_ms, ms(2025, 1, 1, 0, 0, 0));
    }

    #[test]
    fn scan_tabs_finds_every_tab() {
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 200, 801] {
            for every in [1usize, 2, 3, 9, 17] {
                let line: Vec<u8> = (0..len)
                    .map(|i| if i % every == 0 { b'\t' } else { b'x' })
                    .collect();
                let expected: Vec<u32> = (0..len as u32)
                    .filter(|i| line[*i as usize] == b'\t')
                    .collect();
                let mut tabs = [0u32; MAX_SLOTS];
                let n = scan_tabs(&line, &mut tabs);
                assert_eq!(n, expected.len(), "len {len} every {every}");
                let kept = n.min(MAX_SLOTS);
                assert_eq!(&tabs[..kept], &expected[..kept], "len {len} every {every}");
            }
        }
        assert_eq!(
            tab_mask(u64::from_le_bytes(*b"\t\x89\x08\n\t\0\xff\t")),
            0b1001_0001
        );
    }
}
