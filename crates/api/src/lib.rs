//! The statport HTTP API (axum): authentication, rate limits, task submission (through the
//! shared `Submitter`), task and schedule records, signed downloads, the synchronous report and
//! the operations endpoints. It holds no scheduler and reads no logs.
//!
//! # Layout
//! - [`app`]: the router, built from an [`AppState`]; tested without a socket.
//! - [`tasks`]: create / list / get / delete export tasks; creation goes through the
//!   `statport_submit::Submitter` every front end (and the scheduler) submits through.
//! - [`schedules`]: create / list / get / pause / resume / delete recurring exports.
//! - [`origin_volume`]: `POST /cdn/report/volOrigin`, the synchronous Wangsu origin-volume
//!   report, through the core's `OriginVolumeEngine` port (the worker's scan, wired in by the
//!   binary) with the configured server groups.
//! - [`download`]: the signed, expiring download link.
//! - [`auth`]: bearer key → [`auth::Authenticated`] (the tenant a request acts for), counted
//!   against the tenant's API rate limit.
//! - [`limits`]: per-tenant rate limits (API calls, downloads) over the
//!   [`RateLimiter`] port, failing open.
//! - [`view`]: the task object clients see; [`task_view`] signs its link (the API's answers
//!   and the completion callbacks' bodies).
//! - [`error`]: the one error body, and the middleware that gives it to every response axum makes
//!   itself (405, 413, rejections) and refuses over-long request targets (414).
//! - [`ops`]: health, readiness, metrics (the API's counters and the completion callbacks'),
//!   OpenAPI.
//! - [`ready`]: readiness known ahead of requests, from a background probe.

pub mod auth;
pub mod download;
pub mod error;
pub mod limits;
pub mod ops;
pub mod origin_volume;
pub mod ready;
pub mod schedules;
pub mod tasks;
pub mod view;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{map_request, map_response};
use axum::routing::{get, post};
use axum::Router;
use statport_access::{KeyRing, LinkSigner, RateLimiter};
use statport_core::request::RequestLimits;
use statport_core::task::TaskRecord;
use statport_core::tenant::TenantLimits;
use statport_records::{ScheduleStore, TaskStore};
use statport_submit::Submitter;

use crate::ops::Metrics;
use crate::view::TaskView;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Creates tasks (validation, admission, queueing) and holds what the other routes share
    /// with it: the task store (listing, reading, deletion), the object store (downloads), the
    /// tenant directory (limits) and the clock (links, rate limits).
    pub submitter: Submitter,
    /// Recurring exports and the record of their fire times.
    pub schedules: Arc<dyn ScheduleStore>,
    /// Schedules one tenant may have.
    pub max_schedules: usize,
    /// Authenticates requests: API key → tenant.
    pub keys: Arc<KeyRing>,
    /// Signs download links in task views and checks them on download.
    pub links: Arc<LinkSigner>,
    /// Base URL clients reach the API at, for absolute download links (no trailing slash).
    pub public_url: String,
    /// The API's counters, exported on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The last known health of Redis and the object store (from the background probe).
    pub readiness: Arc<ready::Readiness>,
    /// Counts API calls and downloads per tenant (Redis-backed when several API processes run).
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// The synchronous origin-volume report's engine and server groups.
    pub origin_volume: origin_volume::OriginVolume,
}

impl AppState {
    /// `tenant`'s limits ([`TenantLimits::DEFAULT`] for a tenant not configured).
    pub fn limits(&self, tenant: &str) -> &TenantLimits {
        self.submitter.tenants.limits(tenant)
    }

    /// What a request of `tenant` is validated under (tasks, and schedules' templates).
    pub fn request_limits(&self, tenant: &str) -> RequestLimits {
        self.submitter.request_limits(tenant)
    }

    /// The task store behind listing, reading and deletion.
    pub fn tasks(&self) -> &dyn TaskStore {
        self.submitter.tasks.as_ref()
    }

    /// The time tasks are stamped with, links signed at and rate limits counted by.
    pub fn now_ms(&self) -> i64 {
        self.submitter.clock.now_ms()
    }

    /// The client view of `record`, with a freshly signed link when it succeeded (the link
    /// keys are loaded first when this process has none yet; without them the view has no
    /// link).
    pub async fn view(&self, record: TaskRecord) -> TaskView {
        let now = self.now_ms();
        self.links.ensure_loaded(now).await;
        task_view(record, &self.links, &self.public_url, now)
    }
}

/// The client view of `record` at `now_ms`, with a link signed by `links` under `public_url`
/// when it succeeded: what `GET …/export-tasks/{id}` answers, and what a completion callback
/// carries (the callbacks build it outside the API, so it is not tied to an [`AppState`]).
pub fn task_view(
    record: TaskRecord,
    links: &LinkSigner,
    public_url: &str,
    now_ms: i64,
) -> TaskView {
    let link = record
        .file_key
        .as_ref()
        .filter(|_| record.file_expired_at.is_none())
        .and_then(|_| links.sign(&record.tenant_id, &record.task_id, now_ms))
        .map(|signed| {
            format!(
                "{public_url}/v1/downloads/{}/{}?expires={}&kid={}&signature={}",
                record.tenant_id, record.task_id, signed.expires, signed.key_id, signed.signature
            )
        });
    TaskView::new(record, link)
}

/// The API router. Every error it answers with, its own or axum's, carries the JSON error body;
/// request bodies are limited to [`error::MAX_BODY_BYTES`], request targets to
/// [`error::MAX_URI_BYTES`].
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/v1/cdn/statistics/export-tasks",
            get(tasks::list).post(tasks::create),
        )
        .route(
            "/v1/cdn/statistics/export-tasks/{task_id}",
            get(tasks::get).delete(tasks::delete),
        )
        .route(
            "/v1/cdn/statistics/export-schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/v1/cdn/statistics/export-schedules/{schedule_id}",
            get(schedules::get).delete(schedules::delete),
        )
        .route(
            "/v1/cdn/statistics/export-schedules/{schedule_id}/pause",
            post(schedules::pause),
        )
        .route(
            "/v1/cdn/statistics/export-schedules/{schedule_id}/resume",
            post(schedules::resume),
        )
        .route("/v1/downloads/{tenant}/{task_id}", get(download::download))
        .route("/cdn/report/volOrigin", post(origin_volume::vol_origin))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(error::MAX_BODY_BYTES))
        .with_state(state);
    // `Router::layer` wraps each method handler separately, before the method router adds
    // `Allow` to its 405s; wrapping the whole router as one service sees the finished response.
    Router::new()
        .fallback_service(routes)
        .layer(map_request(error::limit_uri))
        .layer(map_response(error::json_errors))
}

async fn not_found() -> error::Failure {
    error::Failure::new(
        statport_core::ErrorCode::NotFound,
        "there is no such endpoint; see /openapi.json",
    )
}

#[cfg(test)]
mod tests;
