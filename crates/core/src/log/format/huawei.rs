//! Huawei CDN access logs: one line per request, space-separated, text fields in double quotes.
//!
//! # File names
//! `<prefix>YYYYMMDDHH-<domain>-<area>.gz`, e.g. `2018021123-www.example01.com-ov.gz`: one file
//! per accelerated domain, hour and service area (`cn` = mainland China, `ov` = outside). A file
//! too large for one object is split and the parts carry a segment mark after the area
//! (`…-cn-1.gz`; letters and digits). The hour is the **start of the hour in Beijing time**
//! (UTC+8, [`NAME_UTC_OFFSET_MS`]), the zone Huawei's console and its log lines use: file
//! `2026112408-…` holds the lines of 2026-11-24 00:00–01:00 UTC. The lines carry their own zone,
//! so only the choice of files depends on this, and the listing reads `late_hours` of files past
//! a range's end, which also absorbs lines logged in the file of a later hour. A wildcard domain
//! (`*.` or `_.` in the name) or one that is not a host name gives no domain: such a file is never
//! skipped by domain.
//!
//! # Lines
//! ```text
//! [05/Feb/2018:07:54:52 +0800] 192.0.2.7 1 "-" "HTTP/1.1" "GET" "www.test.com" "/test/1234.apk" 206 720 HIT "Mozilla/5.0 …" "bytes=-256"
//! ```
//! time with its zone, client ip, time to last byte (ms, not read), referer, protocol version
//! (not read), method, domain, path (may carry `?query`), status, bytes sent, cache status, user
//! agent, range (not read). Fields after the 13th (some regions append the edge's ip) are ignored.
//! Fields are separated by one or more spaces; a field that starts with `"` runs to the next `"`
//! not escaped by a backslash (`\"` and `\\` stay inside it), one that starts with `[` to the next
//! `]`, any other to the next space. Values are kept as logged: escapes (`\"`, `\x22`) are not
//! undone, and path, query, referer and user agent are URL-decoded only when read, like
//! CloudFront's ([`LogRecord::path`] and the like).
//!
//! - `timestamp_ms`: the line's own time converted to UTC with the line's own zone (`+0800`,
//!   `-0500`, `+0000`, …).
//! - `host`: the domain field, ASCII-lowercased.
//! - `scheme`: the lines carry the protocol version, not `http` / `https`. A path field holding
//!   a full URL (`https://host/path`) says its scheme, and the path is the part after the host;
//!   any other line counts as `http`. So a `scheme: https` filter over Huawei logs counts only
//!   lines logged with a full `https://` URL.
//! - `origin_fetch`: the cache status is `MISS` (any case): the edge went to the origin. `HIT`
//!   and every other value (`-` on errors, …) are served by the edge.
//! - `edge_location`: `""` (the lines name no edge); `service_area`: from the file name given
//!   to [`LineParser::start_file`] (`None` when the name does not say).
//! - `-` means empty: `None` for referer, user agent and query, `""` for path, ip and method, 0
//!   for status and bytes.
//!
//! A line that does not parse is a [`ParsedLine::Bad`] of one [`BadLine`] kind, counted, never
//! fatal: fewer than 13 fields ([`BadLine::WrongFieldCount`]), a quote or bracket that does not
//! close or is followed by something else than a space ([`BadLine::BadQuoting`]), a bad time or
//! zone ([`BadLine::BadTimestamp`]), a status or size that is not a number
//! ([`BadLine::BadNumber`]), no domain ([`BadLine::MissingHost`]), a read field that is not UTF-8
//! ([`BadLine::NotUtf8`]).
//!
//! Speed: one pass over the line, nothing allocated unless the domain holds an uppercase letter;
//! the day of the last line is cached.

use std::borrow::Cow;
use std::str;

