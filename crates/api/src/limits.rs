//! Per-tenant rate limits: every authenticated API call counts against `api:<tenant>`, every
//! download through a valid link against `download:<tenant>` (see [`TenantLimits`] for the
//! numbers), and every refused download link against `refused-link:<client address>`
//! ([`REFUSED_LINKS`]). Over a limit the client gets 429 with `Retry-After` and the JSON body.
//!
//! When the limiter's store (Redis) cannot be reached the call is allowed: an outage of the
//! limiter must not take the API down with it. A warning is logged at most once a minute.

use std::net::IpAddr;
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
    let limits = state.limits(tenant);
    count(state, &limit.key(tenant), limit.rate(limits), |secs| {
        limit.sentence(limits, secs)
    })
    .await
}

/// Refused download links a client address may present: 10 a minute, 20 at once. Beyond that
/// its refused links are answered 429 until the budget refills; valid links from the same
/// address are never held back (an address may be a NAT shared with honest users).
pub const REFUSED_LINKS: Rate = Rate {
    count: 10,
    period_ms: 60_000,
    burst: 20,
};

/// Counts one refused download link of `client` (its peer address; every link without one
/// shares a budget); `Err` (429) when the address is over [`REFUSED_LINKS`].
pub async fn count_refused_link(state: &AppState, client: Option<IpAddr>) -> Result<(), Failure> {
    let key = match client {
        Some(ip) => format!("refused-link:{ip}"),
        None => "refused-link:unknown".to_owned(),
    };
    count(state, &key, REFUSED_LINKS, |secs| {
        format!(
            "too many invalid download links from this address: at most {} a minute; retry in {secs} s",
            REFUSED_LINKS.count
        )
    })
    .await
}

/// Counts one call of `key` against `rate`; `Err` (429, saying `sentence` of the seconds to
/// wait) when over it. Fails open when the limiter cannot be reached.
async fn count(
    state: &AppState,
    key: &str,
    rate: Rate,
    sentence: impl FnOnce(u64) -> String,
) -> Result<(), Failure> {
    if state.readiness.task_store() == crate::ready::Health::Down {
        // Redis (which holds the counters) is known to be away: fail open at once instead of
        // spending a connection attempt on every call.
        return Ok(());
    }
    let now = state.now_ms();
    match state.rate_limiter.check(key, rate, now).await {
        Ok(decision) if decision.allowed => Ok(()),
        Ok(decision) => {
            let secs = decision.retry_after_secs();
            Err(Failure {
                error: ApiError::new(ErrorCode::TooManyRequests, sentence(secs)),
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
