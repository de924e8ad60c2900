//! `GET /v1/downloads/{tenant}/{task_id}?expires=&signature=`: the signed, expiring link that
//! streams a result file without the `Authorization` header.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use statport_core::task::TaskStatus;
use statport_core::{ApiError, ErrorCode};
use statport_status::LinkError;
use tokio_util::io::ReaderStream;

use crate::error::{ApiResult, Failure};
use crate::AppState;

/// Streams the file behind a valid link.
pub async fn download(
    State(state): State<AppState>,
    Path((tenant, task_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let invalid = || {
        Failure(ApiError::new(
            ErrorCode::InvalidLink,
            "the download link is not valid",
        ))
    };
    let expires = params
        .get("expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(invalid)?;
    let signature = params.get("signature").ok_or_else(invalid)?;
    let record = state
        .tasks
        .get(&tenant, &task_id)
        .await?
        .ok_or_else(invalid)?;
    let key = match (&record.status, &record.file_key) {
        (TaskStatus::Success, Some(key)) => key.clone(),
        _ => return Err(invalid()),
    };
    match state.links.verify(
        &tenant,
        &task_id,
        &key,
        expires,
        signature,
        state.clock.now_ms(),
    ) {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return Err(Failure(ApiError::new(
                ErrorCode::InvalidLink,
                "the download link has expired; get a new one from the task",
            )))
        }
        Err(_) => return Err(invalid()),
    }
    let reader = state.objects.get(&state.results_bucket, &key).await?;
    state.metrics.downloads.inc();
    let format = record.condition.export_format;
    let filename: String = record
        .task_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut response =
        Body::from_stream(ReaderStream::with_capacity(reader.body, 64 * 1024)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = format.content_type().parse() {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = format!("attachment; filename=\"{filename}.{}\"", format.extension()).parse() {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Some(size) = reader.size {
        headers.insert(CONTENT_LENGTH, size.into());
    }
    Ok(response)
}
