//! The export request as a client sends it, and its validation into an [`ExportCondition`].
//!
//! [`ExportRequest`] is the unchecked body (every field optional, JSON types checked one by one
//! so a wrong type names its field); [`ExportRequest::validate`] turns it into the condition that
//! everything after the API trusts. [`ExportRequest::validate_with`] also enforces a tenant's
//! [`RequestLimits`] (domains per request, rows per export, what a `callback_url` may be).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::callback::{CallbackSupport, CallbackUrl};
use crate::error::{ApiError, ErrorCode};
use crate::geo::filter::{GeoField, NameFilter};
use crate::geo::GeoSupport;
use crate::granularity::Granularity;
use crate::log::{LogRecord, Scheme};
use crate::query::Query;
use crate::table::Language;
use crate::time::DAY_MS;

/// What a task exports (the Huawei CDN `action` values plus `origin_detail` and `logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Flux or request count per interval.
    ReportsDetail,
    /// Top URLs.
    TopUrlDetail,
    /// Top paths (without query).
    TopPathDetail,
    /// Top referers.
    TopRefererDetail,
    /// Top user agents.
    TopUaDetail,
    /// Top client IPs.
    TopIpDetail,
    /// Per ISP.
    IspDetail,
    /// Distinct client IPs per interval.
    Uv,
    /// Back-to-origin bytes per interval.
    OriginDetail,
    /// Raw log rows.
    Logs,
}

impl Action {
    const ALL: [(&'static str, Action); 10] = [
        ("reports_detail", Action::ReportsDetail),
        ("top_url_detail", Action::TopUrlDetail),
        ("top_path_detail", Action::TopPathDetail),
        ("top_referer_detail", Action::TopRefererDetail),
        ("top_ua_detail", Action::TopUaDetail),
        ("top_ip_detail", Action::TopIpDetail),
        ("isp_detail", Action::IspDetail),
        ("uv", Action::Uv),
        ("origin_detail", Action::OriginDetail),
        ("logs", Action::Logs),
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("reports_detail", |(n, _)| n)
    }

    fn parse(s: &str) -> Option<Action> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }

    /// True for the `top_*_detail` actions, which rank keys over the whole range.
    pub fn is_top_list(self) -> bool {
        matches!(
            self,
            Action::TopUrlDetail
                | Action::TopPathDetail
                | Action::TopRefererDetail
                | Action::TopUaDetail
                | Action::TopIpDetail
        )
    }
}

/// The value a `reports_detail` export counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatType {
    /// Bytes sent to viewers.
    #[default]
    Flux,
    /// Requests.
    ReqNum,
}

/// Which protocols to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemeFilter {
    /// HTTP and HTTPS.
    #[default]
    All,
    /// HTTP only.
    Http,
    /// HTTPS only.
    Https,
}

impl SchemeFilter {
    /// True when a request over `scheme` is counted.
    pub fn accepts(self, scheme: Scheme) -> bool {
        match self {
            SchemeFilter::All => true,
            SchemeFilter::Http => scheme == Scheme::Http,
            SchemeFilter::Https => scheme == Scheme::Https,
        }
    }
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

/// The file format of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    #[default]
    Csv,
    /// One JSON array of objects (JSON Lines for `logs`).
    Json,
    /// An Excel workbook.
    Xlsx,
}

impl ExportFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Xlsx => "xlsx",
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// The most rows a `logs` export may ask for (`count`), as in the Tencent CLS seed.
pub const MAX_LOG_ROWS: u64 = 50_000_000;

/// The longest range of a `logs` export, in days.
pub const MAX_LOG_SPAN_DAYS: i64 = 31;

/// The order of a `logs` export's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOrder {
    /// Oldest first.
    Asc,
    /// Newest first (the default, as in CLS): exactly the reverse of `asc`.
    #[default]
    Desc,
}

/// What a `logs` export selects beyond the common filters, and how many rows in which order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsSpec {
    /// The query ([`crate::query`]) as submitted, checked to parse; empty selects every row.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// The most rows written: the first `count` in `order`.
    pub count: u64,
    /// By time, `desc` by default.
    pub order: LogOrder,
}

