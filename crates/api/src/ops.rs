//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use statport_core::log::query::MAX_QUERY_LENGTH;
use statport_core::request::{MAX_LOG_ROWS, MAX_TOP_N};

pub use statport_submit::Counter;
use statport_submit::SubmitCounts;

use crate::tasks::MAX_PAGE_LIMIT;
use crate::AppState;

/// The process's counters (the API's, and the completion callbacks' of its workers), rendered
/// in Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Tasks accepted and refused, counted by the submitter this process's API and scheduler
    /// share.
    pub submissions: Arc<SubmitCounts>,
    /// Files served through download links.
    pub downloads: Counter,
    /// Completion callbacks the receiver accepted (2xx).
    pub callbacks_delivered: Counter,
    /// Callback attempts that failed and will be tried again.
    pub callbacks_retried: Counter,
    /// Callbacks given up (attempts exhausted, a refused address, no secret any more).
    pub callbacks_failed: Counter,
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: Redis and the object store answered their last probe (the background probe
/// runs every second, so this answers at once even while a dependency hangs). It needs no key,
/// so each dependency shows only `ok`, `unavailable` or `not checked yet`; the cause is logged.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let r = &state.readiness;
    let ok = r.is_ready();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"ready": ok, "task_store": r.describe_task_store(), "object_store": r.describe_object_store()}),
        ),
    )
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let body = format!(
        "# HELP statport_tasks_created_total Export tasks accepted.\n# TYPE statport_tasks_created_total counter\nstatport_tasks_created_total {}\n\
         # HELP statport_tasks_rejected_total Export task requests refused by validation.\n# TYPE statport_tasks_rejected_total counter\nstatport_tasks_rejected_total {}\n\
         # HELP statport_downloads_total Result files served.\n# TYPE statport_downloads_total counter\nstatport_downloads_total {}\n\
         # HELP statport_callbacks_total Completion callback attempts by result: delivered (2xx), retried (failed, tried again), failed (given up).\n# TYPE statport_callbacks_total counter\n\
         statport_callbacks_total{{result=\"delivered\"}} {}\nstatport_callbacks_total{{result=\"retried\"}} {}\nstatport_callbacks_total{{result=\"failed\"}} {}\n",
        m.submissions.created.get(),
        m.submissions.rejected.get(),
        m.downloads.get(),
        m.callbacks_delivered.get(),
        m.callbacks_retried.get(),
        m.callbacks_failed.get()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// `GET /openapi.json`: a summary of the contract (the full reference is `docs/API.md`).
pub async fn openapi() -> Json<Value> {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let task = json!({"$ref": "#/components/schemas/Task"});
    let id =
        json!({"name": "task_id", "in": "path", "required": true, "schema": {"type": "string"}});
    let limited = json!({"description": "over the tenant's rate limit; see Retry-After",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": error}}});
    let schedule = json!({"$ref": "#/components/schemas/Schedule"});
    let sid = json!({"name": "schedule_id", "in": "path", "required": true, "schema": {"type": "string"}});
    let other = json!({"description": "any other error (400, 401, 405, 413, 414, 5xx), same body",
        "content": {"application/json": {"schema": error}}});
    Json(json!({
        "openapi": "3.0.3",
        "info": {"title": "statport", "version": env!("CARGO_PKG_VERSION"), "description": "CDN log statistics exports"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "error_code": {"type": "string"}, "error_msg": {"type": "string"}}}}},
                "Task": {"type": "object", "properties": {
                    "task_id": {"type": "string"}, "task_name": {"type": "string"}, "action": {"type": "string"},
                    "status": {"type": "string", "enum": ["waiting", "processing", "success", "fail"]},
                    "progress": {"type": "integer"}, "export_count": {"type": "integer"}, "export_format": {"type": "string"},
                    "create_time": {"type": "integer"}, "update_time": {"type": "integer"}, "end_time": {"type": "integer"},
                    "file_size": {"type": "integer"}, "download_link": {"type": "string"}, "error": {"type": "object"},
                    "read_lines": {"type": "integer"}, "skipped_lines": {"type": "integer"}, "condition": {"type": "object"}}},
                "CreateTask": {"type": "object", "required": ["domain_name", "start_time", "end_time"], "properties": {
                    "task_name": {"type": "string"}, "action": {"type": "string"}, "domain_name": {"type": "string"},
                    "start_time": {"type": "integer"}, "end_time": {"type": "integer"}, "interval": {"type": "integer", "enum": [300, 3600, 86400]},
                    "granularity": {"type": "string"}, "group_by": {"type": "string"}, "stat_type": {"type": "string", "enum": ["flux", "req_num"]},
                    "service_area": {"type": "string"}, "scheme": {"type": "string", "enum": ["http", "https", "all"]},
                    "country": {"type": "string"}, "province": {"type": "string"}, "isp": {"type": "string"},
                    "top_n": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_N},
                    "query": {"type": "string", "maxLength": MAX_QUERY_LENGTH, "description": "logs: a Lucene-style query over the log fields"},
                    "count": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_ROWS, "description": "logs: the most rows written"},
                    "order": {"type": "string", "enum": ["asc", "desc"], "description": "logs: by time, desc by default"},
                    "export_format": {"type": "string", "enum": ["csv", "json", "xlsx", "xls"]}, "language": {"type": "string", "enum": ["zh", "en"]},
                    "callback_url": {"type": "string", "description": "POSTed the final task object, signed (X-Statport-Signature)"}}},
                "Window": {"type": "object", "required": ["unit"], "properties": {
                    "unit": {"type": "string", "enum": ["hour", "day", "week", "month"]},
                    "count": {"type": "integer", "minimum": 1}, "time_zone": {"type": "string"}}},
                "CreateSchedule": {"type": "object", "required": ["name", "cron", "window", "task"], "properties": {
                    "name": {"type": "string"}, "cron": {"type": "string"}, "time_zone": {"type": "string"},
                    "window": {"$ref": "#/components/schemas/Window"},
                    "task": {"type": "object", "description": "an export-task body without start_time / end_time"},
                    "paused": {"type": "boolean"}}},
                "Schedule": {"type": "object", "properties": {
                    "schedule_id": {"type": "string"}, "name": {"type": "string"}, "cron": {"type": "string"},
                    "time_zone": {"type": "string"}, "window": {"$ref": "#/components/schemas/Window"}, "task": {"type": "object"},
                    "paused": {"type": "boolean"}, "create_time": {"type": "integer"}, "update_time": {"type": "integer"},
                    "last_fire_time": {"type": "integer"}, "next_runs": {"type": "array", "items": {"type": "object"}},
                    "last_error": {"type": "object"}, "last_failure": {"type": "object", "description": "{at, message, consecutive}: the scheduler's latest failed attempts at the schedule, until a run is recorded or nothing is left due"},
                    "skipped_fires": {"type": "integer"},
                    "runs": {"type": "array", "items": {"type": "object"}}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/cdn/statistics/export-tasks": {
                "post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateTask"}}}},
                         "responses": {"201": {"content": {"application/json": {"schema": task}}}, "429": limited, "default": other}},
                "get": {"parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "task_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "task_name", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "{total, data: [task]}"}, "429": limited, "default": other}}
            },
            "/v1/cdn/statistics/export-tasks/{task_id}": {
                "get": {"parameters": [id], "responses": {"200": {"content": {"application/json": {"schema": task}}}, "404": {"content": {"application/json": {"schema": error}}}, "429": limited, "default": other}},
                "delete": {"parameters": [id], "responses": {"204": {"description": "deleted"}, "404": {"content": {"application/json": {"schema": error}}}, "429": limited, "default": other}}
            },
            "/v1/cdn/statistics/export-schedules": {
                "post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateSchedule"}}}},
                         "responses": {"201": {"content": {"application/json": {"schema": schedule}}}, "429": limited, "default": other}},
                "get": {"parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {"200": {"description": "{total, data: [schedule]}"}, "429": limited, "default": other}}
            },
            "/v1/cdn/statistics/export-schedules/{schedule_id}": {
                "get": {"parameters": [sid], "responses": {"200": {"content": {"application/json": {"schema": schedule}}}, "404": {"content": {"application/json": {"schema": error}}}, "default": other}},
                "delete": {"parameters": [sid], "responses": {"204": {"description": "deleted"}, "404": {"content": {"application/json": {"schema": error}}}, "default": other}}
            },
            "/v1/cdn/statistics/export-schedules/{schedule_id}/pause": {"post": {"parameters": [sid], "responses": {"200": {"content": {"application/json": {"schema": schedule}}}, "default": other}}},
            "/v1/cdn/statistics/export-schedules/{schedule_id}/resume": {"post": {"parameters": [sid], "responses": {"200": {"content": {"application/json": {"schema": schedule}}}, "default": other}}},
            "/v1/downloads/{tenant}/{task_id}": {"get": {"security": [], "description": "signed, expiring link from a task's download_link", "responses": {"200": {"description": "the file"}, "403": {"content": {"application/json": {"schema": error}}}, "429": limited, "default": other}}},
            "/cdn/report/volOrigin": {"post": {"description": "synchronous origin-volume report (Wangsu CDN Pro): megabytes of back-to-origin traffic per interval",
                "parameters": [
                    {"name": "startdate", "in": "query", "required": true, "schema": {"type": "string", "format": "date-time"}},
                    {"name": "enddate", "in": "query", "required": true, "schema": {"type": "string", "format": "date-time"}},
                    {"name": "type", "in": "query", "required": true, "schema": {"type": "string"}, "description": "fiveminutes, hourly, daily[+-H], monthly[+-H]"},
                    {"name": "scheme", "in": "query", "schema": {"type": "string", "enum": ["http", "https", "all"]}}],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"filters": {"type": "object", "properties": {
                    "hostnames": {"type": "array", "items": {"type": "string"}}, "serverGroups": {"type": "array", "items": {"type": "string"}}}}}}}}},
                "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                    "dataName": {"type": "string"}, "dataUnit": {"type": "string"}, "dataSeries": {"type": "array", "items": {"type": "object", "properties": {
                        "timestamp": {"type": "string"}, "data": {"type": "number"}}}}}}}}}, "429": limited, "default": other}}},
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "up"}}}},
            "/readyz": {"get": {"security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "not ready; task_store and object_store each say ok, unavailable or not checked yet (the cause is in the service's log)"}}}},
            "/metrics": {"get": {"security": [], "responses": {"200": {"description": "Prometheus text"}}}}
        }
    }))
}
