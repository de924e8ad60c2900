//! The scheduler: turns the fire times of every schedule into tasks, exactly once per fire time
//! however many schedulers run.
//!
//! Each tick reads every schedule, works out its due fire times from the last one handled (the
//! catch-up policy of `statport_core::schedule` decides what runs after downtime), and for each
//! one takes the fire time in the store ([`ScheduleStore::claim_fire`], keyed by schedule id and
//! fire time, atomic across processes). Only the scheduler that took it creates the task, through
//! the same [`Submitter`] as `POST /export-tasks` (validation, limits, queueing), and
//! records the result on the run and the schedule. A scheduler that dies between the two loses
//! its lease, and another takes the fire time over; the task it then creates has the same
//! condition, so admission hands back the task already made rather than a second one.
//!
//! A run that cannot create its task for good (the tenant is gone, its log bucket is gone, the
//! template no longer validates, a limit) is recorded as refused with the error on the schedule
//! (`last_error`), never dropped silently. A store or queue outage leaves the fire time claimed
//! and unfinished, so it is tried again once the lease passes.
//!
//! One schedule whose handling fails (a schedule-store call for it fails, or its run is put off
//! by an outage) does not stop the others, and the failure is recorded on it
//! ([`ScheduleStore::record_failure`]: `last_failure`, a sentence safe to show the tenant from
//! `failure`, with the details in the log) until its next run is recorded, or until a tick finds
//! nothing of it left due (the run was made by another scheduler).
//!
//! Any number of schedulers may run, in the API process (`statport serve`) or on their own
//! (`statport scheduler`); this crate knows nothing of HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use statport_core::schedule::{due_fire_times, Due, ScheduleError, ScheduleRecord};
use statport_core::ErrorCode;
use statport_records::{FireClaim, FireResult, ScheduleStore, StoreError};
use statport_storage::StorageError;
use statport_submit::Submitter;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

mod failure;

/// `[scheduler]`: how schedulers behave, and how many schedules a tenant may have.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// How often a scheduler looks for due fire times, ms.
    pub tick_ms: u64,
    /// A fire time missed while no scheduler ran is still run (only the latest one) when it is
    /// at most this old, s; older ones are skipped and counted.
    pub max_catch_up_secs: u64,
    /// How long a scheduler holds a fire time while it creates the task before another
    /// scheduler may take it over, s.
    pub lease_secs: u64,
    /// Schedules one tenant may have (the API refuses one more).
    pub max_per_tenant: usize,
}

impl SchedulerSettings {
    /// Time between two ticks (at least 1 ms).
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(1))
    }

    /// The oldest missed fire time still run after downtime, ms.
    pub fn max_catch_up_ms(&self) -> i64 {
        i64::try_from(self.max_catch_up_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// How long a claimed fire time is held, ms.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// One scheduler (any number may run against one store).
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// The schedules and the record of their fire times.
    pub schedules: Arc<dyn ScheduleStore>,
    /// Creates each fire time's task, by the rules every task meets. Its tenant directory
    /// decides which schedules still have a tenant, its object store where their logs are (a
    /// run whose log bucket is gone is refused), and its clock when fire times are due.
    pub submitter: Submitter,
    /// This scheduler's name in claims (unique per process).
    pub owner: String,
    /// How often it ticks, how far back it catches up and how long a claim holds.
    pub settings: SchedulerSettings,
}

/// What one tick did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Fire times this scheduler took and created a task for.
    pub created: usize,
    /// Fire times this scheduler took and recorded as refused.
    pub refused: usize,
    /// Fire times another scheduler had already taken.
    pub taken_elsewhere: usize,
    /// Fire times left claimed because a dependency failed (tried again after the lease); the
    /// cause is recorded on the schedule.
    pub postponed: usize,
    /// Missed fire times skipped by the catch-up policy.
    pub skipped: u64,
    /// Schedules whose handling failed this tick (a store call for that schedule failed, a
    /// corrupt run record): logged, recorded on the schedule, tried again at the next tick, the
    /// others handled as usual.
    pub failed: usize,
}

