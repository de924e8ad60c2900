//! [`RedisTaskStore`]: task records in Redis, shared by every API and worker process.
//!
//! Guarded transitions are optimistic: Rust reads the record and its `rev` token, computes the
//! next record with the shared transition rules, and a Lua script writes it only if `rev` is
//! still the one read (any write, including a delete and re-create, changes it), else the round
//! is retried (the compare-and-set of `cas`, which this store implements). The JSON is never
//! edited in Lua, so `u64` counters keep their exact values. The `layout` module documents the
//! keys; `record` holds the hash read and compare-and-set write this store shares with the
//! schedule store.

pub(crate) mod layout;
pub(crate) mod record;
mod scripts;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use statport_core::outbox::AttemptResult;
use statport_core::task::TaskRecord;
use tracing::{debug, warn};

use self::layout::Layout;
use crate::admission::{self, Admission, AdmissionLimits};
use crate::cas::{self, RecordCas};
use crate::error::StoreError;
use crate::outbox::{CallbackOutbox, TaskRef};
use crate::store::{Claim, ListQuery, Outcome, TaskPage, TaskStore};
use crate::transition;

/// The key prefix used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "statport";

/// How long one Redis reply may take. The client's own default (500 ms) is short enough to fail
/// healthy calls on a busy server.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one connection attempt may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Rounds tried by an admission before it gives up: every concurrent submission of the tenant
/// costs at most one round (each round has a winner), and bursts of a few dozen are normal.
const MAX_ADMIT_ROUNDS: usize = 128;

/// The status store over Redis (standalone or a primary; not Redis Cluster, since a listing
/// reads keys of one tenant that are not hash-tagged together).
///
/// Cheap to clone: clones share one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisTaskStore {
    conn: ConnectionManager,
    layout: Layout,
}

impl fmt::Debug for RedisTaskStore {
    // The connection is left out: its settings may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTaskStore")
            .field("namespace", &self.layout.namespace())
            .finish_non_exhaustive()
    }
}

