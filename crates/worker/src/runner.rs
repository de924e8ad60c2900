//! The export run as the queue's [`JobHandler`], and the workers that run it.
//!
//! The queue (`statport-queue`) pulls jobs from Redis or SQLite and turns a [`JobEnd`] into an
//! ack, a pushed job or a dead letter; this module only says what each end of an export run
//! ([`RunEnd`]) means for its job: a transient error → [`JobEnd::RetryAt`] the retry time, so a
//! waiting task holds no worker slot; a shutdown → [`JobEnd::RunAgainNow`], so another worker
//! takes the task without waiting for this worker's heartbeat to expire; a crash loop →
//! [`JobEnd::Abort`] into the dead letters; a `RetryLater` error → [`JobEnd::Error`], which the
//! backend retries. The task's own record decides when to give up (crash recoveries against
//! `max_attempts`, transient failures against the retry span), since the backends retry an
//! error many times.

use std::sync::Arc;

use async_trait::async_trait;
use statport_core::task::ExportJob;
use statport_queue::runner::PolledBackend;
use statport_queue::{JobEnd, JobHandler, QueueSettings, RunnerError, WorkerBackend};

use crate::job::{run_export, ExportContext, RunEnd};
use tokio_util::sync::CancellationToken;

/// Export runs, as the queue's job handler.
#[derive(Debug, Clone)]
pub struct ExportHandler {
    ctx: Arc<ExportContext>,
}

impl ExportHandler {
    /// Runs jobs with `ctx`; its `shutdown` token is the one the runs watch.
    pub fn new(ctx: Arc<ExportContext>) -> Self {
        ExportHandler { ctx }
    }
}

/// What the end of an export run of `job` means for the job.
pub fn job_end(job: &ExportJob, end: RunEnd) -> JobEnd {
    match end {
        RunEnd::Deferred { retry_at, .. } => JobEnd::RetryAt(retry_at),
        RunEnd::Released => JobEnd::RunAgainNow,
        RunEnd::CrashLoop => JobEnd::Abort(format!(
            "task {} of tenant {} crashed its worker too many times",
            job.task_id, job.tenant_id
        )),
        RunEnd::Succeeded { .. } | RunEnd::Failed | RunEnd::Dropped => JobEnd::Done,
    }
}

#[async_trait]
impl JobHandler for ExportHandler {
    async fn run(&self, job: &ExportJob) -> JobEnd {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        match run_export(&self.ctx, job, &run_id).await {
            Ok(end) => job_end(job, end),
            Err(retry) => JobEnd::Error(retry.to_string()),
        }
    }
}

/// Runs export workers on `backend` (Redis or SQLite, see `statport_queue::redis::worker_backend`
/// and `statport_queue::sqlite::worker_backend`) until `shutdown` is cancelled; then cancels
/// `ctx.shutdown`, so the runs hand their tasks back, and waits for them at most
/// `settings.shutdown_timeout` (past that: [`RunnerError::ShutdownTimedOut`]).
pub async fn run_workers<B: PolledBackend>(
    ctx: Arc<ExportContext>,
    backend: WorkerBackend<B>,
    settings: QueueSettings,
    shutdown: CancellationToken,
) -> Result<(), RunnerError> {
    let stop = ctx.shutdown.clone();
    statport_queue::run_workers(
        backend,
        Arc::new(ExportHandler::new(ctx)),
        settings,
        stop,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_end_has_its_job_end() {
        let job = ExportJob {
            tenant_id: "t".into(),
            task_id: "x".into(),
        };
        let cases = [
            (RunEnd::Succeeded { rows: 3 }, JobEnd::Done),
            (RunEnd::Failed, JobEnd::Done),
            (RunEnd::Dropped, JobEnd::Done),
            (RunEnd::Released, JobEnd::RunAgainNow),
            (
                RunEnd::Deferred {
                    retry_at: 1_234,
                    cause: "s3".into(),
                },
                JobEnd::RetryAt(1_234),
            ),
            (
                RunEnd::CrashLoop,
                JobEnd::Abort("task x of tenant t crashed its worker too many times".into()),
            ),
        ];
        for (run_end, expected) in cases {
            assert_eq!(job_end(&job, run_end), expected);
        }
    }
}
