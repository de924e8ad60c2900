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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use statport_core::aggregate::ReportAggregate;
use statport_core::clock::Clock;
use statport_core::condition::thousands;
use statport_core::condition::ExportFormat;
use statport_core::task::{ExportJob, TaskError, TaskRecord};
use statport_core::ErrorCode;
use statport_core::ExportCondition;
use statport_status::{Claim, Outcome, TaskStore};
use statport_storage::{ObjectMeta, ObjectStore, StorageError};
use tokio::task::JoinSet;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::output::{self, RowWriter};
use crate::retry::{human_span, jitter_unit, Decision, RetryPolicy};
use crate::scan::{scan_cloudfront, ScanError, ScanSignals, ScanStats};
use crate::source::select_objects;

pub use statport_core::tenant::{LogFormat, LogSource, Tenant};

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
}

/// Everything a run needs, shared by all runs of a process.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// Task records.
    pub tasks: Arc<dyn TaskStore>,
    /// Logs and results.
    pub objects: Arc<dyn ObjectStore>,
    /// Log source per tenant id.
    pub tenants: Arc<HashMap<String, Tenant>>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Knobs.
    pub settings: WorkerSettings,
    /// Cancelled when the process shuts down: runs stop at their next check and hand their task
    /// back ([`RunEnd::Released`]).
    pub shutdown: CancellationToken,
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
        /// Rows written.
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

enum Stop {
    Retry(String),
    Fail(TaskError, ScanStats),
    Released,
    Dropped,
}

fn fail(code: ErrorCode, msg: impl Into<String>) -> Stop {
    Stop::Fail(
        TaskError {
            error_code: code.as_str().to_string(),
            error_msg: msg.into(),
        },
        ScanStats::default(),
    )
}

/// The object key of a task's result file.
pub fn result_key(prefix: &str, tenant: &str, task_id: &str, format: ExportFormat) -> String {
    format!("{prefix}{tenant}/{task_id}.{}", format.extension())
}