/// One entry of `domain_name`: an exact host or a `*.` wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DomainPattern {
    /// Matches this host exactly.
    Exact(String),
    /// `*.suffix`: matches any host ending in `.suffix` (not `suffix` itself).
    Wildcard {
        /// The part after `*.`, e.g. `example.com`.
        suffix: String,
    },
}

/// Which domains a task selects. Stored and shown as the client wrote it in normal form:
/// `all`, or the comma list, exact hosts first, each part sorted (`www.example.net,*.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainFilter {
    /// Every domain in the tenant's logs.
    All,
    /// These hosts and wildcards.
    List(Vec<DomainPattern>),
}

impl DomainFilter {
    /// Parses `domain_name` (`all`, or a comma list of hosts and `*.` wildcards).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(DomainFilter::All);
        }
        let mut patterns = BTreeSet::new();
        let mut bad = Vec::new();
        for item in text.split(',').map(str::trim) {
            let lower = item.to_ascii_lowercase();
            match lower.strip_prefix("*.") {
                Some(suffix) if is_hostname(suffix) => {
                    patterns.insert(DomainPattern::Wildcard {
                        suffix: suffix.to_string(),
                    });
                }
                None if is_hostname(&lower) => {
                    patterns.insert(DomainPattern::Exact(lower));
                }
                _ => bad.push(item.to_string()),
            }
        }
        if !bad.is_empty() {
            let list = bad
                .iter()
                .map(|b| format!("'{b}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::new(
                ErrorCode::InvalidHostnames,
                format!("Invalid hostname(s): {list}."),
            ));
        }
        Ok(DomainFilter::List(patterns.into_iter().collect()))
    }

    /// The normal text form: `all` or the comma list.
    pub fn to_text(&self) -> String {
        match self {
            DomainFilter::All => "all".to_string(),
            DomainFilter::List(patterns) => patterns
                .iter()
                .map(|p| match p {
                    DomainPattern::Exact(h) => h.clone(),
                    DomainPattern::Wildcard { suffix } => format!("*.{suffix}"),
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// True when `host` (lowercase) is selected.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            DomainFilter::All => true,
            DomainFilter::List(patterns) => patterns.iter().any(|p| match p {
                DomainPattern::Exact(h) => h == host,
                DomainPattern::Wildcard { suffix } => {
                    host.len() > suffix.len() + 1
                        && host.ends_with(suffix.as_str())
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
            }),
        }
    }

    /// How many exact hosts are named (the length of [`exact_hosts`](Self::exact_hosts)).
    pub fn exact_host_count(&self) -> usize {
        match self {
            DomainFilter::All => 0,
            DomainFilter::List(p) => p
                .iter()
                .filter(|p| matches!(p, DomainPattern::Exact(_)))
                .count(),
        }
    }

    /// The number of patterns listed (`all` counts as one).
    pub fn len(&self) -> usize {
        match self {
            DomainFilter::All => 1,
            DomainFilter::List(p) => p.len(),
        }
    }

    /// True for an empty list (which [`parse`](Self::parse) never returns).
    pub fn is_empty(&self) -> bool {
        matches!(self, DomainFilter::List(p) if p.is_empty())
    }

    /// The exact hosts named: they get rows (zeros when idle) even without traffic.
    pub fn exact_hosts(&self) -> Vec<String> {
        match self {
            DomainFilter::All => Vec::new(),
            DomainFilter::List(p) => p
                .iter()
                .filter_map(|p| match p {
                    DomainPattern::Exact(h) => Some(h.clone()),
                    DomainPattern::Wildcard { .. } => None,
                })
                .collect(),
        }
    }
}

impl Serialize for DomainFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for DomainFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DomainFilter::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// True for a DNS host name: dot-separated labels of letters, digits and inner hyphens
/// (underscores tolerated), at most 253 characters, at least two labels.
pub fn is_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 || !s.contains('.') {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    })
}

