//! The limits of one request, each named once: the accepted time range, the longest span per
//! granularity, the `top_n` and `logs` bounds, and the per-tenant caps ([`RequestLimits`]).

use serde::{Deserialize, Serialize};

use crate::callback::CallbackSupport;
use crate::log::geo::GeoSupport;
use crate::time::granularity::Granularity;

/// The most rows a `logs` export may ask for (`count`), as in the Tencent CLS seed.
pub const MAX_LOG_ROWS: u64 = 50_000_000;

/// The longest range of a `logs` export, in days.
pub const MAX_LOG_SPAN_DAYS: i64 = 31;

/// The most rows a `top_*_detail` export may ask for (`top_n`).
pub const MAX_TOP_N: u32 = 1000;

/// The rows of a `top_*_detail` export when `top_n` is absent.
pub const DEFAULT_TOP_N: u32 = 100;

/// The longest `task_name`, in characters.
pub const MAX_TASK_NAME_CHARS: usize = 128;

/// Longest range per granularity, in days (only `daily`'s 366 comes from the Wangsu seed; the
/// others keep a file to a sensible size and are documented in the README).
pub fn max_span_days(g: Granularity) -> i64 {
    match g {
        Granularity::FiveMinutes => 31,
        Granularity::Hourly => 186,
        Granularity::Daily { .. } => 366,
        Granularity::Monthly { .. } => 3660,
    }
}

/// The earliest `start_time` / `end_time` accepted: 1970-01-01T00:00:00Z (ms).
pub const MIN_TIME_MS: i64 = 0;

/// The first `start_time` / `end_time` refused: 2100-01-01T00:00:00Z (ms). CDN logs of a
/// statistics service are never older than the epoch nor this far ahead; the bound keeps every
/// time computation far from `i64` overflow.
pub const END_TIME_MS: i64 = 4_102_444_800_000;

/// Size caps on one export request, configurable per tenant.
///
/// The defaults fit the largest request the span rules allow: 100 named domains at 5 minutes over
/// 31 days is 892,800 rows, under the 1,000,000-row default, which itself stays below Excel's
/// 1,048,576 rows per sheet and keeps a worker's aggregate around 30 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLimits {
    /// Most rows one export may make (checked up front when knowable, and by the worker's
    /// bounded aggregate otherwise).
    pub max_rows: u64,
    /// Most entries (hosts and wildcards) in `domain_name`.
    pub max_domains: usize,
    /// Whether an IP database is configured and the tenant's logs state the service area: a
    /// filter or action needing a database that is not there is refused
    /// (`StatPort.IpDatabaseNotConfigured`).
    pub geo: GeoSupport,
    /// Where a `callback_url` may point and whether the tenant can sign callbacks (without a
    /// secret a `callback_url` is refused, `StatPort.CallbackNotConfigured`). Not
    /// configuration: the API fills it in from `[callbacks]` and the tenant.
    #[serde(skip)]
    pub callbacks: CallbackSupport,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_rows: 1_000_000,
            max_domains: 100,
            geo: GeoSupport::default(),
            callbacks: CallbackSupport::default(),
        }
    }
}