impl RedisTaskStore {
    /// Connects to `url` (`redis://host:port/db`) and keeps every key under `namespace`
    /// (normally [`DEFAULT_NAMESPACE`]). Fails when Redis cannot be reached, after the
    /// client's few quick retries.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, StoreError> {
        Ok(Self::with_connection(
            connect_manager(url).await?,
            namespace,
        ))
    }

    /// A store over an existing connection (to share it with other Redis users).
    pub fn with_connection(conn: ConnectionManager, namespace: &str) -> Self {
        RedisTaskStore {
            conn,
            layout: Layout::new(namespace),
        }
    }

    /// The key prefix of this store.
    pub fn namespace(&self) -> &str {
        self.layout.namespace()
    }

    /// The tenant's task and the `rev` token it was read at.
    async fn read(
        &self,
        tenant: &str,
        task_id: &str,
    ) -> Result<Option<(TaskRecord, String)>, StoreError> {
        let key = self.layout.task_key(tenant, task_id);
        record::read(&self.conn, &key, tenant, task_id).await
    }

    /// Writes `record` with its guards and index entry: unconditionally when `expected_rev` is
    /// `None`, else only if the stored `rev` still equals it. True when written.
    async fn write(
        &self,
        record: &TaskRecord,
        expected_rev: Option<&str>,
    ) -> Result<bool, StoreError> {
        let key = self.layout.task_key(&record.tenant_id, &record.task_id);
        let mut call = record::cas_write(
            &scripts::WRITE,
            &key,
            expected_rev,
            record::encode(record)?,
            &record::new_rev(),
        );
        let due = record
            .callback
            .as_ref()
            .and_then(|c| c.due_at())
            .map_or_else(String::new, |at| at.to_string());
        call.key(self.layout.index_key(&record.tenant_id))
            .key(self.layout.tenant_rev_key(&record.tenant_id))
            .key(self.layout.callbacks_due_key())
            .arg(record.status.as_str())
            .arg(record.run_id.as_deref().unwrap_or(""))
            .arg(layout::index_member(record))
            .arg(record.update_time)
            .arg(due)
            .arg(layout::due_member(&record.tenant_id, &record.task_id));
        let written: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(written == 1)
    }

    /// The tenant's records for `ids`, in that order, skipping any deleted meanwhile.
    async fn load(&self, tenant: &str, ids: &[&str]) -> Result<Vec<TaskRecord>, StoreError> {
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.layout.task_key(tenant, id))
            .collect();
        record::load(&self.conn, tenant, &keys, ids).await
    }

    /// One admission round: the decision over the tenant's tasks as read at guard `guard`,
    /// written only if the guard still holds. `None` when the tenant's tasks changed meanwhile.
    async fn admit_round(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Option<Admission>, StoreError> {
        let tenant = &record.tenant_id;
        let (guard, members): (Option<String>, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(self.layout.tenant_rev_key(tenant))
            .cmd("ZRANGE")
            .arg(self.layout.index_key(tenant))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await?;
        let ids = self.member_ids(tenant, &members)?;
        let existing = self.load(tenant, &ids).await?;
        let decision = admission::decide(&existing, record, limits);
        let Some(next) = decision.write else {
            return Ok(Some(decision.admission));
        };
        let json = record::encode(&next)?;
        let mut call = scripts::ADMIT.prepare_invoke();
        call.key(self.layout.tenant_rev_key(tenant))
            .key(self.layout.index_key(tenant))
            .key(self.layout.task_key(tenant, &next.task_id));
        for gone in &decision.evict {
            call.key(self.layout.task_key(tenant, &gone.task_id));
        }
        call.arg(guard.unwrap_or_default())
            .arg(record::new_rev())
            .arg(json)
            .arg(next.status.as_str())
            .arg(next.run_id.as_deref().unwrap_or(""))
            .arg(record::new_rev())
            .arg(layout::index_member(&next))
            .arg(next.update_time);
        let written: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok((written == 1).then_some(decision.admission))
    }

    /// Task ids from index members.
    fn member_ids<'m>(
        &self,
        tenant: &str,
        members: &'m [String],
    ) -> Result<Vec<&'m str>, StoreError> {
        members
            .iter()
            .map(|member| {
                layout::member_task_id(member).ok_or_else(|| StoreError::Corrupt {
                    key: self.layout.index_key(tenant),
                    reason: format!("unexpected index member {member:?}"),
                })
            })
            .collect()
    }
}

/// The version is the hash's `rev` token, and the write is the `WRITE` script in `cas` mode,
/// which checks it inside Redis.
#[async_trait]
impl RecordCas for RedisTaskStore {
    type Record = TaskRecord;
    type Version = String;
    /// Only concurrent writes to the same task cost a round.
    const MAX_ROUNDS: usize = 16;
    const KIND: &'static str = "task";

    async fn read_versioned(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(TaskRecord, String)>, StoreError> {
        self.read(tenant, id).await
    }

    async fn write_if_unchanged(&self, next: &TaskRecord, rev: String) -> Result<bool, StoreError> {
        self.write(next, Some(&rev)).await
    }
}

/// A connection to `url` with this crate's timeouts, dialled now (fails when Redis is away).
pub(crate) async fn connect_manager(url: &str) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    Ok(client.get_connection_manager_with_config(config).await?)
}

