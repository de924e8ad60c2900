//! The memory bounds of the partial results that turn approximate past them ([`SketchLimits`]):
//! a worker setting read by the top lists and the distinct counts.

use serde::{Deserialize, Serialize};

/// Memory bounds of the partial results that turn approximate past them (a worker setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SketchLimits {
    /// Distinct keys a top-list task counts exactly; past it, Space-Saving with this many
    /// counters.
    pub top_keys: u32,
    /// Distinct IPs one `uv` interval (per domain) counts exactly before it becomes an
    /// estimate.
    pub uv_exact_per_interval: u32,
    /// Distinct IPs all exact `uv` intervals of one task hold together before the interval
    /// that crosses it becomes an estimate.
    pub uv_exact_per_task: u64,
}

impl Default for SketchLimits {
    fn default() -> Self {
        SketchLimits {
            top_keys: 200_000,
            uv_exact_per_interval: 100_000,
            uv_exact_per_task: 2_000_000,
        }
    }
}
