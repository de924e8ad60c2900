//! Bearer-key authentication: the `Authorization` header names exactly one tenant. Every
//! authenticated call counts against the tenant's API rate limit.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use statport_core::ErrorCode;

use crate::error::Failure;
use crate::limits::{enforce, Limit};
use crate::AppState;

/// The id of the tenant a request acts for (the tenant itself is in the directory); extracting
/// it authenticates the request and counts it against the tenant's API rate limit (429 when
/// over it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub String);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            unauthorized(
                "the Authorization header is missing; send 'Authorization: Bearer <api key>'",
            )
        })?;
        let text = header
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not valid text"))?;
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <api key>'"))?;
        let tenant = state
            .keys
            .tenant_for(key)
            .map(str::to_owned)
            .ok_or_else(|| unauthorized("the API key is not valid"))?;
        enforce(state, &tenant, Limit::Api).await?;
        Ok(Authenticated(tenant))
    }
}

fn unauthorized(message: &str) -> Failure {
    Failure::new(ErrorCode::Unauthorized, message)
}
