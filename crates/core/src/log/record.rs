//! One access-log line after parsing, independent of the log format it came from.

use std::borrow::Cow;
use std::str;

use serde::{Deserialize, Serialize};

/// The protocol a viewer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (TLS).
    Https,
}

/// The service area (Huawei `service_area`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceArea {
    /// Everywhere (the default).
    #[default]
    Global,
    /// Mainland China.
    MainlandChina,
    /// Outside mainland China.
    OutsideMainlandChina,
}

/// One access-log line, borrowing from the line it was parsed from.
///
/// The fields statistics read on every line (time, host, bytes, scheme, cache result) are ready
/// to use; `host` is already URL-decoded and lowercase. The text fields that only some reports
/// need (path, query, referer, user agent) are kept as logged, still URL-encoded, in the `raw_*`
/// fields, and decoded on demand by [`LogRecord::path`], [`LogRecord::query`],
/// [`LogRecord::referer`], [`LogRecord::user_agent`] and [`LogRecord::url`]: parsing a line
/// allocates nothing for them, and each access decodes again (keep the result if you need it
/// twice).
///
/// Decoding follows `percent_encoding::percent_decode`: each `%XX` escape is decoded once (a
/// logged `%2520` reads `%20`), a `%` not followed by two hex digits stays as it is, `+` stays
/// `+`. The result borrows from the line unless the field holds a `%`. Decoded bytes that are not
/// UTF-8 (say `%FF`) read as U+FFFD replacement characters, as [`String::from_utf8_lossy`] does:
/// such a line is a normal record, counted in statistics like any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// When the request was served, milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The domain the viewer asked for (CloudFront: `x-host-header`, else `cs(Host)`), decoded
    /// and lowercase; borrowed unless it held a `%` or an uppercase letter.
    pub host: Cow<'a, str>,
    /// Bytes sent to the viewer (`sc-bytes`).
    pub bytes: u64,
    /// `http` or `https` (`cs-protocol`).
    pub scheme: Scheme,
    /// The viewer's IP address (`c-ip`), IPv4 or IPv6.
    pub client_ip: &'a str,
    /// The edge location code (`x-edge-location`), e.g. `SFO5-C1`.
    pub edge_location: &'a str,
    /// HTTP method (`cs-method`).
    pub method: &'a str,
    /// Path without query (`cs-uri-stem`) as logged, still URL-encoded; `""` when the log says
    /// `-`. Read it decoded with [`LogRecord::path`].
    pub raw_path: &'a str,
    /// Query string without `?` (`cs-uri-query`) as logged, still URL-encoded; `None` when the
    /// log says `-`. Read it decoded with [`LogRecord::query`].
    pub raw_query: Option<&'a str>,
    /// HTTP status code (`sc-status`); 0 when the log says `-` or `000`.
    pub status: u16,
    /// Referer (`cs(Referer)`) as logged, still URL-encoded; `None` when `-`. Read it decoded
    /// with [`LogRecord::referer`].
    pub raw_referer: Option<&'a str>,
    /// User agent (`cs(User-Agent)`) as logged, still URL-encoded; `None` when `-`. Read it
    /// decoded with [`LogRecord::user_agent`].
    pub raw_user_agent: Option<&'a str>,
    /// True when the edge had to go to the origin (`x-edge-result-type` is `Miss`).
    pub origin_fetch: bool,
    /// The service area the log itself states (Huawei: the `-cn` / `-ov` suffix of the file
    /// name); `None` when the format does not say (CloudFront), and an IP database decides.
    pub service_area: Option<ServiceArea>,
}