use super::fields::{digits, number};
use super::{trim_line, BadLine, FileName, LineCounts, LineParser, ParsedLine};
use crate::log::{is_hostname, ServiceArea};
use crate::log::{LogRecord, Scheme};
use crate::time::{ms_from_civil, HOUR_MS, MINUTE_MS};

/// The offset from UTC of the hour in Huawei file names: Beijing time, UTC+8.
pub const NAME_UTC_OFFSET_MS: i64 = 8 * HOUR_MS;

/// The fields a line must have (the 13 Huawei documents; later ones are ignored).
const FIELDS: usize = 13;

// Field positions.
const TIME: usize = 0;
const CLIENT_IP: usize = 1;
const REFERER: usize = 3;
const METHOD: usize = 5;
const DOMAIN: usize = 6;
const PATH: usize = 7;
const STATUS: usize = 8;
const BYTES: usize = 9;
const CACHE: usize = 10;
const USER_AGENT: usize = 11;

/// What a Huawei file name says: the UTC hour, the domain and the service area; `None` when
/// `key` does not follow `YYYYMMDDHH-<domain>-<cn|ov>[-<segment>].gz`.
pub fn file_name(key: &str) -> Option<FileName> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".gz")?;
    let stamp = stem.get(..10)?;
    if !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = stem.get(10..)?.strip_prefix('-')?;
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u32>().ok();
    let local = ms_from_civil(
        i64::from(num(0..4)?),
        num(4..6)?,
        num(6..8)?,
        num(8..10)?,
        0,
        0,
    )?;
    let (domain, area) = split_area(rest)?;
    if domain.is_empty() {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let wildcard = domain.starts_with("*.") || domain.starts_with("_.");
    Some(FileName {
        hour_ms: local - NAME_UTC_OFFSET_MS,
        domain: (!wildcard && is_hostname(&domain)).then_some(domain),
        service_area: Some(area),
    })
}

/// `<domain>-<area>` or `<domain>-<area>-<segment>` into the domain and the area.
fn split_area(rest: &str) -> Option<(&str, ServiceArea)> {
    let area = |s: &str| match s {
        "cn" => Some(ServiceArea::MainlandChina),
        "ov" => Some(ServiceArea::OutsideMainlandChina),
        _ => None,
    };
    let (head, last) = rest.rsplit_once('-')?;
    if let Some(a) = area(last) {
        return Some((head, a));
    }
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (domain, a) = head.rsplit_once('-')?;
    Some((domain, area(a)?))
}

/// Parses Huawei CDN log lines; knows the service area of the file being read and counts what
/// it saw.
#[derive(Debug, Clone, Default)]
pub struct HuaweiParser {
    /// From the name of the file being read.
    service_area: Option<ServiceArea>,
    /// The last `DD/Mon/YYYY` and its epoch ms at midnight (as if UTC), to skip civil
    /// arithmetic per line.
    day_cache: Option<([u8; 11], i64)>,
    counts: LineCounts,
}

