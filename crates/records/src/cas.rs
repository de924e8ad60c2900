//! The one primitive behind every guarded change of a stored record, a compare-and-set, and the
//! task transitions applied over it once.
//!
//! A store implements [`RecordCas`]: read a record with a version, and write a new record only
//! if it is still at that version. [`update`] runs "read, decide, write" over it, retrying when
//! the write lost to another writer; [`claim`], [`progress`], [`finish`] and [`expire_file`]
//! are the [`TaskStore`](crate::TaskStore) transitions, each the rule of `transition` as one
//! such update, so no store repeats them. What makes the write conditional is the store's own
//! business and is kept exactly as strong as before:
//! - Redis: the version is the hash's `rev` token and the write is a Lua script that checks it
//!   (any write, a delete and re-create included, changes it).
//! - SQLite: the version is the `BEGIN IMMEDIATE` transaction the read ran in; it holds the
//!   file's write lock until the write commits, so the write cannot lose.
//! - memory: the version is a generation number every write of the map changes.
//!
//! The Redis schedule store implements it too, for the changes of one schedule alone
//! (pausing, skipping fire times, recording or clearing a failure); the hash read and write
//! under both Redis stores are `redis_store::record`.
//!
//! Admission does not go through this primitive: its decision reads every task of the tenant
//! and its write replaces one and evicts others, so it needs a guard over the tenant's whole
//! set of tasks, which each store keeps in its `admit` (see [`crate::admission`]).

use async_trait::async_trait;
use statport_core::task::TaskRecord;
use tracing::{debug, warn};

use crate::error::StoreError;
use crate::store::{Claim, Outcome};
use crate::transition;

/// Compare-and-set over the records of one kind, keyed by tenant and id.
#[async_trait]
pub(crate) trait RecordCas: Send + Sync {
    /// The record the store keeps (a task or a schedule).
    type Record: Send + Sync;
    /// What a read hands to the write that depends on it: the proof that the record is
    /// unchanged (a token to compare, or a lock held until the write).
    type Version: Send;
    /// Rounds [`update`] tries before it gives up with [`StoreError::Contention`]; 1 for a
    /// store whose version is a lock (its first write cannot lose).
    const MAX_ROUNDS: usize;
    /// What the records are, for the logs ("task", "schedule").
    const KIND: &'static str;

    /// The tenant's record `id` and the version it was read at; `None` when it does not exist.
    async fn read_versioned(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(Self::Record, Self::Version)>, StoreError>;

    /// Writes `next` (the same tenant and id) only if the record is still at `version`; false
    /// when another write came first (the caller reads again).
    async fn write_if_unchanged(
        &self,
        next: &Self::Record,
        version: Self::Version,
    ) -> Result<bool, StoreError>;
}

/// One guarded change: `step` sees the current record (or `None`) and returns the record to
/// write (or `None` to leave it) and the answer. The write happens only if the record did not
/// change since it was read; otherwise the round starts again, at most `S::MAX_ROUNDS` times.
/// Nothing is written for a record that does not exist.
pub(crate) async fn update<S, T>(
    store: &S,
    tenant: &str,
    id: &str,
    step: impl Fn(Option<&S::Record>) -> (Option<S::Record>, T) + Send + Sync,
) -> Result<T, StoreError>
where
    S: RecordCas + ?Sized,
    T: Send,
{
    for round in 1..=S::MAX_ROUNDS {
        let Some((current, version)) = store.read_versioned(tenant, id).await? else {
            return Ok(step(None).1);
        };
        let (next, answer) = step(Some(&current));
        // Without a write the version is dropped (a SQLite read transaction rolls back).
        let Some(next) = next else {
            return Ok(answer);
        };
        if store.write_if_unchanged(&next, version).await? {
            return Ok(answer);
        }
        debug!(
            tenant,
            id,
            round,
            kind = S::KIND,
            "record changed during update, retrying"
        );
    }
    Err(gave_up(S::KIND, tenant, id, S::MAX_ROUNDS))
}

/// The error (and its log line) after `rounds` lost compare-and-set rounds on record `id`.
pub(crate) fn gave_up(kind: &str, tenant: &str, id: &str, rounds: usize) -> StoreError {
    warn!(
        tenant,
        id, kind, rounds, "record update gave up under contention"
    );
    StoreError::Contention {
        task_id: id.to_owned(),
        attempts: rounds,
    }
}

/// [`TaskStore::claim`](crate::TaskStore::claim) over `store`.
pub(crate) async fn claim<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    run_id: &str,
    now_ms: i64,
) -> Result<Claim, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        transition::claim_step(current, run_id, now_ms)
    })
    .await
}

/// [`TaskStore::progress`](crate::TaskStore::progress) over `store`.
#[allow(clippy::too_many_arguments)] // the port's signature plus the store
pub(crate) async fn progress<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    run_id: &str,
    progress: u8,
    read_lines: u64,
    skipped_lines: u64,
    now_ms: i64,
) -> Result<bool, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        transition::guarded_step(current.and_then(|current| {
            transition::progress(current, run_id, progress, read_lines, skipped_lines, now_ms)
        }))
    })
    .await
}

/// [`TaskStore::finish`](crate::TaskStore::finish) over `store`.
pub(crate) async fn finish<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    run_id: &str,
    outcome: &Outcome,
    now_ms: i64,
) -> Result<bool, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        transition::guarded_step(
            current.and_then(|current| transition::finish(current, run_id, outcome, now_ms)),
        )
    })
    .await
}

/// [`TaskStore::expire_file`](crate::TaskStore::expire_file) over `store`.
pub(crate) async fn expire_file<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    ended_by: i64,
    now_ms: i64,
) -> Result<Option<String>, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        current
            .and_then(|c| transition::expire_file(c, ended_by, now_ms))
            .unzip()
    })
    .await
}

/// [`CallbackOutbox::claim_callback`](crate::CallbackOutbox::claim_callback) over `store`.
pub(crate) async fn claim_callback<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<TaskRecord>, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        let next = current.and_then(|c| transition::claim_callback(c, owner, now_ms, lease_ms));
        (next.clone(), next)
    })
    .await
}

/// [`CallbackOutbox::record_callback`](crate::CallbackOutbox::record_callback) over `store`.
pub(crate) async fn record_callback<S>(
    store: &S,
    tenant: &str,
    task_id: &str,
    delivery_id: &str,
    owner: &str,
    result: &statport_core::outbox::AttemptResult,
    now_ms: i64,
) -> Result<bool, StoreError>
where
    S: RecordCas<Record = TaskRecord> + ?Sized,
{
    update(store, tenant, task_id, |current| {
        transition::guarded_step(
            current
                .and_then(|c| transition::record_callback(c, delivery_id, owner, result, now_ms)),
        )
    })
    .await
}
