//! The body of `POST /v1/cdn/statistics/export-schedules`, checked into a [`ValidSchedule`], and
//! the task body each run submits.
//!
//! ```json
//! {"name": "daily-flux", "cron": "0 1 * * *", "time_zone": "Asia/Shanghai",
//!  "window": {"unit": "day", "count": 1, "time_zone": "+08:00"},
//!  "task": {"action": "reports_detail", "domain_name": "all", "granularity": "1h"},
//!  "paused": false}
//! ```
//! `time_zone` defaults to `UTC`, `window.count` to 1, `window.time_zone` to the schedule's
//! zone, `paused` to false. The `task` template is any export-task body without `start_time` /
//! `end_time`; the caller validates it as an `ExportRequest` with a window's range filled in
//! ([`task_body`]).

use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::cron::CronSpec;
use super::wall::wall_of;
use super::{RelativeWindow, ScheduleRecord, WindowUnit};
use crate::error::ApiError;
use crate::time::{civil_from_days, DAY_MS, HOUR_MS, MINUTE_MS};

/// A schedule name has at most this many characters, so `<name>-<yyyymmddHHMM>` stays within
/// the 128 a `task_name` allows.
pub const MAX_SCHEDULE_NAME_CHARS: usize = 100;

/// The body as the client sent it: every field optional, JSON types checked field by field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleRequest {
    /// `name`.
    pub name: Option<String>,
    /// `cron`.
    pub cron: Option<String>,
    /// `time_zone`.
    pub time_zone: Option<String>,
    /// `window` (its fields type-checked, not yet validated).
    pub window: Option<RelativeWindow>,
    /// `task`: the template.
    pub task: Option<Value>,
    /// `paused`.
    pub paused: Option<bool>,
}

/// A checked schedule request: what the store records (with ids and times added).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSchedule {
    /// The label.
    pub name: String,
    /// The cron expression, trimmed.
    pub cron: String,
    /// The zone name.
    pub time_zone: String,
    /// The parsed expression and zone.
    pub spec: CronSpec,
    /// The window (count and zone checked).
    pub window: RelativeWindow,
    /// The task template (a JSON object without `start_time` / `end_time`).
    pub template: Value,
    /// Created paused.
    pub paused: bool,
}

impl ScheduleRequest {
    /// Reads the body; a wrong JSON type or an unknown field is refused naming the field.
    /// `null` counts as absent.
    pub fn from_json(body: &Value) -> Result<ScheduleRequest, ApiError> {
        let map = body
            .as_object()
            .ok_or_else(|| ApiError::invalid("the request body must be a JSON object"))?;
        let mut req = ScheduleRequest::default();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "name" => req.name = Some(string(key, value)?),
                "cron" => req.cron = Some(string(key, value)?),
                "time_zone" => req.time_zone = Some(string(key, value)?),
                "window" => req.window = Some(window_from_json(value)?),
                "task" => {
                    if !value.is_object() {
                        return Err(ApiError::invalid(
                            "the parameter 'task' must be a JSON object (an export-task body)",
                        ));
                    }
                    req.task = Some(value.clone());
                }
                "paused" => {
                    req.paused = Some(value.as_bool().ok_or_else(|| {
                        ApiError::invalid("the parameter 'paused' must be true or false")
                    })?)
                }
                _ => {
                    return Err(ApiError::invalid(format!(
                        "unknown parameter '{}'",
                        clip(key)
                    )))
                }
            }
        }
        Ok(req)
    }

    /// Checks every field; the first problem found is returned. The template's own fields are
    /// the caller's to check (through `ExportRequest`, with a range filled in by [`task_body`]).
    pub fn validate(&self) -> Result<ValidSchedule, ApiError> {
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if name.chars().count() > MAX_SCHEDULE_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(format!(
                "the parameter 'name' must be at most {MAX_SCHEDULE_NAME_CHARS} printable characters"
            )));
        }
        let cron = self
            .cron
            .as_deref()
            .ok_or_else(|| ApiError::missing("cron"))?;
        let time_zone = self.time_zone.as_deref().unwrap_or("UTC").trim();
        let spec = CronSpec::parse(cron, time_zone)?;
        let window = self
            .window
            .clone()
            .ok_or_else(|| ApiError::missing("window"))?;
        window.validate()?;
        let template = self.task.clone().ok_or_else(|| ApiError::missing("task"))?;
        for field in ["start_time", "end_time"] {
            if template.get(field).is_some() {
                return Err(ApiError::invalid(format!(
                    "the parameter 'task' must not contain '{field}': each run's range comes \
                     from 'window'"
                )));
            }
        }
        Ok(ValidSchedule {
            name: name.to_string(),
            cron: cron.trim().to_string(),
            time_zone: time_zone.to_string(),
            spec,
            window,
            template,
            paused: self.paused.unwrap_or(false),
        })
    }
}

