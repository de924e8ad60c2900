//! The synchronous origin-volume report (Wangsu CDN Pro `POST /cdn/report/volOrigin`): its query
//! and body validated into an [`OriginVolumeRequest`], the engine's answer ([`VolumePoint`]s) and
//! its failures ([`ReportFailure`]), and bytes as the seed's megabytes ([`megabytes`]).
//!
//! The request becomes an ordinary [`ExportCondition`] with `action = origin_detail`, validated by
//! [`ExportRequest::validate_with`] like any export (so `InvalidTimeSpan`, the span limits and the
//! row limit are the exports' own), plus an [`EdgeFilter`] from `serverGroups`.
//!
//! # Layout
//! - here: the request, its validation, the answer and its failures.
//! - [`server_group`]: the operator's server groups (Wangsu `serverGroups`), the [`EdgeFilter`]
//!   a request resolves to and the sink wrapper that applies it.

mod engine;
pub mod server_group;

pub use engine::OriginVolumeEngine;

use serde_json::{Map, Number, Value};

use crate::error::thousands;

use crate::error::{ApiError, ErrorCode};
use crate::request::{
    DomainFilter, ExportCondition, ExportRequest, RequestLimits, END_TIME_MS, MIN_TIME_MS,
};
use crate::time::granularity::Granularity;
use crate::time::parse_rfc3339;
use server_group::{EdgeFilter, ServerGroups};

/// The most `serverGroups` entries one request may name.
pub const MAX_SERVER_GROUPS: usize = 100;

/// A validated origin-volume request: what the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginVolumeRequest {
    /// `origin_detail` over the hostnames, range, granularity and scheme asked for.
    pub condition: ExportCondition,
    /// The edge locations counted (`serverGroups`).
    pub edges: EdgeFilter,
}

impl OriginVolumeRequest {
    /// Validates the query string's `pairs` (decoded) and the `body` under the configured server
    /// `groups` and the tenant's `limits`; the first problem found is returned.
    pub fn parse(
        pairs: &[(String, String)],
        body: &[u8],
        groups: &ServerGroups,
        limits: &RequestLimits,
    ) -> Result<Self, ApiError> {
        let query = Query::read(pairs)?;
        let filters = Filters::read(body)?;
        let granularity = parse_type(query.type_.as_deref())?;
        let start = parse_date("startdate", query.startdate.as_deref())?;
        let end = parse_date("enddate", query.enddate.as_deref())?;
        if end <= start {
            return Err(ApiError::new(
                ErrorCode::InvalidTimeSpan,
                "'enddate' must be later than 'startdate'",
            ));
        }
        let domains = hostnames(&filters.hostnames, limits)?;
        if filters.server_groups.len() > MAX_SERVER_GROUPS {
            return Err(ApiError::invalid(format!(
                "'filters.serverGroups' may list at most {MAX_SERVER_GROUPS} entries, got {}",
                filters.server_groups.len()
            )));
        }
        let edges = groups.resolve(&filters.server_groups)?;
        let request = ExportRequest {
            action: Some("origin_detail".to_owned()),
            domain_name: Some(domains.to_text()),
            start_time: Some(start),
            end_time: Some(end),
            granularity: Some(granularity.to_string()),
            scheme: query.scheme,
            ..ExportRequest::default()
        };
        let condition = request.validate_with(limits)?;
        Ok(OriginVolumeRequest { condition, edges })
    }
}

/// The query string, each parameter at most once.
#[derive(Debug, Default)]
struct Query {
    startdate: Option<String>,
    enddate: Option<String>,
    type_: Option<String>,
    scheme: Option<String>,
}

impl Query {
    fn read(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "startdate" => &mut q.startdate,
                "enddate" => &mut q.enddate,
                "type" => &mut q.type_,
                "scheme" => &mut q.scheme,
                other => {
                    return Err(ApiError::invalid(format!(
                        "unknown query parameter '{}'; this report takes startdate, enddate, type and scheme",
                        other.chars().take(64).collect::<String>()
                    )))
                }
            };
            if slot.is_some() {
                return Err(ApiError::invalid(format!(
                    "the query parameter '{key}' is given more than once"
                )));
            }
            *slot = Some(value.clone());
        }
        Ok(q)
    }
}

/// `filters` of the body.
#[derive(Debug, Default)]
struct Filters {
    hostnames: Vec<String>,
    server_groups: Vec<String>,
}

