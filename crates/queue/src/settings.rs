//! The queue's settings, one struct for both backends (the API side and the workers must agree
//! on `name`).

use std::time::Duration;

/// How the queue is set up.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Queue name (a Redis key prefix; the `job_type` of the SQLite rows).
    pub name: String,
    /// Heartbeat period of each worker.
    pub heartbeat: Duration,
    /// Beats a worker may miss before its in-flight jobs are given to others.
    pub missed_heartbeats: usize,
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// Jobs one process runs at the same time.
    pub concurrency: usize,
    /// Longest a job may run before it is abandoned (and retried).
    pub job_timeout: Duration,
    /// How long shutdown waits for running jobs.
    pub shutdown_timeout: Duration,
}

impl QueueSettings {
    /// How long a silent worker keeps its jobs: heartbeat × missed beats.
    pub fn orphan_after(&self) -> Duration {
        self.heartbeat
            .saturating_mul(u32::try_from(self.missed_heartbeats).unwrap_or(u32::MAX))
    }
}
