//! [`ExportRequest::validate_with`]: the request checked field by field into an
//! [`ExportCondition`]. Each field, or group of fields that only make sense together, has one
//! validator below; `validate_with` runs them in the order clients see their errors (the first
//! problem found is returned) and then checks what needs the whole condition (the IP database,
//! the row limit).

use super::limits::{
    max_span_days, DEFAULT_TOP_N, END_TIME_MS, MAX_LOG_ROWS, MAX_LOG_SPAN_DAYS,
    MAX_TASK_NAME_CHARS, MAX_TOP_N, MIN_TIME_MS,
};
use super::{
    Action, DomainFilter, ExportCondition, ExportFormat, ExportRequest, LogOrder, LogsSpec,
    RequestLimits, SchemeFilter, StatType,
};
use crate::callback::CallbackUrl;
use crate::error::{thousands, ApiError, ErrorCode};
use crate::log::geo::filter::{GeoField, NameFilter};
use crate::log::query::Query;
use crate::log::ServiceArea;
use crate::table::Language;
use crate::time::granularity::Granularity;
use crate::time::DAY_MS;

impl ExportRequest {
    /// Validates every field into an [`ExportCondition`] under the default [`RequestLimits`];
    /// the first problem found is returned.
    pub fn validate(&self) -> Result<ExportCondition, ApiError> {
        self.validate_with(&RequestLimits::default())
    }

