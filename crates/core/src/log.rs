//! One access-log line after parsing, independent of the log format it came from.

use std::borrow::Cow;

/// The protocol a viewer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (TLS).
    Https,
}

/// One access-log line, borrowing from the line it was parsed from.
///
/// Text fields are already URL-decoded; decoding only allocates when the field holds a `%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// When the request was served, milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The domain the viewer asked for (CloudFront: `x-host-header`, else `cs(Host)`), lowercase.
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
    /// Path without query (`cs-uri-stem`), decoded.
    pub path: Cow<'a, str>,
    /// Query string without `?` (`cs-uri-query`), decoded; `None` when the log says `-`.
    pub query: Option<Cow<'a, str>>,
    /// HTTP status code (`sc-status`); 0 when the log says `-` or `000`.
    pub status: u16,
    /// Referer (`cs(Referer)`), decoded; `None` when `-`.
    pub referer: Option<Cow<'a, str>>,
    /// User agent (`cs(User-Agent)`), decoded; `None` when `-`.
    pub user_agent: Option<Cow<'a, str>>,
    /// True when the edge had to go to the origin (`x-edge-result-type` is `Miss`).
    pub origin_fetch: bool,
}

impl LogRecord<'_> {
    /// The full URL key used by `top_url_detail`: path plus `?` plus query when there is one.
    pub fn url(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.to_string(),
        }
    }
}
