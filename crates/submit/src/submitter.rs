//! [`Submitter`]: validate, admit, queue; the same rules for a task however it is asked for.

use std::sync::Arc;

use serde_json::Value;
use statport_core::callback::{AddressPolicy, CallbackSupport};
use statport_core::log::format::LogFormat;
use statport_core::log::geo::GeoSupport;
use statport_core::request::RequestLimits;
use statport_core::result_file::keys_of;
use statport_core::task::{ExportJob, TaskRecord};
use statport_core::tenant::TenantDirectory;
use statport_core::time::clock::Clock;
use statport_core::time::format_rfc3339;
use statport_core::{ApiError, ErrorCode, ExportRequest};
use statport_queue::JobQueue;
use statport_records::{Admission, AdmissionLimits, StoreError, TaskStore};
use statport_storage::ObjectStore;
use tracing::{error, info};

use crate::counts::SubmitCounts;

/// What this deployment supports beyond a tenant's own settings, which decides whether some
/// request fields are accepted at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deployment {
    /// True when an IP database is configured: without it the geography filters and
    /// `isp_detail` are refused (`StatPort.IpDatabaseNotConfigured`).
    pub ip_database: bool,
    /// Where completion callbacks may go (`callbacks.allow_private`).
    pub callback_policy: AddressPolicy,
}

/// The result of a submission that was accepted.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// A new task, admitted and queued (the API answers `201`).
    Created(TaskRecord),
    /// An existing task of the same condition took the request (the API answers `200`); it was
    /// queued again when it had failed.
    Existing(TaskRecord),
}

impl Submitted {
    /// The task the submission ended in, new or existing.
    pub fn record(&self) -> &TaskRecord {
        match self {
            Submitted::Created(record) | Submitted::Existing(record) => record,
        }
    }

    /// The task, by value.
    pub fn into_record(self) -> TaskRecord {
        match self {
            Submitted::Created(record) | Submitted::Existing(record) => record,
        }
    }
}

/// Creates tasks: the one type the API, the scheduler and any other front end submit through,
/// so a task meets the same validation, limits and queueing whoever asked for it.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// Where tasks are admitted (the fail-fast connection: a caller waits at most seconds).
    pub tasks: Arc<dyn TaskStore>,
    /// Where an admitted task's job is pushed for a worker.
    pub queue: Arc<dyn JobQueue>,
    /// Where result files live: an evicted task's file is removed from it.
    pub objects: Arc<dyn ObjectStore>,
    /// The bucket result files are written to.
    pub results_bucket: String,
    /// The key prefix of result files (`results.prefix`): a removed task's file is at a key
    /// derived from it even when the record names none.
    pub results_prefix: String,
    /// Every configured tenant: its limits, log format and callback secret.
    pub tenants: Arc<TenantDirectory>,
    /// What the deployment supports (IP database, callback destinations).
    pub deployment: Deployment,
    /// The time tasks are stamped with; a fixed clock in tests.
    pub clock: Arc<dyn Clock>,
    /// Accepted and refused submissions, for `/metrics`.
    pub counts: Arc<SubmitCounts>,
}

impl Submitter {
    /// What a request of `tenant` is validated under: its size limits and the geography and
    /// callbacks this deployment supports for it.
    pub fn request_limits(&self, tenant: &str) -> RequestLimits {
        let configured = self.tenants.get(tenant);
        let format = configured.map_or(LogFormat::Cloudfront, |t| t.source.format);
        RequestLimits {
            geo: GeoSupport::new(self.deployment.ip_database, format),
            callbacks: CallbackSupport {
                policy: self.deployment.callback_policy,
                signed: configured.is_some_and(|t| t.signs_callbacks()),
            },
            ..self.tenants.limits(tenant).request_limits()
        }
    }

    /// The limits a new task of `tenant` is admitted under.
    pub fn admission_limits(&self, tenant: &str) -> AdmissionLimits {
        let limits = self.tenants.limits(tenant);
        AdmissionLimits {
            max_kept: usize::try_from(limits.max_kept_tasks).unwrap_or(usize::MAX),
            max_unfinished: usize::try_from(limits.max_unfinished_tasks).unwrap_or(usize::MAX),
        }
    }

