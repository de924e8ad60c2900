//! When a run that stopped on a transient error runs again, and when retrying stops.
//!
//! Pure: the caller passes the task's [`RetryState`], the time and a random number, so the
//! policy is tested without a clock or a queue. Transient failures are retried with exponential
//! backoff and full jitter ("Exponential Backoff And Jitter", AWS architecture blog): the n-th
//! failure waits a uniformly random time in `[min, min(cap, base × 2^(n-1))]`, so a fleet of
//! tasks failed by the same outage does not come back in lock step. Retrying stops once the
//! failures have lasted `span`, counted from the first one.

use std::time::Duration;

use statport_core::task::RetryState;

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff before the first retry (the upper bound of its jitter).
    pub base: Duration,
    /// Longest backoff, however many retries came before: the exponential growth stops here.
    pub cap: Duration,
    /// Shortest backoff, so a retry never comes at once.
    pub min: Duration,
    /// How long transient failures are retried, from the first one, before the task fails.
    pub span: Duration,
}

impl Default for RetryPolicy {
    /// 2 s doubling to 60 s, at least 0.5 s, for 15 minutes.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
            min: Duration::from_millis(500),
            span: Duration::from_secs(900),
        }
    }
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run again at this time (ms since epoch).
    RetryAt(i64),
    /// The failures have lasted the whole span: fail the task, naming the last cause.
    GiveUp {
        /// How long the task has been retried, in ms.
        retried_ms: i64,
    },
}

impl RetryPolicy {
    /// The policy with `span` as retry span and the default backoff.
    pub fn with_span(span: Duration) -> Self {
        RetryPolicy {
            span,
            ..RetryPolicy::default()
        }
    }

    /// The backoff before retry number `failure` (1 for the first failure), with `unit` a
    /// random number in `[0, 1)` choosing the point in the jitter range.
    pub fn backoff(&self, failure: u32, unit: f64) -> Duration {
        let doublings = failure.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << doublings)
            .min(self.cap)
            .max(self.min);
        let spread = ceiling.saturating_sub(self.min);
        self.min + spread.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The decision after a transient failure at `now_ms`, given the task's retry state before
    /// this failure was recorded.
    pub fn decide(&self, state: &RetryState, now_ms: i64, unit: f64) -> Decision {
        let since = state.retrying_since.unwrap_or(now_ms);
        let retried_ms = now_ms.saturating_sub(since);
        let span_ms = i64::try_from(self.span.as_millis()).unwrap_or(i64::MAX);
        if retried_ms >= span_ms {
            return Decision::GiveUp { retried_ms };
        }
        let delay = self.backoff(state.transient_failures.saturating_add(1), unit);
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        Decision::RetryAt(now_ms.saturating_add(delay_ms))
    }
}

/// A random number in `[0, 1)` for the jitter (from the OS random source behind uuid v4).
pub fn jitter_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64
}

/// `ms` as a person reads it: `45 s`, `15 min`, `1 h 5 min`.
pub fn human_span(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_within_its_jitter_range() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(4));
        assert_eq!(p.backoff(5, 1.0), Duration::from_secs(32));
        assert_eq!(p.backoff(6, 1.0), Duration::from_secs(60));
        assert_eq!(p.backoff(500, 1.0), Duration::from_secs(60));
        let mid = p.backoff(6, 0.5);
        assert!(
            mid > Duration::from_secs(29) && mid < Duration::from_secs(31),
            "{mid:?}"
        );
    }

    #[test]
    fn retries_stop_once_the_span_is_used_up() {
        let p = RetryPolicy::with_span(Duration::from_secs(60));
        let fresh = RetryState::default();
        assert_eq!(p.decide(&fresh, 1_000, 1.0), Decision::RetryAt(3_000));
        let mut state = RetryState {
            transient_failures: 3,
            retrying_since: Some(1_000),
            ..RetryState::default()
        };
        assert_eq!(p.decide(&state, 50_000, 1.0), Decision::RetryAt(66_000));
        state.transient_failures = 4;
        assert_eq!(
            p.decide(&state, 61_000, 0.3),
            Decision::GiveUp { retried_ms: 60_000 }
        );
    }

    #[test]
    fn jitter_units_are_in_range_and_spans_read_well() {
        for _ in 0..100 {
            let u = jitter_unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(human_span(45_000), "45 s");
        assert_eq!(human_span(900_000), "15 min");
        assert_eq!(human_span(3_900_000), "1 h 5 min");
    }
}