impl ValidSchedule {
    /// The record the store keeps for it.
    pub fn into_record(
        self,
        schedule_id: String,
        tenant_id: String,
        now_ms: i64,
    ) -> ScheduleRecord {
        ScheduleRecord {
            schedule_id,
            tenant_id,
            name: self.name,
            cron: self.cron,
            time_zone: self.time_zone,
            window: self.window,
            template: self.template,
            paused: self.paused,
            create_time: now_ms,
            update_time: now_ms,
            last_fire_time: None,
            last_error: None,
            last_failure: None,
            skipped_fires: 0,
        }
    }
}

/// The export-task body of one run: the template with `start_time` / `end_time` set to the
/// window's range and, when the template names no `task_name`, `<schedule name>-<fire time as
/// yyyymmddHHMM in the schedule's zone>`.
pub fn task_body(
    template: &Value,
    schedule_name: &str,
    fire_ms: i64,
    schedule_zone: Tz,
    start_ms: i64,
    end_ms: i64,
) -> Value {
    let mut body = template.as_object().cloned().unwrap_or_else(Map::new);
    body.insert("start_time".into(), Value::from(start_ms));
    body.insert("end_time".into(), Value::from(end_ms));
    if body.get("task_name").is_none_or(Value::is_null) {
        let stamp = compact_stamp(wall_of(&schedule_zone, fire_ms).unwrap_or(fire_ms));
        body.insert(
            "task_name".into(),
            Value::from(format!("{schedule_name}-{stamp}")),
        );
    }
    Value::Object(body)
}

/// `yyyymmddHHMM` of a wall time (ms read as UTC).
fn compact_stamp(wall_ms: i64) -> String {
    let (year, month, day) = civil_from_days(wall_ms.div_euclid(DAY_MS));
    let in_day = wall_ms.rem_euclid(DAY_MS);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}",
        in_day / HOUR_MS,
        in_day % HOUR_MS / MINUTE_MS
    )
}

fn string(key: &str, value: &Value) -> Result<String, ApiError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(format!("the parameter '{key}' must be a string")))
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

