//! The port a synchronous origin-volume report runs through: the API validates the request and
//! hands it to an [`OriginVolumeEngine`]; the worker's scan implements it. The API never reads
//! logs itself, and neither side depends on the other.

use std::fmt;

use async_trait::async_trait;

use super::{OriginVolumeRequest, ReportFailure, VolumePoint};

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
