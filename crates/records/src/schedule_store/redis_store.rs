//! [`RedisScheduleStore`]: schedules and their runs in Redis, shared by every API and scheduler
//! process.
//!
//! As in the task store, writes that depend on a read are optimistic: Rust reads the schedule
//! (with its `rev` token) and the run, decides with the shared `rules`, and a Lua script
//! (`redis_scripts`) writes only if what was read is still there, else the round is retried.
//! A change of the schedule alone (pausing, skipping fire times, recording or clearing a
//! failure) goes
//! through the compare-and-set of `cas`; the hash read and write and the field names are the
//! task store's (`redis_store::record`), and the key layout is documented with the task keys
//! (`redis_store::layout`).

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use statport_core::schedule::{ScheduleFailure, ScheduleRecord, ScheduleRun};

use super::{redis_scripts as scripts, rules, FireClaim, FireResult, ScheduleStore};
use crate::cas::{self, RecordCas};
use crate::error::StoreError;
use crate::redis_store::connect_manager;
use crate::redis_store::layout::Layout;
use crate::redis_store::record;

/// The schedule store over Redis (standalone or a primary, like the task store).
///
/// Cheap to clone: clones share one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisScheduleStore {
    conn: ConnectionManager,
    layout: Layout,
}

impl fmt::Debug for RedisScheduleStore {
    // The connection is left out: its settings may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisScheduleStore")
            .field("namespace", &self.layout.namespace())
            .finish_non_exhaustive()
    }
}

impl RedisScheduleStore {
    /// Connects to `url` and keeps every key under `namespace` (the task store's namespace:
    /// the key names do not collide).
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, StoreError> {
        Ok(Self::with_connection(
            connect_manager(url).await?,
            namespace,
        ))
    }

    /// A store over an existing connection (to share it with the task store).
    pub fn with_connection(conn: ConnectionManager, namespace: &str) -> Self {
        RedisScheduleStore {
            conn,
            layout: Layout::new(namespace),
        }
    }

    /// The key prefix of this store.
    pub fn namespace(&self) -> &str {
        self.layout.namespace()
    }

    /// Every run of the schedule as stored: fire time → (raw JSON, run).
    async fn read_runs(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<HashMap<i64, (String, ScheduleRun)>, StoreError> {
        let key = self.layout.schedule_runs_key(tenant, schedule_id);
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut runs = HashMap::with_capacity(fields.len());
        for (field, json) in fields {
            let fire_time: i64 = field.parse().map_err(|_| StoreError::Corrupt {
                key: key.clone(),
                reason: format!("unexpected field {field:?}"),
            })?;
            let run: ScheduleRun = record::decode_json(&key, &json)?;
            runs.insert(fire_time, (json, run));
        }
        Ok(runs)
    }

    /// The tenant's schedules for `ids`, in that order, skipping any deleted meanwhile.
    async fn load(&self, tenant: &str, ids: &[String]) -> Result<Vec<ScheduleRecord>, StoreError> {
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.layout.schedule_key(tenant, id))
            .collect();
        record::load(&self.conn, tenant, &keys, ids).await
    }
}

/// The version is the hash's `rev` token, and the write is the `UPDATE` script, which checks
/// it inside Redis.
#[async_trait]
impl RecordCas for RedisScheduleStore {
    type Record = ScheduleRecord;
    type Version = String;
    /// Each round has a winner, and after a claim the losers see it taken on their next read.
    const MAX_ROUNDS: usize = 16;
    const KIND: &'static str = "schedule";

