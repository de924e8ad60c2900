//! One export run: claim the task, read its logs, aggregate, write the file, upload, finish.
//!
//! The task record is the source of truth: every report goes through the guarded transitions of
//! the status store, so a run that was superseded or whose task was deleted stops at its next
//! report and never overwrites a newer state.
//!
//! A run that cannot finish ends in one of three ways besides success and failure: a transient
//! error (a store unreachable, a timeout) defers the task, recorded in its `retries`, to a time
//! the [`RetryPolicy`] picks ([`RunEnd::Deferred`]); a shutdown hands it back at once
//! ([`RunEnd::Released`]); a task whose runs keep dying without a word (crash recoveries) fails
//! after `max_attempts` ([`RunEnd::CrashLoop`]). The queue side (the runner) turns these into
//! a scheduled job, an immediate job and a dead letter.
//!
//! # How a run ends, in one vocabulary
//! A run's end is its [`RunEnd`]; every other name is a stage before it or a translation of it,
//! each made in one place:
//! - the body (`execute`) ends with a `ResultFile`, or `Unfinished` (why it stopped without
//!   one: a transient error, a failure, a shutdown, a lost task);
//! - `run` records that in the task (the status store's `Outcome`) and answers the `RunEnd`;
//! - the runner turns a `RunEnd` into the queue's `JobEnd` ([`crate::runner::job_end`]);
//! - a `RunEnd` that is the task's end (`success`, `fail`) is told to the [`TaskEnded`] port as
//!   a [`TaskEnd`] (`report_end` in `run`).
//!
//! # Layout
//! - `run`: claim and finish ([`run_export`]): the guarded transitions and how a run ends; a
//!   recorded end is reported to the [`TaskEnded`] port (completion callbacks).
//! - here: the run's body (`execute`): find the tenant's log objects, then fan out, then write.
//! - `scans`: the run's side of the shared fan-out (`crate::fanout`): partial aggregates merged
//!   into the result, how a failed read or scan ends the run, progress written to the task.
//! - `write`: the rows into a csv / json / xlsx file ([`write_file`]) in the temp dir, uploaded
//!   under [`result_key`].
//! - `logs`: the run of a `logs` export: the scans fill sorted runs ([`crate::sort`]), merged
//!   into the file in the export's order and cut at its `count`.
//! - every file a run writes in the temp dir is held in the process's temp disk budget
//!   ([`crate::temp_disk`]) while it exists; a refusal fails the run (`temp_disk_full`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use statport_core::error::thousands;
use statport_core::log::geo::{GeoLookup, GeoSupport};
use statport_core::request::Action;
use statport_core::stats::sketch::SketchLimits;
use statport_core::task::{TaskError, TaskRecord};
use statport_core::time::clock::Clock;
use statport_core::ErrorCode;
use statport_records::TaskStore;
use statport_storage::{ObjectStore, StorageError};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::retry::RetryPolicy;
use crate::scan::ScanStats;
use crate::sort::LogSortSettings;
use crate::source::select_objects;
use crate::temp_disk::{Exhausted, TempDiskBudget};

use statport_core::tenant::TenantDirectory;
mod logs;
mod run;
mod scans;
mod write;

pub use self::run::run_export;
use self::scans::{scan_all, Aggregates};
use self::write::Uploaded;
pub use self::write::{result_key, write_file};

/// Knobs of the export runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Hours after a range's end whose files may still hold lines of the range.
    pub late_hours: u32,
    /// Crash recoveries (claims of a task whose previous run never reported an end) after which
    /// the task fails instead of running again: a crash loop. Transient errors do not count.
    pub max_attempts: u32,
    /// Backoff and span of the retries of transient errors.
    pub retry: RetryPolicy,
    /// How often progress is written to the status store.
    pub progress_interval: Duration,
    /// Log objects read at the same time by one run.
    pub scan_parallelism: usize,
    /// Where result files are written before upload.
    pub temp_dir: PathBuf,
    /// Bucket receiving result files.
    pub results_bucket: String,
    /// Key prefix of result files.
    pub results_prefix: String,
    /// Memory bounds past which top lists and `uv` become estimates.
    pub sketches: SketchLimits,
    /// The sort of `logs` exports: its memory buffer and merge fan-in.
    pub logs: LogSortSettings,
    /// How long one run may take before it is stopped and its task fails.
    pub timeouts: JobTimeouts,
}

/// How long one run of a task may take, by action: past it the run's scans are cancelled, its
/// upload aborted, and the task fails with `StatPort.ExportTimedOut` (an end of its own: not a
/// crash, not retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimeouts {
    /// Every statistics export (`queue.job_timeout_secs`).
    pub statistics: Duration,
    /// `logs` exports, which read and sort every matching row (`queue.logs_job_timeout_secs`).
    pub logs: Duration,
}