/// A validated export condition: what the worker runs, stored in the task record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCondition {
    /// What to export.
    pub action: Action,
    /// Which domains.
    pub domains: DomainFilter,
    /// The start as submitted (ms).
    pub start_time: i64,
    /// The end as submitted (ms).
    pub end_time: i64,
    /// `start_time` floored to the granularity: the first row's time.
    pub range_start: i64,
    /// `end_time` ceiled to the granularity: the end of the last row's interval.
    pub range_end: i64,
    /// The interval size.
    pub granularity: Granularity,
    /// One series per domain when true.
    pub group_by_domain: bool,
    /// The value of `reports_detail`.
    pub stat_type: StatType,
    /// Service area: stated by the log (Huawei), else from the client's country (IP database).
    pub service_area: ServiceArea,
    /// Client countries (IP database).
    #[serde(default, skip_serializing_if = "NameFilter::is_all")]
    pub country: NameFilter,
    /// Client provinces (IP database).
    #[serde(default, skip_serializing_if = "NameFilter::is_all")]
    pub province: NameFilter,
    /// Client ISPs (IP database).
    #[serde(default, skip_serializing_if = "NameFilter::is_all")]
    pub isp: NameFilter,
    /// Protocols counted.
    pub scheme: SchemeFilter,
    /// Rows of a `top_*` export.
    pub top_n: u32,
    /// The file format.
    pub export_format: ExportFormat,
    /// The header language.
    pub language: Language,
    /// POSTed the final task object when the task ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The query, row count and order of a `logs` export; `None` for every other action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsSpec>,
}

/// How many rows an export makes, as far as the condition tells before any log is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowEstimate {
    /// The rows (saturating at `u64::MAX`): exact, or a lower bound when `exact` is false.
    pub rows: u64,
    /// False when the export is grouped by domain over `all` or a wildcard: the hosts the logs
    /// hold add rows that only the scan finds (the worker bounds those with
    /// [`ReportAggregate::bounded`](crate::aggregate::ReportAggregate::bounded)).
    pub exact: bool,
}

impl ExportCondition {
    /// The rows this export makes: buckets × named hosts when grouped by domain, buckets
    /// otherwise. With `all` or a wildcard grouped by domain only a lower bound is known (the
    /// named exact hosts). A top list counts `top_n` per series instead of buckets (at most
    /// that many: a series may have fewer keys).
    pub fn row_estimate(&self) -> RowEstimate {
        // A top list has at most `top_n` rows per series rather than one per interval.
        let buckets = if self.action.is_top_list() {
            u64::from(self.top_n)
        } else {
            u64::try_from(
                self.granularity
                    .bucket_count(self.range_start, self.range_end),
            )
            .unwrap_or(u64::MAX)
        };
        if self.action == Action::IspDetail {
            // One series per ISP found while scanning.
            return RowEstimate {
                rows: 0,
                exact: false,
            };
        }
        if !self.group_by_domain {
            return RowEstimate {
                rows: buckets,
                exact: true,
            };
        }
        let (named, exact) = match &self.domains {
            DomainFilter::All => (0, false),
            DomainFilter::List(patterns) => {
                let hosts = self.domains.exact_host_count();
                (hosts, hosts == patterns.len())
            }
        };
        RowEstimate {
            rows: buckets.saturating_mul(u64::try_from(named).unwrap_or(u64::MAX)),
            exact,
        }
    }

    /// True when the scan must look records' clients up or check their area: a `country`,
    /// `province` or `isp` list, a `service_area` other than `global`, or `isp_detail`. When
    /// false, selection is [`selects`](Self::selects) alone and costs nothing more.
    pub fn geo_needed(&self) -> bool {
        self.action == Action::IspDetail
            || self.service_area != ServiceArea::Global
            || !self.country.is_all()
            || !self.province.is_all()
            || !self.isp.is_all()
    }

    /// The request field that needs an IP database under `support`, if any (`service_area`
    /// needs none when the logs state the area).
    pub fn needs_ip_database(&self, support: GeoSupport) -> Option<&'static str> {
        if self.action == Action::IspDetail {
            Some("action 'isp_detail'")
        } else if !self.country.is_all() {
            Some("'country'")
        } else if !self.province.is_all() {
            Some("'province'")
        } else if !self.isp.is_all() {
            Some("'isp'")
        } else if self.service_area != ServiceArea::Global && !support.area_in_logs {
            Some("'service_area'")
        } else {
            None
        }
    }

    /// True when `record` counts towards this export as far as the log line tells: inside
    /// `[range_start, range_end)`, an accepted scheme and a selected domain. The geography
    /// filters are applied after, by [`GeoSink`](crate::geo::select::GeoSink), when
    /// [`geo_needed`](Self::geo_needed).
    pub fn selects(&self, record: &LogRecord<'_>) -> bool {
        record.timestamp_ms >= self.range_start
            && record.timestamp_ms < self.range_end
            && self.scheme.accepts(record.scheme)
            && self.domains.matches(&record.host)
    }
}

