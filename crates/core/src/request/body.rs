//! The unchecked body of `POST /v1/cdn/statistics/export-tasks` ([`ExportRequest`]) and its
//! reading from JSON, which names the field when one has the wrong type or is unknown.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The unchecked body of `POST /v1/cdn/statistics/export-tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    /// The client's label for the task (at most 128 printable characters).
    pub task_name: Option<String>,
    /// What to export (`reports_detail` when absent); see [`Action`](super::Action).
    pub action: Option<String>,
    /// `all`, or the comma list of hosts and `*.` wildcards the export counts.
    pub domain_name: Option<String>,
    /// The start of the range, ms since the epoch (included).
    pub start_time: Option<i64>,
    /// The end of the range, ms since the epoch (excluded).
    pub end_time: Option<i64>,
    /// The interval in seconds (Huawei form: 300, 3600 or 86400).
    pub interval: Option<i64>,
    /// The interval as text (Wangsu form: `fiveminutes`, `hourly`, `daily+8`, `monthly`).
    pub granularity: Option<String>,
    /// `domain` for one series per domain, or absent for one series.
    pub group_by: Option<String>,
    /// What `reports_detail` counts: `flux` (bytes) or `req_num` (requests).
    pub stat_type: Option<String>,
    /// `global`, `mainland_china` or `outside_mainland_china`.
    pub service_area: Option<String>,
    /// Country codes or `all`.
    pub country: Option<String>,
    /// Province codes or `all`.
    pub province: Option<String>,
    /// ISP names or `all`.
    pub isp: Option<String>,
    /// `http` / `https` / `all`.
    pub scheme: Option<String>,
    /// How many rows a `top_*_detail` export keeps.
    pub top_n: Option<i64>,
    /// The Lucene-style query selecting a `logs` export's rows.
    pub query: Option<String>,
    /// The most rows a `logs` export writes.
    pub count: Option<i64>,
    /// `asc` or `desc`: the time order of a `logs` export's rows.
    pub order: Option<String>,
    /// `csv`, `json`, `xlsx` (`xls`).
    pub export_format: Option<String>,
    /// The header row's language, `zh` or `en`.
    pub language: Option<String>,
    /// Where the final task object is POSTed, signed, when the task ends.
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
}