impl Default for JobTimeouts {
    /// 6 hours for statistics, 24 hours for `logs` (the config's defaults).
    fn default() -> Self {
        JobTimeouts {
            statistics: Duration::from_secs(6 * 3600),
            logs: Duration::from_secs(24 * 3600),
        }
    }
}

impl JobTimeouts {
    /// The limit of a run of `action`.
    pub fn for_action(&self, action: statport_core::request::Action) -> Duration {
        if action == statport_core::request::Action::Logs {
            self.logs
        } else {
            self.statistics
        }
    }

    /// The longest of them (what the queue's last-resort timeout and the sweep of stale temp
    /// folders are sized from).
    pub fn longest(&self) -> Duration {
        self.statistics.max(self.logs)
    }
}

/// Everything a run needs, shared by all runs of a process.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// Task records: the run's claim, progress and end go through its guarded transitions.
    pub tasks: Arc<dyn TaskStore>,
    /// Where the tenants' log objects are read and the result files uploaded.
    pub objects: Arc<dyn ObjectStore>,
    /// Every configured tenant: its log source, limits and file settings.
    pub tenants: Arc<TenantDirectory>,
    /// The time a run stamps on its transitions and retries from (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// How runs scan, retry, report progress and store their results.
    pub settings: WorkerSettings,
    /// The IP database (`country` / `province` / `isp` / `service_area` filters, `isp_detail`);
    /// `None` when the process has none configured: tasks needing it fail with
    /// `StatPort.IpDatabaseNotConfigured`.
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// Cancelled when the process shuts down: runs stop at their next check and hand their task
    /// back ([`RunEnd::Released`]).
    pub shutdown: CancellationToken,
    /// Told when a run has recorded its task's end (`success` or `fail`): the completion
    /// callbacks. `None`: nobody listens.
    pub task_ended: Option<Arc<dyn TaskEnded>>,
    /// The bound on the temp disk (`worker.temp_disk_bytes`): one budget for every run of the
    /// process (clones of the context share it), reserved before any file is written in
    /// `settings.temp_dir`; a run it refuses fails with `StatPort.TempDiskFull`.
    pub temp_disk: TempDiskBudget,
}

/// A task whose end (`success` or `fail`) a run has just recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    /// The tenant that submitted the task, to find its record (and callback settings).
    pub tenant_id: String,
    /// The task whose end was recorded.
    pub task_id: String,
    /// The run that recorded the end: the final record carries this run id, so a listener that
    /// reads the record back can tell it from a later run's (the task replaced and re-run).
    pub run_id: String,
    /// How the task ended, `success` or `fail` (never a non-final status).
    pub status: statport_core::task::TaskStatus,
    /// Where the task asked to be told, if anywhere.
    pub callback_url: Option<String>,
}

/// The port through which the worker reports ended tasks, without knowing what listens (the
/// binary implements it with the completion callbacks; the worker does not depend on the API).
pub trait TaskEnded: Send + Sync + std::fmt::Debug {
    /// Called once per recorded end, on the run's task. Must return at once: slow work (an
    /// HTTP delivery with retries) goes on a spawned task, so it never holds the job slot, and
    /// nothing it does may change the task's result.
    fn task_ended(&self, end: TaskEnd);
}

/// A run that could not finish and should be tried again later (the task stays claimable).
#[derive(Debug, thiserror::Error)]
#[error("export interrupted, will retry: {0}")]
pub struct RetryLater(pub String);

/// How a run ended, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The task is `success`.
    Succeeded {
        /// Rows written to the result file, for the run's log line.
        rows: u64,
    },
    /// The task is `fail`.
    Failed,
    /// The task is `fail` because its runs kept dying (`max_attempts` crash recoveries): the
    /// job belongs in the dead letters.
    CrashLoop,
    /// A transient error: the task is `waiting` again and must run at `retry_at` (ms since
    /// epoch). The caller schedules the job for then.
    Deferred {
        /// When the job is due.
        retry_at: i64,
        /// The error that deferred it.
        cause: String,
    },
    /// Stopped by shutdown before it finished (or before it started): the task is `waiting`
    /// and the caller must queue the job again at once, for another worker.
    Released,
    /// Nothing to do: the task was gone, finished, or taken over by another run.
    Dropped,
}

/// Why the body of a run ([`execute`]) ended without a result file; `run` records it in the task
/// and answers the [`RunEnd`] it became.
enum Unfinished {
    /// A transient error (its cause): the retry policy picks between [`RunEnd::Deferred`] and
    /// giving up ([`RunEnd::Failed`]).
    Retry(String),
    /// The task fails with this error; the counters of what was scanned before it go into the
    /// record ([`RunEnd::Failed`], or [`RunEnd::CrashLoop`] after too many crashes).
    Fail(TaskError, ScanStats),
    /// Stopped by shutdown: the task is handed back ([`RunEnd::Released`]).
    Released,
    /// The task is gone or another run holds it: nothing is recorded ([`RunEnd::Dropped`]).
    Dropped,
}

