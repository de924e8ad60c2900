//! What submissions did, counted where they happen so every caller's tasks are counted alike.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The submissions a process made, accepted and refused (exported by the API's `/metrics` as
/// `statport_tasks_created_total` and `statport_tasks_rejected_total`).
#[derive(Debug, Default)]
pub struct SubmitCounts {
    /// Tasks accepted.
    pub created: Counter,
    /// Task requests refused by validation or the unfinished limit.
    pub rejected: Counter,
}