/// Runs `job` as run `run_id`. `Err` means "retry later"; every other end is recorded in the
/// task itself.
pub async fn run_export(
    ctx: &ExportContext,
    job: &ExportJob,
    run_id: &str,
) -> Result<RunEnd, RetryLater> {
    if ctx.shutdown.is_cancelled() {
        return Ok(RunEnd::Released);
    }
    let now = ctx.clock.now_ms();
    let record = match ctx
        .tasks
        .claim(&job.tenant_id, &job.task_id, run_id, now)
        .await
    {
        Ok(Claim::Started(r)) => r,
        Ok(Claim::AlreadyFinished(_)) | Ok(Claim::Missing) => return Ok(RunEnd::Dropped),
        Err(e) => return Err(RetryLater(format!("status store: {e}"))),
    };
    let crashes = record.retries.crash_recoveries;
    info!(task_id = %record.task_id, tenant = %record.tenant_id, attempt = record.attempts, crashes, transient = record.retries.transient_failures, run_id, "export started");
    let crash_loop = crashes >= ctx.settings.max_attempts;
    let result = if crash_loop {
        Err(fail(
            ErrorCode::TooManyAttempts,
            format!(
                "the export's worker stopped without finishing {crashes} times (crashed or was killed); giving up"
            ),
        ))
    } else {
        match execute(ctx, &record, run_id).await {
            // Stopping scans on shutdown makes them end as cancelled or as failed reads: the
            // run was stopped, not dropped or failed (a run that truly lost its task finds out
            // when the release is refused).
            Err(Stop::Dropped | Stop::Retry(_)) if ctx.shutdown.is_cancelled() => {
                Err(Stop::Released)
            }
            other => other,
        }
    };
    let (outcome, end) = match result {
        Ok((rows, file_size, file_key, stats)) => (
            Outcome::Success {
                export_count: rows,
                file_size,
                file_key: file_key.clone(),
                read_lines: stats.lines,
                skipped_lines: stats.skipped,
            },
            RunEnd::Succeeded { rows },
        ),
        Err(Stop::Dropped) => {
            info!(task_id = %record.task_id, run_id, "export dropped: task deleted or taken over");
            return Ok(RunEnd::Dropped);
        }
        Err(Stop::Released) => {
            info!(task_id = %record.task_id, run_id, "export stopped by shutdown, handing the task back");
            (Outcome::Released, RunEnd::Released)
        }
        Err(Stop::Retry(cause)) => {
            let now = ctx.clock.now_ms();
            match ctx
                .settings
                .retry
                .decide(&record.retries, now, jitter_unit())
            {
                Decision::RetryAt(retry_at) => {
                    warn!(task_id = %record.task_id, run_id, cause = %cause, in_ms = retry_at - now, "export interrupted by a transient error, will retry");
                    (
                        Outcome::Deferred {
                            cause: cause.clone(),
                            retry_at,
                        },
                        RunEnd::Deferred { retry_at, cause },
                    )
                }
                Decision::GiveUp { retried_ms } => {
                    let error = TaskError {
                        error_code: ErrorCode::DependencyUnavailable.as_str().into(),
                        error_msg: format!(
                            "gave up after {} of retries; last error: {cause}",
                            human_span(retried_ms)
                        ),
                    };
                    warn!(task_id = %record.task_id, run_id, msg = %error.error_msg, "export failed");
                    (
                        Outcome::Fail {
                            error,
                            read_lines: 0,
                            skipped_lines: 0,
                        },
                        RunEnd::Failed,
                    )
                }
            }
        }
        Err(Stop::Fail(error, stats)) => {
            warn!(task_id = %record.task_id, run_id, code = %error.error_code, msg = %error.error_msg, "export failed");
            (
                Outcome::Fail {
                    error,
                    read_lines: stats.lines,
                    skipped_lines: stats.skipped,
                },
                if crash_loop {
                    RunEnd::CrashLoop
                } else {
                    RunEnd::Failed
                },
            )
        }
    };
    let file_key = match &outcome {
        Outcome::Success { file_key, .. } => Some(file_key.clone()),
        _ => None,
    };
    match ctx
        .tasks
        .finish(
            &record.tenant_id,
            &record.task_id,
            run_id,
            outcome,
            ctx.clock.now_ms(),
        )
        .await
    {
        Ok(true) => {
            info!(task_id = %record.task_id, run_id, ?end, "export finished");
            Ok(end)
        }
        Ok(false) => {
            // Deleted (cancelled) or taken over while we uploaded: our file is nobody's.
            if let Some(key) = file_key {
                let newer = ctx
                    .tasks
                    .get(&record.tenant_id, &record.task_id)
                    .await
                    .ok()
                    .flatten();
                if newer.is_none() {
                    let _ = ctx.objects.delete(&ctx.settings.results_bucket, &key).await;
                }
            }
            Ok(RunEnd::Dropped)
        }
        Err(e) => Err(RetryLater(format!("status store: {e}"))),
    }
}

async fn execute(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
) -> Result<(u64, u64, String, ScanStats), Stop> {
    let tenant = ctx.tenants.get(&record.tenant_id).ok_or_else(|| {
        fail(
            ErrorCode::NoLogSource,
            format!(
                "no log source is configured for tenant '{}'",
                record.tenant_id
            ),
        )
    })?;
    let source = &tenant.source;
    if !source.format.is_readable() {
        return Err(fail(
            ErrorCode::UnsupportedLogFormat,
            "this tenant's log format is not readable yet; only 'cloudfront' is",
        ));
    }
    let condition = &record.condition;
    let listed = ctx
        .objects
        .list(&source.bucket, &source.prefix)
        .await
        .map_err(|e| storage_stop(&e, &format!("LIST {}/{}", source.bucket, source.prefix)))?;
    let objects = select_objects(
        source.format,
        listed,
        condition.range_start,
        condition.range_end,
        ctx.settings.late_hours,
    );
    let total_bytes: u64 = objects.iter().map(|o| o.size).sum();
    info!(task_id = %record.task_id, files = objects.len(), bytes = total_bytes, "log files selected");

    let (aggregate, stats) = scan_all(
        ctx,
        record,
        run_id,
        source,
        tenant.limits.max_rows,
        objects,
        total_bytes,
    )
    .await?;
    if ctx.shutdown.is_cancelled() {
        return Err(Stop::Released);
    }

    let format = condition.export_format;
    let temp = ctx.settings.temp_dir.join(format!(
        "{}-{run_id}.{}",
        record.task_id,
        format.extension()
    ));
    let rows = {
        let temp = temp.clone();
        let condition = condition.clone();
        tokio::task::spawn_blocking(move || write_file(&temp, &condition, &aggregate))
            .await
            .map_err(|e| Stop::Retry(format!("writer thread: {e}")))?
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(Stop::Retry(format!("writing the result file: {e}")));
        }
    };
    let key = result_key(
        &ctx.settings.results_prefix,
        &record.tenant_id,
        &record.task_id,
        format,
    );
    // A shutdown does not wait for an upload: the next run writes the same file again.
    let uploaded = tokio::select! {
        done = ctx.objects.put_file(
            &ctx.settings.results_bucket,
            &key,
            &temp,
            format.content_type(),
        ) => Some(done),
        () = ctx.shutdown.cancelled() => None,
    };
    let _ = std::fs::remove_file(&temp);
    let Some(uploaded) = uploaded else {
        return Err(Stop::Released);
    };
    let size = uploaded.map_err(|e| match e {
        StorageError::NoSuchBucket { bucket } => fail(
            ErrorCode::ResultBucketMissing,
            format!("the result bucket '{bucket}' does not exist"),
        ),
        e if e.is_retryable() => Stop::Retry(storage_cause(
            &format!("PUT {}/{key}", ctx.settings.results_bucket),
            &e,
        )),
        e => fail(
            ErrorCode::ObjectStoreError,
            format!("the object store refused the result file: {e}"),
        ),
    })?;
    Ok((rows, size, key, stats))
}

