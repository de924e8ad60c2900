//! Retention: what statport stores is removed when it is no longer needed, so neither Redis nor
//! the result bucket grows with the number of tasks ever run.
//!
//! - Result files live for their tenant's retention period after the task ended (3 days by
//!   default, the CLS seed); then the file is deleted and the task says `file_status: expired`.
//! - Task records are bounded by the kept-tasks limit at admission (the oldest finished one is
//!   evicted with its file), so they need no sweep.
//! - The queue's own records of finished jobs (apalis-redis keeps each job's payload, its
//!   metadata hash and its id in the done set forever; apalis-sqlite keeps its `Done` rows) are
//!   removed here through the queue's [`FinishedJobs`] port: once a job is done, the task record
//!   is the only truth about it.
//!
//! A sweep is idempotent and cheap (a tenant keeps at most its kept-tasks limit of records), so
//! every worker process runs one periodically without coordination.

use std::sync::Arc;
use std::time::Duration;

use statport_core::clock::Clock;
use statport_core::task::TaskStatus;
use statport_queue::FinishedJobs;
use statport_status::{ListQuery, TaskStore};
use statport_storage::ObjectStore;
use tracing::{debug, info, warn};

/// One tenant's retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRetention {
    /// The tenant.
    pub tenant: String,
    /// How long a result file is kept after its task ended.
    pub file_retention: Duration,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Result files deleted at the end of their retention.
    pub files_expired: u64,
    /// Finished jobs whose queue records were removed.
    pub queue_records_removed: u64,
}

/// Runs retention sweeps.
#[derive(Debug, Clone)]
pub struct Janitor {
    /// Task records.
    pub tasks: Arc<dyn TaskStore>,
    /// Result files.
    pub objects: Arc<dyn ObjectStore>,
    /// Bucket of the result files.
    pub results_bucket: String,
    /// Every configured tenant and its retention.
    pub tenants: Vec<TenantRetention>,
    /// The queue's records of finished jobs, when it keeps them.
    pub queue: Option<Arc<dyn FinishedJobs>>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

impl Janitor {
    /// One sweep: expires result files past their retention and trims the queue's records of
    /// finished jobs. Errors are logged and the sweep goes on; the next sweep retries.
    pub async fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let now = self.clock.now_ms();
        for tenant in &self.tenants {
            report.files_expired += self.expire_files(tenant, now).await;
        }
        if let Some(queue) = &self.queue {
            match queue.trim().await {
                Ok(n) => report.queue_records_removed = n,
                Err(e) => warn!(error = %e, "trimming finished queue records failed"),
            }
        }
        if report != SweepReport::default() {
            info!(
                files_expired = report.files_expired,
                queue_records_removed = report.queue_records_removed,
                "retention sweep"
            );
        }
        report
    }

    async fn expire_files(&self, tenant: &TenantRetention, now: i64) -> u64 {
        let retention = i64::try_from(tenant.file_retention.as_millis()).unwrap_or(i64::MAX);
        let ended_by = now.saturating_sub(retention);
        let page = match self
            .tasks
            .list(&tenant.tenant, &ListQuery::everything())
            .await
        {
            Ok(page) => page,
            Err(e) => {
                warn!(tenant = %tenant.tenant, error = %e, "listing tasks for retention failed");
                return 0;
            }
        };
        let mut expired = 0;
        for record in page.data {
            let due = record.status == TaskStatus::Success
                && record.file_key.is_some()
                && record.file_expired_at.is_none()
                && record.end_time.is_some_and(|end| end <= ended_by);
            if !due {
                continue;
            }
            // The record forgets the file first (guarded by its end time, so a task reset or
            // re-run since keeps its new file), then the object goes.
            let key = match self
                .tasks
                .expire_file(&tenant.tenant, &record.task_id, ended_by, now)
                .await
            {
                Ok(Some(key)) => key,
                Ok(None) => continue,
                Err(e) => {
                    warn!(task_id = %record.task_id, error = %e, "expiring a result file failed");
                    continue;
                }
            };
            match self.objects.delete(&self.results_bucket, &key).await {
                Ok(()) => {
                    debug!(task_id = %record.task_id, key = %key, "result file expired");
                    expired += 1;
                }
                Err(e) => {
                    warn!(task_id = %record.task_id, key = %key, error = %e, "deleting an expired result file failed; it is an orphan now")
                }
            }
        }
        expired
    }

    /// Sweeps every `interval` until `shutdown` resolves.
    pub async fn run(self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {
                    self.sweep().await;
                }
            }
        }
    }
}
