//! Claim and finish: one run of a task from its claim to the record of how it ended (success,
//! failure, a deferred retry, a release at shutdown), through the guarded transitions.

use std::time::Duration;

use statport_core::result_file::wants_file;
use statport_core::task::{ExportJob, TaskError, TaskRecord, TaskStatus};
use statport_core::ErrorCode;
use statport_records::{Claim, Outcome};
use tracing::{info, warn};

use super::{execute, ExportContext, ResultFile, RetryLater, RunEnd, TaskEnd, Unfinished};
use crate::retry::{human_span, jitter_unit, Decision};

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
        Err(Unfinished::fail(
            ErrorCode::TooManyAttempts,
            format!(
                "the export's worker stopped without finishing {crashes} times (crashed or was killed); giving up"
            ),
        ))
    } else {
        match execute_within_timeout(ctx, &record, run_id).await {
            // Stopping scans on shutdown makes them end as cancelled or as failed reads: the
            // run was stopped, not dropped or failed (a run that truly lost its task finds out
            // when the release is refused).
            Err(Unfinished::Dropped | Unfinished::Retry(_)) if ctx.shutdown.is_cancelled() => {
                Err(Unfinished::Released)
            }
            other => other,
        }
    };
    let (outcome, end) = match result {
        Ok(ResultFile {
            rows,
            file,
            stats,
            approximation,
        }) => (
            Outcome::Success {
                export_count: rows,
                file_size: file.size,
                file_key: file.key,
                read_lines: stats.lines,
                skipped_lines: stats.skipped,
                approximation,
            },
            RunEnd::Succeeded { rows },
        ),
        Err(Unfinished::Dropped) => {
            info!(task_id = %record.task_id, run_id, "export dropped: task deleted or taken over");
            return Ok(RunEnd::Dropped);
        }
        Err(Unfinished::Released) => {
            info!(task_id = %record.task_id, run_id, "export stopped by shutdown, handing the task back");
            (Outcome::Released, RunEnd::Released)
        }
        Err(Unfinished::Retry(cause)) => {
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
        Err(Unfinished::Fail(error, stats)) => {
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
            report_end(ctx, &record, run_id, &end);
            Ok(end)
        }
        Ok(false) => {
            // Deleted (cancelled) or taken over while we uploaded. Every run of a task writes
            // the same key, so the file is ours to delete only when no record wants it: the
            // task is gone, or it ended without naming this file (the run that took over
            // failed, or its file expired). A waiting or processing task's run will write the
            // key again, a success names it; a failed read says nothing either way (the file is
            // then kept, and the janitor's sweep of orphans removes it if no task wants it).
            if let Some(key) = file_key {
                let prefix = &ctx.settings.results_prefix;
                match ctx.tasks.get(&record.tenant_id, &record.task_id).await {
                    Ok(now) if !now.as_ref().is_some_and(|r| wants_file(prefix, r, &key)) => {
                        info!(task_id = %record.task_id, run_id, key = %key, "the superseded run's file belongs to no task; deleting it");
                        if let Err(e) = ctx.objects.delete(&ctx.settings.results_bucket, &key).await
                        {
                            warn!(task_id = %record.task_id, key = %key, error = %e, "deleting the superseded run's file failed; the orphan sweep will");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(task_id = %record.task_id, key = %key, error = %e, "could not tell whether the superseded task still wants its file; it is kept");
                    }
                }
            }
            Ok(RunEnd::Dropped)
        }
        Err(e) => Err(RetryLater(format!("status store: {e}"))),
    }
}

/// How long a run stopped by its timeout may take to wind down (its scans see the cancel at
/// their next check, the upload is dropped) before it is left behind.
const TIMED_OUT_RUN_GRACE: Duration = Duration::from_secs(30);

/// [`execute`] under the action's job timeout and a watch on its task. The run gets a stop
/// token of its own (a child of the process's shutdown), cancelled
/// - at the deadline: the scans stop and the upload is aborted, and the run becomes a failure
///   with `StatPort.ExportTimedOut`, unless it finished in the meantime;
/// - when the watch, which reads the task every `progress_interval`, finds it deleted or taken
///   over by another run (a DELETE, a replacement, a takeover): the run ends dropped, in every
///   phase (scanning, sorting, merging, uploading), within that interval plus the phase's next
///   look at the token.
async fn execute_within_timeout(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
) -> Result<ResultFile, Unfinished> {
    let limit = ctx.settings.timeouts.for_action(record.condition.action);
    let run_ctx = ExportContext {
        shutdown: ctx.shutdown.child_token(),
        ..ctx.clone()
    };
    let work = execute(&run_ctx, record, run_id);
    tokio::pin!(work);
    let lost = tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(limit) => false,
        () = watch_task(ctx, record, run_id) => true,
    };
    run_ctx.shutdown.cancel();
    if lost {
        info!(task_id = %record.task_id, run_id, "the task was deleted or taken over; stopping its run");
    } else {
        warn!(task_id = %record.task_id, run_id, limit_secs = limit.as_secs(), "export ran past its job timeout; stopping it");
    }
    let stopped = tokio::time::timeout(TIMED_OUT_RUN_GRACE, &mut work).await;
    if lost {
        return Err(Unfinished::Dropped);
    }
    if let Ok(Ok(file)) = stopped {
        return Ok(file);
    }
    if ctx.shutdown.is_cancelled() {
        return Err(Unfinished::Released);
    }
    Err(Unfinished::fail(
        ErrorCode::ExportTimedOut,
        format!(
            "the export ran longer than its job timeout of {} and was stopped; narrow the time range or the domains, or raise {}",
            human_span(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX)),
            if record.condition.action == statport_core::request::Action::Logs {
                "queue.logs_job_timeout_secs"
            } else {
                "queue.job_timeout_secs"
            }
        ),
    ))
}

/// Returns once the task is gone or no longer held by `run_id` (read every
/// `progress_interval`); a failed read says nothing and the watch goes on.
async fn watch_task(ctx: &ExportContext, record: &TaskRecord, run_id: &str) {
    loop {
        tokio::time::sleep(ctx.settings.progress_interval).await;
        match ctx.tasks.get(&record.tenant_id, &record.task_id).await {
            Ok(None) => return,
            Ok(Some(now)) if now.run_id.as_deref() != Some(run_id) => return,
            Ok(Some(_)) | Err(_) => {}
        }
    }
}

/// Tells the [`TaskEnded`](super::TaskEnded) port, if any, that `record` ended as `end` under `run_id` (only
/// `success` and `fail` are ends; a deferred or released run is not).
fn report_end(ctx: &ExportContext, record: &TaskRecord, run_id: &str, end: &RunEnd) {
    let status = match end {
        RunEnd::Succeeded { .. } => TaskStatus::Success,
        RunEnd::Failed | RunEnd::CrashLoop => TaskStatus::Fail,
        RunEnd::Deferred { .. } | RunEnd::Released | RunEnd::Dropped => return,
    };
    if let Some(listener) = &ctx.task_ended {
        listener.task_ended(TaskEnd {
            tenant_id: record.tenant_id.clone(),
            task_id: record.task_id.clone(),
            run_id: run_id.to_owned(),
            status,
            callback_url: record.condition.callback_url.clone(),
        });
    }
}