    /// Validates every field into an [`ExportCondition`] under a tenant's `limits`; the first
    /// problem found is returned.
    pub fn validate_with(&self, limits: &RequestLimits) -> Result<ExportCondition, ApiError> {
        let action = self.action()?;
        let domains = self.domains(limits)?;
        let (start_time, end_time) = self.times()?;
        if action == Action::Logs {
            self.logs_refusals()?;
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
        let (range_start, range_end) = range(action, granularity, start_time, end_time)?;
        let group_by_domain = self.group_by_domain()?;
        let stat_type = self.stat_type()?;
        let service_area = self.service_area()?;
        let country = NameFilter::parse(GeoField::Country, self.country.as_deref())?;
        let province = NameFilter::parse(GeoField::Province, self.province.as_deref())?;
        let isp = NameFilter::parse(GeoField::Isp, self.isp.as_deref())?;
        if action == Action::IspDetail && group_by_domain {
            return Err(ApiError::invalid(
                "'group_by' does not apply to 'isp_detail' (rows are per ISP)",
            ));
        }
        let scheme = self.scheme()?;
        let top_n = self.top_n()?;
        let logs = self.logs(action)?;
        let export_format = self.export_format()?;
        let language = self.language()?;
        let callback_url = self.callback_url(limits)?;
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
        ip_database(&condition, limits)?;
        row_limit(&condition, limits)?;
        self.task_name()?;
        Ok(condition)
    }

    /// `action`: one of the known names, `reports_detail` when absent.
    fn action(&self) -> Result<Action, ApiError> {
        match non_empty(&self.action) {
            None => Ok(Action::ReportsDetail),
            Some(a) => Action::parse(a).ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown action '{a}'; known actions: {}",
                    Action::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
        }
    }

    /// `domain_name`: required, valid hosts and wildcards, at most the tenant's `max_domains`.
    fn domains(&self, limits: &RequestLimits) -> Result<DomainFilter, ApiError> {
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
        Ok(domains)
    }

    /// `start_time` and `end_time`: both required, in `[MIN_TIME_MS, END_TIME_MS)`, the end
    /// after the start.
    fn times(&self) -> Result<(i64, i64), ApiError> {
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
        Ok((start_time, end_time))
    }

    /// The statistics fields a `logs` export refuses, named: it exports the rows themselves.
    fn logs_refusals(&self) -> Result<(), ApiError> {
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
        Ok(())
    }

    /// `interval` (Huawei seconds) or `granularity` (Wangsu text): one of them, or both agreeing.
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

    /// `group_by`: `domain` or absent.
    fn group_by_domain(&self) -> Result<bool, ApiError> {
        match non_empty(&self.group_by) {
            None => Ok(false),
            Some("domain") => Ok(true),
            Some(other) => Err(ApiError::invalid(format!(
                "'group_by' must be 'domain' or absent, not '{other}'"
            ))),
        }
    }

    /// `stat_type`: `flux` (the default) or `req_num`.
    fn stat_type(&self) -> Result<StatType, ApiError> {
        match non_empty(&self.stat_type) {
            None | Some("flux") => Ok(StatType::Flux),
            Some("req_num") => Ok(StatType::ReqNum),
            Some(other) => Err(ApiError::invalid(format!(
                "'stat_type' must be 'flux' or 'req_num', not '{other}'"
            ))),
        }
    }

    /// `service_area`: `global` (the default), `mainland_china` or `outside_mainland_china`.
    fn service_area(&self) -> Result<ServiceArea, ApiError> {
        match non_empty(&self.service_area) {
            None | Some("global") => Ok(ServiceArea::Global),
            Some("mainland_china") => Ok(ServiceArea::MainlandChina),
            Some("outside_mainland_china") => Ok(ServiceArea::OutsideMainlandChina),
            Some(other) => Err(ApiError::invalid(format!(
                "'service_area' must be 'mainland_china', 'outside_mainland_china' or 'global', not '{other}'"
            ))),
        }
    }

    /// `scheme`: `all` (the default), `http` or `https`.
    fn scheme(&self) -> Result<SchemeFilter, ApiError> {
        match non_empty(&self.scheme) {
            None | Some("all") => Ok(SchemeFilter::All),
            Some("http") => Ok(SchemeFilter::Http),
            Some("https") => Ok(SchemeFilter::Https),
            Some(other) => Err(ApiError::invalid(format!(
                "'scheme' must be 'http', 'https' or 'all', not '{other}'"
            ))),
        }
    }

    /// `top_n`: 1..=[`MAX_TOP_N`], [`DEFAULT_TOP_N`] when absent.
    fn top_n(&self) -> Result<u32, ApiError> {
        match self.top_n {
            None => Ok(DEFAULT_TOP_N),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_TOP_N).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "'top_n' must be between 1 and {MAX_TOP_N}, not {n}"
                    ))
                }),
        }
    }

    /// `query`, `count` and `order`: only for `logs`, where they become its [`LogsSpec`].
    fn logs(&self, action: Action) -> Result<Option<LogsSpec>, ApiError> {
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
        if action == Action::Logs {
            Ok(Some(self.logs_spec()?))
        } else {
            Ok(None)
        }
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

    /// `export_format`: `csv` (the default), `json`, `xlsx` (also written `xls`), any case.
    fn export_format(&self) -> Result<ExportFormat, ApiError> {
        match non_empty(&self.export_format)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("csv") => Ok(ExportFormat::Csv),
            Some("json") => Ok(ExportFormat::Json),
            Some("xlsx") | Some("xls") => Ok(ExportFormat::Xlsx),
            Some(other) => Err(ApiError::invalid(format!(
                "'export_format' must be 'csv', 'json' or 'xlsx', not '{other}'"
            ))),
        }
    }

    /// `language`: the header row's, `zh` (the default) or `en`.
    fn language(&self) -> Result<Language, ApiError> {
        match non_empty(&self.language) {
            None | Some("zh") => Ok(Language::Zh),
            Some("en") => Ok(Language::En),
            Some(other) => Err(ApiError::invalid(format!(
                "'language' must be 'zh' or 'en', not '{other}'"
            ))),
        }
    }

    /// `callback_url`: only for a tenant that can sign callbacks, and only to an address the
    /// policy allows.
    fn callback_url(&self, limits: &RequestLimits) -> Result<Option<String>, ApiError> {
        match non_empty(&self.callback_url) {
            None => Ok(None),
            Some(_) if !limits.callbacks.signed => Err(ApiError::new(
                ErrorCode::CallbackNotConfigured,
                "'callback_url' needs a callback secret for this tenant, and none is configured, so the callback could not be signed; leave it out and poll the task, or ask the operator to set tenants.<id>.callback_secret",
            )),
            Some(url) => Ok(Some(CallbackUrl::parse(url, limits.callbacks.policy)?.url)),
        }
    }

    /// `task_name`: at most [`MAX_TASK_NAME_CHARS`] printable characters.
    fn task_name(&self) -> Result<(), ApiError> {
        match &self.task_name {
            Some(name)
                if name.chars().count() > MAX_TASK_NAME_CHARS
                    || name.chars().any(char::is_control) =>
            {
                Err(ApiError::invalid(format!(
                    "'task_name' must be at most {MAX_TASK_NAME_CHARS} printable characters"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The range the export covers: the submitted times to the millisecond for `logs`, rounded out
/// to the granularity otherwise; no longer than the granularity's [`max_span_days`].
fn range(
    action: Action,
    granularity: Granularity,
    start_time: i64,
    end_time: i64,
) -> Result<(i64, i64), ApiError> {
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
            format!(
                "The max time span of '{granularity}' report must be no more than {max_days} days."
            ),
        ));
    }
    Ok((range_start, range_end))
}

/// A filter or action that needs an IP database is refused where none is configured.
fn ip_database(condition: &ExportCondition, limits: &RequestLimits) -> Result<(), ApiError> {
    match condition
        .needs_ip_database(limits.geo)
        .filter(|_| !limits.geo.ip_database)
    {
        Some(field) => Err(ApiError::new(
            ErrorCode::IpDatabaseNotConfigured,
            format!("{field} needs the IP database, and none is configured on this service; leave it out (or 'all' / 'global'), or ask the operator to set ip_database.path"),
        )),
        None => Ok(()),
    }
}

/// A statistics export that would make more rows than the tenant's `max_rows` is refused (as
/// far as the condition tells; the worker bounds the rest). A `logs` export is bounded by its
/// `count` (at most [`MAX_LOG_ROWS`]) instead.
fn row_limit(condition: &ExportCondition, limits: &RequestLimits) -> Result<(), ApiError> {
    let estimate = condition.row_estimate();
    if condition.action != Action::Logs && estimate.rows > limits.max_rows {
        return Err(ApiError::invalid(format!(
            "this export would make {}{} rows; the limit is {} rows per export: shorten the range, use a coarser granularity or fewer domains",
            if estimate.exact { "" } else { "at least " },
            thousands(estimate.rows),
            thousands(limits.max_rows),
        )));
    }
    Ok(())
}

/// A field's text, trimmed; `None` when absent or blank.
fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
