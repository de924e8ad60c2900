//! The validated export condition: what the worker runs and the task record stores, with what it
//! tells before any log is read (its row estimate, whether it needs the IP database) and the
//! per-record selection every scan applies.

use serde::{Deserialize, Serialize};

use super::{Action, DomainFilter, ExportFormat, LogsSpec, SchemeFilter, StatType};
use crate::log::geo::filter::NameFilter;
use crate::log::geo::GeoSupport;
use crate::log::{LogRecord, ServiceArea};
use crate::table::Language;
use crate::time::granularity::Granularity;

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
    /// its bounded aggregate).
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
    /// filters are applied after, by [`GeoSink`](super::GeoSink), when
    /// [`geo_needed`](Self::geo_needed).
    pub fn selects(&self, record: &LogRecord<'_>) -> bool {
        record.timestamp_ms >= self.range_start
            && record.timestamp_ms < self.range_end
            && self.scheme.accepts(record.scheme)
            && self.domains.matches(&record.host)
    }
}
