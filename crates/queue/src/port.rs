//! The push side of the queue: how an accepted task (or a run handing its task back) reaches
//! the workers. The API holds it as `Arc<dyn JobQueue>`; the runner requeues through it.

use async_trait::async_trait;
use statport_core::task::ExportJob;

/// Why a job could not be queued (or the queue's records not read or changed).
#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

impl QueueError {
    /// A queue error carrying `e`'s message.
    pub fn from_display(e: impl std::fmt::Display) -> Self {
        QueueError(e.to_string())
    }
}

/// Somewhere to put export jobs for the workers. The queue only carries the job (tenant and
/// task); what a job does is the handler's business.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Queues `job`, due at once.
    async fn push(&self, job: ExportJob) -> Result<(), QueueError>;

    /// Queues `job`, due at `at_ms` (ms since the epoch; both backends keep whole seconds, so
    /// it is due at the next second boundary at or after `at_ms`).
    async fn push_at(&self, job: ExportJob, at_ms: i64) -> Result<(), QueueError>;
}

/// `at_ms` rounded up to whole seconds since the epoch (the backends' `run_at` unit); 0 for a
/// time before the epoch.
pub(crate) fn due_second(at_ms: i64) -> u64 {
    u64::try_from(at_ms.saturating_add(999) / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_time_rounds_up_to_the_second() {
        assert_eq!(due_second(1_000), 1);
        assert_eq!(due_second(1_001), 2);
        assert_eq!(due_second(-5), 0);
        assert_eq!(due_second(i64::MAX), (i64::MAX / 1000) as u64);
    }
}