/// Longest range per granularity, in days (only `daily`'s 366 comes from the Wangsu seed; the
/// others keep a file to a sensible size and are documented in the README).
pub fn max_span_days(g: Granularity) -> i64 {
    match g {
        Granularity::FiveMinutes => 31,
        Granularity::Hourly => 186,
        Granularity::Daily { .. } => 366,
        Granularity::Monthly { .. } => 3660,
    }
}

/// The earliest `start_time` / `end_time` accepted: 1970-01-01T00:00:00Z (ms).
pub const MIN_TIME_MS: i64 = 0;

/// The first `start_time` / `end_time` refused: 2100-01-01T00:00:00Z (ms). CDN logs of a
/// statistics service are never older than the epoch nor this far ahead; the bound keeps every
/// time computation far from `i64` overflow.
pub const END_TIME_MS: i64 = 4_102_444_800_000;

/// Size caps on one export request, configurable per tenant.
///
/// The defaults fit the largest request the span rules allow: 100 named domains at 5 minutes over
/// 31 days is 892,800 rows, under the 1,000,000-row default, which itself stays below Excel's
/// 1,048,576 rows per sheet and keeps a worker's aggregate around 30 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLimits {
    /// Most rows one export may make (checked up front when knowable, and by the worker's
    /// bounded aggregate otherwise).
    pub max_rows: u64,
    /// Most entries (hosts and wildcards) in `domain_name`.
    pub max_domains: usize,
    /// Whether an IP database is configured and the tenant's logs state the service area: a
    /// filter or action needing a database that is not there is refused
    /// (`StatPort.IpDatabaseNotConfigured`).
    pub geo: GeoSupport,
    /// Where a `callback_url` may point and whether the tenant can sign callbacks (without a
    /// secret a `callback_url` is refused, `StatPort.CallbackNotConfigured`). Not
    /// configuration: the API fills it in from `[callbacks]` and the tenant.
    #[serde(skip)]
    pub callbacks: CallbackSupport,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_rows: 1_000_000,
            max_domains: 100,
            geo: GeoSupport::default(),
            callbacks: CallbackSupport::default(),
        }
    }
}

/// `n` with thousands separators (`8,928,000`), for messages people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The unchecked body of `POST /v1/cdn/statistics/export-tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    /// Optional label.
    pub task_name: Option<String>,
    /// Action name.
    pub action: Option<String>,
    /// Domains.
    pub domain_name: Option<String>,
    /// ms.
    pub start_time: Option<i64>,
    /// ms.
    pub end_time: Option<i64>,
    /// Seconds (Huawei form).
    pub interval: Option<i64>,
    /// Wangsu form (`daily+8`).
    pub granularity: Option<String>,
    /// `domain` or absent.
    pub group_by: Option<String>,
    /// `flux` / `req_num`.
    pub stat_type: Option<String>,
    /// Service area.
    pub service_area: Option<String>,
    /// Country codes or `all`.
    pub country: Option<String>,
    /// Province codes or `all`.
    pub province: Option<String>,
    /// ISP names or `all`.
    pub isp: Option<String>,
    /// `http` / `https` / `all`.
    pub scheme: Option<String>,
    /// Rows of a top export.
    pub top_n: Option<i64>,
    /// `logs` filter.
    pub query: Option<String>,
    /// `logs` row cap.
    pub count: Option<i64>,
    /// `logs` order.
    pub order: Option<String>,
    /// `csv`, `json`, `xlsx` (`xls`).
    pub export_format: Option<String>,
    /// `zh` / `en`.
    pub language: Option<String>,
    /// Where to POST the final task.
    pub callback_url: Option<String>,
}

const INTEGER_FIELDS: [&str; 5] = ["start_time", "end_time", "interval", "top_n", "count"];
const STRING_FIELDS: [&str; 16] = [
    "task_name",
    "action",
    "domain_name",
    "granularity",
    "group_by",
    "stat_type",
    "service_area",
    "country",
    "province",
    "isp",
    "scheme",
    "query",
    "order",
    "export_format",
    "language",
    "callback_url",
];

