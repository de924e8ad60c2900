//! Recurring exports: the stored schedule, the window each run exports, and the record of each
//! fire time.
//!
//! A schedule is a cron expression read in an IANA time zone, a task template (any body
//! `POST /v1/cdn/statistics/export-tasks` accepts, without `start_time` / `end_time`) and a
//! [`RelativeWindow`] that turns each fire time into the task's range. Every fire time is handled
//! at most once: the store keys a [`ScheduleRun`] by (schedule id, fire time).
//!
//! # Layout
//! - [`cron`]: the expression and its zone parsed into a [`CronSpec`] (5 or 6 fields, aliases,
//!   Unix day-of-week numbering, at most once a minute).
//! - `fire` (methods of [`CronSpec`]): fire times as instants, safe across daylight-saving
//!   changes (skipped wall times shifted, repeated ones fired once, or twice when hourly).
//! - `wall`: wall-clock times and the instants they name in a zone (gap, fold).
//! - [`window`]: [`RelativeWindow`] checked ([`WindowZone`]: IANA or fixed offset) and turned
//!   into the range a run exports.
//! - [`catch_up`]: the catch-up policy: which due fire times run, which are skipped ([`Due`]).
//! - [`request`]: the body of `POST /v1/cdn/statistics/export-schedules` ([`ScheduleRequest`] →
//!   [`ValidSchedule`]) and each run's task body ([`task_body`]).
//!
//! Everything here is pure: callers pass times as ms since epoch.

pub mod catch_up;
pub mod cron;
mod fire;
pub mod request;
mod wall;
pub mod window;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::catch_up::{due_fire_times, Due, DEFAULT_MAX_CATCH_UP_MS, SKIP_COUNT_CAP};
pub use self::cron::CronSpec;
pub use self::fire::SEARCH_HORIZON_MS;
pub use self::request::{task_body, ScheduleRequest, ValidSchedule, MAX_SCHEDULE_NAME_CHARS};
pub use self::window::WindowZone;
use crate::error::ApiError;

/// A unit of a [`RelativeWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowUnit {
    /// Whole hours.
    Hour,
    /// Whole days (midnight to midnight in the window's zone).
    Day,
    /// Whole weeks (Monday 00:00 to Monday 00:00 in the window's zone).
    Week,
    /// Whole calendar months.
    Month,
}

/// The range a run exports, relative to its fire time: the `count` whole `unit`s that end where
/// the unit holding the fire time begins, read in `time_zone`.
///
/// "The previous day in UTC+8" is `{unit: day, count: 1, time_zone: "+08:00"}`; "the previous
/// hour" `{unit: hour, count: 1}`; "the last 7 days" `{unit: day, count: 7}`; "the previous
/// calendar month" `{unit: month, count: 1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelativeWindow {
    /// The unit.
    pub unit: WindowUnit,
    /// How many whole units (at least 1).
    pub count: u32,
    /// An IANA zone (`Asia/Shanghai`) or a fixed offset (`+08:00`); `None`: the schedule's zone.
    pub time_zone: Option<String>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// Opaque id, 32 lowercase hex characters.
    pub schedule_id: String,
    /// The tenant that owns it.
    pub tenant_id: String,
    /// The client's label.
    pub name: String,
    /// The cron expression as the client sent it (5 fields, or 6 with seconds first).
    pub cron: String,
    /// IANA zone the cron expression is read in (`Asia/Shanghai`, `UTC`).
    pub time_zone: String,
    /// The range each run exports.
    pub window: RelativeWindow,
    /// The task body each run submits, without `start_time` / `end_time` (a JSON object).
    pub template: Value,
    /// True while paused: fire times pass without runs (and are not caught up on resume).
    pub paused: bool,
    /// ms since epoch.
    pub create_time: i64,
    /// ms since epoch of the last change by a client (create, pause, resume).
    pub update_time: i64,
    /// The latest fire time handled (run, refused or skipped), ms since epoch; fire times after
    /// it and after `create_time` are due. `None` until the first one.
    pub last_fire_time: Option<i64>,
    /// Why the latest run could not create its task (template no longer valid, tenant gone,
    /// limits); cleared by the next run that creates one.
    pub last_error: Option<ScheduleError>,
    /// Why the scheduler could not handle the schedule lately (a store or queue outage, a record
    /// it cannot read): set at each failed attempt, cleared when a run of the schedule is next
    /// recorded (created or refused) or a scheduler finds nothing of it left due. Absent from
    /// records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<ScheduleFailure>,
    /// Fire times missed while no scheduler ran and not caught up (see the catch-up policy).
    pub skipped_fires: u64,
}

