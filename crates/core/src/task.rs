//! The stored task record, its life-cycle states and the job message that travels the queue.

use serde::{Deserialize, Serialize};

use crate::request::{Action, ExportCondition, ExportFormat};
/// Where a task is in its life: `waiting → processing → success | fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Accepted and queued; no worker has started it.
    Waiting,
    /// A worker is reading logs for it.
    Processing,
    /// The file is written; `download_link` is available.
    Success,
    /// It ended without a file; `error` says why.
    Fail,
}

impl TaskStatus {
    /// True for `success` and `fail`: nothing will change the task any more.
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Fail)
    }

    /// The wire name (`waiting`, `processing`, `success`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Waiting => "waiting",
            TaskStatus::Processing => "processing",
            TaskStatus::Success => "success",
            TaskStatus::Fail => "fail",
        }
    }
}

/// Why a task failed, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// A stable code, e.g. `StatPort.SourceNotFound`.
    pub error_code: String,
    /// A sentence for a person.
    pub error_msg: String,
}

/// The stored form of an export task: the one source of truth for its state.
///
/// The API shows a [`TaskRecord`] through its own view type; workers change it only through the
/// guarded transitions of the status store (see `run_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Opaque id, 32 lowercase hex characters.
    pub task_id: String,
    /// The tenant that owns the task.
    pub tenant_id: String,
    /// The client's label.
    pub task_name: String,
    /// Current state.
    pub status: TaskStatus,
    /// 0–100, share of the log bytes read so far.
    pub progress: u8,
    /// Rows written to the file (on success).
    pub export_count: u64,
    /// Log lines that could not be parsed and were skipped.
    pub skipped_lines: u64,
    /// Log lines read (parsed or not).
    pub read_lines: u64,
    /// Size of the result file in bytes (on success).
    pub file_size: Option<u64>,
    /// Object-store key of the result file (on success).
    pub file_key: Option<String>,
    /// ms since epoch.
    pub create_time: i64,
    /// ms since epoch of the last change.
    pub update_time: i64,
    /// ms since epoch when the task reached `success` or `fail`.
    pub end_time: Option<i64>,
    /// Why it failed (on `fail`).
    pub error: Option<TaskError>,
    /// How many times a worker has claimed the task (crash recovery counts too).
    pub attempts: u32,
    /// Why earlier runs did not finish: crash recoveries and transient failures, counted apart
    /// (absent in records written before these were kept: all zero).
    #[serde(default)]
    pub retries: RetryState,
    /// The id of the run that currently owns the task; a worker whose run id no longer matches
    /// has been superseded and may not change the record.
    pub run_id: Option<String>,
    /// The validated condition the task exports.
    pub condition: ExportCondition,
    /// ms since epoch when the result file was deleted at the end of its retention period; the
    /// task then has no link (`file_key` stays, so an old link is answered "expired").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_expired_at: Option<i64>,
    /// On success, when some values of the file are estimates (a top list past its key budget,
    /// `uv` intervals past their exact bound): which, and how far off they may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximation: Option<String>,
    /// The completion callback of the task's end, when it asked for one: recorded with the end
    /// (the outbox), then claimed, attempted and settled by a sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<crate::outbox::CallbackDelivery>,
}

impl TaskRecord {
    /// A new task as the API records it: `waiting`, nothing read, created and updated at `now_ms`.
    pub fn waiting(
        task_id: String,
        tenant_id: String,
        task_name: String,
        condition: ExportCondition,
        now_ms: i64,
    ) -> Self {
        TaskRecord {
            task_id,
            tenant_id,
            task_name,
            status: TaskStatus::Waiting,
            progress: 0,
            export_count: 0,
            skipped_lines: 0,
            read_lines: 0,
            file_size: None,
            file_key: None,
            create_time: now_ms,
            update_time: now_ms,
            end_time: None,
            error: None,
            attempts: 0,
            retries: RetryState::default(),
            run_id: None,
            condition,
            file_expired_at: None,
            approximation: None,
            callback: None,
        }
    }

    /// The action, for display and routing.
    pub fn action(&self) -> Action {
        self.condition.action
    }

    /// The output format.
    pub fn export_format(&self) -> ExportFormat {
        self.condition.export_format
    }
}

/// The record of runs that did not finish, so that a dependency outage and a crashing worker are
/// told apart: transient failures are retried for a time span, crash recoveries a number of
/// times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryState {
    /// Claims that found the task still `processing` under another run: that run's worker died
    /// (or was stopped) without reporting an end.
    pub crash_recoveries: u32,
    /// Runs that stopped on a transient error (a store unreachable, a timeout, a 5xx) and were
    /// rescheduled with backoff.
    pub transient_failures: u32,
    /// ms since epoch of the first transient failure: the retry span is counted from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying_since: Option<i64>,
    /// ms since epoch when the task is due to run again after a transient failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<i64>,
    /// The last transient error: which store, which object or key, and what it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl RetryState {
    /// True when no run has failed to finish (nothing worth showing).
    pub fn is_empty(&self) -> bool {
        *self == RetryState::default()
    }
}

/// The message that goes through the queue: which task to run. Everything else is in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    /// Owner of the task.
    pub tenant_id: String,
    /// The task to run.
    pub task_id: String,
}
