//! The value types of a request: what a task exports ([`Action`]), what it counts
//! ([`StatType`]), which protocols ([`SchemeFilter`]), the result's file format
//! ([`ExportFormat`]) and what a `logs` export selects and in which order ([`LogsSpec`]).

use serde::{Deserialize, Serialize};

use crate::log::Scheme;

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
    pub(super) const ALL: [(&'static str, Action); 10] = [
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

    pub(super) fn parse(s: &str) -> Option<Action> {
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
    /// Requests served (`req_num`): the count of log lines, not of bytes.
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