impl Unfinished {
    /// The task fails with `code` and `msg`, before anything was scanned.
    fn fail(code: ErrorCode, msg: impl Into<String>) -> Unfinished {
        Unfinished::Fail(
            TaskError {
                error_code: code.as_str().to_string(),
                error_msg: msg.into(),
            },
            ScanStats::default(),
        )
    }
}

/// What the body of a run produced when it finished: the uploaded result file and the scans'
/// counters, which `run` records as the task's success.
struct ResultFile {
    /// Rows written to the file.
    rows: u64,
    /// The file as stored: its size and key.
    file: Uploaded,
    /// What the scans read, skipped and selected.
    stats: ScanStats,
    /// Why the result is an estimate (a top list or `uv` past its memory bound), if it is.
    approximation: Option<String>,
}

/// Whether `tenant`'s csv files neutralize formula-like text cells: its setting, on for a tenant
/// not configured.
fn escape_formulas(ctx: &ExportContext, tenant: &str) -> bool {
    ctx.tenants
        .get(tenant)
        .is_none_or(|t| t.csv_escape_formulas)
}

/// The body of a run of `record`: finds the tenant's log objects, fans out over them, writes
/// and uploads the file.
async fn execute(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
) -> Result<ResultFile, Unfinished> {
    let tenant = ctx.tenants.get(&record.tenant_id).ok_or_else(|| {
        Unfinished::fail(
            ErrorCode::NoLogSource,
            format!(
                "no log source is configured for tenant '{}'",
                record.tenant_id
            ),
        )
    })?;
    let source = &tenant.source;
    let condition = &record.condition;
    if let Some(field) = condition
        .needs_ip_database(GeoSupport::new(ctx.geo.is_some(), source.format))
        .filter(|_| ctx.geo.is_none())
    {
        return Err(Unfinished::fail(
            ErrorCode::IpDatabaseNotConfigured,
            format!("{field} needs the IP database, and the worker that ran this task has none configured (ip_database.path)"),
        ));
    }
    let listed = ctx
        .objects
        .list(&source.bucket, &source.prefix)
        .await
        .map_err(|e| storage_stop(&e, &format!("LIST {}/{}", source.bucket, source.prefix)))?;
    let objects = select_objects(source.format, listed, condition, ctx.settings.late_hours);
    let total_bytes: u64 = objects.iter().map(|o| o.size).sum();
    info!(task_id = %record.task_id, files = objects.len(), bytes = total_bytes, "log files selected");

    if condition.action == Action::Logs {
        return logs::export(ctx, record, run_id, source, objects, total_bytes).await;
    }
    let (gathered, stats) = scan_all(
        ctx,
        record,
        run_id,
        source,
        Aggregates::new(condition, tenant.limits.max_rows, ctx),
        objects,
        total_bytes,
    )
    .await?;
    let aggregate = gathered.merged;
    if ctx.shutdown.is_cancelled() {
        return Err(Unfinished::Released);
    }

    let approximation = aggregate.approximation();
    let (rows, file) = write::write_and_upload(ctx, record, run_id, aggregate).await?;
    Ok(ResultFile {
        rows,
        file,
        stats,
        approximation,
    })
}

/// How a run ends when the temp disk budget refused it bytes: the task fails, saying what the
/// bound is and what to do. Not retried: the same export would ask for the same bytes again.
fn temp_disk_full(refused: &Exhausted) -> Unfinished {
    Unfinished::fail(
        ErrorCode::TempDiskFull,
        format!(
            "the export needs more temp disk than this worker allows: worker.temp_disk_bytes is {} bytes, shared by the worker's running exports, which held {} bytes when it asked for {} more; narrow the export (a shorter range, fewer domains, a narrower query or a smaller count) or raise worker.temp_disk_bytes, with the disk under worker.temp_dir to match",
            thousands(refused.limit),
            thousands(refused.in_use),
            thousands(refused.requested)
        ),
    )
}

/// "object store: GET bucket/key: what it said", the cause a transient failure records.
fn storage_cause(what: &str, e: &StorageError) -> String {
    match e {
        StorageError::Unavailable(said) => format!("object store: {what}: {said}"),
        e => format!("object store: {what}: {e}"),
    }
}

/// How a run ends after a failed object-store call `what` (e.g. `GET bucket/key`).
fn storage_stop(e: &StorageError, what: &str) -> Unfinished {
    match e {
        StorageError::NoSuchBucket { bucket } => Unfinished::fail(
            ErrorCode::LogBucketNotFound,
            format!("the log bucket '{bucket}' does not exist"),
        ),
        StorageError::NoSuchKey { key, .. } => Unfinished::fail(
            ErrorCode::LogFileVanished,
            format!("the log file '{key}' disappeared while the export ran"),
        ),
        e if e.is_retryable() => Unfinished::Retry(storage_cause(what, e)),
        e => Unfinished::fail(
            ErrorCode::ObjectStoreError,
            format!("the object store refused the request: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests;
