//! `GET /v1/downloads/{tenant}/{task_id}?expires=&signature=`: the signed, expiring link that
//! streams a result file without the `Authorization` header. Each download through a valid link
//! counts against the link's tenant's download limit.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use statport_access::LinkError;
use statport_core::task::TaskStatus;
use statport_core::ErrorCode;
use tokio_util::io::ReaderStream;

use crate::error::{ApiResult, Failure};
use crate::limits::{enforce, Limit};
use crate::AppState;

/// Streams the file behind a valid link.
pub async fn download(
    State(state): State<AppState>,
    Path((tenant, task_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let invalid = || Failure::new(ErrorCode::InvalidLink, "the download link is not valid");
    let expires = params
        .get("expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(invalid)?;
    let signature = params.get("signature").ok_or_else(invalid)?;
    let record = state
        .tasks()
        .get(&tenant, &task_id)
        .await?
        .ok_or_else(invalid)?;
    let key = match (&record.status, &record.file_key) {
        (TaskStatus::Success, Some(key)) => key.clone(),
        _ => return Err(invalid()),
    };
    match state
        .links
        .verify(&tenant, &task_id, &key, expires, signature, state.now_ms())
    {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return Err(Failure::new(
                ErrorCode::InvalidLink,
                "the download link has expired; get a new one from the task",
            ))
        }
        Err(_) => return Err(invalid()),
    }
    if record.file_expired_at.is_some() {
        return Err(Failure::new(
            ErrorCode::FileExpired,
            "the result file of this task was deleted at the end of its retention period; submit the export again",
        ));
    }
    enforce(&state, &tenant, Limit::Download).await?;
    let reader = state
        .submitter
        .objects
        .get(&state.submitter.results_bucket, &key)
        .await?;
    state.metrics.downloads.inc();
    let format = record.condition.export_format;
    let mut response =
        Body::from_stream(ReaderStream::with_capacity(reader.body, 64 * 1024)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = format.content_type().parse() {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = content_disposition(&record.task_name, format.extension()).parse() {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Some(size) = reader.size {
        headers.insert(CONTENT_LENGTH, size.into());
    }
    Ok(response)
}

/// RFC 5987 `attr-char`: what may stay unencoded in `filename*`; everything else is
/// percent-encoded.
const ATTR_CHAR_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The `Content-Disposition` of a result file named after its task (RFC 6266): an ASCII
/// `filename` for old clients (characters it cannot hold become `_`; `export` when nothing
/// readable is left) and the exact UTF-8 name in `filename*` (RFC 5987), which clients prefer.
pub fn content_disposition(task_name: &str, extension: &str) -> String {
    let name = task_name.trim();
    let name = if name.is_empty() { "export" } else { name };
    let fallback: String = name
        .chars()
        .map(|c| {
            // `%` is replaced too: some clients percent-decode `filename`
            if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let fallback = if fallback.chars().any(|c| c.is_ascii_alphanumeric()) {
        fallback
    } else {
        "export".to_owned()
    };
    let encoded = utf8_percent_encode(name, ATTR_CHAR_ENCODE);
    format!(
        "attachment; filename=\"{fallback}.{extension}\"; filename*=UTF-8''{encoded}.{extension}"
    )
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn non_ascii_names_keep_their_utf8_form() {
        assert_eq!(
            content_disposition("流量报表 2026", "csv"),
            "attachment; filename=\"____ 2026.csv\"; filename*=UTF-8''%E6%B5%81%E9%87%8F%E6%8A%A5%E8%A1%A8%202026.csv"
        );
        assert_eq!(
            content_disposition("流量报表", "xlsx"),
            "attachment; filename=\"export.xlsx\"; filename*=UTF-8''%E6%B5%81%E9%87%8F%E6%8A%A5%E8%A1%A8.xlsx",
            "a fallback with nothing readable left is a generic name"
        );
    }

    #[test]
    fn quotes_backslashes_and_percent_cannot_break_out() {
        assert_eq!(
            content_disposition(r#"a"b\c%d;e"#, "json"),
            "attachment; filename=\"a_b_c_d;e.json\"; filename*=UTF-8''a%22b%5Cc%25d%3Be.json"
        );
        assert_eq!(
            content_disposition("line\r\nbreak", "csv"),
            "attachment; filename=\"line__break.csv\"; filename*=UTF-8''line%0D%0Abreak.csv"
        );
    }

    #[test]
    fn empty_and_plain_names() {
        assert_eq!(
            content_disposition("  ", "csv"),
            "attachment; filename=\"export.csv\"; filename*=UTF-8''export.csv"
        );
        assert_eq!(
            content_disposition("reports_detail-20260101", "csv"),
            "attachment; filename=\"reports_detail-20260101.csv\"; filename*=UTF-8''reports_detail-20260101.csv"
        );
    }
}
