//! The statport HTTP API (axum): authentication, validation into typed conditions, task records,
//! queueing, signed downloads and the operations endpoints.
//!
//! # Layout
//! - [`app`]: the router, built from an [`AppState`]; tested without a socket.
//! - [`tasks`]: create / list / get / delete export tasks; [`tasks::submit`], the one way a task
//!   is created (the API and the scheduler).
//! - [`schedules`]: create / list / get / pause / resume / delete recurring exports.
//! - [`scheduler`]: the [`scheduler::Scheduler`] that turns fire times into tasks, exactly once
//!   per fire time however many run.
//! - [`origin_volume`]: `POST /cdn/report/volOrigin`, the synchronous Wangsu origin-volume
//!   report, through the core's `OriginVolumeEngine` port (the worker's scan, wired in by the
//!   binary) with the configured server groups.
//! - [`download`]: the signed, expiring download link.
//! - [`auth`]: bearer key → [`auth::Tenant`], counted against the tenant's API rate limit.
//! - [`limits`]: per-tenant rate limits (API calls, downloads) over the
//!   [`RateLimiter`] port, failing open.
//! - The queue: the `statport_queue::JobQueue` port (Redis or SQLite, chosen by the binary)
//!   receives the job of every accepted task.
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
pub mod scheduler;
pub mod schedules;
pub mod tasks;
pub mod view;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{map_request, map_response};
use axum::routing::{get, post};
use axum::Router;
use statport_access::{KeyRing, LinkSigner, RateLimiter};
use statport_core::callback::{AddressPolicy, CallbackSupport};
use statport_core::log::format::LogFormat;
use statport_core::log::geo::GeoSupport;
use statport_core::request::RequestLimits;
use statport_core::task::TaskRecord;
use statport_core::tenant::TenantLimits;
use statport_core::time::clock::Clock;
use statport_queue::JobQueue;
use statport_records::{AdmissionLimits, ScheduleStore, TaskStore};
use statport_storage::ObjectStore;

use crate::ops::Metrics;
use crate::view::TaskView;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where task records live (Redis or SQLite): admission, listing, reading, deletion.
    pub tasks: Arc<dyn TaskStore>,
    /// Recurring exports and the record of their fire times.
    pub schedules: Arc<dyn ScheduleStore>,
    /// Schedules one tenant may have.
    pub max_schedules: usize,
    /// Where result files live: a deleted or evicted task's file is removed from it.
    pub objects: Arc<dyn ObjectStore>,
    /// The job queue every accepted task is pushed onto for a worker.
    pub queue: Arc<dyn JobQueue>,
    /// Authenticates requests: API key → tenant.
    pub keys: Arc<KeyRing>,
    /// Signs download links in task views and checks them on download.
    pub links: Arc<LinkSigner>,
    /// The time tasks are stamped with and links signed at; a fixed clock in tests.
    pub clock: Arc<dyn Clock>,
    /// The bucket result files are written to and downloaded from.
    pub results_bucket: String,
    /// Base URL clients reach the API at, for absolute download links (no trailing slash).
    pub public_url: String,
    /// The API's counters, exported on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The last known health of Redis and the object store (from the background probe).
    pub readiness: Arc<ready::Readiness>,
    /// Each tenant's limits; a tenant not listed has [`TenantLimits::DEFAULT`].
    pub tenants: Arc<HashMap<String, TenantLimits>>,
    /// Counts API calls and downloads per tenant (Redis-backed when several API processes run).
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// The synchronous origin-volume report's engine and server groups.
    pub origin_volume: origin_volume::OriginVolume,
    /// True when an IP database is configured: without it the geography filters and
    /// `isp_detail` are refused (`StatPort.IpDatabaseNotConfigured`).
    pub ip_database: bool,
    /// Each tenant's log format (whether its logs state the service area); a tenant not listed
    /// is read as CloudFront.
    pub log_formats: Arc<HashMap<String, LogFormat>>,
    /// Where completion callbacks may go and which tenants may ask for them.
    pub callbacks: CallbackAccess,
}

/// What the API checks a `callback_url` against: the `[callbacks]` address policy, and the
/// tenants with a callback secret (only they may ask for callbacks, so none goes unsigned).
/// The default allows no tenant.
#[derive(Debug, Clone, Default)]
pub struct CallbackAccess {
    /// The destinations callbacks may reach (`callbacks.allow_private`).
    pub policy: AddressPolicy,
    /// Tenants with a callback secret.
    pub signed_tenants: Arc<HashSet<String>>,
}

impl AppState {
    /// `tenant`'s limits.
    pub fn limits(&self, tenant: &str) -> &TenantLimits {
        self.tenants.get(tenant).unwrap_or(&TenantLimits::DEFAULT)
    }

    /// What a request of `tenant` is validated under: its size limits and the geography this
    /// deployment supports for it.
    pub fn request_limits(&self, tenant: &str) -> RequestLimits {
        let format = self
            .log_formats
            .get(tenant)
            .copied()
            .unwrap_or(LogFormat::Cloudfront);
        RequestLimits {
            geo: GeoSupport::new(self.ip_database, format),
            callbacks: CallbackSupport {
                policy: self.callbacks.policy,
                signed: self.callbacks.signed_tenants.contains(tenant),
            },
            ..self.limits(tenant).request_limits()
        }
    }

    /// The limits a new task of `tenant` is admitted under.
    pub fn admission_limits(&self, tenant: &str) -> AdmissionLimits {
        let limits = self.limits(tenant);
        AdmissionLimits {
            max_kept: usize::try_from(limits.max_kept_tasks).unwrap_or(usize::MAX),
            max_unfinished: usize::try_from(limits.max_unfinished_tasks).unwrap_or(usize::MAX),
        }
    }

    /// The client view of `record`, with a freshly signed link when it succeeded.
    pub fn view(&self, record: TaskRecord) -> TaskView {
        task_view(record, &self.links, &self.public_url, self.clock.now_ms())
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
        .map(|key| {
            let signed = links.sign(&record.tenant_id, &record.task_id, key, now_ms);
            format!(
                "{public_url}/v1/downloads/{}/{}?expires={}&signature={}",
                record.tenant_id, record.task_id, signed.expires, signed.signature
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
