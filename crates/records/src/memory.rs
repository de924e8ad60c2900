//! [`MemoryTaskStore`]: the status store inside one process.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use statport_core::outbox::AttemptResult;
use statport_core::task::TaskRecord;

use crate::admission::{self, Admission, AdmissionLimits};
use crate::cas::{self, RecordCas};
use crate::error::StoreError;
use crate::outbox::{CallbackOutbox, TaskRef};
use crate::store::{Claim, ListQuery, Outcome, TaskPage, TaskStore};
use crate::transition;

/// Records in a `HashMap` behind a mutex, keyed by `(tenant, task id)`: the same semantics as
/// [`RedisTaskStore`](crate::RedisTaskStore) for tests and the single-process default. Nothing
/// survives the process.
#[derive(Debug, Default)]
pub struct MemoryTaskStore {
    records: Mutex<Records>,
}

/// The map and the generation counter its compare-and-set compares.
#[derive(Debug, Default)]
struct Records {
    /// Each record with the generation of the write that stored it.
    map: HashMap<(String, String), (TaskRecord, u64)>,
    /// The last generation handed out; every write takes the next, so a record deleted and
    /// created again never looks unchanged.
    generation: u64,
}

impl Records {
    /// Stores `record` under its tenant and id with a new generation.
    fn put(&mut self, record: TaskRecord) {
        self.generation += 1;
        let slot = (record.tenant_id.clone(), record.task_id.clone());
        self.map.insert(slot, (record, self.generation));
    }
}

impl MemoryTaskStore {
    /// An empty store, for tests and a single process that keeps nothing across restarts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records. Every operation replaces whole records under the lock, so a panic elsewhere
    /// cannot leave them half-changed and a poisoned lock is safe to keep using.
    fn records(&self) -> MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The version is the generation of the write a record was read at. The lock is held only for
/// the read and for the write, so a round is lost only to another thread's write in between;
/// each lost round is another writer's won one, and the store never gives up (as before this
/// primitive, a memory store never answers [`StoreError::Contention`]).
#[async_trait]
impl RecordCas for MemoryTaskStore {
    type Record = TaskRecord;
    type Version = u64;
    const MAX_ROUNDS: usize = usize::MAX;
    const KIND: &'static str = "task";

    async fn read_versioned(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(TaskRecord, u64)>, StoreError> {
        Ok(self
            .records()
            .map
            .get(&(tenant.to_owned(), id.to_owned()))
            .cloned())
    }

    async fn write_if_unchanged(
        &self,
        next: &TaskRecord,
        version: u64,
    ) -> Result<bool, StoreError> {
        let mut records = self.records();
        let slot = (next.tenant_id.clone(), next.task_id.clone());
        if records.map.get(&slot).map(|(_, generation)| *generation) != Some(version) {
            return Ok(false);
        }
        records.put(next.clone());
        Ok(true)
    }
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.records().put(record.clone());
        Ok(())
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError> {
        // Decided and written under one lock: admission needs the tenant's whole set of tasks
        // unchanged, which one record's generation cannot vouch for.
        let mut records = self.records();
        let existing: Vec<TaskRecord> = records
            .map
            .iter()
            .filter(|((owner, _), _)| *owner == record.tenant_id)
            .map(|(_, (r, _))| r.clone())
            .collect();
        let decision = admission::decide(&existing, record, limits);
        for gone in &decision.evict {
            records
                .map
                .remove(&(gone.tenant_id.clone(), gone.task_id.clone()));
        }
        if let Some(next) = decision.write {
            records.put(next);
        }
        Ok(decision.admission)
    }

    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        cas::expire_file(self, tenant, task_id, ended_by, now_ms).await
    }

    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .records()
            .map
            .get(&(tenant.to_owned(), task_id.to_owned()))
            .map(|(record, _)| record.clone()))
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError> {
        let records = self
            .records()
            .map
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, (record, _))| record.clone())
            .collect();
        Ok(transition::page(records, query))
    }

    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .records()
            .map
            .remove(&(tenant.to_owned(), task_id.to_owned()))
            .map(|(record, _)| record))
    }

    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        cas::claim(self, tenant, task_id, run_id, now_ms).await
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
    ) -> Result<bool, StoreError> {
        cas::progress(
            self,
            tenant,
            task_id,
            run_id,
            progress,
            read_lines,
            skipped_lines,
            now_ms,
        )
        .await
    }

    async fn finish(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        outcome: Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        cas::finish(self, tenant, task_id, run_id, &outcome, now_ms).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl CallbackOutbox for MemoryTaskStore {
    async fn due_callbacks(&self, now_ms: i64, limit: usize) -> Result<Vec<TaskRef>, StoreError> {
        let records = self.records();
        let mut due: Vec<(i64, TaskRef)> = records
            .map
            .values()
            .filter_map(|(r, _)| {
                let at = r.callback.as_ref()?.due_at()?;
                (at <= now_ms).then(|| {
                    (
                        at,
                        TaskRef {
                            tenant_id: r.tenant_id.clone(),
                            task_id: r.task_id.clone(),
                        },
                    )
                })
            })
            .collect();
        due.sort_by_key(|d| d.0);
        Ok(due.into_iter().take(limit).map(|(_, r)| r).collect())
    }

    async fn claim_callback(
        &self,
        tenant: &str,
        task_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        cas::claim_callback(self, tenant, task_id, owner, now_ms, lease_ms).await
    }

    async fn record_callback(
        &self,
        tenant: &str,
        task_id: &str,
        delivery_id: &str,
        owner: &str,
        result: &AttemptResult,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        cas::record_callback(self, tenant, task_id, delivery_id, owner, result, now_ms).await
    }
}
