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
    /// The `Referer` header as logged (`-` when absent).
    Referer,
    /// User agent.
    Ua,
    /// Client IP.
    Ip,
    /// ISP name.
    Isp,
    /// The domain of a raw log row (`logs`).
    Host,
    /// HTTP method (`logs`).
    Method,
    /// `http` or `https` (`logs`).
    Scheme,
    /// The query string, without `?` (`logs`).
    Query,
    /// HTTP status code (`logs`).
    Status,
    /// Bytes sent to the viewer by one request (`logs`).
    Bytes,
    /// Edge location code (`logs`).
    Edge,
    /// `hit`, or `miss` when the edge went to the origin (`logs`).
    Result,
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
            Column::Host => "host",
            Column::Method => "method",
            Column::Scheme => "scheme",
            Column::Query => "query",
            Column::Status => "status",
            Column::Bytes => "bytes",
            Column::Edge => "edge",
            Column::Result => "result",
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
                Column::Host => "域名",
                Column::Method => "请求方法",
                Column::Scheme => "协议",
                Column::Query => "查询参数",
                Column::Status => "状态码",
                Column::Bytes => "字节数",
                Column::Edge => "边缘节点",
                Column::Result => "缓存结果",
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