impl<'a> LogRecord<'a> {
    /// The decoded path (`""` when the log says `-`).
    pub fn path(&self) -> Cow<'a, str> {
        decode_lossy(self.raw_path)
    }

    /// The decoded query string, without `?`; `None` when the log says `-`.
    pub fn query(&self) -> Option<Cow<'a, str>> {
        self.raw_query.map(decode_lossy)
    }

    /// The decoded referer; `None` when the log says `-`.
    pub fn referer(&self) -> Option<Cow<'a, str>> {
        self.raw_referer.map(decode_lossy)
    }

    /// The decoded user agent; `None` when the log says `-`.
    pub fn user_agent(&self) -> Option<Cow<'a, str>> {
        self.raw_user_agent.map(decode_lossy)
    }

    /// The full URL key used by `top_url_detail`: decoded path, plus `?` and the decoded query
    /// when there is one.
    pub fn url(&self) -> String {
        let path = self.path();
        match self.query() {
            Some(q) => {
                let mut url = String::with_capacity(path.len() + 1 + q.len());
                url.push_str(&path);
                url.push('?');
                url.push_str(&q);
                url
            }
            None => path.into_owned(),
        }
    }
}

/// `s` URL-decoded once, invalid UTF-8 replaced by U+FFFD; borrowed unless `s` holds a `%`.
fn decode_lossy(s: &str) -> Cow<'_, str> {
    match percent_decode(s.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(bytes) => Cow::Owned(
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// `b` with each `%XX` escape decoded once; borrowed unless `b` holds a `%`.
///
/// Same rules as `percent_encoding::percent_decode` (a `%` not followed by two hex digits stays
/// as it is), but copies the runs between escapes in bulk, which is twice as fast on user agents.
pub(crate) fn percent_decode(b: &[u8]) -> Cow<'_, [u8]> {
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut rest = b;
    while let Some(p) = rest.iter().position(|c| *c == b'%') {
        out.extend_from_slice(&rest[..p]);
        let escape = rest
            .get(p + 1..p + 3)
            .and_then(|h| Some(hex(h[0])? << 4 | hex(h[1])?));
        match escape {
            Some(byte) => {
                out.push(byte);
                rest = &rest[p + 3..];
            }
            None => {
                out.push(b'%');
                rest = &rest[p + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &'static str, query: Option<&'static str>) -> LogRecord<'static> {
        LogRecord {
            timestamp_ms: 0,
            host: Cow::Borrowed("www.example.com"),
            bytes: 0,
            scheme: Scheme::Https,
            client_ip: "",
            edge_location: "",
            method: "GET",
            raw_path: path,
            raw_query: query,
            status: 200,
            raw_referer: None,
            raw_user_agent: Some("a%2520b%20c%zz%4"),
            origin_fetch: false,
            service_area: None,
        }
    }

    #[test]
    fn decodes_on_access() {
        let r = record("/caf%C3%A9%20menu", Some("a%3D1"));
        assert_eq!(r.path(), "/café menu");
        assert_eq!(r.query().as_deref(), Some("a=1"));
        assert_eq!(r.referer(), None);
        // Decoded once; a `%` that starts no escape stays.
        assert_eq!(r.user_agent().as_deref(), Some("a%20b c%zz%4"));
        assert_eq!(r.url(), "/café menu?a=1");
    }

    #[test]
    fn borrows_without_a_percent() {
        let r = record("/index.html", Some("a=1"));
        assert!(matches!(r.path(), Cow::Borrowed("/index.html")));
        assert!(matches!(r.query(), Some(Cow::Borrowed("a=1"))));
        assert_eq!(r.url(), "/index.html?a=1");
        assert_eq!(record("/x", None).url(), "/x");
    }

    #[test]
    fn invalid_utf8_after_decoding_is_replaced() {
        let r = record("/a%FF%C3", Some("%E2%82"));
        assert_eq!(r.path(), "/a\u{FFFD}\u{FFFD}");
        assert_eq!(r.query().as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn percent_decode_rules() {
        assert_eq!(percent_decode(b"abc"), Cow::Borrowed(b"abc"));
        assert_eq!(&*percent_decode(b"%41%4a%4A%g1%"), b"AJJ%g1%");
        assert_eq!(&*percent_decode(b"%%41"), b"%A");
        assert_eq!(&*percent_decode(b"+%2B"), b"++");
    }
}
