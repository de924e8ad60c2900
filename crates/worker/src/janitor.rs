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
//! - Result files that no task wants (an orphan: its task deleted or failed, a superseded run's
//!   upload, a delete that failed) are deleted by the orphan sweep ([`orphans`], one more step
//!   of each sweep) once they have been orphans for its grace period: every object under the
//!   results prefix is the file of a live record or goes.
//!
//! - The sort directories of `logs` runs (`statport-logs-*` in the worker's temp dir) are
//!   removed by their run however it ends; one left by a process that died mid-run is removed
//!   here once nothing changed in it for longer than a job may run.
//!
//! A sweep is idempotent and cheap (a tenant keeps at most its kept-tasks limit of records), so
//! every worker process runs one periodically without coordination.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

use statport_core::task::TaskStatus;
use statport_core::time::clock::Clock;
use statport_queue::FinishedJobs;
use statport_records::{ListQuery, TaskStore};
use statport_storage::ObjectStore;
use tracing::{debug, info, warn};

pub mod orphans;

pub use orphans::OrphanSweep;

/// One tenant's retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRetention {
    /// The tenant whose result files this retention applies to.
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
    /// Sort directories of dead `logs` runs removed.
    pub sort_dirs_removed: u64,
    /// Result files no task wanted, deleted after their grace period.
    pub orphans_deleted: u64,
}

/// Where `logs` runs keep their sort directories, and when one counts as left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleSortDirs {
    /// The worker's temp dir, where every `logs` run creates its sort directory.
    pub temp_dir: PathBuf,
    /// A directory unchanged (no run file written or removed) for longer than this belongs
    /// to no live run: the queue's job timeout, past which no run goes on.
    pub older_than: Duration,
}

/// Runs retention sweeps: what a process needs to remove what outlived its retention.
#[derive(Debug, Clone)]
pub struct Janitor {
    /// Task records: where ended tasks and their result keys are found.
    pub tasks: Arc<dyn TaskStore>,
    /// Where the result files are deleted.
    pub objects: Arc<dyn ObjectStore>,
    /// Bucket of the result files.
    pub results_bucket: String,
    /// Every configured tenant and its retention.
    pub tenants: Vec<TenantRetention>,
    /// The queue's records of finished jobs, when it keeps them.
    pub queue: Option<Arc<dyn FinishedJobs>>,
    /// The time retention ages are measured against (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// The `logs` sort directories to sweep, when this process runs exports.
    pub sort_dirs: Option<StaleSortDirs>,
    /// The sweep of orphaned result files under the results prefix, when enabled.
    pub orphans: Option<OrphanSweep>,
}

/// Removes the `logs` sort directories in `dirs.temp_dir` last changed more than
/// `dirs.older_than` before `now_ms`; returns how many.
fn remove_stale_sort_dirs(dirs: &StaleSortDirs, now_ms: i64) -> u64 {
    let Ok(entries) = std::fs::read_dir(&dirs.temp_dir) else {
        return 0;
    };
    let older_than = i64::try_from(dirs.older_than.as_millis()).unwrap_or(i64::MAX);
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name
            .to_string_lossy()
            .starts_with(crate::sort::SORT_DIR_PREFIX)
        {
            continue;
        }
        let changed_ms = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok());
        let Some(changed_ms) = changed_ms else {
            continue;
        };
        if now_ms.saturating_sub(changed_ms) <= older_than {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => {
                info!(dir = %entry.path().display(), "removed the sort directory of a dead logs run");
                removed += 1;
            }
            Err(e) => {
                warn!(dir = %entry.path().display(), error = %e, "removing a stale sort directory failed")
            }
        }
    }
    removed
}

impl Janitor {
    /// One sweep: expires result files past their retention, deletes orphaned result files
    /// past their grace, trims the queue's records of finished jobs and removes dead runs' sort
    /// directories. Errors are logged and the sweep goes on; the next sweep retries.
    pub async fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let now = self.clock.now_ms();
        for tenant in &self.tenants {
            report.files_expired += self.expire_files(tenant, now).await;
        }
        // After expiry: an expired file whose delete failed is an orphan now.
        if let Some(orphans) = &self.orphans {
            report.orphans_deleted = orphans::sweep(self, orphans, now).await;
        }
        if let Some(queue) = &self.queue {
            match queue.trim().await {
                Ok(n) => report.queue_records_removed = n,
                Err(e) => warn!(error = %e, "trimming finished queue records failed"),
            }
        }
        if let Some(dirs) = self.sort_dirs.clone() {
            report.sort_dirs_removed =
                tokio::task::spawn_blocking(move || remove_stale_sort_dirs(&dirs, now))
                    .await
                    .unwrap_or(0);
        }
        if report != SweepReport::default() {
            info!(
                files_expired = report.files_expired,
                queue_records_removed = report.queue_records_removed,
                sort_dirs_removed = report.sort_dirs_removed,
                orphans_deleted = report.orphans_deleted,
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

    /// Sweeps every `interval` until `shutdown` is cancelled.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    self.sweep().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statport_core::time::clock::SystemClock;

    #[test]
    fn only_sort_dirs_unchanged_for_longer_than_a_job_are_removed() {
        let temp = std::env::temp_dir().join(format!(
            "statport-janitor-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let dead = temp.join(format!("{}t1-run-1", crate::sort::SORT_DIR_PREFIX));
        let other = temp.join("someone-elses-dir");
        for dir in [&dead, &other] {
            std::fs::create_dir_all(dir).expect("dir");
            std::fs::write(dir.join("0-0.run"), b"rows").expect("file");
        }
        let dirs = StaleSortDirs {
            temp_dir: temp.clone(),
            older_than: Duration::from_secs(3600),
        };
        let now = SystemClock.now_ms();
        // Just written: a live run's, kept.
        assert_eq!(remove_stale_sort_dirs(&dirs, now), 0);
        assert!(dead.exists());
        // Two hours on, nothing changed: a dead run's, removed; other directories never.
        assert_eq!(remove_stale_sort_dirs(&dirs, now + 2 * 3_600_000), 1);
        assert!(!dead.exists());
        assert!(other.exists());
        let _ = std::fs::remove_dir_all(&temp);
        // A missing temp dir is nothing to do.
        assert_eq!(remove_stale_sort_dirs(&dirs, now), 0);
    }
}
