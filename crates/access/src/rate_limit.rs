//! Rate limits that hold across every API process: the generic cell rate algorithm (GCRA) over a
//! [`Rate`], behind the [`RateLimiter`] port.
//!
//! GCRA keeps one number per key, the *theoretical arrival time* (TAT): when the key would be
//! back to an empty bucket if calls kept coming at the sustained rate. A call at `now` moves the
//! TAT one emission interval on; it is refused when that would put the TAT more than the burst
//! tolerance ahead of `now`, and then it must wait until the TAT has fallen back by the
//! difference. See [`Rate`] for what the numbers mean in practice.
//!
//! Two implementations, one conformance suite (`rate_limit/tests.rs`):
//! - [`RedisRateLimiter`]: one Lua script per call, so processes sharing a Redis share the limit.
//!   A key lives under `<namespace>:rate:<key>` and expires (`PX`) once its TAT has passed, so an
//!   idle tenant leaves no key behind.
//! - [`MemoryRateLimiter`]: the same arithmetic in one process (tests, the embedded mode).
//!
//! The caller passes `now_ms` from its [`Clock`](statport_core::time::clock::Clock), so tests are
//! deterministic and every process measures time the same way.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex};

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use statport_core::tenant::Rate;

/// Why a limiter could not decide: its store (Redis) did not answer. The API then lets the call
/// through, so an outage of the limiter never takes the API down with it.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter store unreachable: {0}")]
pub struct LimiterError(pub String);

impl From<redis::RedisError> for LimiterError {
    fn from(e: redis::RedisError) -> Self {
        LimiterError(e.to_string())
    }
}

/// The answer to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// True when the call may go ahead (and was counted).
    pub allowed: bool,
    /// When refused: ms until the same call would be allowed; 0 when allowed.
    pub retry_after_ms: i64,
}

impl Decision {
    /// The call may go ahead and was counted: what a limiter answers under its rate, and what a
    /// caller that fails open uses when the limiter cannot be reached.
    pub const ALLOWED: Decision = Decision {
        allowed: true,
        retry_after_ms: 0,
    };

    /// The `Retry-After` value: whole seconds, rounded up, at least 1 when refused.
    pub fn retry_after_secs(&self) -> u64 {
        if self.allowed {
            return 0;
        }
        let ms = u64::try_from(self.retry_after_ms.max(1)).unwrap_or(1);
        ms.div_ceil(1000)
    }
}

/// Counts calls per key against a [`Rate`]; one key per tenant and limit (`api:<tenant>`).
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Counts one call of `key` at `now_ms` and says whether it is within `rate`. A refused call
    /// is not counted. Fails only when the backing store cannot be reached; the caller decides
    /// whether to fail open.
    async fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Decision, LimiterError>;
}

/// One GCRA step: the decision and, when allowed, the key's new TAT. `tat` is the stored one
/// (`None` when the key has none).
pub fn gcra(tat: Option<i64>, rate: Rate, now_ms: i64) -> (Decision, Option<i64>) {
    let tat = tat.map_or(now_ms, |t| t.max(now_ms));
    let new_tat = tat.saturating_add(rate.interval_ms());
    let allow_at = new_tat.saturating_sub(rate.tolerance_ms());
    if allow_at > now_ms {
        let refused = Decision {
            allowed: false,
            retry_after_ms: allow_at - now_ms,
        };
        (refused, None)
    } else {
        (Decision::ALLOWED, Some(new_tat))
    }
}

/// How long a Redis key outlives its TAT. It makes no difference to the decisions (a TAT in the
/// past counts as now) but tolerates that clocks of API processes and of Redis disagree a little.
const EXPIRY_SLACK_MS: i64 = 1000;

/// `KEYS[1]` the key's TAT. `ARGV`: now ms, emission interval ms, tolerance ms, expiry slack ms.
/// Returns `{1, 0}` when allowed (TAT moved on), `{0, retry_after_ms}` when refused. The same
/// arithmetic as [`gcra`]; numbers stay below 2^53, exact in Lua's doubles.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  string.format('%.0f', new_tat - now + slack))
return {1, 0}
",
    )
});

/// The limiter shared by every process using one Redis.
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisRateLimiter {
    /// Connects to `url` (as the task store does) and keeps keys under `<namespace>:rate:`. A
    /// service shares its fail-fast API connection instead ([`Self::with_connection`]).
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_response_timeout(Some(std::time::Duration::from_secs(10)));
        Ok(Self::with_connection(
            client.get_connection_manager_with_config(config).await?,
            namespace,
        ))
    }

    /// A limiter over an existing connection (shared with the task store), keys under
    /// `<namespace>:rate:`.
    pub fn with_connection(conn: ConnectionManager, namespace: &str) -> Self {
        RedisRateLimiter {
            conn,
            prefix: format!("{namespace}:rate:"),
        }
    }

    /// The Redis key holding `key`'s TAT.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Decision, LimiterError> {
        let mut call = GCRA.prepare_invoke();
        call.key(self.redis_key(key))
            .arg(now_ms)
            .arg(rate.interval_ms())
            .arg(rate.tolerance_ms())
            .arg(EXPIRY_SLACK_MS);
        let (allowed, retry_after_ms): (i64, i64) =
            call.invoke_async(&mut self.conn.clone()).await?;
        Ok(Decision {
            allowed: allowed == 1,
            retry_after_ms,
        })
    }
}

/// The same limits in one process: a map of TATs, pruned of past ones as it grows.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    tats: HashMap<String, i64>,
    /// Prune when the map reaches this size.
    prune_at: usize,
}

impl MemoryRateLimiter {
    /// A limiter that has counted nothing yet, for one API process (its counts die with it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys currently held (tests check that idle keys go away).
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.tats.len())
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Below this many keys the memory limiter does not bother pruning.
const MIN_PRUNE_AT: usize = 1024;

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Decision, LimiterError> {
        // A poisoned lock only means another check panicked; the map itself is still valid.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (decision, new_tat) = gcra(state.tats.get(key).copied(), rate, now_ms);
        if let Some(tat) = new_tat {
            state.tats.insert(key.to_owned(), tat);
            if state.tats.len() >= state.prune_at.max(MIN_PRUNE_AT) {
                state.tats.retain(|_, tat| *tat > now_ms);
                state.prune_at = (state.tats.len() * 2).max(MIN_PRUNE_AT);
            }
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests;