impl ExportRequest {
    /// Reads the JSON body, naming the field when one has the wrong type or is unknown.
    /// `null` counts as absent. Integers may also be sent as decimal strings (`"1700000000000"`),
    /// as some SDKs do.
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let map: &Map<String, Value> = body
            .as_object()
            .ok_or_else(|| ApiError::invalid("the request body must be a JSON object"))?;
        let mut req = ExportRequest::default();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            if INTEGER_FIELDS.contains(&key.as_str()) {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    ApiError::invalid(format!("the parameter '{key}' must be an integer"))
                })?;
                match key.as_str() {
                    "start_time" => req.start_time = Some(n),
                    "end_time" => req.end_time = Some(n),
                    "interval" => req.interval = Some(n),
                    "top_n" => req.top_n = Some(n),
                    _ => req.count = Some(n),
                }
            } else if STRING_FIELDS.contains(&key.as_str()) {
                let s = value
                    .as_str()
                    .ok_or_else(|| {
                        ApiError::invalid(format!("the parameter '{key}' must be a string"))
                    })?
                    .to_string();
                let slot = match key.as_str() {
                    "task_name" => &mut req.task_name,
                    "action" => &mut req.action,
                    "domain_name" => &mut req.domain_name,
                    "granularity" => &mut req.granularity,
                    "group_by" => &mut req.group_by,
                    "stat_type" => &mut req.stat_type,
                    "service_area" => &mut req.service_area,
                    "country" => &mut req.country,
                    "province" => &mut req.province,
                    "isp" => &mut req.isp,
                    "scheme" => &mut req.scheme,
                    "query" => &mut req.query,
                    "order" => &mut req.order,
                    "export_format" => &mut req.export_format,
                    "language" => &mut req.language,
                    _ => &mut req.callback_url,
                };
                *slot = Some(s);
            } else {
                return Err(ApiError::invalid(format!("unknown parameter '{key}'")));
            }
        }
        Ok(req)
    }

    /// Validates every field into an [`ExportCondition`] under the default [`RequestLimits`];
    /// the first problem found is returned.
    pub fn validate(&self) -> Result<ExportCondition, ApiError> {
        self.validate_with(&RequestLimits::default())
    }

    /// Validates every field into an [`ExportCondition`] under a tenant's `limits`; the first
    /// problem found is returned.
    pub fn validate_with(&self, limits: &RequestLimits) -> Result<ExportCondition, ApiError> {
        let action = match non_empty(&self.action) {
            None => Action::ReportsDetail,
            Some(a) => Action::parse(a).ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown action '{a}'; known actions: {}",
                    Action::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        };
        let domains = DomainFilter::parse(
            non_empty(&self.domain_name).ok_or_else(|| ApiError::missing("domain_name"))?,
        )?;
        if domains.len() > limits.max_domains {
            return Err(ApiError::invalid(format!(
                "'domain_name' may list at most {} domains, got {}",
                limits.max_domains,
                domains.len()
            )));
        }
        let start_time = self
            .start_time
            .ok_or_else(|| ApiError::missing("start_time"))?;
        let end_time = self.end_time.ok_or_else(|| ApiError::missing("end_time"))?;
        for (name, value) in [("start_time", start_time), ("end_time", end_time)] {
            if !(MIN_TIME_MS..END_TIME_MS).contains(&value) {
                return Err(ApiError::invalid(format!(
                    "the parameter '{name}' must be between {MIN_TIME_MS} (1970-01-01T00:00:00Z) and {END_TIME_MS} (2100-01-01T00:00:00Z, excluded) in milliseconds, not {value}"
                )));
            }
        }
        if end_time <= start_time {
            return Err(ApiError::new(
                ErrorCode::InvalidTimeSpan,
                "'end_time' must be later than 'start_time'",
            ));
        }
        if action == Action::Logs {
            for (name, present) in [
                ("interval", self.interval.is_some()),
                ("granularity", self.granularity.is_some()),
                ("group_by", self.group_by.is_some()),
                ("stat_type", self.stat_type.is_some()),
                ("top_n", self.top_n.is_some()),
            ] {
                if present {
                    return Err(ApiError::invalid(format!(
                        "'{name}' does not apply to the 'logs' action, which exports the log rows themselves"
                    )));
                }
            }
            // `end_time > start_time` and both are in 1970..2100: the difference fits.
            if end_time - start_time > MAX_LOG_SPAN_DAYS * DAY_MS {
                return Err(ApiError::new(
                    ErrorCode::InvalidTimeSpan,
                    format!("The max time span of a 'logs' export must be no more than {MAX_LOG_SPAN_DAYS} days."),
                ));
            }
        }
        let granularity = match self.granularity() {
            // A top list has no intervals: without one, its range is rounded out to whole hours.
            // `logs` has none either; its range is kept to the millisecond (below).
            Err(e)
                if e.code == ErrorCode::MissingParameter
                    && (action.is_top_list() || action == Action::Logs) =>
            {
                Granularity::Hourly
            }
            other => other?,
        };
        // Both times are inside the accepted range, so these are always `Some`; refuse rather
        // than panic all the same.
        let out_of_range = || ApiError::invalid("the time range is out of range");
        let (range_start, range_end) = if action == Action::Logs {
            (start_time, end_time)
        } else {
            (
                granularity
                    .checked_floor(start_time)
                    .ok_or_else(out_of_range)?,
                granularity
                    .checked_ceil(end_time)
                    .ok_or_else(out_of_range)?,
            )
        };
        let max_days = max_span_days(granularity);
        let too_long = match (
            range_end.checked_sub(range_start),
            max_days.checked_mul(DAY_MS),
        ) {
            (Some(span), Some(max)) => span > max,
            _ => true,
        };
        if too_long {
            return Err(ApiError::new(
                ErrorCode::InvalidTimeSpan,
                format!("The max time span of '{granularity}' report must be no more than {max_days} days."),
            ));
        }
        let group_by_domain = match non_empty(&self.group_by) {
            None => false,
            Some("domain") => true,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'group_by' must be 'domain' or absent, not '{other}'"
                )))
            }
        };
        let stat_type = match non_empty(&self.stat_type) {
            None | Some("flux") => StatType::Flux,
            Some("req_num") => StatType::ReqNum,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'stat_type' must be 'flux' or 'req_num', not '{other}'"
                )))
            }
        };
        let service_area = match non_empty(&self.service_area) {
            None | Some("global") => ServiceArea::Global,
            Some("mainland_china") => ServiceArea::MainlandChina,
            Some("outside_mainland_china") => ServiceArea::OutsideMainlandChina,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'service_area' must be 'mainland_china', 'outside_mainland_china' or 'global', not '{other}'"
                )))
            }
        };
        let country = NameFilter::parse(GeoField::Country, self.country.as_deref())?;
        let province = NameFilter::parse(GeoField::Province, self.province.as_deref())?;
        let isp = NameFilter::parse(GeoField::Isp, self.isp.as_deref())?;
        if action == Action::IspDetail && group_by_domain {
            return Err(ApiError::invalid(
                "'group_by' does not apply to 'isp_detail' (rows are per ISP)",
            ));
        }
        let scheme = match non_empty(&self.scheme) {
            None | Some("all") => SchemeFilter::All,
            Some("http") => SchemeFilter::Http,
            Some("https") => SchemeFilter::Https,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'scheme' must be 'http', 'https' or 'all', not '{other}'"
                )))
            }
        };
        let top_n = match self.top_n {
            None => 100,
            Some(n) if (1..=1000).contains(&n) => n as u32,
            Some(n) => {
                return Err(ApiError::invalid(format!(
                    "'top_n' must be between 1 and 1000, not {n}"
                )))
            }
        };
        for (name, present) in [
            ("query", self.query.is_some()),
            ("count", self.count.is_some()),
            ("order", self.order.is_some()),
        ] {
            if present && action != Action::Logs {
                return Err(ApiError::invalid(format!(
                    "'{name}' applies only to the 'logs' action"
                )));
            }
        }
        let logs = if action == Action::Logs {
            Some(self.logs_spec()?)
        } else {
            None
        };
        let export_format = match non_empty(&self.export_format)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("csv") => ExportFormat::Csv,
            Some("json") => ExportFormat::Json,
            Some("xlsx") | Some("xls") => ExportFormat::Xlsx,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'export_format' must be 'csv', 'json' or 'xlsx', not '{other}'"
                )))
            }
        };
        let language = match non_empty(&self.language) {
            None | Some("zh") => Language::Zh,
            Some("en") => Language::En,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'language' must be 'zh' or 'en', not '{other}'"
                )))
            }
        };
        let callback_url = match non_empty(&self.callback_url) {
            None => None,
            Some(_) if !limits.callbacks.signed => {
                return Err(ApiError::new(
                    ErrorCode::CallbackNotConfigured,
                    "'callback_url' needs a callback secret for this tenant, and none is configured, so the callback could not be signed; leave it out and poll the task, or ask the operator to set tenants.<id>.callback_secret",
                ))
            }
            Some(url) => Some(CallbackUrl::parse(url, limits.callbacks.policy)?.url),
        };
        let condition = ExportCondition {
            action,
            domains,
            start_time,
            end_time,
            range_start,
            range_end,
            granularity,
            group_by_domain,
            stat_type,
            service_area,
            country,
            province,
            isp,
            scheme,
            top_n,
            export_format,
            language,
            callback_url,
            logs,
        };
        if let Some(field) = condition
            .needs_ip_database(limits.geo)
            .filter(|_| !limits.geo.ip_database)
        {
            return Err(ApiError::new(
                ErrorCode::IpDatabaseNotConfigured,
                format!("{field} needs the IP database, and none is configured on this service; leave it out (or 'all' / 'global'), or ask the operator to set ip_database.path"),
            ));
        }
        let estimate = condition.row_estimate();
        // A `logs` export is bounded by its `count` (at most MAX_LOG_ROWS), not by the rows
        // limit of statistics exports.
        if action != Action::Logs && estimate.rows > limits.max_rows {
            return Err(ApiError::invalid(format!(
                "this export would make {}{} rows; the limit is {} rows per export: shorten the range, use a coarser granularity or fewer domains",
                if estimate.exact { "" } else { "at least " },
                thousands(estimate.rows),
                thousands(limits.max_rows),
            )));
        }
        if let Some(name) = &self.task_name {
            if name.chars().count() > 128 || name.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "'task_name' must be at most 128 printable characters",
                ));
            }
        }
        Ok(condition)
    }

    /// The `logs` fields: the query parsed (a 400 pointing at the error's position, or
    /// listing the known fields), `count` in 1..=[`MAX_LOG_ROWS`] (default: the maximum),
    /// `order` `asc` or `desc` (default).
    fn logs_spec(&self) -> Result<LogsSpec, ApiError> {
        let query = self.query.as_deref().unwrap_or("").trim().to_string();
        Query::parse(&query)?;
        let count = match self.count {
            None => MAX_LOG_ROWS,
            Some(n) => u64::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LOG_ROWS).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "'count' must be between 1 and {} rows, not {n}",
                        thousands(MAX_LOG_ROWS)
                    ))
                })?,
        };
        let order = match non_empty(&self.order) {
            None | Some("desc") => LogOrder::Desc,
            Some("asc") => LogOrder::Asc,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "'order' must be 'asc' or 'desc', not '{other}'"
                )))
            }
        };
        Ok(LogsSpec {
            query,
            count,
            order,
        })
    }

    fn granularity(&self) -> Result<Granularity, ApiError> {
        let from_interval = match self.interval {
            None => None,
            Some(secs) => Some(Granularity::from_interval_secs(secs).ok_or_else(|| {
                ApiError::invalid(format!(
                    "'interval' must be 300, 3600 or 86400 seconds, not {secs}"
                ))
            })?),
        };
        let from_text = match non_empty(&self.granularity) {
            None => None,
            Some(text) => Some(text.parse::<Granularity>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidType,
                    format!(
                        "Invalid parameter 'granularity': '{text}'. The report type must be 'fiveminutes', 'hourly', 'daily'(with optional timezone) or 'monthly'(with optional timezone)."
                    ),
                )
            })?),
        };
        match (from_interval, from_text) {
            (Some(a), Some(b)) if a != b => Err(ApiError::invalid(format!(
                "'interval' and 'granularity' disagree ({} vs '{b}'); give one of them",
                self.interval.unwrap_or_default()
            ))),
            (Some(g), _) | (None, Some(g)) => Ok(g),
            (None, None) => Err(ApiError::new(
                ErrorCode::MissingParameter,
                "give 'interval' (300, 3600 or 86400) or 'granularity' ('fiveminutes', 'hourly', 'daily[+H]', 'monthly[+H]')",
            )),
        }
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