impl Filters {
    /// An empty body (or `{}`, or `"filters": null`) means no filters.
    fn read(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Filters::default());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedBody,
                format!("the request body is not valid JSON ({e})"),
            )
        })?;
        let top = object(&value, "the request body")?;
        let mut filters = Filters::default();
        for (key, value) in top {
            if key != "filters" {
                return Err(unknown_field(key, "the body takes only 'filters'"));
            }
            if value.is_null() {
                continue;
            }
            for (key, value) in object(value, "'filters'")? {
                let slot = match key.as_str() {
                    "hostnames" => &mut filters.hostnames,
                    "serverGroups" => &mut filters.server_groups,
                    other => {
                        return Err(unknown_field(
                            other,
                            "'filters' takes 'hostnames' and 'serverGroups'",
                        ))
                    }
                };
                *slot = strings(value, key)?;
            }
        }
        Ok(filters)
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| ApiError::invalid(format!("{what} must be a JSON object")))
}

fn unknown_field(key: &str, hint: &str) -> ApiError {
    ApiError::invalid(format!(
        "unknown parameter '{}'; {hint}",
        key.chars().take(64).collect::<String>()
    ))
}

/// A list of strings (`null` counts as an empty list).
fn strings(value: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let wrong = || ApiError::invalid(format!("'filters.{key}' must be a list of strings"));
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

/// `type`: `fiveminutes`, `hourly`, `daily[±H]`, `monthly[±H]`. A `+` sent unencoded in a query
/// string arrives as a space (`daily 8`), so a space before the hours reads as `+`.
fn parse_type(text: Option<&str>) -> Result<Granularity, ApiError> {
    let text = text.ok_or_else(|| ApiError::missing("type"))?;
    let normal = text.trim().replacen(' ', "+", 1);
    normal.parse::<Granularity>().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidType,
            format!(
                "Invalid parameter 'type': '{}'. The report type must be 'fiveminutes', 'hourly', 'daily'(with optional timezone) or 'monthly'(with optional timezone).",
                text.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// `startdate` / `enddate`: RFC 3339 in UTC (`Z` or `+00:00`), inside the accepted years.
fn parse_date(name: &str, text: Option<&str>) -> Result<i64, ApiError> {
    let text = text.ok_or_else(|| ApiError::missing(name))?.trim();
    let invalid = || {
        ApiError::invalid(format!(
            "'{name}' must be an RFC 3339 time in UTC such as 2019-10-30T00:00:00Z, not '{}'",
            text.chars().take(64).collect::<String>()
        ))
    };
    // An unencoded `+00:00` arrives as ` 00:00`.
    let normal = match text.get(19..) {
        Some(zone) if zone.ends_with(" 00:00") => {
            format!("{}+00:00", &text[..text.len() - " 00:00".len()])
        }
        _ => text.to_owned(),
    };
    let utc = normal.ends_with(['Z', 'z']) || normal.ends_with("+00:00");
    if !utc {
        return Err(invalid());
    }
    let ms = parse_rfc3339(&normal).ok_or_else(invalid)?;
    if !(MIN_TIME_MS..END_TIME_MS).contains(&ms) {
        return Err(ApiError::invalid(format!(
            "'{name}' must be between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (excluded)"
        )));
    }
    Ok(ms)
}

/// `filters.hostnames`: exact hosts and `*.` wildcards; none means every domain. Every bad entry
/// is named in one `InvalidHostnames` (the seed's message).
fn hostnames(names: &[String], limits: &RequestLimits) -> Result<DomainFilter, ApiError> {
    if names.is_empty() {
        return Ok(DomainFilter::All);
    }
    if names.len() > limits.max_domains {
        return Err(ApiError::invalid(format!(
            "'filters.hostnames' may list at most {} entries, got {}",
            limits.max_domains,
            names.len()
        )));
    }
    let bad: Vec<String> = names
        .iter()
        .filter(|n| {
            n.contains(',')
                || n.trim().eq_ignore_ascii_case("all")
                || DomainFilter::parse(n).is_err()
        })
        .map(|n| format!("'{}'", n.chars().take(300).collect::<String>()))
        .collect();
    if !bad.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidHostnames,
            format!("Invalid hostname(s): {}.", bad.join(", ")),
        ));
    }
    DomainFilter::parse(&names.join(","))
}

/// The origin bytes of one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumePoint {
    /// The interval's start, ms.
    pub start_ms: i64,
    /// Bytes of the requests the edge fetched from the origin.
    pub bytes: u64,
}

