//! The task object clients see, built from the stored record by one conversion.

use serde::Serialize;
use statport_core::outbox::{CallbackDelivery, DeliveryState};
use statport_core::request::{Action, ExportCondition, ExportFormat};
use statport_core::task::{RetryState, TaskError, TaskRecord, TaskStatus};

/// The API view of a task (API.md "The task object").
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// The id clients read, poll and delete the task by (32 hex digits).
    pub task_id: String,
    /// The client's label, or `<action>-<creation time>` when it gave none.
    pub task_name: String,
    /// What the task exports, so a listing tells tasks apart without their conditions.
    pub action: Action,
    /// Where the task is: `waiting`, `processing`, `success` or `fail` (the seed's states).
    pub status: TaskStatus,
    /// How far the run got, 0–100, for a client polling a long task.
    pub progress: u8,
    /// Rows written.
    pub export_count: u64,
    /// The result file's format, so a client knows what the link downloads.
    pub export_format: ExportFormat,
    /// When the task was accepted, ms since the epoch.
    pub create_time: i64,
    /// When the record last changed (listings are newest first by it), ms since the epoch.
    pub update_time: i64,
    /// ms, when ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Bytes, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Signed link, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_link: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// When the result file was deleted at the end of its retention (ms); the task then has no
    /// link and `file_status` says `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_expired_at: Option<i64>,
    /// `available` (on success, with a link), `expired` (deleted after the retention period), or
    /// absent while the task has no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_status: Option<&'static str>,
    /// Crash recoveries, transient failures and the last transient cause, while the task is
    /// being retried (absent when nothing went wrong).
    #[serde(skip_serializing_if = "RetryState::is_empty")]
    pub retries: RetryState,
    /// True when some values of the file are estimates (see `approximation`).
    pub approximate: bool,
    /// Which values are estimates and how far off they may be (top lists past their key budget,
    /// `uv` intervals past their exact bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximation: Option<String>,
    /// Log lines read.
    pub read_lines: u64,
    /// Log lines skipped as unparsable.
    pub skipped_lines: u64,
    /// The validated condition.
    pub condition: ExportCondition,
    /// The completion callback of the task's end, when it asked for one: pending, delivered
    /// or failed, with its attempts (absent from the callback's own body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackView>,
}

/// What a client sees of a task's completion callback (API.md "Completion callbacks").
#[derive(Debug, Clone, Serialize)]
pub struct CallbackView {
    /// The same on every attempt (the `X-Statport-Delivery` header): deduplicate on it.
    pub delivery_id: String,
    /// `pending`, `delivered` or `failed`.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// While pending: when the next attempt is due, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    /// The HTTP status of the last answered attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a 2xx answered, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
}

impl From<CallbackDelivery> for CallbackView {
    fn from(d: CallbackDelivery) -> Self {
        CallbackView {
            next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
            delivery_id: d.delivery_id,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
        }
    }
}

impl TaskView {
    /// The view of `record`; `download_link` only when the task succeeded.
    pub fn new(record: TaskRecord, download_link: Option<String>) -> Self {
        let link = if record.status == TaskStatus::Success {
            download_link
        } else {
            None
        };
        let file_status = match (record.status, &record.file_key, record.file_expired_at) {
            (_, _, Some(_)) => Some("expired"),
            (TaskStatus::Success, Some(_), None) => Some("available"),
            _ => None,
        };
        TaskView {
            file_expired_at: record.file_expired_at,
            approximate: record.approximation.is_some(),
            approximation: record.approximation,
            retries: record.retries,
            file_status,
            task_id: record.task_id,
            task_name: record.task_name,
            action: record.condition.action,
            status: record.status,
            progress: record.progress,
            export_count: record.export_count,
            export_format: record.condition.export_format,
            create_time: record.create_time,
            update_time: record.update_time,
            end_time: record.end_time,
            file_size: record.file_size,
            download_link: link,
            error: record.error,
            read_lines: record.read_lines,
            skipped_lines: record.skipped_lines,
            condition: record.condition,
            callback: record.callback.map(CallbackView::from),
        }
    }
}
