//! `GET /v1/downloads/{tenant}/{task_id}?expires=&kid=&signature=`: the signed, expiring link that
//! streams a result file without the `Authorization` header. Each download through a valid link
//! counts against the link's tenant's download limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use statport_access::{LinkError, PresentedLink};
use statport_core::task::TaskStatus;
use statport_core::ErrorCode;
use tokio_util::io::ReaderStream;

/// The answer to a link that is not valid (malformed, forged, or of a task that has no file).
fn invalid() -> Failure {
    Failure::new(ErrorCode::InvalidLink, "the download link is not valid")
}

/// The link's query parameters, when all three are there and `expires` is a number.
fn presented(params: &HashMap<String, String>) -> Option<PresentedLink<'_>> {
    Some(PresentedLink {
        expires: params.get("expires")?.parse().ok()?,
        key_id: params.get("kid")?,
        signature: params.get("signature")?,
    })
}

use crate::error::{ApiResult, Failure};
use crate::limits::{count_refused_link, enforce, Limit};
use crate::AppState;

/// The peer address of the connection a request came on, when the server was started with
/// connect info (`statport` is; a router driven directly in tests is not).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// Streams the file behind a valid link. The signature is checked first, from the link alone:
/// a refused link reads no record and counts against its address's budget
/// ([`REFUSED_LINKS`](crate::limits::REFUSED_LINKS)).
pub async fn download(
    State(state): State<AppState>,
    Path((tenant, task_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    ClientAddr(client): ClientAddr,
) -> ApiResult<Response> {
    let now = state.now_ms();
    let checked = match presented(&params) {
        Some(link) => {
            state
                .links
                .verify_reloading(&tenant, &task_id, &link, now)
                .await
        }
        None => Err(LinkError::BadSignature),
    };
    if let Err(refused) = checked {
        count_refused_link(&state, client).await?;
        return Err(match refused {
            LinkError::Expired => Failure::new(
                ErrorCode::InvalidLink,
                "the download link has expired; get a new one from the task",
            ),
            LinkError::BadSignature | LinkError::UnknownKey => invalid(),
        });
    }
    let record = state
        .tasks()
        .get(&tenant, &task_id)
        .await?
        .ok_or_else(invalid)?;
    let key = match (&record.status, &record.file_key) {
        (TaskStatus::Success, Some(key)) => key.clone(),
        _ => return Err(invalid()),
    };
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