/// "object store: GET bucket/key: what it said", the cause a transient failure records.
fn storage_cause(what: &str, e: &StorageError) -> String {
    match e {
        StorageError::Unavailable(said) => format!("object store: {what}: {said}"),
        e => format!("object store: {what}: {e}"),
    }
}

/// The stop for a failed object-store call `what` (e.g. `GET bucket/key`).
fn storage_stop(e: &StorageError, what: &str) -> Stop {
    match e {
        StorageError::NoSuchBucket { bucket } => fail(
            ErrorCode::LogBucketNotFound,
            format!("the log bucket '{bucket}' does not exist"),
        ),
        StorageError::NoSuchKey { key, .. } => fail(
            ErrorCode::LogFileVanished,
            format!("the log file '{key}' disappeared while the export ran"),
        ),
        e if e.is_retryable() => Stop::Retry(storage_cause(what, e)),
        e => fail(
            ErrorCode::ObjectStoreError,
            format!("the object store refused the request: {e}"),
        ),
    }
}

async fn scan_all(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    source: &LogSource,
    max_rows: u64,
    objects: Vec<ObjectMeta>,
    total_bytes: u64,
) -> Result<(ReportAggregate, ScanStats), Stop> {
    let condition = Arc::new(record.condition.clone());
    let signals = Arc::new(ScanSignals::default());
    // Cancelled with the process, or by this run when it stops early: wakes reads that wait on
    // the network so every scan thread ends promptly.
    let run_stop = ctx.shutdown.child_token();
    // Bounded: an export whose rows are only known while scanning (`all` or a wildcard grouped
    // by domain) stops growing at the tenant's row limit instead of exhausting memory.
    let mut merged = ReportAggregate::bounded(&condition, max_rows);
    let mut stats = ScanStats::default();
    let mut pending = objects.into_iter();
    let mut running: JoinSet<Result<(ReportAggregate, ScanStats), Stop>> = JoinSet::new();
    let mut ticker = tokio::time::interval(ctx.settings.progress_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let parallelism = ctx.settings.scan_parallelism.max(1);
    let result = loop {
        while running.len() < parallelism {
            let Some(object) = pending.next() else { break };
            running.spawn(scan_object(
                Arc::clone(&ctx.objects),
                source.bucket.clone(),
                object,
                Arc::clone(&condition),
                Arc::clone(&signals),
                run_stop.clone(),
                max_rows,
            ));
        }
        if running.is_empty() {
            break Ok(());
        }
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(Ok(Ok((part, part_stats)))) => {
                    if merged.merge(&part).is_err() {
                        break Err(Stop::Retry("partial aggregates of different shapes".into()));
                    }
                    stats.lines += part_stats.lines;
                    stats.skipped += part_stats.skipped;
                    stats.selected += part_stats.selected;
                    stats.too_long += part_stats.too_long;
                    if let Some(rows) = merged.overflowed() {
                        break Err(too_many_rows(rows, max_rows));
                    }
                }
                Some(Ok(Err(stop))) => break Err(stop),
                Some(Err(join)) => break Err(Stop::Retry(format!("scan thread: {join}"))),
                None => {}
            },
            () = ctx.shutdown.cancelled() => break Err(Stop::Released),
            _ = ticker.tick() => {
                let read = signals.bytes_read.load(Ordering::Relaxed);
                let progress = read.saturating_mul(99).checked_div(total_bytes).unwrap_or(0).min(99) as u8;
                match ctx.tasks.progress(&record.tenant_id, &record.task_id, run_id, progress, stats.lines, stats.skipped, ctx.clock.now_ms()).await {
                    Ok(true) => {}
                    Ok(false) => break Err(Stop::Dropped),
                    Err(e) => warn!(task_id = %record.task_id, error = %e, "progress report failed"),
                }
            }
        }
    };
    if let Err(stop) = result {
        signals.cancel.store(true, Ordering::Relaxed);
        run_stop.cancel();
        // Wait for the scans rather than abort them: a blocking scan thread outlives an aborted
        // task and would read through the runtime after it shut down. Each scan sees the cancel
        // flag at its next check and ends.
        while running.join_next().await.is_some() {}
        return Err(match stop {
            Stop::Fail(error, _) => Stop::Fail(error, stats),
            other => other,
        });
    }
    Ok((merged, stats))
}