impl HuaweiParser {
    /// A parser for lines of unknown service area (until [`LineParser::start_file`]).
    pub fn new() -> Self {
        HuaweiParser::default()
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

    /// Parses one line, given without its `\n` (a trailing `\r` is ignored); a blank line is a
    /// [`ParsedLine::Header`], not counted.
    pub fn parse_line<'a>(&mut self, line: &'a [u8]) -> ParsedLine<'a> {
        let line = trim_line(line);
        if line.iter().all(|b| *b == b' ') {
            return ParsedLine::Header;
        }
        let parsed = self.record(line);
        self.counts.tally(parsed)
    }

    fn record<'a>(&mut self, line: &'a [u8]) -> Result<LogRecord<'a>, BadLine> {
        let f = split_fields(line)?;
        let timestamp_ms = self.timestamp(f[TIME])?;
        let bytes = number(f[BYTES])?;
        let status = match f[STATUS] {
            b"-" => 0,
            s => u16::try_from(number(s)?).map_err(|_| BadLine::BadNumber)?,
        };
        let host = host(f[DOMAIN])?;
        let (scheme, url) = scheme_and_path(text(f[PATH])?);
        let (raw_path, raw_query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q).filter(|q| !q.is_empty())),
            None => (url, None),
        };
        Ok(LogRecord {
            timestamp_ms,
            host,
            bytes,
            scheme,
            client_ip: text(f[CLIENT_IP])?,
            edge_location: "",
            method: text(f[METHOD])?,
            raw_path,
            raw_query,
            status,
            raw_referer: optional(f[REFERER])?,
            raw_user_agent: optional(f[USER_AGENT])?,
            origin_fetch: f[CACHE].eq_ignore_ascii_case(b"MISS"),
            service_area: self.service_area,
        })
    }

    /// `DD/Mon/YYYY:HH:MM:SS ±hhmm` (brackets removed) to UTC epoch ms; the day is cached.
    fn timestamp(&mut self, t: &[u8]) -> Result<i64, BadLine> {
        let t: &[u8; 26] = t.try_into().map_err(|_| BadLine::BadTimestamp)?;
        if t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[14] != b':' || t[17] != b':' {
            return Err(BadLine::BadTimestamp);
        }
        if t[20] != b' ' {
            return Err(BadLine::BadTimestamp);
        }
        let day_ms = match self.day_cache {
            Some((cached, ms)) if cached[..] == t[..11] => ms,
            _ => {
                let mo = month(&t[3..6]).ok_or(BadLine::BadTimestamp)?;
                let (d, y) = (digits(&t[0..2])?, digits(&t[7..11])?);
                let ms =
                    ms_from_civil(i64::from(y), mo, d, 0, 0, 0).ok_or(BadLine::BadTimestamp)?;
                let mut key = [0u8; 11];
                key.copy_from_slice(&t[..11]);
                self.day_cache = Some((key, ms));
                ms
            }
        };
        let (h, mi, s) = (
            digits(&t[12..14])?,
            digits(&t[15..17])?,
            digits(&t[18..20])?,
        );
        let sign = match t[21] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(BadLine::BadTimestamp),
        };
        let (zh, zm) = (digits(&t[22..24])?, digits(&t[24..26])?);
        if h > 23 || mi > 59 || s > 60 || zh > 23 || zm > 59 {
            return Err(BadLine::BadTimestamp);
        }
        let local =
            day_ms + i64::from(h) * HOUR_MS + i64::from(mi) * MINUTE_MS + i64::from(s) * 1000;
        Ok(local - sign * (i64::from(zh) * HOUR_MS + i64::from(zm) * MINUTE_MS))
    }
}

impl LineParser for HuaweiParser {
    /// The service area comes from the file's name (`-cn` / `-ov`).
    fn start_file(&mut self, key: &str) {
        self.service_area = file_name(key).and_then(|f| f.service_area);
    }

    #[inline]
    fn parse_line<'a>(&mut self, line: &'a [u8]) -> ParsedLine<'a> {
        HuaweiParser::parse_line(self, line)
    }
}

/// The first [`FIELDS`] fields of `line`, quotes and brackets removed.
fn split_fields(line: &[u8]) -> Result<[&[u8]; FIELDS], BadLine> {
    let mut fields: [&[u8]; FIELDS] = [b""; FIELDS];
    let mut pos = 0;
    for field in &mut fields {
        while line.get(pos) == Some(&b' ') {
            pos += 1;
        }
        let rest = line.get(pos..).unwrap_or_default();
        let (value, used) = match rest.first() {
            None => return Err(BadLine::WrongFieldCount),
            Some(b'"') => {
                let end = closing_quote(&rest[1..]).ok_or(BadLine::BadQuoting)?;
                (&rest[1..1 + end], end + 2)
            }
            Some(b'[') => {
                let end = rest
                    .iter()
                    .position(|b| *b == b']')
                    .ok_or(BadLine::BadQuoting)?;
                (&rest[1..end], end + 1)
            }
            Some(_) => {
                let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
                (&rest[..end], end)
            }
        };
        *field = value;
        pos += used;
        if !matches!(line.get(pos), None | Some(b' ')) {
            return Err(BadLine::BadQuoting);
        }
    }
    Ok(fields)
}

