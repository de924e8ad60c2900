//! The completion callback of a task's end, as the task record keeps it: an outbox entry
//! written in the same step that records the end, so a callback survives the process that
//! ended the task. Any process's sender claims a due entry for a lease, delivers it, and records
//! the attempt; an expired lease (its sender died) makes the entry due again.
//!
//! Delivery is at least once: a sender that dies after the receiver answered but before the
//! attempt is recorded leaves the entry to be sent again. Every attempt of one end carries the
//! same [`CallbackDelivery::delivery_id`] (the ending run's id), so a receiver deduplicates on it.
//!
//! The rules here are pure; the stores apply them under their compare-and-set.

use serde::{Deserialize, Serialize};

/// Where a callback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; due at `next_attempt_at` (or when its lease ends).
    Pending,
    /// A 2xx answered (`delivered_at`).
    Delivered,
    /// Given up: its attempts ran out, or it can never be delivered (`last_error` says why).
    Failed,
}

/// The completion callback of one end of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackDelivery {
    /// The same on every attempt of this end (the run that ended the task), sent as
    /// `X-Statport-Delivery`: a receiver that must act once keys its work on it.
    pub delivery_id: String,
    /// Pending, delivered or failed.
    pub state: DeliveryState,
    /// Attempts made (recorded ones; an attempt whose sender died is not counted).
    pub attempts: u32,
    /// When the next attempt is due, ms since epoch (while pending).
    pub next_attempt_at: i64,
    /// The sender holding the entry, while it delivers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    /// When that sender's hold ends, ms; afterwards any sender may claim the entry again.
    #[serde(default)]
    pub lease_until: i64,
    /// The HTTP status of the last attempt that got an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver (a status, a timeout, a refused address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a 2xx answered, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
}

/// How one attempt went, as its sender records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx answered with this status.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Not delivered; try again at `retry_at` (ms).
    Retry {
        /// The status, when the receiver answered.
        status: Option<u16>,
        /// Why (a sentence for the task's viewer; no secret).
        error: String,
        /// When the next attempt is due.
        retry_at: i64,
    },
    /// Not delivered, and never will be (attempts exhausted, a refused address, no secret).
    GiveUp {
        /// The status, when the receiver answered.
        status: Option<u16>,
        /// Why.
        error: String,
    },
}

impl CallbackDelivery {
    /// A callback due at once, for the end recorded by run `delivery_id` at `now_ms`.
    pub fn pending(delivery_id: &str, now_ms: i64) -> Self {
        CallbackDelivery {
            delivery_id: delivery_id.to_owned(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now_ms,
            lease_owner: None,
            lease_until: 0,
            last_status: None,
            last_error: None,
            delivered_at: None,
        }
    }

    /// When a sender may claim it: the later of its next attempt and the end of its lease;
    /// `None` once delivered or failed.
    pub fn due_at(&self) -> Option<i64> {
        (self.state == DeliveryState::Pending).then(|| self.next_attempt_at.max(self.lease_until))
    }

    /// The entry claimed by `owner` at `now_ms` for `lease_ms`, if it is due.
    pub fn claim(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Option<Self> {
        if self.due_at()? > now_ms {
            return None;
        }
        let mut next = self.clone();
        next.lease_owner = Some(owner.to_owned());
        next.lease_until = now_ms.saturating_add(lease_ms);
        Some(next)
    }

    /// The entry after `owner`'s attempt; `None` when `owner` no longer holds it (its lease
    /// ran out and another sender claimed it, or the entry is no longer pending).
    pub fn record(&self, owner: &str, result: &AttemptResult, now_ms: i64) -> Option<Self> {
        if self.state != DeliveryState::Pending || self.lease_owner.as_deref() != Some(owner) {
            return None;
        }
        let mut next = self.clone();
        next.attempts = next.attempts.saturating_add(1);
        next.lease_owner = None;
        next.lease_until = 0;
        match result {
            AttemptResult::Delivered { status } => {
                next.state = DeliveryState::Delivered;
                next.last_status = Some(*status);
                next.last_error = None;
                next.delivered_at = Some(now_ms);
            }
            AttemptResult::Retry {
                status,
                error,
                retry_at,
            } => {
                next.last_status = *status;
                next.last_error = Some(error.clone());
                next.next_attempt_at = *retry_at;
            }
            AttemptResult::GiveUp { status, error } => {
                next.state = DeliveryState::Failed;
                next.last_status = *status;
                next.last_error = Some(error.clone());
            }
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000;

    #[test]
    fn a_pending_callback_is_claimed_once_until_its_lease_ends() {
        let p = CallbackDelivery::pending("run-1", T0);
        assert_eq!(p.due_at(), Some(T0));
        let held = p.claim("a", T0, 1_000).expect("due");
        assert_eq!(held.due_at(), Some(T0 + 1_000));
        assert_eq!(held.claim("b", T0 + 999, 1_000), None, "leased to a");
        // a died: after the lease, b takes it.
        let taken = held.claim("b", T0 + 1_000, 1_000).expect("lease over");
        assert_eq!(taken.lease_owner.as_deref(), Some("b"));
        // a's late record is refused: b holds it now.
        assert_eq!(
            taken.record("a", &AttemptResult::Delivered { status: 200 }, T0 + 1_001),
            None
        );
    }

    #[test]
    fn attempts_are_recorded_until_delivered_or_given_up() {
        let p = CallbackDelivery::pending("run-1", T0)
            .claim("a", T0, 1_000)
            .expect("due");
        let retry = AttemptResult::Retry {
            status: Some(500),
            error: "status 500".into(),
            retry_at: T0 + 5_000,
        };
        let after = p.record("a", &retry, T0 + 10).expect("held");
        assert_eq!((after.attempts, after.last_status), (1, Some(500)));
        assert_eq!(after.due_at(), Some(T0 + 5_000));
        assert_eq!(after.lease_owner, None);
        let done = after
            .claim("b", T0 + 5_000, 1_000)
            .and_then(|c| c.record("b", &AttemptResult::Delivered { status: 204 }, T0 + 5_010))
            .expect("delivered");
        assert_eq!(done.state, DeliveryState::Delivered);
        assert_eq!((done.attempts, done.delivered_at), (2, Some(T0 + 5_010)));
        assert_eq!(done.due_at(), None);
        assert_eq!(done.claim("c", i64::MAX, 1), None);
        assert_eq!(done.delivery_id, "run-1", "one id across attempts");
        let failed = CallbackDelivery::pending("run-2", T0)
            .claim("a", T0, 1)
            .and_then(|c| {
                c.record(
                    "a",
                    &AttemptResult::GiveUp {
                        status: None,
                        error: "refused address".into(),
                    },
                    T0,
                )
            })
            .expect("given up");
        assert_eq!(
            (failed.state, failed.due_at()),
            (DeliveryState::Failed, None)
        );
    }

    #[test]
    fn a_huge_lease_saturates() {
        let p = CallbackDelivery::pending("r", T0)
            .claim("a", T0, i64::MAX)
            .expect("due");
        assert_eq!(p.lease_until, i64::MAX);
    }
}