    async fn read_versioned(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(ScheduleRecord, String)>, StoreError> {
        let key = self.layout.schedule_key(tenant, id);
        record::read(&self.conn, &key, tenant, id).await
    }

    async fn write_if_unchanged(
        &self,
        next: &ScheduleRecord,
        rev: String,
    ) -> Result<bool, StoreError> {
        let key = self.layout.schedule_key(&next.tenant_id, &next.schedule_id);
        let mut call = record::cas_write(
            &scripts::UPDATE,
            &key,
            Some(&rev),
            record::encode(next)?,
            &record::new_rev(),
        );
        call.arg(flag(next.paused));
        let written: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(written == 1)
    }
}

/// The `paused` field of a schedule hash, as the claim script compares it.
fn flag(paused: bool) -> &'static str {
    if paused {
        "1"
    } else {
        "0"
    }
}

#[async_trait]
impl ScheduleStore for RedisScheduleStore {
    async fn create(
        &self,
        record: &ScheduleRecord,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        let json = record::encode(record)?;
        let mut call = scripts::CREATE.prepare_invoke();
        call.key(
            self.layout
                .schedule_key(&record.tenant_id, &record.schedule_id),
        )
        .key(self.layout.schedule_index_key(&record.tenant_id))
        .key(self.layout.schedule_tenants_key())
        .arg(max_per_tenant)
        .arg(json)
        .arg(flag(record.paused))
        .arg(record::new_rev())
        .arg(record.create_time)
        .arg(&record.schedule_id)
        .arg(&record.tenant_id);
        let written: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(written == 1)
    }

    async fn get(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        Ok(self
            .read_versioned(tenant, schedule_id)
            .await?
            .map(|(schedule, _)| schedule))
    }