#[async_trait]
impl TaskStore for RedisTaskStore {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.write(record, None).await?;
        Ok(())
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError> {
        for round in 1..=MAX_ADMIT_ROUNDS {
            if let Some(admission) = self.admit_round(record, limits).await? {
                return Ok(admission);
            }
            debug!(tenant = %record.tenant_id, round, "tenant's tasks changed during admission, retrying");
        }
        warn!(tenant = %record.tenant_id, rounds = MAX_ADMIT_ROUNDS, "admission gave up under contention");
        Err(StoreError::Contention {
            task_id: record.task_id.clone(),
            attempts: MAX_ADMIT_ROUNDS,
        })
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
        Ok(self.read(tenant, task_id).await?.map(|(record, _)| record))
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError> {
        if let Some(task_id) = &query.task_id {
            let found = self.get(tenant, task_id).await?;
            return Ok(transition::page(found.into_iter().collect(), query));
        }
        let index = self.layout.index_key(tenant);
        if query.task_name.is_some() {
            // Filtering needs every record of the tenant; tenants keep few tasks (50 by default).
            let members: Vec<String> = redis::cmd("ZREVRANGE")
                .arg(&index)
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await?;
            let ids = self.member_ids(tenant, &members)?;
            let records = self.load(tenant, &ids).await?;
            return Ok(transition::page(records, query));
        }
        // No filter: count and cut the page in Redis, in one atomic step.
        let start = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let stop = i64::try_from(query.limit)
            .unwrap_or(i64::MAX)
            .saturating_add(start)
            .saturating_sub(1);
        let (total, members): (usize, Vec<String>) = if query.limit == 0 {
            let total = redis::cmd("ZCARD")
                .arg(&index)
                .query_async(&mut self.conn.clone())
                .await?;
            (total, Vec::new())
        } else {
            redis::pipe()
                .atomic()
                .cmd("ZCARD")
                .arg(&index)
                .cmd("ZREVRANGE")
                .arg(&index)
                .arg(start)
                .arg(stop)
                .query_async(&mut self.conn.clone())
                .await?
        };
        let ids = self.member_ids(tenant, &members)?;
        let mut data = self.load(tenant, &ids).await?;
        // A record updated since the index was read keeps its page but shows in order.
        data.sort_by(transition::newest_first);
        Ok(TaskPage { total, data })
    }

    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let key = self.layout.task_key(tenant, task_id);
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(&key)
            .key(self.layout.index_key(tenant))
            .key(self.layout.tenant_rev_key(tenant))
            .arg(record::new_rev());
        let json: Option<String> = call.invoke_async(&mut self.conn.clone()).await?;
        json.map(|json| record::decode(&key, &json, tenant, task_id))
            .transpose()
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
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl CallbackOutbox for RedisTaskStore {
    async fn due_callbacks(&self, now_ms: i64, limit: usize) -> Result<Vec<TaskRef>, StoreError> {
        let count = i64::try_from(limit).unwrap_or(i64::MAX);
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.layout.callbacks_due_key())
            .arg("-inf")
            .arg(now_ms)
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        members
            .iter()
            .map(|m| {
                layout::parse_due_member(m).ok_or_else(|| StoreError::Corrupt {
                    key: self.layout.callbacks_due_key(),
                    reason: format!("unexpected member {m:?}"),
                })
            })
            .collect()
    }

    async fn claim_callback(
        &self,
        tenant: &str,
        task_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let claimed = cas::claim_callback(self, tenant, task_id, owner, now_ms, lease_ms).await?;
        if claimed.is_none() {
            // Nothing due: drop an index entry left by a task deleted or replaced since, so
            // it is not offered again (a pending one keeps, or gets back, its true time).
            let due = self
                .get(tenant, task_id)
                .await?
                .and_then(|r| r.callback.and_then(|c| c.due_at()));
            let member = layout::due_member(tenant, task_id);
            let cmd = match due {
                Some(at) => {
                    let mut c = redis::cmd("ZADD");
                    c.arg(self.layout.callbacks_due_key()).arg(at).arg(member);
                    c
                }
                None => {
                    let mut c = redis::cmd("ZREM");
                    c.arg(self.layout.callbacks_due_key()).arg(member);
                    c
                }
            };
            let _: i64 = cmd.query_async(&mut self.conn.clone()).await?;
        }
        Ok(claimed)
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
