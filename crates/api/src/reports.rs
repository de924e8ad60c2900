//! The port the synchronous reports run through: the API validates a report request and hands
//! it to an [`OriginVolumeEngine`], which reads the tenant's logs (the worker's scan, wired in by
//! the binary) and answers with one point per interval. The API crate never reads logs itself.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use statport_core::origin_volume::server_group::ServerGroups;
use statport_core::origin_volume::{OriginVolumeRequest, ReportFailure, VolumePoint};
/// Computes an origin-volume report over a tenant's logs, within the engine's own bounds
/// (bytes read, wall time, reports at once), which it reports as [`ReportFailure`]s.
#[async_trait]
pub trait OriginVolumeEngine: Send + Sync + fmt::Debug {
    /// The origin bytes of every interval of `request.condition`, in time order, zeros
    /// included, for `tenant`'s log source.
    async fn origin_volume(
        &self,
        tenant: &str,
        request: &OriginVolumeRequest,
    ) -> Result<Vec<VolumePoint>, ReportFailure>;
}

/// What the report routes share: the engine and the configured server groups.
#[derive(Debug, Clone)]
pub struct Reports {
    /// Runs the reports.
    pub engine: Arc<dyn OriginVolumeEngine>,
    /// Server group name → edge-code prefixes (`[reports.server_groups]`).
    pub server_groups: Arc<ServerGroups>,
}