/// `bytes` in megabytes (1,000,000 bytes) as a JSON number: an integer when whole (`0`, `5`),
/// else a decimal with at most six places (`1.234567`), exact below 10^15 bytes (any decimal
/// of at most 15 significant digits survives the round trip through `f64`).
pub fn megabytes(bytes: u64) -> Number {
    if bytes.is_multiple_of(1_000_000) {
        Number::from(bytes / 1_000_000)
    } else {
        // `bytes as f64` is exact below 2^53; the division is correctly rounded.
        let mb = bytes as f64 / 1_000_000.0;
        Number::from_f64(mb).unwrap_or_else(|| Number::from(bytes / 1_000_000))
    }
}

/// Why the engine gave no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportFailure {
    /// The logs of the range are more compressed bytes than a synchronous report may read.
    #[error("the report would read {bytes} compressed bytes in {files} files (limit {limit})")]
    TooLarge {
        /// Compressed bytes of the log files the range needs.
        bytes: u64,
        /// How many files.
        files: usize,
        /// The configured bound.
        limit: u64,
    },
    /// The report ran past its wall-time bound.
    #[error("the report took longer than {limit_ms} ms")]
    TimedOut {
        /// The configured bound, ms.
        limit_ms: u64,
    },
    /// As many reports as allowed are already running on this process.
    #[error("{limit} reports are already running")]
    Busy {
        /// The configured bound.
        limit: usize,
    },
    /// The tenant has no log source.
    #[error("no log source")]
    NoLogSource,
    /// The tenant's log bucket does not exist.
    #[error("log bucket '{bucket}' not found")]
    LogBucketNotFound {
        /// The bucket.
        bucket: String,
    },
    /// A log file is not valid gzip.
    #[error("log file '{key}' is not valid gzip: {reason}")]
    CorruptLogFile {
        /// The object's key.
        key: String,
        /// What the decoder said.
        reason: String,
    },
    /// The object store is not reachable (or failed transiently).
    #[error("object store unavailable: {cause}")]
    Unavailable {
        /// What failed (for the log, not the client).
        cause: String,
    },
    /// Our fault.
    #[error("internal error: {cause}")]
    Internal {
        /// What failed (for the log, not the client).
        cause: String,
    },
}

/// The sentence that points a client from a report over a bound to an export task.
const USE_A_TASK: &str = "create an export task instead (POST /v1/cdn/statistics/export-tasks with \"action\": \"origin_detail\"), which has no such bound";

impl ReportFailure {
    /// The code and sentence the client sees (internal causes stay out of it).
    pub fn api_error(&self) -> ApiError {
        match self {
            ReportFailure::TooLarge { bytes, files, limit } => ApiError::new(
                ErrorCode::ReportTooLarge,
                format!(
                    "this report would read {} bytes of compressed logs ({files} files) and a synchronous report reads at most {}: shorten the time range, or {USE_A_TASK}",
                    thousands(*bytes),
                    thousands(*limit)
                ),
            ),
            ReportFailure::TimedOut { limit_ms } => ApiError::new(
                ErrorCode::ReportTimedOut,
                format!(
                    "this report took longer than the {} ms a synchronous report may take and was stopped: shorten the time range, or {USE_A_TASK}",
                    thousands(*limit_ms)
                ),
            ),
            ReportFailure::Busy { limit } => ApiError::new(
                ErrorCode::TooManyReports,
                format!("{limit} synchronous reports are already running on this server, the most allowed at once; retry shortly, or {USE_A_TASK}"),
            ),
            ReportFailure::NoLogSource => ApiError::new(
                ErrorCode::NoLogSource,
                "no log source is configured for this tenant",
            ),
            ReportFailure::LogBucketNotFound { bucket } => ApiError::new(
                ErrorCode::LogBucketNotFound,
                format!("the log bucket '{bucket}' does not exist"),
            ),
            ReportFailure::CorruptLogFile { key, reason } => ApiError::new(
                ErrorCode::CorruptLogFile,
                format!("the log file '{key}' is not valid gzip ({reason})"),
            ),
            ReportFailure::Unavailable { .. } => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the object store holding the logs is not reachable; try again shortly",
            ),
            ReportFailure::Internal { .. } => {
                ApiError::new(ErrorCode::InternalError, "an internal error occurred")
            }
        }
    }
}

#[cfg(test)]
mod tests;