    async fn list(
        &self,
        tenant: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(usize, Vec<ScheduleRecord>), StoreError> {
        let index = self.layout.schedule_index_key(tenant);
        if limit == 0 {
            let total: usize = redis::cmd("ZCARD")
                .arg(&index)
                .query_async(&mut self.conn.clone())
                .await?;
            return Ok((total, Vec::new()));
        }
        let start = i64::try_from(offset).unwrap_or(i64::MAX);
        let stop = i64::try_from(limit)
            .unwrap_or(i64::MAX)
            .saturating_add(start)
            .saturating_sub(1);
        let (total, ids): (usize, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("ZCARD")
            .arg(&index)
            .cmd("ZREVRANGE")
            .arg(&index)
            .arg(start)
            .arg(stop)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut page = self.load(tenant, &ids).await?;
        page.sort_by(rules::newest_first);
        Ok((total, page))
    }

    async fn delete(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        let key = self.layout.schedule_key(tenant, schedule_id);
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(&key)
            .key(self.layout.schedule_runs_key(tenant, schedule_id))
            .key(self.layout.schedule_index_key(tenant))
            .key(self.layout.schedule_tenants_key())
            .arg(schedule_id)
            .arg(tenant);
        let json: Option<String> = call.invoke_async(&mut self.conn.clone()).await?;
        json.map(|json| record::decode(&key, &json, tenant, schedule_id))
            .transpose()
    }

    async fn set_paused(
        &self,
        tenant: &str,
        schedule_id: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        cas::update(self, tenant, schedule_id, |current| match current {
            None => (None, None),
            Some(current) => match rules::set_paused(current, paused, now_ms) {
                Some(next) => (Some(next.clone()), Some(next)),
                None => (None, Some(current.clone())),
            },
        })
        .await
    }

    async fn all(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        let tenants: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.layout.schedule_tenants_key())
            .query_async(&mut self.conn.clone())
            .await?;
        let mut all = Vec::new();
        for tenant in tenants {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.layout.schedule_index_key(&tenant))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await?;
            all.extend(self.load(&tenant, &ids).await?);
        }
        Ok(all)
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
        for _ in 0..Self::MAX_ROUNDS {
            let schedule = self.read_versioned(tenant, schedule_id).await?;
            if schedule.is_none_or(|(schedule, _)| schedule.paused) {
                return Ok(FireClaim::Missing);
            }
            let mut runs = self.read_runs(tenant, schedule_id).await?;
            let existing = runs.remove(&fire_time);
            let (next, answer) = rules::claim(
                existing.as_ref().map(|(_, run)| run),
                schedule_id,
                fire_time,
                owner,
                now_ms,
                lease_ms,
            );
            let Some(next) = next else {
                return Ok(answer);
            };
            let mut after: Vec<ScheduleRun> = runs.values().map(|(_, run)| run.clone()).collect();
            after.push(next.clone());
            let json = record::encode(&next)?;
            let mut call = scripts::CLAIM.prepare_invoke();
            call.key(self.layout.schedule_key(tenant, schedule_id))
                .key(self.layout.schedule_runs_key(tenant, schedule_id))
                .arg(fire_time)
                .arg(existing.map(|(json, _)| json).unwrap_or_default())
                .arg(json);
            for gone in rules::to_trim(&after) {
                if let Some((json, _)) = runs.get(&gone) {
                    call.arg(gone).arg(json);
                }
            }
            match call.invoke_async::<i64>(&mut self.conn.clone()).await? {
                1 => return Ok(answer),
                -1 => return Ok(FireClaim::Missing),
                _ => continue,
            }
        }
        Err(cas::gave_up(
            Self::KIND,
            tenant,
            schedule_id,
            Self::MAX_ROUNDS,
        ))
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
        let runs_key = self.layout.schedule_runs_key(tenant, schedule_id);
        let schedule_key = self.layout.schedule_key(tenant, schedule_id);
        for _ in 0..Self::MAX_ROUNDS {
            let Some((schedule, rev)) = self.read_versioned(tenant, schedule_id).await? else {
                return Ok(false);
            };
            let run_json: Option<String> = redis::cmd("HGET")
                .arg(&runs_key)
                .arg(fire_time)
                .query_async(&mut self.conn.clone())
                .await?;
            let Some(run_json) = run_json else {
                return Ok(false);
            };
            let run: ScheduleRun = record::decode_json(&runs_key, &run_json)?;
            let Some((next_run, next)) = rules::complete(&run, &schedule, owner, &result, now_ms)
            else {
                return Ok(false);
            };
            let mut call = record::cas_write(
                &scripts::COMPLETE,
                &schedule_key,
                Some(&rev),
                record::encode(&next)?,
                &record::new_rev(),
            );
            call.key(&runs_key)
                .arg(fire_time)
                .arg(run_json)
                .arg(record::encode(&next_run)?);
            if call.invoke_async::<i64>(&mut self.conn.clone()).await? == 1 {
                return Ok(true);
            }
        }
        Err(cas::gave_up(
            Self::KIND,
            tenant,
            schedule_id,
            Self::MAX_ROUNDS,
        ))
    }

    async fn skip_fires(
        &self,
        tenant: &str,
        schedule_id: &str,
        up_to: i64,
        skipped: u64,
    ) -> Result<(), StoreError> {
        cas::update(self, tenant, schedule_id, |current| {
            (current.and_then(|c| rules::skip(c, up_to, skipped)), ())
        })
        .await
    }

    async fn record_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        at_ms: i64,
        message: &str,
    ) -> Result<bool, StoreError> {
        cas::update(self, tenant, schedule_id, |current| match current {
            None => (None, false),
            Some(current) => (Some(rules::fail(current, at_ms, message)), true),
        })
        .await
    }

    async fn clear_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        seen: &ScheduleFailure,
    ) -> Result<bool, StoreError> {
        cas::update(self, tenant, schedule_id, |current| {
            let next = current.and_then(|c| rules::clear_failure(c, seen));
            let cleared = next.is_some();
            (next, cleared)
        })
        .await
    }

    async fn runs(
        &self,
        tenant: &str,
        schedule_id: &str,
        limit: usize,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        let runs = self.read_runs(tenant, schedule_id).await?;
        Ok(rules::latest(
            runs.into_values().map(|(_, run)| run).collect(),
            limit,
        ))
    }
}
