//! The rows of the `logs` export: which columns a raw log row has, how a selected record is
//! packed into bytes while the export sorts (spilled to disk and merged back, see the worker's
//! `sort` module), and how a packed row becomes the cells a writer prints.
//!
//! # Columns
//!
//! Every field of the record, in this order, with the same names as the query language
//! ([`crate::query`]): `time`, `host`, `method`, `scheme`, `path`, `query`, `status`, `bytes`,
//! `ip`, `referer`, `ua`, `edge`, `result` ([`LOG_COLUMNS`]). `time` is RFC 3339 in UTC, with
//! milliseconds only when the log has them; `path`, `query`, `referer` and `ua` are URL-decoded
//! as the query language reads them; a field the log gives as `-` is empty; `result` is `hit`
//! or `miss`; `status` and `bytes` are numbers.
//!
//! # Packed rows
//!
//! A packed row is the sort key (time, then the row's sequence number) followed by the fields:
//! `[time i64][seq u64][status u16][bytes u64][flags u8]` then eight length-prefixed (`u32`)
//! UTF-8 strings: host, method, path, query, ip, referer, ua, edge; all integers little-endian.
//! [`pack`] appends one to a buffer without allocating anything else; [`PackedRow::parse`]
//! reads one back, borrowing its strings.

use crate::log::{LogRecord, Scheme};
use crate::table::{Cell, Column};
use crate::time::format_rfc3339;

/// The columns of a `logs` export, in file order.
pub const LOG_COLUMNS: [Column; 13] = [
    Column::Time,
    Column::Host,
    Column::Method,
    Column::Scheme,
    Column::Path,
    Column::Query,
    Column::Status,
    Column::Bytes,
    Column::Ip,
    Column::Referer,
    Column::Ua,
    Column::Edge,
    Column::Result,
];

/// The bytes before the first string of a packed row.
const FIXED_BYTES: usize = 8 + 8 + 2 + 8 + 1;

const HTTPS: u8 = 1;
const MISS: u8 = 1 << 1;
const HAS_QUERY: u8 = 1 << 2;
const HAS_REFERER: u8 = 1 << 3;
const HAS_UA: u8 = 1 << 4;

/// The sort key of a packed row: its time, then its sequence number (which keeps rows of the
/// same millisecond in the order of the files and lines they came from).
pub type SortKey = (i64, u64);

/// Appends `record`, with sequence number `seq`, to `out` as a packed row; returns its length.
pub fn pack(record: &LogRecord<'_>, seq: u64, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&record.status.to_le_bytes());
    out.extend_from_slice(&record.bytes.to_le_bytes());
    let query = record.query();
    let referer = record.referer();
    let ua = record.user_agent();
    let mut flags = 0;
    if record.scheme == Scheme::Https {
        flags |= HTTPS;
    }
    if record.origin_fetch {
        flags |= MISS;
    }
    if query.is_some() {
        flags |= HAS_QUERY;
    }
    if referer.is_some() {
        flags |= HAS_REFERER;
    }
    if ua.is_some() {
        flags |= HAS_UA;
    }
    out.push(flags);
    for text in [
        &*record.host,
        record.method,
        &*record.path(),
        query.as_deref().unwrap_or(""),
        record.client_ip,
        referer.as_deref().unwrap_or(""),
        ua.as_deref().unwrap_or(""),
        record.edge_location,
    ] {
        // A field comes from one log line, which the scan caps far below 4 GiB.
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&text.as_bytes()[..len as usize]);
    }
    out.len() - start
}

/// The sort key at the head of a packed row; `None` when the row is shorter than a key.
pub fn sort_key(packed: &[u8]) -> Option<SortKey> {
    let time = i64::from_le_bytes(packed.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(packed.get(8..16)?.try_into().ok()?);
    Some((time, seq))
}

/// A packed row read back, borrowing its strings from the packed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRow<'a> {
    /// When the request was served, ms since the epoch.
    pub timestamp_ms: i64,
    /// The row's sequence number (its place among rows of the same millisecond).
    pub seq: u64,
    /// HTTP status (0 when the log says `-`).
    pub status: u16,
    /// Bytes sent to the viewer.
    pub bytes: u64,
    /// `https` rather than `http`.
    pub https: bool,
    /// The edge went to the origin.
    pub miss: bool,
    /// The domain.
    pub host: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The decoded path.
    pub path: &'a str,
    /// The decoded query string; `None` when the log says `-`.
    pub query: Option<&'a str>,
    /// The client's IP address.
    pub ip: &'a str,
    /// The decoded referer; `None` when the log says `-`.
    pub referer: Option<&'a str>,
    /// The decoded user agent; `None` when the log says `-`.
    pub ua: Option<&'a str>,
    /// The edge location code.
    pub edge: &'a str,
}

