//! The query language of the `logs` export: which raw log rows to export.
//!
//! A Lucene-style query, as Tencent CLS and Kibana users write them. Examples:
//!
//! ```text
//! status:404 AND host:a.example.com
//! status:[500 TO 599] OR result:miss
//! path:/video/* AND NOT ua:*bot*
//! bytes:>1048576
//! time:[2026-11-24T10:00:00Z TO 2026-11-24T11:00:00Z}
//! method:(GET OR HEAD) referer:"https://www.example.com/a b"
//! ```
//!
//! An empty query (or one of spaces only) matches every row.
//!
//! # Fields
//!
//! The same names for every log format ([`KNOWN_FIELDS`]):
//!
//! | field | what | compared |
//! |---|---|---|
//! | `time` | when the request was served: milliseconds since the Unix epoch, or an RFC 3339 time (`2026-11-24T10:00:00Z`, `…+08:00`) | as a number |
//! | `host` | the domain asked for | as text, ignoring case |
//! | `method` | the HTTP method | as text, ignoring case |
//! | `path` | the path, URL-decoded, without the query string | as text |
//! | `query` | the query string, URL-decoded, without `?` | as text |
//! | `url` | the path, plus `?` and the query string when there is one | as text |
//! | `status` | the HTTP status code (0 when the log says `-`) | as a number |
//! | `bytes` | bytes sent to the viewer | as a number |
//! | `ip` | the viewer's IP address, as logged | as text |
//! | `referer` | the referer, URL-decoded | as text |
//! | `ua` | the user agent, URL-decoded | as text |
//! | `edge` | the edge location code | as text |
//! | `scheme` | `http` or `https` | as text, ignoring case |
//! | `result` | `hit`, or `miss` when the edge went to the origin | as text, ignoring case |
//!
//! A value for a numeric field must be a number (`time` also takes RFC 3339), else the query is
//! refused. `scheme` and `result` only take their listed values (a wildcard excepted). "Ignoring
//! case" folds ASCII letters only. Field names are lowercase.
//!
//! A row whose log says `-` for `query`, `referer` or `ua` has no such field: every test on it
//! is false, so only `NOT` matches it (`NOT referer:*` selects the rows without a referer).
//!
//! # Values
//!
//! - `field:value`: the whole value equals `value` (not a word inside it: use wildcards).
//! - `field:"a quoted phrase"`: the same, with spaces, parentheses and operators taken as text;
//!   `\"` is a quote and `\\` a backslash inside it; `*` and `?` are plain characters.
//! - Wildcards in unquoted values: `*` any run of characters (none included), `?` exactly one
//!   character: `path:/video/*`, `ua:*Chrome*`, `edge:SFO?-*`. `field:*` matches any row that
//!   has the field. A backslash makes the next character plain (`path:/a\*b`, `ua:a\ b`).
//!   Wildcards only work on text fields.
//! - Ranges: `field:[a TO b]` includes both ends, `field:{a TO b}` excludes both, `[a TO b}` and
//!   `{a TO b]` mix; `*` leaves an end open (`bytes:[1000 TO *]`).
//! - Comparisons: `field:>x`, `>=x`, `<x`, `<=x`.
//! - A group of values for one field: `field:(a OR b)`, `field:(a AND NOT b)`, `field:(a b)`;
//!   inside, the same operators and rules as between clauses.
//!
//! Numeric fields compare as numbers; text fields compare character by character (ranges and
//! comparisons on text are in code-point order, so `path:[/a TO /b}` is every path starting with
//! `/a`).
//!
//! # Operators
//!
//! `AND` (or `&&`), `OR` (or `||`), `NOT` (or `!`), in upper case; parentheses group. `NOT`
//! binds tightest, then `AND`, then `OR`: `a OR b AND c` is `a OR (b AND c)`, and
//! `NOT a AND b` is `(NOT a) AND b`. Two clauses side by side with no operator between them are
//! joined by `AND`, as in CLS, where a space means AND: `status:404 host:a.example.com` is
//! `status:404 AND host:a.example.com` (and so `status:(404 500)` matches nothing; write
//! `status:(404 OR 500)`). A query may start with `NOT`: `NOT result:hit`.
//!
//! # Errors
//!
//! A query that does not parse is refused with a [`QueryError`] naming the position (a
//! character offset from 0) and what was expected there, e.g. `at position 7: expected a value
//! after 'status:'`. A field that does not exist, or a value with no field, is refused with the
//! list of fields. A query may be at most [`MAX_QUERY_LENGTH`] characters long and nest
//! parentheses at most [`MAX_NESTING`] deep.
//!
//! # Cost
//!
//! The query is parsed and compiled once ([`Query::parse`]); [`Query::matches`] then compares
//! borrowed fields of each record without allocating, except to decode a `path`, `query`,
//! `referer` or `ua` that holds a `%`, and to build the `url` of each record tested on `url`.
//! Wildcards are matched by a backtracking two-pointer scan (no regular expressions).
//!
//! # Layout
//! - [`field`]: the field names and how each reads from a record.
//! - `syntax`: the grammar (`winnow` combinators) into a syntax tree.
//! - `compile`: the tree checked against the fields and turned into the matcher.
//! - `matcher`: the compiled tree and its evaluation; `glob`: the wildcard matcher.
//! - `error`: [`QueryError`] and its conversion to [`crate::ApiError`].

mod compile;
mod error;
pub mod field;
mod glob;
mod matcher;
mod syntax;

pub use error::QueryError;
pub use field::{Field, FieldKind, ALL_FIELDS, KNOWN_FIELDS};

use crate::log::LogRecord;
use matcher::Node;

/// The longest query accepted, in characters.
pub const MAX_QUERY_LENGTH: usize = 4096;

/// How deep parentheses may nest.
pub const MAX_NESTING: usize = syntax::MAX_DEPTH;

/// A parsed and compiled query: tests log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None` for the empty query, which matches everything.
    root: Option<Node>,
}

impl Query {
    /// Parses and compiles `text` (see the module documentation for the language).
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.chars().nth(MAX_QUERY_LENGTH).is_some() {
            return Err(QueryError {
                position: MAX_QUERY_LENGTH,
                message: format!("the query is longer than {MAX_QUERY_LENGTH} characters"),
            });
        }
        let expr = syntax::parse(text).map_err(|failure| failure.locate(text))?;
        let root = expr.map(compile::compile).transpose()?;
        Ok(Query { root })
    }

    /// True when `record` is one of the rows the query selects.
    pub fn matches(&self, record: &LogRecord<'_>) -> bool {
        self.root.as_ref().is_none_or(|root| root.matches(record))
    }

    /// True for the empty query, which selects every row (a caller may skip matching).
    pub fn matches_everything(&self) -> bool {
        self.root.is_none()
    }
}

#[cfg(test)]
mod tests;
