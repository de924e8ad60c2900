//! The column / cell model every output writer (csv, json, xlsx) consumes.
//!
//! Aggregations produce [`Cell`] rows under a list of [`Column`]s; the writers only know this
//! model, so a new action never touches a writer.

use serde::{Deserialize, Serialize};

/// A column of an export, with its machine name (JSON key, `en` header) and its `zh` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    /// Interval start, RFC 3339 with the request's offset.
    Time,
    /// The domain (when grouped by domain).
    Domain,
    /// Bytes sent to viewers.
    Flux,
    /// Number of requests.
    ReqNum,
    /// Bytes fetched from the origin.
    OriginFlux,
    /// Distinct client IPs.
    Uv,
    /// Full URL (path and query).
    Url,
    /// Path without query.
    Path,
    /// Referer.
    Referer,
    /// User agent.
    Ua,
    /// Client IP.
    Ip,
    /// ISP name.
    Isp,
}

/// The language of the header row of csv and xlsx files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Chinese headers (the default, as in the Huawei API).
    #[default]
    Zh,
    /// English headers: the machine names.
    En,
}

impl Column {
    /// The machine name: the JSON key and the `en` header.
    pub fn name(self) -> &'static str {
        match self {
            Column::Time => "time",
            Column::Domain => "domain",
            Column::Flux => "flux",
            Column::ReqNum => "req_num",
            Column::OriginFlux => "origin_flux",
            Column::Uv => "uv",
            Column::Url => "url",
            Column::Path => "path",
            Column::Referer => "referer",
            Column::Ua => "ua",
            Column::Ip => "ip",
            Column::Isp => "isp",
        }
    }

    /// The header cell for `language`.
    pub fn header(self, language: Language) -> &'static str {
        match language {
            Language::En => self.name(),
            Language::Zh => match self {
                Column::Time => "时间",
                Column::Domain => "域名",
                Column::Flux => "流量(Byte)",
                Column::ReqNum => "请求数",
                Column::OriginFlux => "回源流量(Byte)",
                Column::Uv => "独立IP数",
                Column::Url => "URL",
                Column::Path => "路径",
                Column::Referer => "Referer",
                Column::Ua => "User-Agent",
                Column::Ip => "IP",
                Column::Isp => "运营商",
            },
        }
    }
}

/// One cell of an export row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text (times are already formatted as RFC 3339 text).
    Text(String),
    /// A non-negative count (bytes, requests).
    Count(u64),
}
