//! [`MemoryTaskStore`]: the status store inside one process.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use statport_core::task::TaskRecord;

use crate::admission::{self, Admission, AdmissionLimits};
use crate::error::StatusError;
use crate::store::{Claim, ListQuery, Outcome, TaskPage, TaskStore};
use crate::transition;

/// Records in a `HashMap` behind a mutex, keyed by `(tenant, task id)`: the same semantics as
/// [`RedisTaskStore`](crate::RedisTaskStore) for tests and the single-process default. Nothing
/// survives the process.
#[derive(Debug, Default)]
pub struct MemoryTaskStore {
    records: Mutex<HashMap<(String, String), TaskRecord>>,
}

impl MemoryTaskStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map. Every operation replaces whole records under the lock, so a panic elsewhere
    /// cannot leave it half-changed and a poisoned lock is safe to keep using.
    fn map(&self) -> MutexGuard<'_, HashMap<(String, String), TaskRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `step` to the tenant's task under the lock; writes the record it returns.
    fn update<T>(
        &self,
        tenant: &str,
        task_id: &str,
        step: impl FnOnce(Option<&TaskRecord>) -> (Option<TaskRecord>, T),
    ) -> T {
        let mut map = self.map();
        let slot = (tenant.to_owned(), task_id.to_owned());
        let (next, answer) = step(map.get(&slot));
        if let Some(next) = next {
            map.insert(slot, next);
        }
        answer
    }
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn create(&self, record: &TaskRecord) -> Result<(), StatusError> {
        let slot = (record.tenant_id.clone(), record.task_id.clone());
        self.map().insert(slot, record.clone());
        Ok(())
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StatusError> {
        let mut map = self.map();
        let existing: Vec<TaskRecord> = map
            .iter()
            .filter(|((owner, _), _)| *owner == record.tenant_id)
            .map(|(_, r)| r.clone())
            .collect();
        let decision = admission::decide(&existing, record, limits);
        for gone in &decision.evict {
            map.remove(&(gone.tenant_id.clone(), gone.task_id.clone()));
        }
        if let Some(next) = decision.write {
            map.insert((next.tenant_id.clone(), next.task_id.clone()), next);
        }
        Ok(decision.admission)
    }

    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StatusError> {
        Ok(self.update(tenant, task_id, |current| {
            current
                .and_then(|c| transition::expire_file(c, ended_by, now_ms))
                .unzip()
        }))
    }

    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StatusError> {
        Ok(self
            .map()
            .get(&(tenant.to_owned(), task_id.to_owned()))
            .cloned())
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StatusError> {
        let records = self
            .map()
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, record)| record.clone())
            .collect();
        Ok(transition::page(records, query))
    }

    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StatusError> {
        Ok(self.map().remove(&(tenant.to_owned(), task_id.to_owned())))
    }

    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StatusError> {
        Ok(self.update(tenant, task_id, |current| {
            transition::claim_step(current, run_id, now_ms)
        }))
    }

    async fn progress(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        progress: u8,
        read_lines: u64,
        skipped_lines: u64,
        now_ms: i64,
    ) -> Result<bool, StatusError> {
        Ok(self.update(tenant, task_id, |current| {
            transition::guarded_step(current.and_then(|current| {
                transition::progress(current, run_id, progress, read_lines, skipped_lines, now_ms)
            }))
        }))
    }

    async fn finish(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StatusError> {
        Ok(self.update(tenant, task_id, |current| {
            transition::guarded_step(
                current.and_then(|current| transition::finish(current, run_id, &outcome, now_ms)),
            )
        }))
    }

    async fn ping(&self) -> Result<(), StatusError> {
        Ok(())
    }
}