/// The index of the first `"` in `s` not escaped by a backslash.
fn closing_quote(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// `Jan` … `Dec` to 1 … 12.
fn month(m: &[u8]) -> Option<u32> {
    const NAMES: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let i = NAMES.iter().position(|n| *n == m)?;
    u32::try_from(i + 1).ok()
}

/// A field as text; `-` is empty.
fn text(b: &[u8]) -> Result<&str, BadLine> {
    if b == b"-" {
        return Ok("");
    }
    str::from_utf8(b).map_err(|_| BadLine::NotUtf8)
}

/// A field as text; `-` (or empty) is `None`.
fn optional(b: &[u8]) -> Result<Option<&str>, BadLine> {
    if b == b"-" || b.is_empty() {
        Ok(None)
    } else {
        str::from_utf8(b).map(Some).map_err(|_| BadLine::NotUtf8)
    }
}

/// The domain, ASCII-lowercased; borrowed unless it holds an uppercase letter.
fn host(b: &[u8]) -> Result<Cow<'_, str>, BadLine> {
    if b == b"-" || b.is_empty() {
        return Err(BadLine::MissingHost);
    }
    let host = str::from_utf8(b).map_err(|_| BadLine::NotUtf8)?;
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Ok(Cow::Borrowed(host))
    }
}