/// The task's end when its rows outgrow the tenant's limit while scanning.
fn too_many_rows(at_least: u64, max_rows: u64) -> Stop {
    fail(
        ErrorCode::TooManyRows,
        format!(
            "this export makes at least {} rows and the limit is {} rows per export: use a coarser granularity, a shorter range or name the domains",
            thousands(at_least),
            thousands(max_rows)
        ),
    )
}

async fn scan_object(
    objects: Arc<dyn ObjectStore>,
    bucket: String,
    object: ObjectMeta,
    condition: Arc<ExportCondition>,
    signals: Arc<ScanSignals>,
    stop: CancellationToken,
    max_rows: u64,
) -> Result<(ReportAggregate, ScanStats), Stop> {
    let reader = tokio::select! {
        got = objects.get(&bucket, &object.key) => got
            .map_err(|e| storage_stop(&e, &format!("GET {bucket}/{}", object.key)))?,
        () = stop.cancelled() => return Err(Stop::Dropped),
    };
    let reader = StoppableReader::new(reader, stop);
    let handle = tokio::task::spawn_blocking(move || {
        let mut aggregate = ReportAggregate::bounded(&condition, max_rows);
        let sync = SyncIoBridge::new(reader);
        scan_cloudfront(&object.key, sync, &condition, &mut aggregate, &signals)
            .map(|stats| (aggregate, stats))
    });
    match handle.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(ScanError::Corrupt { key, reason })) => Err(fail(
            ErrorCode::CorruptLogFile,
            format!("the log file '{key}' is not valid gzip ({reason})"),
        )),
        Ok(Err(ScanError::Read { key, reason })) => Err(Stop::Retry(format!(
            "object store: GET {bucket}/{key}: {reason}"
        ))),
        Ok(Err(ScanError::Cancelled)) => Err(Stop::Dropped),
        Err(join) => Err(Stop::Retry(format!("scan thread: {join}"))),
    }
}

/// An object body whose reads fail once `stop` is cancelled, even while they wait on the
/// network, so a scan thread blocked in a read ends when its run stops.
struct StoppableReader<R> {
    inner: R,
    stopped: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<R> StoppableReader<R> {
    fn new(inner: R, stop: CancellationToken) -> Self {
        StoppableReader {
            inner,
            stopped: Box::pin(stop.cancelled_owned()),
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for StoppableReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if std::future::Future::poll(self.stopped.as_mut(), cx).is_ready() {
            return std::task::Poll::Ready(Err(std::io::Error::other("run stopped")));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Writes the aggregate's rows to `path` in the condition's format; returns the rows written.
pub fn write_file(
    path: &Path,
    condition: &ExportCondition,
    aggregate: &ReportAggregate,
) -> Result<u64, output::OutputError> {
    let columns = ReportAggregate::columns(condition);
    let mut writer: Box<dyn RowWriter + Send> = match condition.export_format {
        ExportFormat::Csv => output::csv_writer(path, &columns, condition.language)?,
        ExportFormat::Json => output::json_writer(path, &columns)?,
        ExportFormat::Xlsx => output::xlsx_writer(path, &columns, condition.language)?,
    };
    for row in aggregate.rows(condition) {
        writer.write_row(&row)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests;
