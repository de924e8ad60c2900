//! The schedule-store port: where recurring exports and the record of each of their fire times
//! live, and the atomic steps that let any number of schedulers share them.
//!
//! A scheduler walks [`ScheduleStore::all`], and for each due fire time takes it with
//! [`ScheduleStore::claim_fire`] (only one scheduler gets [`FireClaim::Claimed`] for a given
//! schedule and fire time), creates the task, then records what happened with
//! [`ScheduleStore::complete_fire`]. A scheduler that dies between the two loses its claim when
//! its lease passes, and another takes the fire time over. Fire times passed over under the
//! catch-up policy are recorded with [`ScheduleStore::skip_fires`]. A schedule the scheduler
//! fails to handle (a store or queue outage) gets the failure recorded on it with
//! [`ScheduleStore::record_failure`], until its next run is completed or a scheduler finds
//! nothing of it left due ([`ScheduleStore::clear_failure`]).
//!
//! # Layout
//! - `rules`: the pure rules every store applies (claiming, completing, skipping, pausing,
//!   recording and clearing a failure, listing order, trimming the runs), so all
//!   implementations agree.
//! - [`memory`]: [`MemoryScheduleStore`], one process.
//! - [`redis_store`]: [`RedisScheduleStore`], shared by processes through Redis.
//! - [`sqlite_store`]: [`SqliteScheduleStore`], shared by processes through one SQLite file.
//!
//! Every store passes the same conformance suite (`tests/common/schedule_suite.rs`).

pub mod memory;
mod redis_scripts;
pub mod redis_store;
mod rules;
pub mod sqlite_store;

use std::fmt;

use async_trait::async_trait;
use statport_core::schedule::{ScheduleError, ScheduleFailure, ScheduleRecord, ScheduleRun};

use crate::error::StoreError;

pub use memory::MemoryScheduleStore;
pub use redis_store::RedisScheduleStore;
pub use sqlite_store::SqliteScheduleStore;

/// How many runs a store keeps per schedule: older ones are trimmed when a new one is claimed,
/// except runs still `Claimed`.
pub const RUNS_KEPT: usize = 100;

