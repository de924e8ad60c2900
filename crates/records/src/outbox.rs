//! The [`CallbackOutbox`] port: the completion callbacks recorded with their tasks' ends
//! (`TaskRecord::callback`, written by [`TaskStore::finish`](crate::TaskStore::finish) in the
//! same step as the end), found when due, claimed for a lease and settled by any process's
//! sender, so a callback outlives the process that ended its task.
//!
//! Each store keeps an index of due callbacks beside its records, maintained by the same write
//! that changes a record (Redis: the zset `{ns}:callbacks-due` updated by the task write script;
//! SQLite: the table `statport_callbacks_due` written in the record's transaction; memory: a
//! scan). A stale index entry (a task deleted or replaced since) is dropped by the claim that
//! finds nothing due.

use std::fmt;

use async_trait::async_trait;
use statport_core::outbox::AttemptResult;
use statport_core::task::TaskRecord;

use crate::error::StoreError;

/// A task by its keys, as the due index names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    /// The task's tenant.
    pub tenant_id: String,
    /// The task.
    pub task_id: String,
}

/// Completion callbacks waiting to be delivered, across every process sharing the store.
#[async_trait]
pub trait CallbackOutbox: Send + Sync + fmt::Debug {
    /// Tasks whose callback is due at `now_ms` (pending, not leased), soonest due first, at
    /// most `limit`. May name a task whose callback was settled meanwhile; the claim tells.
    async fn due_callbacks(&self, now_ms: i64, limit: usize) -> Result<Vec<TaskRef>, StoreError>;

    /// Leases the task's callback to `owner` for `lease_ms` when it is due; the record (with
    /// the lease) when claimed, `None` when not due, settled, or the task is gone.
    async fn claim_callback(
        &self,
        tenant: &str,
        task_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskRecord>, StoreError>;

    /// Records `owner`'s attempt at delivery `delivery_id`; false when the delivery is no longer
    /// `owner`'s (its lease ran out and another sender took it, or the task was replaced).
    #[allow(clippy::too_many_arguments)] // the keys, the claim and the attempt: each distinct
    async fn record_callback(
        &self,
        tenant: &str,
        task_id: &str,
        delivery_id: &str,
        owner: &str,
        result: &AttemptResult,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}
