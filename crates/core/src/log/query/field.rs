//! The fields a query can name, how each reads from a [`LogRecord`] and how it compares.

use std::borrow::Cow;

use crate::log::{LogRecord, Scheme};

/// A field of a log row that a query can test; the same names for every log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// When the request was served, milliseconds since the Unix epoch (numeric; RFC 3339 accepted).
    Time,
    /// The domain asked for, lowercase.
    Host,
    /// The HTTP method.
    Method,
    /// The decoded path, without the query string.
    Path,
    /// The decoded query string, without `?`; absent when the log says `-`.
    Query,
    /// The decoded path, plus `?` and the decoded query string when there is one.
    Url,
    /// The HTTP status code (numeric; 0 when the log says `-`).
    Status,
    /// Bytes sent to the viewer (numeric).
    Bytes,
    /// The viewer's IP address, as logged.
    Ip,
    /// The decoded referer; absent when the log says `-`.
    Referer,
    /// The decoded user agent; absent when the log says `-`.
    Ua,
    /// The edge location code.
    Edge,
    /// `http` or `https`.
    Scheme,
    /// `hit`, or `miss` when the edge went to the origin.
    Result,
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Compared as numbers; a value that is not a number is an error at parse time.
    Numeric,
    /// Compared as text, case-sensitively.
    Text,
    /// Compared as text with ASCII letters folded to lowercase.
    CaseInsensitiveText,
}

/// Every field, in the order the documentation and error messages list them.
pub const ALL_FIELDS: [Field; 14] = [
    Field::Time,
    Field::Host,
    Field::Method,
    Field::Path,
    Field::Query,
    Field::Url,
    Field::Status,
    Field::Bytes,
    Field::Ip,
    Field::Referer,
    Field::Ua,
    Field::Edge,
    Field::Scheme,
    Field::Result,
];

/// The name of every field, in the order of [`ALL_FIELDS`], for documentation and CSV headers.
pub const KNOWN_FIELDS: [&str; 14] = [
    "time", "host", "method", "path", "query", "url", "status", "bytes", "ip", "referer", "ua",
    "edge", "scheme", "result",
];

impl Field {
    /// The name a query uses for the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Host => "host",
            Field::Method => "method",
            Field::Path => "path",
            Field::Query => "query",
            Field::Url => "url",
            Field::Status => "status",
            Field::Bytes => "bytes",
            Field::Ip => "ip",
            Field::Referer => "referer",
            Field::Ua => "ua",
            Field::Edge => "edge",
            Field::Scheme => "scheme",
            Field::Result => "result",
        }
    }

    /// The field a query names `name` (exact, lowercase), if any.
    pub fn from_name(name: &str) -> Option<Field> {
        ALL_FIELDS.into_iter().find(|f| f.as_str() == name)
    }

    /// How the field's values compare.
    pub fn kind(self) -> FieldKind {
        match self {
            Field::Time | Field::Status | Field::Bytes => FieldKind::Numeric,
            Field::Host | Field::Method | Field::Scheme | Field::Result => {
                FieldKind::CaseInsensitiveText
            }
            Field::Path
            | Field::Query
            | Field::Url
            | Field::Ip
            | Field::Referer
            | Field::Ua
            | Field::Edge => FieldKind::Text,
        }
    }

    /// The only values the field can hold, for the fields that have a fixed set.
    pub fn allowed_values(self) -> Option<&'static [&'static str]> {
        match self {
            Field::Scheme => Some(&["http", "https"]),
            Field::Result => Some(&["hit", "miss"]),
            _ => None,
        }
    }

    /// The numeric value of a numeric field; `None` for text fields.
    pub(super) fn number(self, record: &LogRecord<'_>) -> Option<i128> {
        match self {
            Field::Time => Some(i128::from(record.timestamp_ms)),
            Field::Status => Some(i128::from(record.status)),
            Field::Bytes => Some(i128::from(record.bytes)),
            _ => None,
        }
    }

    /// The text value of a text field; `None` when the record does not have it (or the field is
    /// numeric). Borrows unless the field must be decoded (it holds a `%`) or is `url`.
    pub(super) fn text<'r>(self, record: &'r LogRecord<'_>) -> Option<Cow<'r, str>> {
        match self {
            Field::Host => Some(Cow::Borrowed(&record.host)),
            Field::Method => Some(Cow::Borrowed(record.method)),
            Field::Path => Some(record.path()),
            Field::Query => record.query(),
            Field::Url => Some(Cow::Owned(record.url())),
            Field::Ip => Some(Cow::Borrowed(record.client_ip)),
            Field::Referer => record.referer(),
            Field::Ua => record.user_agent(),
            Field::Edge => Some(Cow::Borrowed(record.edge_location)),
            Field::Scheme => Some(Cow::Borrowed(match record.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
            })),
            Field::Result => Some(Cow::Borrowed(if record.origin_fetch {
                "miss"
            } else {
                "hit"
            })),
            Field::Time | Field::Status | Field::Bytes => None,
        }
    }
}