/// Where schedules and their runs live. Held as `Arc<dyn ScheduleStore>`; every implementation
/// passes the same conformance suite.
///
/// Methods that take a tenant see only that tenant's schedules: another tenant's schedule is
/// answered exactly like one that does not exist. Times are ms since the Unix epoch, passed in
/// by the caller (no clock inside).
#[async_trait]
pub trait ScheduleStore: Send + Sync + fmt::Debug {
    /// Stores a new schedule; refused with `Ok(false)` when the tenant already has
    /// `max_per_tenant` schedules. A record with an id the tenant already uses replaces that
    /// schedule (it is counted once; its runs are kept).
    async fn create(
        &self,
        record: &ScheduleRecord,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError>;

    /// The tenant's schedule, or `None`.
    async fn get(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError>;

    /// The tenant's schedules, newest `create_time` first (ties by `schedule_id` descending),
    /// paged; returns (total, page).
    async fn list(
        &self,
        tenant: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(usize, Vec<ScheduleRecord>), StoreError>;

    /// Removes the schedule and its runs; returns what it was (`None` when there was nothing).
    async fn delete(
        &self,
        tenant: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError>;

    /// Pauses or resumes. Resuming a paused schedule sets
    /// `last_fire_time = max(last_fire_time, now_ms)`, so fire times that passed while paused
    /// are not run; a change sets `update_time = now_ms`, asking for the state the schedule is
    /// already in changes nothing. Returns the record after the change (`None`: no schedule).
    async fn set_paused(
        &self,
        tenant: &str,
        schedule_id: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Option<ScheduleRecord>, StoreError>;

    /// Every schedule of every tenant (the scheduler's work list; bounded by tenants ×
    /// `max_per_tenant`), in no particular order.
    async fn all(&self) -> Result<Vec<ScheduleRecord>, StoreError>;

    /// Takes fire time `fire_time` of the schedule for scheduler `owner` until
    /// `now_ms + lease_ms`, atomically: [`FireClaim::Claimed`] when no run exists for
    /// (schedule, fire time), or one exists in state `Claimed` whose lease has passed
    /// (`lease_until <= now_ms`: a crashed scheduler; the new owner takes it over);
    /// [`FireClaim::Taken`] otherwise (created, refused, or claimed by anyone, `owner`
    /// included, whose lease holds). [`FireClaim::Missing`] when the schedule is gone or paused.
    /// A new claim trims the schedule's runs to the [`RUNS_KEPT`] latest (never a `Claimed`
    /// one).
    #[allow(clippy::too_many_arguments)] // the agreed port signature; each value is distinct
    async fn claim_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<FireClaim, StoreError>;

    /// Ends a claimed run: it becomes `Created{task_id}` or `Refused{error}` with
    /// `update_time = now_ms`, only if `owner` still holds it (its claim was not taken over; a
    /// lease that passed without a takeover still holds), else `Ok(false)` and nothing changes.
    /// In the same atomic step the schedule's `last_fire_time` becomes `max(old, fire_time)`,
    /// `last_error` is cleared (created) or set (refused), and `last_failure` is cleared (the
    /// scheduler handled the schedule again).
    async fn complete_fire(
        &self,
        tenant: &str,
        schedule_id: &str,
        fire_time: i64,
        owner: &str,
        result: FireResult,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Records that fire times up to `up_to` were passed over without runs (catch-up policy):
    /// `last_fire_time = max(old, up_to)`, `skipped_fires += skipped`. Atomic and idempotent
    /// per `up_to`: a call whose `up_to` is not after `last_fire_time` changes nothing. No error
    /// when the schedule is gone.
    async fn skip_fires(
        &self,
        tenant: &str,
        schedule_id: &str,
        up_to: i64,
        skipped: u64,
    ) -> Result<(), StoreError>;

    /// Records on the schedule that the scheduler failed to handle it at `at_ms`:
    /// `last_failure` becomes `{at: at_ms, message, consecutive: previous + 1}` (1 after a clear
    /// one), atomically, nothing else changes. `message` is shown to the tenant as it is.
    /// `Ok(false)` when the schedule is gone.
    async fn record_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        at_ms: i64,
        message: &str,
    ) -> Result<bool, StoreError>;

    /// Clears `last_failure` when it is still `seen`, atomically: a scheduler found the schedule
    /// with nothing left due, so the failure was overtaken (another scheduler made the run). A
    /// failure recorded since (not `seen`) stays. `Ok(false)` when nothing was cleared.
    async fn clear_failure(
        &self,
        tenant: &str,
        schedule_id: &str,
        seen: &ScheduleFailure,
    ) -> Result<bool, StoreError>;

    /// The schedule's runs, newest fire time first, at most `limit` (none when the schedule is
    /// not the tenant's).
    async fn runs(
        &self,
        tenant: &str,
        schedule_id: &str,
        limit: usize,
    ) -> Result<Vec<ScheduleRun>, StoreError>;
}

/// What [`ScheduleStore::claim_fire`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireClaim {
    /// The caller holds the fire time: create its task, then complete the run.
    Claimed,
    /// Another scheduler handled or holds the fire time: the run as it is.
    Taken(ScheduleRun),
    /// The schedule is gone or paused: nothing to run.
    Missing,
}

/// How a claimed run ended, for [`ScheduleStore::complete_fire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireResult {
    /// The task was created (or an equal task took the request).
    Created {
        /// The task the fire time created (or the equal task that took it), recorded in the
        /// run so an operator can follow a schedule to its exports.
        task_id: String,
    },
    /// No task: validation or a limit refused it.
    Refused(ScheduleError),
}
