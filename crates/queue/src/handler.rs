//! The handler port: what a worker does with a job, and how a run ends. The queue does not know
//! what an export is; the worker crate implements [`JobHandler`] over its export run.

use async_trait::async_trait;
use statport_core::task::ExportJob;

/// How one run of a job ended, which decides what the runner does with the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// Finished (well or badly, as far as the task is concerned): ack the job.
    Done,
    /// Run it again at `.0` (ms since the epoch): ack the job and push a new one due then, so a
    /// waiting task holds no worker slot.
    RetryAt(i64),
    /// Run it again at once, on any worker (a run stopped by shutdown): ack the job and push a
    /// new one due now, so another worker takes it without waiting for a heartbeat to expire.
    RunAgainNow,
    /// Never run it again: the job goes to the dead letters with this reason.
    Abort(String),
    /// A failure the backend retries, up to 25 attempts, about `attempt` seconds apart (Redis
    /// schedules the retry; SQLite re-fetches at once, so the runner holds the run first, see
    /// [`crate::runner::ErrorSpacing`]). Then the job is a dead letter.
    Error(String),
}

/// Runs jobs pulled from the queue.
#[async_trait]
pub trait JobHandler: Send + Sync + std::fmt::Debug {
    /// Runs `job`. A run watches the runner's stop token (given to `run_workers`): once it is
    /// cancelled the run should stop soon and end with [`JobEnd::RunAgainNow`].
    async fn run(&self, job: &ExportJob) -> JobEnd;
}
