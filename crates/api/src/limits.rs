//! Per-tenant rate limits: every authenticated API call counts against `api:<tenant>`, every
//! download through a valid link against `download:<tenant>` (see [`TenantLimits`] for the
//! numbers). Over a limit the client gets 429 with `Retry-After` and the JSON body.
//!
//! When the limiter's store (Redis) cannot be reached the call is allowed: an outage of the
//! limiter must not take the API down with it. A warning is logged at most once a minute.

use std::sync::atomic::{AtomicI64, Ordering};

use statport_core::tenant::{Rate, TenantLimits};
use statport_core::{ApiError, ErrorCode};
use tracing::warn;

use crate::error::Failure;
use crate::AppState;

/// The limit a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Authenticated API calls.
    Api,
    /// Downloads through signed links.
    Download,
}

impl Limit {
    fn key(self, tenant: &str) -> String {
        match self {
            Limit::Api => format!("api:{tenant}"),
            Limit::Download => format!("download:{tenant}"),
        }
    }

    fn rate(self, limits: &TenantLimits) -> Rate {
        match self {
            Limit::Api => limits.api_rate(),
            Limit::Download => limits.download_rate(),
        }
    }

    fn sentence(self, limits: &TenantLimits, retry_after_secs: u64) -> String {
        match self {
            Limit::Api => format!(
                "too many API calls: at most {} per second (bursts of up to {}) per tenant; retry in {retry_after_secs} s",
                limits.api_per_second, limits.api_burst
            ),
            Limit::Download => format!(
                "too many downloads: at most one every {} s per tenant; retry in {retry_after_secs} s",
                limits.download_interval_secs
            ),
        }
    }
}

/// When the last "limiter unreachable" warning was logged, ms (by the state's clock).
static LAST_WARNING_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// Minimum time between two "limiter unreachable" warnings.
const WARNING_INTERVAL_MS: i64 = 60_000;

/// Counts one call of `tenant` against `limit`; `Err` (429) when over it.
pub async fn enforce(state: &AppState, tenant: &str, limit: Limit) -> Result<(), Failure> {
    if state.readiness.task_store() == crate::ready::Health::Down {
        // Redis (which holds the counters) is known to be away: fail open at once instead of
        // spending a connection attempt on every call.
        return Ok(());
    }
    let limits = state.limits(tenant);
    let now = state.now_ms();
    match state
        .rate_limiter
        .check(&limit.key(tenant), limit.rate(limits), now)
        .await
    {
        Ok(decision) if decision.allowed => Ok(()),
        Ok(decision) => {
            let secs = decision.retry_after_secs();
            Err(Failure {
                error: ApiError::new(ErrorCode::TooManyRequests, limit.sentence(limits, secs)),
                retry_after_secs: Some(secs),
            })
        }
        Err(e) => {
            let last = LAST_WARNING_MS.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= WARNING_INTERVAL_MS
                && LAST_WARNING_MS
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                warn!(error = %e, "rate limiter unreachable; allowing calls without limits");
            }
            Ok(())
        }
    }
}
