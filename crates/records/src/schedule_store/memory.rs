//! [`MemoryScheduleStore`]: schedules and their runs inside one process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use statport_core::schedule::{ScheduleFailure, ScheduleRecord, ScheduleRun};

use super::{rules, FireClaim, FireResult, ScheduleStore};
use crate::error::StoreError;

/// A (tenant, schedule id) pair.
type Slot = (String, String);

/// Schedules and runs behind one mutex; the same semantics as the shared stores, for tests and
/// one-process use. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryScheduleStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    schedules: HashMap<Slot, ScheduleRecord>,
    /// Runs per schedule, by fire time.
    runs: HashMap<Slot, BTreeMap<i64, ScheduleRun>>,
}

impl MemoryScheduleStore {
    /// A store with no schedules, for tests and one process (nothing survives it).
    pub fn new() -> Self {
        Self::default()
    }

    /// The state. Every operation replaces whole values under the lock, so a poisoned lock is
    /// safe to keep using.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn slot(tenant: &str, schedule_id: &str) -> Slot {
    (tenant.to_owned(), schedule_id.to_owned())
}

#[async_trait]
impl ScheduleStore for MemoryScheduleStore {
    async fn create(
        &self,
        record: &ScheduleRecord,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = slot(&record.tenant_id, &record.schedule_id);
        let replacing = state.schedules.contains_key(&key);
        let owned = state
            .schedules
            .keys()
            .filter(|(tenant, _)| *tenant == record.tenant_id)
            .count();
        if !replacing && owned >= max_per_tenant {
            return Ok(false);
        }
        state.schedules.insert(key, record.clone());
        Ok(true)
    }

    async fn get(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        Ok(self
            .state()
            .schedules
            .get(&slot(tenant, schedule_id))
            .cloned())
    }

    async fn list(
        &self,
        tenant: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(usize, Vec<ScheduleRecord>), StoreError> {
        let records = self
            .state()
            .schedules
            .iter()
            .filter(|((owner, _), _)| owner == tenant)
            .map(|(_, record)| record.clone())
            .collect();
        Ok(rules::page(records, limit, offset))
    }

    async fn delete(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let mut state = self.state();
        let key = slot(tenant, schedule_id);
        state.runs.remove(&key);
        Ok(state.schedules.remove(&key))
    }

    async fn set_paused(
        &self,
        tenant: &str,
        schedule_id: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let mut state = self.state();
        let Some(current) = state.schedules.get_mut(&slot(tenant, schedule_id)) else {
            return Ok(None);
        };
        if let Some(next) = rules::set_paused(current, paused, now_ms) {
            *current = next;
        }
        Ok(Some(current.clone()))
    }

    async fn all(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        Ok(self.state().schedules.values().cloned().collect())
    }

    async fn claim_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<FireClaim, StoreError> {
        let mut state = self.state();
        let key = slot(tenant, schedule_id);
        if state.schedules.get(&key).is_none_or(|s| s.paused) {
            return Ok(FireClaim::Missing);
        }
        let runs = state.runs.entry(key).or_default();
        let (next, answer) = rules::claim(
            runs.get(&fire_time),
            schedule_id,
            fire_time,
            owner,
            now_ms,
            lease_ms,
        );
        if let Some(next) = next {
            runs.insert(fire_time, next);
            let all: Vec<ScheduleRun> = runs.values().cloned().collect();
            for gone in rules::to_trim(&all) {
                runs.remove(&gone);
            }
        }
        Ok(answer)
    }

    async fn complete_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        result: FireResult,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = slot(tenant, schedule_id);
        let (Some(schedule), Some(run)) = (
            state.schedules.get(&key),
            state.runs.get(&key).and_then(|runs| runs.get(&fire_time)),
        ) else {
            return Ok(false);
        };
        let Some((next_run, next)) = rules::complete(run, schedule, owner, &result, now_ms) else {
            return Ok(false);
        };
        state
            .runs
            .entry(key.clone())
            .or_default()
            .insert(fire_time, next_run);
        state.schedules.insert(key, next);
        Ok(true)
    }

    async fn skip_fires(
        &self,
        tenant: &str,
        schedule_id: &str,
        up_to: i64,
        skipped: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(current) = state.schedules.get_mut(&slot(tenant, schedule_id)) {
            if let Some(next) = rules::skip(current, up_to, skipped) {
                *current = next;
            }
        }
        Ok(())
    }

    async fn record_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        at_ms: i64,
        message: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(current) = state.schedules.get_mut(&slot(tenant, schedule_id)) else {
            return Ok(false);
        };
        *current = rules::fail(current, at_ms, message);
        Ok(true)
    }

    async fn clear_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        seen: &ScheduleFailure,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(current) = state.schedules.get_mut(&slot(tenant, schedule_id)) else {
            return Ok(false);
        };
        let Some(next) = rules::clear_failure(current, seen) else {
            return Ok(false);
        };
        *current = next;
        Ok(true)
    }

    async fn runs(
        &self,
        tenant: &str,
        schedule_id: &str,
        limit: usize,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        let state = self.state();
        let runs = state
            .runs
            .get(&slot(tenant, schedule_id))
            .map(|runs| runs.values().cloned().collect())
            .unwrap_or_default();
        Ok(rules::latest(runs, limit))
    }
}
