//! `/v1/cdn/statistics/export-schedules`: create, list, read, pause, resume and delete
//! recurring exports. The scheduler ([`crate::scheduler`]) turns their fire times into tasks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use statport_core::schedule::{
    task_body, RelativeWindow, RunState, ScheduleError, ScheduleFailure, ScheduleRecord,
    ScheduleRequest, ScheduleRun,
};
use statport_core::time::format_rfc3339;
use statport_core::{ApiError, ErrorCode, ExportRequest};
use tracing::info;

use crate::auth::Authenticated;
use crate::error::{ApiResult, Failure};
use crate::AppState;

/// Fire times a schedule view shows ahead.
const NEXT_FIRES_SHOWN: usize = 5;

/// Runs a single-schedule view shows (the store keeps the latest 100).
const RUNS_SHOWN: usize = 20;

/// The API view of a schedule.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// The id clients read, pause, resume and delete the schedule by.
    pub schedule_id: String,
    /// The client's name for the schedule, shown in listings.
    pub name: String,
    /// The cron expression as sent.
    pub cron: String,
    /// The zone it is read in.
    pub time_zone: String,
    /// The range each run exports, relative to its fire time.
    pub window: RelativeWindow,
    /// The task body each run submits (without `start_time` / `end_time`).
    pub task: Value,
    /// True while paused.
    pub paused: bool,
    /// When the schedule was created, ms since the epoch (the first fire time handled is after it).
    pub create_time: i64,
    /// When the schedule last changed (created, paused, resumed, or a run recorded), ms since the epoch.
    pub update_time: i64,
    /// The latest fire time handled, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fire_time: Option<i64>,
    /// The next fire times with the range each would export (none while paused).
    pub next_runs: Vec<NextRun>,
    /// Why the latest run created no task, until a run creates one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ScheduleError>,
    /// Why the scheduler could not handle the schedule lately (an outage on the service's side,
    /// tried again by itself), until a run of it is next recorded or nothing of it is left due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<ScheduleFailure>,
    /// Fire times missed while no scheduler ran and not caught up.
    pub skipped_fires: u64,
    /// The latest runs, newest first (the single-schedule view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RunView>>,
}

/// A coming fire time and the range its task will export.
#[derive(Debug, Clone, Serialize)]
pub struct NextRun {
    /// When the run fires, ms since the epoch.
    pub fire_time: i64,
    /// The fire time in RFC 3339, in the schedule's zone offset.
    pub fire_time_text: String,
    /// ms, the task's `start_time`.
    pub start_time: i64,
    /// ms, the task's `end_time`.
    pub end_time: i64,
}

/// One fire time and what it became.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// The fire time this run is for, ms since the epoch (one run per fire time).
    pub fire_time: i64,
    /// `claimed` (its task is being created), `created` or `refused`.
    pub state: &'static str,
    /// The task it created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Why it created none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ScheduleError>,
}

impl RunView {
    fn new(run: ScheduleRun) -> Self {
        match run.state {
            RunState::Claimed { .. } => RunView {
                fire_time: run.fire_time,
                state: "claimed",
                task_id: None,
                error: None,
            },
            RunState::Created { task_id } => RunView {
                fire_time: run.fire_time,
                state: "created",
                task_id: Some(task_id),
                error: None,
            },
            RunState::Refused { error } => RunView {
                fire_time: run.fire_time,
                state: "refused",
                task_id: None,
                error: Some(error),
            },
        }
    }
}

/// The next fire times of `record` after `now_ms`, with their ranges; empty while paused or when
/// the stored expression no longer parses.
fn next_runs(record: &ScheduleRecord, now_ms: i64) -> Vec<NextRun> {
    if record.paused {
        return Vec::new();
    }
    let Ok(spec) = record.cron_spec() else {
        return Vec::new();
    };
    let after = record
        .last_fire_time
        .unwrap_or(record.create_time)
        .max(now_ms);
    spec.next_fire_times(after, NEXT_FIRES_SHOWN)
        .into_iter()
        .filter_map(|fire| {
            let (start_time, end_time) = record.window.range(fire, spec.zone()).ok()?;
            Some(NextRun {
                fire_time: fire,
                fire_time_text: spec.local_rfc3339(fire),
                start_time,
                end_time,
            })
        })
        .collect()
}

/// The client view of `record`, with `runs` when given.
pub fn view(record: ScheduleRecord, now_ms: i64, runs: Option<Vec<ScheduleRun>>) -> ScheduleView {
    let next_runs = next_runs(&record, now_ms);
    ScheduleView {
        schedule_id: record.schedule_id,
        name: record.name,
        cron: record.cron,
        time_zone: record.time_zone,
        window: record.window,
        task: record.template,
        paused: record.paused,
        create_time: record.create_time,
        update_time: record.update_time,
        last_fire_time: record.last_fire_time,
        next_runs,
        last_error: record.last_error,
        last_failure: record.last_failure,
        skipped_fires: record.skipped_fires,
        runs: runs.map(|r| r.into_iter().map(RunView::new).collect()),
    }
}