impl ScheduleRecord {
    /// The stored expression and zone parsed again (they were checked when the schedule was
    /// created, so an error here means the stored record was altered or the zone data changed).
    pub fn cron_spec(&self) -> Result<CronSpec, ApiError> {
        CronSpec::parse(&self.cron, &self.time_zone)
    }

    /// The range `[start, end)` (ms since epoch) the run fired at `fire_ms` exports.
    pub fn window_range(&self, fire_ms: i64) -> Result<(i64, i64), ApiError> {
        let spec = self.cron_spec()?;
        self.window.range(fire_ms, spec.zone())
    }

    /// The export-task body of the run fired at `fire_ms`: the template with the window's range
    /// and, when it has none, a `task_name` (see [`task_body`]).
    pub fn task_body(&self, fire_ms: i64) -> Result<Value, ApiError> {
        let spec = self.cron_spec()?;
        let (start, end) = self.window.range(fire_ms, spec.zone())?;
        Ok(task_body(
            &self.template,
            &self.name,
            fire_ms,
            spec.zone(),
            start,
            end,
        ))
    }
}

/// Why a schedule's run created no task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleError {
    /// The fire time, ms since epoch.
    pub fire_time: i64,
    /// The code the API would have answered with (e.g. `StatPort.InvalidParameter`).
    pub error_code: String,
    /// The sentence it would have answered with.
    pub error_msg: String,
}

/// A failed attempt of the scheduler to handle a schedule, kept on the schedule so its tenant
/// sees that (and why) its runs are late; unlike a [`ScheduleError`] it is not the tenant's to
/// fix, and the scheduler tries again by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFailure {
    /// When the latest failed attempt was, ms since epoch.
    pub at: i64,
    /// What failed, as a sentence safe to show the tenant (the details are in the service log).
    pub message: String,
    /// Failed attempts in a row since the schedule's last recorded run (at least 1).
    pub consecutive: u32,
}

impl ScheduleFailure {
    /// The failure after one more failed attempt at `at_ms`: the count goes on from `previous`.
    pub fn next(previous: Option<&ScheduleFailure>, at_ms: i64, message: &str) -> Self {
        ScheduleFailure {
            at: at_ms,
            message: message.to_owned(),
            consecutive: previous.map_or(1, |p| p.consecutive.saturating_add(1)),
        }
    }
}

/// What became of one fire time of one schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRun {
    /// The schedule.
    pub schedule_id: String,
    /// The fire time, ms since epoch.
    pub fire_time: i64,
    /// Where the run is.
    pub state: RunState,
    /// ms since epoch of the last change.
    pub update_time: i64,
}

/// The state of a [`ScheduleRun`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    /// A scheduler took the fire time and is creating its task; another may take it over once
    /// `lease_until` (ms since epoch) has passed (the first crashed).
    Claimed {
        /// The scheduler that holds it.
        owner: String,
        /// ms since epoch.
        lease_until: i64,
    },
    /// The task was created (or an equal task took the request).
    Created {
        /// The task.
        task_id: String,
    },
    /// No task: validation or a limit refused it.
    Refused {
        /// The error the submission answered, shown on the run and as the schedule's `last_error`.
        error: ScheduleError,
    },
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A record as stores kept it before `last_failure` existed.
    fn old_record() -> Value {
        json!({"schedule_id": "s", "tenant_id": "t", "name": "n", "cron": "0 * * * *",
               "time_zone": "UTC", "window": {"unit": "hour", "count": 1, "time_zone": null},
               "template": {}, "paused": false, "create_time": 1, "update_time": 1,
               "last_fire_time": null, "last_error": null, "skipped_fires": 0})
    }

    #[test]
    fn records_without_a_failure_load_and_are_written_as_before() {
        let record: ScheduleRecord = serde_json::from_value(old_record()).expect("an old record");
        assert_eq!(record.last_failure, None);
        assert_eq!(
            serde_json::to_value(&record).expect("encode"),
            old_record(),
            "no failure, no field"
        );
    }

    #[test]
    fn failures_count_in_a_row_and_keep_the_latest_sentence() {
        let first = ScheduleFailure::next(None, 10, "a");
        assert_eq!((first.at, first.consecutive), (10, 1));
        let second = ScheduleFailure::next(Some(&first), 20, "b");
        assert_eq!(
            second,
            ScheduleFailure {
                at: 20,
                message: "b".into(),
                consecutive: 2
            }
        );
        let capped = ScheduleFailure {
            consecutive: u32::MAX,
            ..second
        };
        assert_eq!(
            ScheduleFailure::next(Some(&capped), 30, "c").consecutive,
            u32::MAX
        );
    }
}
