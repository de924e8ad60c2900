//! `POST /cdn/report/volOrigin`: the Wangsu CDN Pro origin-volume report, answered synchronously.
//!
//! The query (`startdate`, `enddate`, `type`, `scheme`) and the body (`filters.hostnames`,
//! `filters.serverGroups`) are validated into an `origin_detail` condition
//! ([`OriginVolumeRequest`]); the [`OriginVolumeEngine`] port (the worker's scan, wired in by
//! the binary: this crate never reads logs) reads the tenant's logs within its bounds; the answer is the seed's
//! `{"dataName", "dataUnit", "dataSeries": [{"timestamp", "data"}]}` in megabytes, timestamps in
//! UTC.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use serde_json::Number;
use std::sync::Arc;

use statport_core::origin_volume::server_group::ServerGroups;
use statport_core::origin_volume::{
    megabytes, OriginVolumeEngine, OriginVolumeRequest, ReportFailure, VolumePoint,
};
use statport_core::time::format_rfc3339;
use tracing::{error, info};

use crate::auth::Authenticated;
use crate::error::{ApiResult, Failure};
use crate::AppState;

/// What the report route shares: the engine and the configured server groups.
#[derive(Debug, Clone)]
pub struct OriginVolume {
    /// Runs the reports.
    pub engine: Arc<dyn OriginVolumeEngine>,
    /// Server group name → edge-code prefixes (`[reports.server_groups]`).
    pub server_groups: Arc<ServerGroups>,
}

/// The report as the client sees it (the seed's field names).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginVolumeView {
    /// Always `origin response volume`.
    pub data_name: &'static str,
    /// Always `megabytes` (1,000,000 bytes).
    pub data_unit: &'static str,
    /// One point per interval, zeros included, in time order.
    pub data_series: Vec<PointView>,
}

/// One interval of a [`OriginVolumeView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointView {
    /// The interval's start, RFC 3339 in UTC (`…Z`), whatever the `type`'s offset.
    pub timestamp: String,
    /// Megabytes: an integer when whole, else a decimal with at most six places.
    pub data: Number,
}

impl OriginVolumeView {
    /// The view of the engine's points.
    pub fn new(points: &[VolumePoint]) -> Self {
        OriginVolumeView {
            data_name: "origin response volume",
            data_unit: "megabytes",
            data_series: points
                .iter()
                .map(|p| PointView {
                    timestamp: format_rfc3339(p.start_ms, 0),
                    data: megabytes(p.bytes),
                })
                .collect(),
        }
    }
}

/// The handler: authenticate (and count against the API rate), validate, run, render.
pub async fn vol_origin(
    State(state): State<AppState>,
    Authenticated(tenant): Authenticated,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<Json<OriginVolumeView>> {
    let limits = state.limits(&tenant).request_limits();
    let request =
        OriginVolumeRequest::parse(&pairs, &body, &state.origin_volume.server_groups, &limits)?;
    let started = std::time::Instant::now();
    match state
        .origin_volume
        .engine
        .origin_volume(&tenant, &request)
        .await
    {
        Ok(points) => {
            info!(tenant = %tenant, points = points.len(), elapsed_ms = started.elapsed().as_millis() as u64, "origin-volume report answered");
            Ok(Json(OriginVolumeView::new(&points)))
        }
        Err(failure) => Err(refusal(&tenant, &failure)),
    }
}

/// The client's error for a failed report; internal causes go to the log only.
fn refusal(tenant: &str, failure: &ReportFailure) -> Failure {
    let error = failure.api_error();
    if error.code.http_status() >= 500 && !matches!(failure, ReportFailure::TimedOut { .. }) {
        error!(tenant = %tenant, failure = %failure, "origin-volume report failed");
    } else {
        info!(tenant = %tenant, failure = %failure, "origin-volume report refused");
    }
    Failure {
        error,
        retry_after_secs: matches!(failure, ReportFailure::Busy { .. }).then_some(1),
    }
}