/// `ScheduleNotFound` for `schedule_id`.
pub fn not_found(schedule_id: &str) -> Failure {
    Failure::new(
        ErrorCode::ScheduleNotFound,
        format!("the export schedule '{schedule_id}' does not exist"),
    )
}

/// `POST`: validates the schedule (cron, zone, window) and its task template (as the task of
/// its next fire time would be validated), then stores it: `201` with the schedule and its next
/// fire times; `429 LimitExceeded.Schedule` past the tenant's schedule limit.
pub async fn create(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedBody,
            format!("the request body is not valid JSON ({e})"),
        )
    })?;
    let valid = ScheduleRequest::from_json(&value)?.validate()?;
    let now = state.now_ms();
    // The template must make a valid task: check it as the next fire time's task.
    let fire = valid
        .spec
        .next_fire_times(now, 1)
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "the cron expression '{}' does not fire in the next five years",
                valid.cron
            ))
        })?;
    let zone = valid.spec.zone();
    let (start, end) = valid.window.range(fire, zone)?;
    let body = task_body(&valid.template, &valid.name, fire, zone, start, end);
    ExportRequest::from_json(&body)
        .and_then(|r| r.validate_with(&state.request_limits(&tenant)))
        .map_err(|e| {
            ApiError::new(
                e.code,
                format!(
                    "task: {} (checked as the task of the next fire time, {}, exporting {} to {})",
                    e.message,
                    valid.spec.local_rfc3339(fire),
                    format_rfc3339(start, 0),
                    format_rfc3339(end, 0)
                ),
            )
        })?;
    let record = valid.into_record(
        uuid::Uuid::new_v4().simple().to_string(),
        tenant.clone(),
        now,
    );
    if !state.schedules.create(&record, state.max_schedules).await? {
        return Err(Failure::new(
            ErrorCode::LimitExceededSchedule,
            format!(
                "the tenant has {} export schedules, the most it may have; delete one first",
                state.max_schedules
            ),
        ));
    }
    info!(schedule_id = %record.schedule_id, tenant = %tenant, cron = %record.cron, zone = %record.time_zone, "schedule created");
    Ok((StatusCode::CREATED, Json(view(record, now, None))))
}

/// `GET` (list): newest first, paged by `limit` (1–100, default 10) and `offset`.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut limit = 10usize;
    let mut offset = 0usize;
    for (key, value) in &params {
        match key.as_str() {
            "limit" => limit = crate::tasks::parse_limit(value)?,
            "offset" => offset = crate::tasks::parse_offset(value)?,
            other => {
                return Err(ApiError::invalid(format!("unknown query parameter '{other}'")).into())
            }
        }
    }
    let now = state.now_ms();
    let (total, page) = state.schedules.list(&tenant, limit, offset).await?;
    let data: Vec<ScheduleView> = page.into_iter().map(|r| view(r, now, None)).collect();
    Ok(Json(json!({"total": total, "data": data})))
}

/// `GET {schedule_id}`: the schedule, its next fire times and its latest runs.
pub async fn get(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Path(schedule_id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let record = state
        .schedules
        .get(&tenant, &schedule_id)
        .await?
        .ok_or_else(|| not_found(&schedule_id))?;
    let runs = state
        .schedules
        .runs(&tenant, &schedule_id, RUNS_SHOWN)
        .await?;
    Ok(Json(view(record, state.now_ms(), Some(runs))))
}

/// `POST {schedule_id}/pause`: fire times pass without runs until resumed.
pub async fn pause(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Path(schedule_id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    set_paused(&state, &tenant, &schedule_id, true).await
}

/// `POST {schedule_id}/resume`: runs again from the next fire time (those that passed while
/// paused are not caught up).
pub async fn resume(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Path(schedule_id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    set_paused(&state, &tenant, &schedule_id, false).await
}

async fn set_paused(
    state: &AppState,
    tenant: &str,
    schedule_id: &str,
    paused: bool,
) -> ApiResult<Json<ScheduleView>> {
    let now = state.now_ms();
    let record = state
        .schedules
        .set_paused(tenant, schedule_id, paused, now)
        .await?
        .ok_or_else(|| not_found(schedule_id))?;
    info!(schedule_id = %schedule_id, tenant = %tenant, paused, "schedule paused or resumed");
    Ok(Json(view(record, now, None)))
}

/// `DELETE {schedule_id}`: removes the schedule and its run records; tasks it created stay.
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Path(schedule_id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .schedules
        .delete(&tenant, &schedule_id)
        .await?
        .ok_or_else(|| not_found(&schedule_id))?;
    info!(schedule_id = %schedule_id, tenant = %tenant, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}
