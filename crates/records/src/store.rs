//! The status-store port: every way the rest of statport reads or changes a task record.

use std::fmt;

use async_trait::async_trait;
use statport_core::task::{TaskError, TaskRecord};

use crate::admission::{Admission, AdmissionLimits};
use crate::error::StoreError;

/// Where task records live. Held as `Arc<dyn TaskStore>`; every implementation passes the same
/// conformance suite.
///
/// All methods are scoped by tenant: a task of another tenant is invisible, exactly like one that
/// does not exist. Times are ms since the Unix epoch and are passed in by the caller (no clock
/// inside).
///
/// The guarded transitions ([`claim`](Self::claim), [`progress`](Self::progress),
/// [`finish`](Self::finish)) are atomic: the check of the record's state and run id and the write
/// that depends on it cannot interleave with another writer.
#[async_trait]
pub trait TaskStore: Send + Sync + fmt::Debug {
    /// Stores `record` under its `tenant_id` and `task_id`, replacing any record with the same
    /// id (the "same condition replaces the task" rule). A worker still running the replaced
    /// record loses its claim on its next report.
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError>;

    /// Admits `record` (a new `waiting` task) under the tenant's `limits`, atomically with
    /// respect to every other admission and deletion of the tenant's tasks: refused when the
    /// tenant has `max_unfinished` tasks waiting or processing; a task with the same normalized
    /// condition takes the request (same `task_id`, reset to `waiting`); over `max_kept` the
    /// oldest finished tasks are removed and returned so the caller deletes their files. See
    /// [`crate::admission`].
    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError>;

    /// The result file of a `success` task that ended at or before `ended_by` reached the end of
    /// its retention: the record says `file_expired_at = now_ms` (the caller then deletes the
    /// object; the key stays in the record so an old link is answered "expired"). Returns the
    /// file's key; `None` when the task has no such file (none, already expired, not ended by
    /// then because it was reset or re-run, or no task).
    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError>;

    /// The tenant's task, or `None` when it does not exist (or belongs to another tenant).
    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError>;

    /// The tenant's tasks that match `query`, newest `update_time` first, one page of them.
    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError>;

    /// Removes the task and returns what it was, so the caller can delete its file; `None` when
    /// there was nothing to remove. A worker running it finds it gone on its next report
    /// (deleting is cancelling).
    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError>;

    /// A worker starts (or restarts) the task as run `run_id`.
    ///
    /// From `waiting` or `processing` (a redelivered job after a crash, or a takeover) the task
    /// becomes `processing` owned by `run_id`, with `attempts + 1` (and
    /// `retries.crash_recoveries + 1` when it was `processing`: its run never reported an end), `progress`, `read_lines` and
    /// `skipped_lines` back at 0 and `update_time = now_ms`: [`Claim::Started`] with the record
    /// after the change. A previous run loses its claim. A finished task is left alone
    /// ([`Claim::AlreadyFinished`]); a deleted one is [`Claim::Missing`].
    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError>;

    /// Run `run_id` reports how far it got: `progress` (clamped to 100) and the line counters,
    /// `update_time = now_ms`.
    ///
    /// `Ok(false)`, and nothing changes, when the task is gone, not `processing`, or owned by
    /// another run: the worker must stop.
    #[allow(clippy::too_many_arguments)] // the agreed port signature; each value is distinct
    async fn progress(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        progress: u8,
        read_lines: u64,
        skipped_lines: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Run `run_id` ends the task with `outcome`; `end_time = update_time = now_ms` for
    /// [`Outcome::Success`] and [`Outcome::Fail`]. [`Outcome::Deferred`] and
    /// [`Outcome::Released`] end only the run: the task goes back to `waiting`, unowned.
    ///
    /// Guarded exactly like [`progress`](Self::progress): `Ok(false)` and no change when the run
    /// no longer owns a `processing` task (the worker should then discard its file).
    async fn finish(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Checks that the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Which tasks to list and which page of them (the Huawei ListExportTasks parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size. The API enforces `1..=100`; the store returns at most this many.
    pub limit: usize,
    /// How many matching tasks to skip.
    pub offset: usize,
    /// Only the task with exactly this id.
    pub task_id: Option<String>,
    /// Only tasks whose `task_name` equals this exactly (case-sensitive, as the Huawei API,
    /// which documents the parameter as the task name rather than a search).
    pub task_name: Option<String>,
}

impl Default for ListQuery {
    /// The first page of 10 (the Huawei default), no filters.
    fn default() -> Self {
        ListQuery {
            limit: 10,
            offset: 0,
            task_id: None,
            task_name: None,
        }
    }
}

impl ListQuery {
    /// Every task of the tenant, unfiltered, in one page (a tenant keeps at most its kept-tasks
    /// limit of records, so this is bounded).
    pub fn everything() -> Self {
        ListQuery {
            limit: usize::MAX,
            ..ListQuery::default()
        }
    }

    /// True when `record` passes the `task_id` and `task_name` filters (tenancy is checked by
    /// the store, not here).
    pub fn matches(&self, record: &TaskRecord) -> bool {
        self.task_id.as_ref().is_none_or(|id| *id == record.task_id)
            && self
                .task_name
                .as_ref()
                .is_none_or(|name| *name == record.task_name)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPage {
    /// How many tasks match the query, before paging.
    pub total: usize,
    /// The page: newest `update_time` first; ties by newer `create_time`, then by `task_id`
    /// descending, so the order is total and pages never overlap.
    pub data: Vec<TaskRecord>,
}

/// What [`TaskStore::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The run now owns the task; the record as it is after the claim.
    Started(TaskRecord),
    /// The task had already ended (`success` or `fail`); the record, unchanged. The job is done.
    AlreadyFinished(TaskRecord),
    /// The task no longer exists (deleted, which is how a task is cancelled). Drop the job.
    Missing,
}

/// How a run ended, for [`TaskStore::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file is written and uploaded: the task becomes `success` with progress 100.
    Success {
        /// Rows written to the file (the task's `export_count`).
        export_count: u64,
        /// Size of the file in bytes.
        file_size: u64,
        /// Object-store key of the file.
        file_key: String,
        /// Log lines the whole run read, the count the finished task keeps.
        read_lines: u64,
        /// Log lines skipped as unparsable.
        skipped_lines: u64,
        /// Which values are estimates and how far off they may be; `None` when all are exact.
        approximation: Option<String>,
    },
    /// The task cannot succeed: it becomes `fail` with `error`.
    Fail {
        /// Why, as the client will see it.
        error: TaskError,
        /// Log lines read before it failed.
        read_lines: u64,
        /// Log lines skipped as unparsable.
        skipped_lines: u64,
    },
    /// The run stopped on a transient error and the task will run again at `retry_at`: it goes
    /// back to `waiting` with the failure counted in its `retries` (`transient_failures + 1`,
    /// `last_error`, `next_retry_at`, `retrying_since` when not yet set).
    Deferred {
        /// The error, naming the store, the object or key and what it said.
        cause: String,
        /// ms since epoch when the next run is due.
        retry_at: i64,
    },
    /// The run was stopped (process shutdown) before it finished: the task goes back to
    /// `waiting`, unowned, with nothing counted, so the next claim starts it afresh at once.
    Released,
}
