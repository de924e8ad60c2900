//! `/v1/cdn/statistics/export-tasks`: create, list, read and delete export tasks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use statport_core::{ApiError, ErrorCode};
use statport_records::ListQuery;
use statport_submit::Submitted;
use tracing::info;

use crate::auth::Authenticated;
use crate::error::{ApiResult, Failure};
use crate::view::TaskView;
use crate::AppState;

/// `POST`: submits the body through the [`Submitter`](statport_submit::Submitter), which
/// validates it, admits the task under the tenant's limits (429 past the unfinished limit; the
/// same condition as an existing task takes that task's place, 200; otherwise 201, evicting the
/// oldest finished task past the kept limit) and queues it.
pub async fn create(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
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
    let submitted = state.submitter.submit(&tenant, &value).await?;
    let status = match &submitted {
        Submitted::Created(_) => StatusCode::CREATED,
        Submitted::Existing(_) => StatusCode::OK,
    };
    Ok((status, Json(TaskView::new(submitted.into_record(), None))))
}

/// `GET` (list): newest `update_time` first, paged by `limit` / `offset`, filtered by `task_id`
/// and `task_name`.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
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
    let page = state.tasks().list(&tenant, &query).await?;
    let mut data: Vec<TaskView> = Vec::with_capacity(page.data.len());
    for record in page.data {
        data.push(state.view(record).await);
    }
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
    Authenticated(tenant): Authenticated,
    Path(task_id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let record = state
        .tasks()
        .get(&tenant, &task_id)
        .await?
        .ok_or_else(|| not_found(&task_id))?;
    Ok(Json(state.view(record).await))
}

/// `DELETE {task_id}`: removes the task (a running worker stops at its next report) and its file.
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Path(task_id): Path<String>,
) -> ApiResult<StatusCode> {
    let record = state
        .tasks()
        .delete(&tenant, &task_id)
        .await?
        .ok_or_else(|| not_found(&task_id))?;
    state.submitter.delete_result_file(&record).await;
    info!(task_id = %task_id, tenant = %tenant, "task deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// 404 for an unknown task, worded the same whether it never existed or is another tenant's.
pub fn not_found(task_id: &str) -> Failure {
    Failure::new(
        ErrorCode::TaskNotFound,
        format!("there is no task '{task_id}'"),
    )
}