impl Scheduler {
    /// Ticks every `settings.tick()` until `shutdown` is cancelled. A failing tick (store away)
    /// is logged and the next one tries again.
    pub async fn run(&self, shutdown: CancellationToken) {
        let tick = self.settings.tick();
        info!(owner = %self.owner, ?tick, "scheduler starting");
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => {
                    match self.tick().await {
                        Ok(report) if report != TickReport::default() => debug!(?report, "scheduler tick"),
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "scheduler tick failed; trying again at the next tick"),
                    }
                }
            }
        }
        info!(owner = %self.owner, "scheduler stopped");
    }

    /// Handles every fire time due now, once. One schedule whose handling fails does not stop
    /// the others: it is logged, recorded on the schedule (`last_failure`), counted in
    /// [`TickReport::failed`] and tried again at the next tick. Only a failure to read the
    /// schedules at all fails the tick.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        for schedule in self.schedules.all().await? {
            if schedule.paused {
                continue;
            }
            if let Err(e) = self.handle_schedule(&schedule, &mut report).await {
                warn!(schedule_id = %schedule.schedule_id, tenant = %schedule.tenant_id, error = %e, "handling the schedule failed; the other schedules go on and this one is tried again at the next tick");
                report.failed += 1;
                self.record_failure(&schedule, &failure::store_failure(&e))
                    .await;
            }
        }
        Ok(report)
    }

    async fn handle_schedule(
        &self,
        schedule: &ScheduleRecord,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        let now = self.submitter.clock.now_ms();
        let spec = match schedule.cron_spec() {
            Ok(spec) => spec,
            Err(e) => {
                // Validated at creation; only a changed zone database could get here.
                warn!(schedule_id = %schedule.schedule_id, error = %e, "a stored schedule no longer parses");
                return Ok(());
            }
        };
        let last = schedule.last_fire_time.unwrap_or(schedule.create_time);
        let due = due_fire_times(&spec, last, now, self.settings.max_catch_up_ms());
        if due == Due::default() {
            // Nothing left due: a failure still shown was overtaken (another scheduler made the
            // run, or the skip that failed was recorded since).
            if let Some(seen) = &schedule.last_failure {
                self.schedules
                    .clear_failure(&schedule.tenant_id, &schedule.schedule_id, seen)
                    .await?;
            }
            return Ok(());
        }
        if let Some(up_to) = due.skipped_up_to {
            if due.skipped > 0 {
                warn!(schedule_id = %schedule.schedule_id, skipped = due.skipped, "missed fire times skipped (catch-up policy)");
            }
            self.schedules
                .skip_fires(
                    &schedule.tenant_id,
                    &schedule.schedule_id,
                    up_to,
                    due.skipped,
                )
                .await?;
            report.skipped = report.skipped.saturating_add(due.skipped);
        }
        for fire in due.run {
            self.fire(schedule, fire, report).await?;
        }
        Ok(())
    }

    async fn fire(
        &self,
        schedule: &ScheduleRecord,
        fire: i64,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        let store = &self.schedules;
        let (tenant, id) = (&schedule.tenant_id, &schedule.schedule_id);
        let now = self.submitter.clock.now_ms();
        match store
            .claim_fire(tenant, id, fire, &self.owner, now, self.settings.lease_ms())
            .await?
        {
            FireClaim::Claimed => {}
            FireClaim::Taken(_) | FireClaim::Missing => {
                report.taken_elsewhere += 1;
                return Ok(());
            }
        }
        let result = match self.create_task(schedule, fire).await {
            Ok(result) => result,
            Err(cause) => {
                report.postponed += 1;
                self.record_failure(schedule, &failure::postponed(cause))
                    .await;
                return Ok(());
            }
        };
        match &result {
            FireResult::Created { task_id } => {
                info!(schedule_id = %id, tenant = %tenant, fire_time = fire, task_id = %task_id, "scheduled task created");
                report.created += 1;
            }
            FireResult::Refused(error) => {
                warn!(schedule_id = %id, tenant = %tenant, fire_time = fire, code = %error.error_code, reason = %error.error_msg, "scheduled run refused; recorded on the schedule");
                report.refused += 1;
            }
        }
        let done = store
            .complete_fire(
                tenant,
                id,
                fire,
                &self.owner,
                result,
                self.submitter.clock.now_ms(),
            )
            .await?;
        if !done {
            warn!(schedule_id = %id, fire_time = fire, "the fire time was taken over before its result was recorded (lease passed)");
        }
        Ok(())
    }

    /// Records on `schedule` that handling it failed (`message` is shown to the tenant). When
    /// that fails too (the store is away) it is logged: the attempt is the same either way.
    async fn record_failure(&self, schedule: &ScheduleRecord, message: &str) {
        let (tenant, id) = (&schedule.tenant_id, &schedule.schedule_id);
        let now = self.submitter.clock.now_ms();
        match self
            .schedules
            .record_failure(tenant, id, now, message)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                debug!(schedule_id = %id, "the schedule went before its failure was recorded")
            }
            Err(e) => {
                warn!(schedule_id = %id, tenant = %tenant, error = %e, "recording the failure on the schedule failed too")
            }
        }
    }

    /// Creates the task of `fire`: `Ok(Created)`, `Ok(Refused)` when it cannot be created for
    /// good, `Err(cause)` when a dependency failed and it should be tried again (`cause` is safe
    /// to show the tenant; the details are logged).
    async fn create_task(
        &self,
        schedule: &ScheduleRecord,
        fire: i64,
    ) -> Result<FireResult, &'static str> {
        let refused = |code: ErrorCode, message: String| {
            Ok(FireResult::Refused(ScheduleError {
                fire_time: fire,
                error_code: code.as_str().to_owned(),
                error_msg: message,
            }))
        };
        let Some(tenant) = self.submitter.tenants.get(&schedule.tenant_id) else {
            return refused(
                ErrorCode::TenantNotConfigured,
                format!(
                    "the tenant '{}' is no longer configured; delete the schedule",
                    schedule.tenant_id
                ),
            );
        };
        let bucket = tenant.source.bucket.as_str();
        match self.submitter.objects.ping(bucket).await {
            Ok(()) => {}
            Err(StorageError::NoSuchBucket { .. }) => {
                return refused(
                    ErrorCode::LogBucketNotFound,
                    format!("the tenant's log bucket '{bucket}' does not exist"),
                );
            }
            Err(e) => {
                warn!(error = %e, bucket, "the object store did not answer; the fire time is tried again after its lease");
                return Err("the object store holding the tenant's logs did not answer");
            }
        }
        let body = match schedule.task_body(fire) {
            Ok(body) => body,
            Err(e) => return refused(e.code, e.message),
        };
        match self.submitter.submit(&schedule.tenant_id, &body).await {
            Ok(submitted) => Ok(FireResult::Created {
                task_id: submitted.into_record().task_id,
            }),
            // The submitter logged the cause.
            Err(e) if e.code == ErrorCode::ServiceUnavailable => {
                Err("the task store or the task queue did not answer")
            }
            Err(e) => refused(e.code, e.message),
        }
    }
}

#[cfg(test)]
mod tests;