impl<'a> PackedRow<'a> {
    /// Reads a row written by [`pack`]; `None` when `packed` is not one (a torn spill file).
    pub fn parse(packed: &'a [u8]) -> Option<PackedRow<'a>> {
        let (timestamp_ms, seq) = sort_key(packed)?;
        let status = u16::from_le_bytes(packed.get(16..18)?.try_into().ok()?);
        let bytes = u64::from_le_bytes(packed.get(18..26)?.try_into().ok()?);
        let flags = *packed.get(26)?;
        let mut rest = packed.get(FIXED_BYTES..)?;
        let mut next = || -> Option<&'a str> {
            let len = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?) as usize;
            let text = rest.get(4..4usize.checked_add(len)?)?;
            rest = &rest[4 + len..];
            std::str::from_utf8(text).ok()
        };
        let host = next()?;
        let method = next()?;
        let path = next()?;
        let query = next()?;
        let ip = next()?;
        let referer = next()?;
        let ua = next()?;
        let edge = next()?;
        let present = |flag: u8, text: &'a str| (flags & flag != 0).then_some(text);
        Some(PackedRow {
            timestamp_ms,
            seq,
            status,
            bytes,
            https: flags & HTTPS != 0,
            miss: flags & MISS != 0,
            host,
            method,
            path,
            query: present(HAS_QUERY, query),
            ip,
            referer: present(HAS_REFERER, referer),
            ua: present(HAS_UA, ua),
            edge,
        })
    }

    /// The row's cells under [`LOG_COLUMNS`].
    pub fn cells(&self) -> Vec<Cell> {
        let text = |s: &str| Cell::Text(s.to_string());
        vec![
            Cell::Text(format_time(self.timestamp_ms)),
            text(self.host),
            text(self.method),
            text(if self.https { "https" } else { "http" }),
            text(self.path),
            text(self.query.unwrap_or("")),
            Cell::Count(u64::from(self.status)),
            Cell::Count(self.bytes),
            text(self.ip),
            text(self.referer.unwrap_or("")),
            text(self.ua.unwrap_or("")),
            text(self.edge),
            text(if self.miss { "miss" } else { "hit" }),
        ]
    }
}

/// RFC 3339 in UTC, with milliseconds only when there are some:
/// `2026-11-24T10:00:00Z`, `2026-11-24T10:00:00.250Z`.
pub fn format_time(ms: i64) -> String {
    let seconds = format_rfc3339(ms.div_euclid(1000) * 1000, 0);
    match ms.rem_euclid(1000) {
        0 => seconds,
        frac => format!("{}.{frac:03}Z", seconds.trim_end_matches('Z')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn record() -> LogRecord<'static> {
        LogRecord {
            timestamp_ms: 1_795_000_000_250,
            host: Cow::Borrowed("a.example.com"),
            bytes: 1234,
            scheme: Scheme::Https,
            client_ip: "192.0.2.7",
            edge_location: "SFO5-C1",
            method: "GET",
            raw_path: "/a%20b/c.mp4",
            raw_query: Some("x=1%2C2"),
            status: 206,
            raw_referer: None,
            raw_user_agent: Some("curl/8.0"),
            origin_fetch: true,
            service_area: None,
        }
    }

    #[test]
    fn a_packed_row_reads_back_with_every_field() {
        let mut buffer = vec![9, 9];
        let len = pack(&record(), 42, &mut buffer);
        assert_eq!(len, buffer.len() - 2);
        let row = PackedRow::parse(&buffer[2..]).expect("parses");
        assert_eq!(sort_key(&buffer[2..]), Some((1_795_000_000_250, 42)));
        assert_eq!(
            row.cells(),
            vec![
                Cell::Text("2026-11-18T11:06:40.250Z".into()),
                Cell::Text("a.example.com".into()),
                Cell::Text("GET".into()),
                Cell::Text("https".into()),
                Cell::Text("/a b/c.mp4".into()),
                Cell::Text("x=1,2".into()),
                Cell::Count(206),
                Cell::Count(1234),
                Cell::Text("192.0.2.7".into()),
                Cell::Text(String::new()),
                Cell::Text("curl/8.0".into()),
                Cell::Text("SFO5-C1".into()),
                Cell::Text("miss".into()),
            ]
        );
        assert_eq!(row.referer, None);
        assert_eq!(row.query, Some("x=1,2"));
        assert_eq!(row.cells().len(), LOG_COLUMNS.len());
    }

    #[test]
    fn an_empty_present_field_differs_from_an_absent_one() {
        let mut r = record();
        r.raw_referer = Some("");
        let mut buffer = Vec::new();
        pack(&r, 0, &mut buffer);
        let row = PackedRow::parse(&buffer).expect("parses");
        assert_eq!(row.referer, Some(""));
        assert_eq!(row.ua, Some("curl/8.0"));
        assert_eq!(row.query, Some("x=1,2"));
    }

    #[test]
    fn a_torn_row_is_refused_not_misread() {
        let mut buffer = Vec::new();
        pack(&record(), 1, &mut buffer);
        for cut in 0..buffer.len() {
            assert_eq!(PackedRow::parse(&buffer[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn times_print_milliseconds_only_when_present() {
        assert_eq!(format_time(1_795_000_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(format_time(1_795_000_000_007), "2026-11-18T11:06:40.007Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
    }
}
