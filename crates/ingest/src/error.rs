//! One error body for every failure the API answers with.
//!
//! `{"error": {"error_code": "...", "error_msg": "..."}}` with the code's HTTP status. Internal
//! details (Redis, S3 messages) go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use statport_core::{ApiError, ErrorCode};
use statport_status::StatusError;
use statport_storage::StorageError;
use tracing::error;

/// An [`ApiError`] on its way to the client.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl From<StatusError> for Failure {
    fn from(e: StatusError) -> Self {
        error!(error = %e, "status store failed");
        Failure(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the task store is not reachable; try again shortly",
        ))
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        error!(error = %e, "object store failed");
        Failure(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the object store is not reachable; try again shortly",
        ))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"error": {"error_code": self.0.code.as_str(), "error_msg": self.0.message}});
        (status, Json(body)).into_response()
    }
}

/// The handlers' result type.
pub type ApiResult<T> = Result<T, Failure>;