    /// Creates a task of `tenant` from a request body `value`: validation, admission under the
    /// tenant's limits (evicting the oldest finished tasks past the kept limit; their files go
    /// only once the new task is queued, and their records come back if it cannot be), queueing. A refusal is the client's [`ApiError`]; a store or queue outage is
    /// `ServiceUnavailable`, with nothing left behind.
    pub async fn submit(&self, tenant: &str, value: &Value) -> Result<Submitted, ApiError> {
        let request = ExportRequest::from_json(value)?;
        let condition = request
            .validate_with(&self.request_limits(tenant))
            .inspect_err(|_| self.counts.rejected.inc())?;
        let now = self.clock.now_ms();
        let task_id = uuid::Uuid::new_v4().simple().to_string();
        let task_name = match request
            .task_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_string(),
            None => {
                let stamp: String = format_rfc3339(now, 0)
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                format!("{}-{stamp}", condition.action.as_str())
            }
        };
        let record = TaskRecord::waiting(task_id, tenant.to_owned(), task_name, condition, now);
        let admission = self
            .tasks
            .admit(&record, &self.admission_limits(tenant))
            .await
            .map_err(|e| store_unavailable(&e))?;
        // The tasks admission evicted keep their files until the new task is queued: if the
        // queue is away, their records come back and nothing of theirs is lost.
        let mut evicted = Vec::new();
        let (submitted, queue, replaced) = match admission {
            Admission::TooManyUnfinished { unfinished, limit } => {
                self.counts.rejected.inc();
                return Err(ApiError::new(
                    ErrorCode::LimitExceededExport,
                    format!("the tenant has {unfinished} unfinished export tasks (waiting or processing) and at most {limit} may be unfinished at once; wait for one to end or delete one"),
                ));
            }
            Admission::Created {
                record,
                evicted: gone,
            } => {
                evicted = gone;
                (Submitted::Created(record), true, None)
            }
            Admission::Replaced {
                record,
                previous,
                requeue,
            } => {
                // Its previous file stays at the task's key: the new run overwrites it, and if
                // that run fails the record names no file and the janitor's orphan sweep
                // deletes it. Deleting it here could delete the new run's file instead.
                info!(task_id = %record.task_id, tenant = %tenant, previous = previous.status.as_str(), "same condition: the existing task takes the request");
                (Submitted::Existing(record), requeue, Some(previous))
            }
        };
        let record = submitted.record();
        if queue {
            let job = ExportJob {
                tenant_id: tenant.to_owned(),
                task_id: record.task_id.clone(),
            };
            if let Err(e) = self.queue.push(job).await {
                error!(task_id = %record.task_id, error = %e, "queueing the task failed");
                // Leave things as they were: a new task goes (and the tasks it evicted come
                // back), a replaced one gets its old record back.
                let restored = match &replaced {
                    Some(previous) => self.tasks.create(previous.as_ref()).await,
                    None => self.tasks.delete(tenant, &record.task_id).await.map(|_| ()),
                };
                if let Err(e) = restored {
                    error!(task_id = %record.task_id, error = %e, "undoing the unqueued task failed");
                }
                for gone in &evicted {
                    if let Err(e) = self.tasks.create(gone).await {
                        error!(task_id = %gone.task_id, error = %e, "restoring a task evicted for the unqueued one failed");
                    }
                }
                return Err(ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the task queue is not reachable; the task was not created",
                ));
            }
        }
        for gone in &evicted {
            info!(task_id = %gone.task_id, tenant = %tenant, "oldest task evicted to stay within the kept-tasks limit");
            self.delete_result_file(gone).await;
        }
        self.counts.created.inc();
        info!(task_id = %record.task_id, tenant = %tenant, action = record.condition.action.as_str(), "task created");
        Ok(submitted)
    }

    /// Deletes the result file of a removed task: at the key every run of the task writes
    /// (`{results_prefix}{tenant}/{task_id}.{ext}`), even when the record names no file (a task
    /// reset by a same-condition resubmission whose new run failed or never ran still has the
    /// previous run's file there), and at the key it names if that differs. A failure is
    /// logged: the file is then an orphan, which the janitor's sweep deletes.
    pub async fn delete_result_file(&self, record: &TaskRecord) {
        for key in keys_of(&self.results_prefix, record) {
            if let Err(e) = self.objects.delete(&self.results_bucket, &key).await {
                error!(task_id = %record.task_id, key = %key, error = %e, "deleting the result file failed; the orphan sweep will");
            }
        }
    }
}

/// The client's error for a task store that failed; the cause goes to the log only.
pub fn store_unavailable(e: &StoreError) -> ApiError {
    error!(error = %e, "status store failed");
    ApiError::new(
        ErrorCode::ServiceUnavailable,
        "the task store is not reachable; try again shortly",
    )
}

#[cfg(test)]
mod tests;