/// The scheme a path field says (a full `http://` / `https://` URL, any case) and the path
/// after the host; `http` and the field itself otherwise.
fn scheme_and_path(url: &str) -> (Scheme, &str) {
    let strip = |prefix: &str| {
        url.get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| &url[prefix.len()..])
    };
    let (scheme, after) = match (strip("https://"), strip("http://")) {
        (Some(after), _) => (Scheme::Https, after),
        (None, Some(after)) => (Scheme::Http, after),
        (None, None) => return (Scheme::Http, url),
    };
    let path = match after.find(['/', '?']) {
        Some(i) => &after[i..],
        None => "",
    };
    (scheme, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"[05/Feb/2018:07:54:52 +0800] 192.0.2.7 1 "-" "HTTP/1.1" "GET" "www.test.com" "/test/1234.apk" 206 720 HIT "Mozilla/5.0 (Linux; U; Android 6.0; en-us; EVA-AL10 Build/HUAWEIEVA-AL10) AppleWebKit/533.1 (KHTML, like Gecko) Mobile Safari/533.1" "bytes=-256""#;

    fn ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, s).expect("valid date")
    }

    fn record<'t>(p: &mut HuaweiParser, l: &'t str) -> LogRecord<'t> {
        match p.parse_line(l.as_bytes()) {
            ParsedLine::Record(r) => r,
            other => panic!("expected a record from {l}, got {other:?}"),
        }
    }

    fn bad(p: &mut HuaweiParser, l: &str) -> BadLine {
        match p.parse_line(l.as_bytes()) {
            ParsedLine::Bad(kind) => kind,
            other => panic!("expected a bad line from {l}, got {other:?}"),
        }
    }

    /// The example line with field `i` (0-based, as written, quotes included) replaced.
    fn with(i: usize, value: &str) -> String {
        let mut f = vec![
            "[05/Feb/2018:07:54:52 +0800]",
            "192.0.2.7",
            "1",
            "\"-\"",
            "\"HTTP/1.1\"",
            "\"GET\"",
            "\"www.test.com\"",
            "\"/test/1234.apk\"",
            "206",
            "720",
            "HIT",
            "\"curl/8.5.0\"",
            "\"bytes=-256\"",
        ];
        f[i] = value;
        f.join(" ")
    }

    #[test]
    fn parses_the_documented_example() {
        let mut p = HuaweiParser::new();
        p.start_file("logs/2018020507-www.test.com-cn.gz");
        let r = record(&mut p, EXAMPLE);
        assert_eq!(r.timestamp_ms, ms(2018, 2, 4, 23, 54, 52));
        assert_eq!(r.client_ip, "192.0.2.7");
        assert_eq!(r.referer(), None);
        assert_eq!(r.method, "GET");
        assert_eq!(r.host, "www.test.com");
        assert!(matches!(r.host, Cow::Borrowed(_)));
        assert_eq!((r.raw_path, r.raw_query), ("/test/1234.apk", None));
        assert_eq!((r.status, r.bytes), (206, 720));
        assert!(!r.origin_fetch);
        assert_eq!(r.scheme, Scheme::Http);
        assert_eq!(r.edge_location, "");
        assert_eq!(r.service_area, Some(ServiceArea::MainlandChina));
        assert!(r
            .user_agent()
            .is_some_and(|ua| ua.starts_with("Mozilla/5.0 (Linux; U; Android 6.0;")
                && ua.ends_with("Mobile Safari/533.1")));
        assert_eq!((p.records(), p.bad_lines()), (1, 0));
    }

    #[test]
    fn zones_convert_to_utc() {
        let mut p = HuaweiParser::new();
        for (stamp, utc) in [
            ("[05/Feb/2018:07:54:52 +0800]", ms(2018, 2, 4, 23, 54, 52)),
            ("[05/Feb/2018:07:54:52 -0500]", ms(2018, 2, 5, 12, 54, 52)),
            ("[05/Feb/2018:07:54:52 +0000]", ms(2018, 2, 5, 7, 54, 52)),
            ("[05/Feb/2018:07:54:52 +0530]", ms(2018, 2, 5, 2, 24, 52)),
            // Across a year end, both ways.
            ("[01/Jan/2025:03:00:00 +0800]", ms(2024, 12, 31, 19, 0, 0)),
            ("[31/Dec/2024:22:00:00 -0300]", ms(2025, 1, 1, 1, 0, 0)),
            ("[29/Feb/2024:00:00:00 +0000]", ms(2024, 2, 29, 0, 0, 0)),
        ] {
            let l = with(0, stamp);
            assert_eq!(record(&mut p, &l).timestamp_ms, utc, "{stamp}");
        }
    }

    #[test]
    fn paths_queries_and_full_urls() {
        let mut p = HuaweiParser::new();
        let l = with(7, "\"/s/a%20b.html?q=caf%C3%A9&x=1\"");
        let r = record(&mut p, &l);
        assert_eq!(r.path(), "/s/a b.html");
        assert_eq!(r.query().as_deref(), Some("q=café&x=1"));
        assert_eq!(r.scheme, Scheme::Http);
        let l = with(7, "\"https://www.test.com/v/1.mp4?t=9\"");
        let r = record(&mut p, &l);
        assert_eq!(
            (r.scheme, r.raw_path, r.raw_query),
            (Scheme::Https, "/v/1.mp4", Some("t=9"))
        );
        let l = with(7, "\"HTTP://www.test.com\"");
        let r = record(&mut p, &l);
        assert_eq!(
            (r.scheme, r.raw_path, r.raw_query),
            (Scheme::Http, "", None)
        );
        let l = with(7, "\"/a?\"");
        assert_eq!(record(&mut p, &l).raw_query, None);
        let l = with(7, "\"-\"");
        assert_eq!(record(&mut p, &l).raw_path, "");
    }

    #[test]
    fn dashes_case_and_cache_status() {
        let mut p = HuaweiParser::new();
        let l = with(6, "\"WWW.Test.COM\"");
        let r = record(&mut p, &l);
        assert_eq!(r.host, "www.test.com");
        let l = with(11, "\"-\"");
        assert_eq!(record(&mut p, &l).raw_user_agent, None);
        let l = with(3, "\"https://ref.example/\"");
        assert_eq!(
            record(&mut p, &l).referer().as_deref(),
            Some("https://ref.example/")
        );
        let (l1, l2) = (with(8, "-"), with(9, "-"));
        assert_eq!(record(&mut p, &l1).status, 0);
        assert_eq!(record(&mut p, &l2).bytes, 0);
        for (cache, fetch) in [
            ("MISS", true),
            ("miss", true),
            ("HIT", false),
            ("-", false),
            ("EXPIRED", false),
        ] {
            let l = with(10, cache);
            assert_eq!(record(&mut p, &l).origin_fetch, fetch, "{cache}");
        }
    }

    #[test]
    fn quoting_edge_cases() {
        let mut p = HuaweiParser::new();
        // An escaped quote stays inside the field, as logged.
        let l = with(11, r#""Bot \"quoted\" 1.0""#);
        assert_eq!(
            record(&mut p, &l).raw_user_agent,
            Some(r#"Bot \"quoted\" 1.0"#)
        );
        // An escaped backslash before the closing quote.
        let l = with(11, r#""Bot\\""#);
        assert_eq!(record(&mut p, &l).raw_user_agent, Some(r#"Bot\\"#));
        // Empty quoted fields and unquoted values; several spaces; trailing fields; CRLF.
        let l = with(11, r#""""#);
        assert_eq!(record(&mut p, &l).raw_user_agent, None);
        let l = with(5, "GET");
        assert_eq!(record(&mut p, &l).method, "GET");
        let l = EXAMPLE.replace(" 206 ", "   206  ");
        assert_eq!(record(&mut p, &l).status, 206);
        let l = format!("{EXAMPLE} 203.0.113.9 extra\r");
        assert_eq!(record(&mut p, &l).bytes, 720);
        assert_eq!(p.parse_line(b""), ParsedLine::Header);
        assert_eq!(p.parse_line(b"  \r"), ParsedLine::Header);
        assert_eq!(p.bad_lines(), 0);
    }

    #[test]
    fn counts_bad_lines_of_each_kind() {
        let mut p = HuaweiParser::new();
        let cases = [
            (
                EXAMPLE.rsplit_once(' ').expect("space").0.to_string(),
                BadLine::WrongFieldCount,
            ),
            ("garbage".to_string(), BadLine::WrongFieldCount),
            (with(7, "\"/never/closed"), BadLine::BadQuoting),
            (with(11, "\"ua\"x"), BadLine::BadQuoting),
            (with(11, r#""ends in an escape\""#), BadLine::BadQuoting),
            (with(0, "[05/Feb/2018:07:54:52 +0800"), BadLine::BadQuoting),
            (with(0, "[05/Feb/2018:07:54:52]"), BadLine::BadTimestamp),
            (
                with(0, "[05/Fev/2018:07:54:52 +0800]"),
                BadLine::BadTimestamp,
            ),
            (
                with(0, "[30/Feb/2018:07:54:52 +0800]"),
                BadLine::BadTimestamp,
            ),
            (
                with(0, "[05/Feb/2018:24:00:00 +0800]"),
                BadLine::BadTimestamp,
            ),
            (
                with(0, "[05/Feb/2018:07:54:52 *0800]"),
                BadLine::BadTimestamp,
            ),
            (
                with(0, "[05/Feb/2018:07:54:52 +0860]"),
                BadLine::BadTimestamp,
            ),
            (with(0, "2018-02-05T07:54:52"), BadLine::BadTimestamp),
            (with(9, "72O"), BadLine::BadNumber),
            (with(9, "99999999999999999999999"), BadLine::BadNumber),
            (with(8, "70000"), BadLine::BadNumber),
            (with(6, "\"-\""), BadLine::MissingHost),
            (with(6, "\"\""), BadLine::MissingHost),
        ];
        for (l, kind) in &cases {
            assert_eq!(bad(&mut p, l), *kind, "{l}");
        }
        let mut not_utf8 = with(11, "\"Bot\"").into_bytes();
        let at = not_utf8.windows(3).position(|w| w == b"Bot").expect("ua");
        not_utf8[at] = 0xFF;
        assert_eq!(p.parse_line(&not_utf8), ParsedLine::Bad(BadLine::NotUtf8));
        assert_eq!(p.bad_lines(), cases.len() as u64 + 1);
        assert_eq!(p.bad_lines_of(BadLine::WrongFieldCount), 2);
        assert_eq!(p.bad_lines_of(BadLine::BadQuoting), 4);
        assert_eq!(p.bad_lines_of(BadLine::BadTimestamp), 7);
        assert_eq!(p.bad_lines_of(BadLine::BadNumber), 3);
        assert_eq!(p.bad_lines_of(BadLine::MissingHost), 2);
        assert_eq!(p.bad_lines_of(BadLine::NotUtf8), 1);
        assert_eq!(p.records(), 0);
    }

    #[test]
    fn file_name_rule() {
        let beijing = |d, h| ms(2026, 11, d, h, 0, 0) - NAME_UTC_OFFSET_MS;
        let f = file_name("tenant/logs/2026112408-www.example.com-cn.gz").expect("name");
        assert_eq!(f.hour_ms, beijing(24, 8));
        assert_eq!(f.hour_ms, ms(2026, 11, 24, 0, 0, 0));
        assert_eq!(f.domain.as_deref(), Some("www.example.com"));
        assert_eq!(f.service_area, Some(ServiceArea::MainlandChina));
        // Beijing midnight is the previous UTC day; a domain with hyphens; upper case.
        let f = file_name("2026112400-My-Shop.example-cn.com-ov.gz").expect("name");
        assert_eq!(f.hour_ms, ms(2026, 11, 23, 16, 0, 0));
        assert_eq!(f.domain.as_deref(), Some("my-shop.example-cn.com"));
        assert_eq!(f.service_area, Some(ServiceArea::OutsideMainlandChina));
        // A segment mark after the area.
        let f = file_name("p/2026112413-img.example.com-ov-2.gz").expect("segment");
        assert_eq!(f.domain.as_deref(), Some("img.example.com"));
        assert_eq!(f.service_area, Some(ServiceArea::OutsideMainlandChina));
        // Wildcard domains are never used to skip a file.
        let f = file_name("2026112413-*.example.com-cn.gz").expect("wildcard");
        assert_eq!(
            (f.domain, f.service_area),
            (None, Some(ServiceArea::MainlandChina))
        );
        assert_eq!(
            file_name("2026112413-_.example.com-cn.gz").and_then(|f| f.domain),
            None
        );
        for bad in [
            "2026112424-www.example.com-cn.gz",
            "2026113108-www.example.com-cn.gz",
            "2026112408-www.example.com-us.gz",
            "2026112408-www.example.com-cn.log",
            "2026112408-www.example.com.gz",
            "2026112408-cn.gz",
            "2026112408--cn.gz",
            "202611240-www.example.com-cn.gz",
            "2026112408www.example.com-cn.gz",
            "E2ABC.2026-11-01-05.a1b2c3d4.gz",
            "2026112408-www.example.com-cn-x.y.gz",
            "readme.txt",
        ] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn start_file_sets_the_service_area() {
        let mut p = HuaweiParser::new();
        assert_eq!(record(&mut p, EXAMPLE).service_area, None);
        p.start_file("2018020507-www.test.com-ov.gz");
        assert_eq!(
            record(&mut p, EXAMPLE).service_area,
            Some(ServiceArea::OutsideMainlandChina)
        );
        p.start_file("not-a-huawei-name.gz");
        assert_eq!(record(&mut p, EXAMPLE).service_area, None);
    }
}
