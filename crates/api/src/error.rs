//! One error body for every failure the API answers with.
//!
//! `{"error": {"error_code": "...", "error_msg": "..."}}` with the code's HTTP status. Internal
//! details (Redis, S3 messages) go to the log, never to the client.
//!
//! Our handlers return [`Failure`]. Responses axum and its extractors make themselves (405 from
//! the method router, 413 from the body limit, 400 from a `Path` or `Query` rejection) pass
//! through [`json_errors`], which gives every 4xx/5xx without a JSON body ours, keeping the status
//! and headers such as `Allow`. Request targets longer than [`MAX_URI_BYTES`] are refused by
//! [`limit_uri`] before routing.

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use statport_core::{ApiError, ErrorCode};
use statport_records::StoreError;
use statport_storage::StorageError;
use tracing::error;

/// The longest request target (path and query string) we accept, bytes. hyper itself answers
/// 414 without a body only beyond 65,534 bytes; ours triggers first and answers in JSON.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest request body we read, bytes: a task body is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An [`ApiError`] on its way to the client, with `Retry-After` for 429s.
#[derive(Debug)]
pub struct Failure {
    /// The code and sentence.
    pub error: ApiError,
    /// Seconds for the `Retry-After` header.
    pub retry_after_secs: Option<u64>,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(code, message).into()
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure {
            error,
            retry_after_secs: None,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        statport_submit::submitter::store_unavailable(&e).into()
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        error!(error = %e, "object store failed");
        Failure::new(
            ErrorCode::ServiceUnavailable,
            "the object store is not reachable; try again shortly",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"error_code": self.error.code.as_str(), "error_msg": self.error.message}});
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        response
    }
}

/// The handlers' result type.
pub type ApiResult<T> = Result<T, Failure>;

/// Middleware (`map_request`): refuses a request target longer than [`MAX_URI_BYTES`] with 414.
pub async fn limit_uri(request: Request) -> Result<Request, Failure> {
    let len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI_BYTES {
        return Err(Failure::new(
            ErrorCode::UriTooLong,
            format!(
                "the request path and query string are {len} bytes long; at most {MAX_URI_BYTES} are accepted"
            ),
        ));
    }
    Ok(request)
}

/// Middleware (`map_response`): any 4xx/5xx without a JSON content type becomes our body with a
/// code fitting its status; status and other headers (`Allow`, `Retry-After`) stay.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // axum's rejections explain themselves in a short text body; it is about the client's input
    let detail = match axum::body::to_bytes(body, 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let error = describe(status, &parts.headers, &detail);
    let rendered = Failure::from(error).into_response();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, rendered.into_body())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("application/json") || t.ends_with("+json")
        })
}

/// The code and sentence for a response axum, tower or hyper made without our body.
fn describe(status: StatusCode, headers: &HeaderMap, detail: &str) -> ApiError {
    let detail: String = detail.chars().take(300).collect();
    let with_detail = |sentence: &str| {
        if detail.is_empty() {
            sentence.to_owned()
        } else {
            format!("{sentence}: {detail}")
        }
    };
    let (code, message) = match status.as_u16() {
        400 | 422 => (
            ErrorCode::InvalidParameter,
            with_detail("the request is not valid"),
        ),
        401 => (
            ErrorCode::Unauthorized,
            "send 'Authorization: Bearer <api key>'".to_owned(),
        ),
        404 => (
            ErrorCode::NotFound,
            "there is no such endpoint; see /openapi.json".to_owned(),
        ),
        405 => {
            let allowed = headers
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let message = if allowed.is_empty() {
                "this endpoint does not take that HTTP method".to_owned()
            } else {
                format!("this endpoint does not take that HTTP method; it takes {allowed}")
            };
            (ErrorCode::MethodNotAllowed, message)
        }
        413 => (
            ErrorCode::PayloadTooLarge,
            format!("the request body is too large; at most {MAX_BODY_BYTES} bytes are accepted"),
        ),
        414 => (
            ErrorCode::UriTooLong,
            format!("the request path and query string are too long; at most {MAX_URI_BYTES} bytes are accepted"),
        ),
        415 => (
            ErrorCode::UnsupportedMediaType,
            with_detail("the request body is not in a media type this endpoint reads"),
        ),
        429 => (
            ErrorCode::TooManyRequests,
            "too many requests; retry later".to_owned(),
        ),
        503 => (
            ErrorCode::ServiceUnavailable,
            "the service is not available; try again shortly".to_owned(),
        ),
        s if s >= 500 => {
            error!(status = s, detail = %detail, "internal error without an error body");
            (
                ErrorCode::InternalError,
                "an internal error occurred".to_owned(),
            )
        }
        _ => (
            ErrorCode::BadRequest,
            with_detail(&format!(
                "the request was refused ({})",
                status.canonical_reason().unwrap_or("client error")
            )),
        ),
    };
    ApiError::new(code, message)
}