fn window_from_json(value: &Value) -> Result<RelativeWindow, ApiError> {
    let map = value.as_object().ok_or_else(|| {
        ApiError::invalid("the parameter 'window' must be an object with 'unit' and 'count'")
    })?;
    let mut unit = None;
    let mut count = 1;
    let mut time_zone = None;
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "unit" => {
                unit = Some(match value.as_str() {
                    Some("hour") => WindowUnit::Hour,
                    Some("day") => WindowUnit::Day,
                    Some("week") => WindowUnit::Week,
                    Some("month") => WindowUnit::Month,
                    _ => {
                        return Err(ApiError::invalid(
                            "the parameter 'window.unit' must be one of hour, day, week, month",
                        ))
                    }
                })
            }
            "count" => {
                count = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ApiError::invalid("the parameter 'window.count' must be a positive integer")
                    })?
            }
            "time_zone" => time_zone = Some(string("window.time_zone", value)?),
            _ => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter 'window.{}'",
                    clip(key)
                )))
            }
        }
    }
    Ok(RelativeWindow {
        unit: unit.ok_or_else(|| ApiError::missing("window.unit"))?,
        count,
        time_zone,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;
    use crate::time::ms_from_civil;

    fn body() -> Value {
        json!({"name": "daily-flux", "cron": "0 1 * * *", "time_zone": "Asia/Shanghai",
               "window": {"unit": "day", "count": 1, "time_zone": "+08:00"},
               "task": {"action": "reports_detail", "domain_name": "all"}, "paused": false})
    }

    fn check(body: &Value) -> Result<ValidSchedule, ApiError> {
        ScheduleRequest::from_json(body)?.validate()
    }

    #[test]
    fn accepts_the_documented_body() {
        let valid = check(&body()).expect("test value");
        assert_eq!(valid.name, "daily-flux");
        assert_eq!(valid.time_zone, "Asia/Shanghai");
        assert_eq!(valid.window.unit, WindowUnit::Day);
        assert_eq!(valid.window.time_zone.as_deref(), Some("+08:00"));
        assert!(!valid.paused);
        let record = valid.into_record("a".repeat(32), "t1".into(), 5);
        assert_eq!((record.create_time, record.update_time), (5, 5));
        assert_eq!(record.cron, "0 1 * * *");
        // Defaults.
        let minimal = json!({"name": "n", "cron": "@hourly", "window": {"unit": "hour"},
                             "task": {}});
        let valid = check(&minimal).expect("test value");
        assert_eq!(
            (valid.time_zone.as_str(), valid.window.count, valid.paused),
            ("UTC", 1, false)
        );
    }

    #[test]
    fn refuses_unknown_fields_and_wrong_types_naming_them() {
        let cases = [
            ("colour", json!("red"), "unknown parameter 'colour'"),
            ("name", json!(3), "'name' must be a string"),
            ("paused", json!("no"), "'paused'"),
            ("task", json!([1]), "'task' must be a JSON object"),
            ("window", json!({"unit": "day", "size": 1}), "'window.size'"),
            ("window", json!({"unit": "year"}), "'window.unit'"),
            (
                "window",
                json!({"unit": "day", "count": -1}),
                "'window.count'",
            ),
            (
                "window",
                json!({"unit": "day", "count": 400}),
                "'window.count'",
            ),
            (
                "window",
                json!({"unit": "day", "time_zone": "+25:00"}),
                "'window.time_zone'",
            ),
            ("task", json!({"start_time": 1}), "'start_time'"),
            ("task", json!({"end_time": null}), "'end_time'"),
            ("cron", json!("0 1 * *"), "'cron'"),
            ("time_zone", json!("Asia/Nowhere"), "'time_zone'"),
            ("name", json!("x".repeat(101)), "'name'"),
        ];
        for (key, value, expected) in cases {
            let mut b = body();
            b[key] = value;
            let e = check(&b).expect_err("refused");
            assert_eq!(e.code, ErrorCode::InvalidParameter, "{key}");
            assert!(e.message.contains(expected), "{key}: {}", e.message);
        }
        for key in ["name", "cron", "window", "task"] {
            let mut b = body();
            b.as_object_mut().expect("test value").remove(key);
            let e = check(&b).expect_err("refused");
            assert_eq!(e.code, ErrorCode::MissingParameter, "{key}");
        }
        let mut b = body();
        b["window"] = json!({"count": 1});
        let e = check(&b).expect_err("refused");
        assert_eq!(e.code, ErrorCode::MissingParameter);
        assert!(e.message.contains("'window.unit'"));
        assert!(ScheduleRequest::from_json(&json!([])).is_err());
    }

    #[test]
    fn task_body_fills_the_range_and_a_name() {
        let fire = ms_from_civil(2026, 3, 1, 17, 0, 0).expect("test value"); // 2026-03-02 01:00 Shanghai
        let template = json!({"action": "reports_detail", "domain_name": "all"});
        let out = task_body(&template, "daily", fire, Tz::Asia__Shanghai, 10, 20);
        assert_eq!(
            out,
            json!({"action": "reports_detail", "domain_name": "all", "start_time": 10,
                   "end_time": 20, "task_name": "daily-202603020100"})
        );
        let named = json!({"task_name": "mine"});
        let out = task_body(&named, "daily", fire, Tz::UTC, 10, 20);
        assert_eq!(out["task_name"], "mine");
        let out = task_body(&json!({"task_name": null}), "d", fire, Tz::UTC, 10, 20);
        assert_eq!(out["task_name"], "d-202603011700");
    }
}
