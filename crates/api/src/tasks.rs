//! `/v1/cdn/statistics/export-tasks`: create, list, read and delete export tasks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use statport_core::task::{ExportJob, TaskRecord};
use statport_core::time::format_rfc3339;
use statport_core::{ApiError, ErrorCode, ExportRequest};
use statport_records::{Admission, ListQuery};
use tracing::{error, info};

use crate::auth::Tenant;
use crate::error::{ApiResult, Failure};
use crate::view::TaskView;
use crate::AppState;

/// `POST`: validates the body, admits the task under the tenant's limits (429 past the
/// unfinished limit; the same condition as an existing task takes that task's place, 200;
/// otherwise 201, evicting the oldest finished task past the kept limit) and queues it.
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    if state.readiness.task_store() == crate::ready::Health::Down {
        return Err(Failure::new(
            ErrorCode::ServiceUnavailable,
            "the task store is not reachable; the task was not created, try again shortly",
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedBody,
            format!("the request body is not valid JSON ({e})"),
        )
    })?;
    let (status, record) = submit(&state, &tenant, &value).await?;
    Ok((status, Json(TaskView::new(record, None))))
}

/// Creates a task from a request body `value` of `tenant`, exactly as `POST` does (validation,
/// admission under the tenant's limits, queueing): `201` and the new task, or `200` and the task
/// an equal condition already had. The scheduler creates its tasks through here too, so a
/// scheduled task meets the same rules as a submitted one.
pub async fn submit(
    state: &AppState,
    tenant: &str,
    value: &Value,
) -> Result<(StatusCode, TaskRecord), Failure> {
    let tenant = tenant.to_owned();
    let request = ExportRequest::from_json(value)?;
    let condition = request
        .validate_with(&state.request_limits(&tenant))
        .inspect_err(|_| state.metrics.tasks_rejected.inc())?;
    let now = state.clock.now_ms();
    let task_id = uuid::Uuid::new_v4().simple().to_string();
    let task_name = match request
        .task_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => name.to_string(),
        None => {
            let stamp: String = format_rfc3339(now, 0)
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            format!("{}-{stamp}", condition.action.as_str())
        }
    };
    let record = TaskRecord::waiting(task_id, tenant.clone(), task_name, condition, now);
    let limits = state.admission_limits(&tenant);
    let (record, queue, status, replaced) = match state.tasks.admit(&record, &limits).await? {
        Admission::TooManyUnfinished { unfinished, limit } => {
            state.metrics.tasks_rejected.inc();
            return Err(Failure::new(
                ErrorCode::LimitExceededExport,
                format!("the tenant has {unfinished} unfinished export tasks (waiting or processing) and at most {limit} may be unfinished at once; wait for one to end or delete one"),
            ));
        }
        Admission::Created { record, evicted } => {
            for gone in &evicted {
                info!(task_id = %gone.task_id, tenant = %tenant, "oldest task evicted to stay within the kept-tasks limit");
                delete_file(state, gone).await;
            }
            (record, true, StatusCode::CREATED, None)
        }
        Admission::Replaced {
            record,
            previous,
            requeue,
        } => {
            info!(task_id = %record.task_id, tenant = %tenant, previous = previous.status.as_str(), "same condition: the existing task takes the request");
            (record, requeue, StatusCode::OK, Some(previous))
        }
    };
    if queue {
        let job = ExportJob {
            tenant_id: tenant.clone(),
            task_id: record.task_id.clone(),
        };
        if let Err(e) = state.queue.push(job).await {
            error!(task_id = %record.task_id, error = %e, "queueing the task failed");
            // Leave things as they were: a new task goes, a replaced one gets its old record back.
            let restored = match &replaced {
                Some(previous) => state.tasks.create(previous.as_ref()).await,
                None => state
                    .tasks
                    .delete(&tenant, &record.task_id)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = restored {
                error!(task_id = %record.task_id, error = %e, "undoing the unqueued task failed");
            }
            return Err(Failure::new(
                ErrorCode::ServiceUnavailable,
                "the task queue is not reachable; the task was not created",
            ));
        }
    }
    state.metrics.tasks_created.inc();
    info!(task_id = %record.task_id, tenant = %tenant, action = record.condition.action.as_str(), "task created");
    Ok((status, record))
}

/// `GET` (list): newest `update_time` first, paged by `limit` / `offset`, filtered by `task_id`
/// and `task_name`.
pub async fn list(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut query = ListQuery {
        limit: 10,
        offset: 0,
        task_id: None,
        task_name: None,
    };
    for (key, value) in &params {
        match key.as_str() {
            "limit" => query.limit = parse_limit(value)?,
            "offset" => query.offset = parse_offset(value)?,
            "task_id" => query.task_id = Some(value.clone()).filter(|v| !v.is_empty()),
            "task_name" => query.task_name = Some(value.clone()).filter(|v| !v.is_empty()),
            other => {
                return Err(ApiError::invalid(format!("unknown query parameter '{other}'")).into())
            }
        }
    }
    let page = state.tasks.list(&tenant, &query).await?;
    let data: Vec<TaskView> = page.data.into_iter().map(|r| state.view(r)).collect();
    Ok(Json(json!({"total": page.total, "data": data})))
}

/// The largest page a listing (`GET` of tasks or schedules) returns: its `limit` is 1 to this.
pub const MAX_PAGE_LIMIT: usize = 100;

/// A listing's `limit`: an integer from 1 to [`MAX_PAGE_LIMIT`].
pub(crate) fn parse_limit(value: &str) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "'limit' must be an integer from 1 to {MAX_PAGE_LIMIT}, not '{value}'"
            ))
        })
}

/// A listing's `offset`: a non-negative integer.
pub(crate) fn parse_offset(value: &str) -> Result<usize, ApiError> {
    value.parse::<usize>().map_err(|_| {
        ApiError::invalid(format!(
            "'offset' must be a non-negative integer, not '{value}'"
        ))
    })
}

/// `GET {task_id}`.
pub async fn get(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(task_id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let record = state
        .tasks
        .get(&tenant, &task_id)
        .await?
        .ok_or_else(|| not_found(&task_id))?;
    Ok(Json(state.view(record)))
}

/// `DELETE {task_id}`: removes the task (a running worker stops at its next report) and its file.
pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(task_id): Path<String>,
) -> ApiResult<StatusCode> {
    let record = state
        .tasks
        .delete(&tenant, &task_id)
        .await?
        .ok_or_else(|| not_found(&task_id))?;
    delete_file(&state, &record).await;
    info!(task_id = %task_id, tenant = %tenant, "task deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the result file of a removed task, if it has one (a failure is logged: the file is
/// then an orphan under the results prefix, which holds no other data).
async fn delete_file(state: &AppState, record: &TaskRecord) {
    if let Some(key) = &record.file_key {
        if let Err(e) = state.objects.delete(&state.results_bucket, key).await {
            error!(task_id = %record.task_id, error = %e, "deleting the result file failed");
        }
    }
}

/// 404 for an unknown task, worded the same whether it never existed or is another tenant's.
pub fn not_found(task_id: &str) -> Failure {
    Failure::new(
        ErrorCode::TaskNotFound,
        format!("there is no task '{task_id}'"),
    )
}
