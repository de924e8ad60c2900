//! The statport HTTP API (axum): authentication, validation into typed conditions, task records,
//! queueing, signed downloads and the operations endpoints.
//!
//! # Layout
//! - [`app`]: the router, built from an [`AppState`]; tested without a socket.
//! - [`tasks`]: create / list / get / delete export tasks.
//! - [`download`]: the signed, expiring download link.
//! - [`auth`]: bearer key → [`auth::Tenant`].
//! - [`queue`]: the [`queue::JobQueue`] port and its apalis-redis adapter.
//! - [`view`]: the task object clients see.
//! - [`error`]: the one error body.
//! - [`ops`]: health, readiness, metrics, OpenAPI.
//! - [`ready`]: readiness known ahead of requests, from a background probe.

pub mod auth;
pub mod download;
pub mod error;
pub mod ops;
pub mod queue;
pub mod ready;
pub mod tasks;
pub mod view;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use statport_core::clock::Clock;
use statport_core::task::TaskRecord;
use statport_status::{AdmissionLimits, KeyRing, LinkSigner, TaskStore};
use statport_storage::ObjectStore;

use crate::ops::Metrics;
use crate::queue::JobQueue;
use crate::view::TaskView;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Task records.
    pub tasks: Arc<dyn TaskStore>,
    /// Result files.
    pub objects: Arc<dyn ObjectStore>,
    /// Where accepted tasks go.
    pub queue: Arc<dyn JobQueue>,
    /// API key → tenant.
    pub keys: Arc<KeyRing>,
    /// Signs and checks download links.
    pub links: Arc<LinkSigner>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Bucket holding result files.
    pub results_bucket: String,
    /// Base URL clients reach the API at, for absolute download links (no trailing slash).
    pub public_url: String,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The last known health of Redis and the object store (from the background probe).
    pub readiness: Arc<ready::Readiness>,
}

impl AppState {
    /// The limits a new task of `tenant` is admitted under.
    pub fn admission_limits(&self, _tenant: &str) -> AdmissionLimits {
        AdmissionLimits::default()
    }

    /// The client view of `record`, with a freshly signed link when it succeeded.
    pub fn view(&self, record: TaskRecord) -> TaskView {
        let link = record.file_key.as_ref().map(|key| {
            let signed =
                self.links
                    .sign(&record.tenant_id, &record.task_id, key, self.clock.now_ms());
            format!(
                "{}/v1/downloads/{}/{}?expires={}&signature={}",
                self.public_url, record.tenant_id, record.task_id, signed.expires, signed.signature
            )
        });
        TaskView::new(record, link)
    }
}

/// The API router.
pub fn app(state: AppState) -> Router {
    let tasks = Router::new()
        .route(
            "/v1/cdn/statistics/export-tasks",
            get(tasks::list).post(tasks::create),
        )
        .route(
            "/v1/cdn/statistics/export-tasks/{task_id}",
            get(tasks::get).delete(tasks::delete),
        )
        .route("/v1/downloads/{tenant}/{task_id}", get(download::download));
    tasks
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> error::Failure {
    error::Failure(statport_core::ApiError::new(
        statport_core::ErrorCode::NotFound,
        "there is no such endpoint; see /openapi.json",
    ))
}

#[cfg(test)]
mod tests;
