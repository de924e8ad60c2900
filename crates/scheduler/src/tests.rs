//! The scheduler over the in-process stores and a manual clock: a schedule whose tenant is gone
//! or whose template no longer validates records why on the schedule and its run, and a later
//! run that works clears the error; a schedule whose store calls fail does not stop the others
//! and has the failure recorded on it, as has a run put off by a queue outage, until a run
//! works.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{json, Value};
use statport_core::log::format::LogFormat;
use statport_core::schedule::{RelativeWindow, ScheduleRecord, WindowUnit};
use statport_core::task::ExportJob;
use statport_core::tenant::{LogSource, Tenant, TenantDirectory};
use statport_core::time::clock::ManualClock;
use statport_core::time::HOUR_MS;
use statport_queue::{JobQueue, QueueError};
use statport_records::{
    FireClaim, FireResult, MemoryScheduleStore, MemoryTaskStore, ScheduleStore, StoreError,
};
use statport_storage::{LocalStore, ObjectStore};
use statport_submit::{Deployment, SubmitCounts};

use super::*;

const NOW: i64 = 1_795_000_000_000;

/// The jobs pushed, in order (the queue port's contract is exercised by its own suite); while
/// `down` is set every push fails, as a queue that cannot be reached does.
#[derive(Debug, Default)]
struct RecordingQueue(Mutex<Vec<ExportJob>>, AtomicBool);

impl RecordingQueue {
    fn set_down(&self, down: bool) {
        self.1.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn push(&self, job: ExportJob) -> Result<(), QueueError> {
        if self.1.load(Ordering::SeqCst) {
            return Err(QueueError("connection to 10.0.0.7:6379 refused".into()));
        }
        self.0
            .lock()
            .map_err(|e| QueueError(e.to_string()))?
            .push(job);
        Ok(())
    }

    async fn push_at(&self, job: ExportJob, _at_ms: i64) -> Result<(), QueueError> {
        self.push(job).await
    }
}

/// A scheduler over in-process stores, a folder object store and a manual clock.
struct Fixture {
    schedules: Arc<MemoryScheduleStore>,
    objects: Arc<LocalStore>,
    queue: Arc<RecordingQueue>,
    clock: Arc<ManualClock>,
    root: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn fixture() -> Fixture {
    let root = std::env::temp_dir().join(format!(
        "statport-scheduler-{}",
        uuid::Uuid::new_v4().simple()
    ));
    Fixture {
        schedules: Arc::new(MemoryScheduleStore::new()),
        objects: Arc::new(LocalStore::new(&root)),
        queue: Arc::new(RecordingQueue::default()),
        clock: Arc::new(ManualClock::new(NOW)),
        root,
    }
}

fn record(tenant: &str, template: Value) -> ScheduleRecord {
    ScheduleRecord {
        schedule_id: format!("s-{tenant}"),
        tenant_id: tenant.into(),
        name: "hourly".into(),
        cron: "0 * * * *".into(),
        time_zone: "UTC".into(),
        window: RelativeWindow {
            unit: WindowUnit::Hour,
            count: 1,
            time_zone: None,
        },
        template,
        paused: false,
        create_time: NOW,
        update_time: NOW,
        last_fire_time: None,
        last_error: None,
        last_failure: None,
        skipped_fires: 0,
    }
}

fn scheduler(f: &Fixture, tenants: TenantDirectory) -> Scheduler {
    Scheduler {
        schedules: f.schedules.clone(),
        submitter: Submitter {
            tasks: Arc::new(MemoryTaskStore::new()),
            queue: f.queue.clone(),
            objects: f.objects.clone(),
            results_bucket: "results".into(),
            results_prefix: "exports/".into(),
            tenants: Arc::new(tenants),
            deployment: Deployment::default(),
            clock: f.clock.clone(),
            counts: Arc::new(SubmitCounts::default()),
        },
        owner: "test".into(),
        settings: SchedulerSettings {
            tick_ms: 1000,
            max_catch_up_secs: 24 * 3600,
            lease_secs: 60,
            max_per_tenant: 20,
        },
    }
}

#[tokio::test]
async fn a_gone_tenant_or_an_invalid_template_is_recorded_on_the_schedule() {
    let f = fixture();
    f.objects.ensure_bucket("logs").await.expect("bucket");
    let t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    let schedules = &f.schedules;
    // "ghost" is not configured; t1's template names a domain that is not a host name.
    for r in [
        record("ghost", json!({"domain_name": "all", "interval": 300})),
        record("t1", json!({"domain_name": "not a host", "interval": 300})),
    ] {
        assert!(schedules.create(&r, 20).await.expect("create"));
    }
    let s = scheduler(&f, TenantDirectory::default().with("t1", t1));
    let first_fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    f.clock.advance(first_fire - NOW + 1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!((report.created, report.refused), (0, 2), "{report:?}");
    let ghost = schedules
        .get("ghost", "s-ghost")
        .await
        .expect("get")
        .expect("there");
    let error = ghost.last_error.expect("an error");
    assert_eq!(error.error_code, "StatPort.TenantNotConfigured");
    assert_eq!(error.fire_time, first_fire);
    assert_eq!(ghost.last_fire_time, Some(first_fire));
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        t1.last_error.expect("an error").error_code,
        "InvalidHostnames"
    );
    let runs = schedules.runs("t1", "s-t1", 10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert!(
        f.queue.0.lock().expect("queue").is_empty(),
        "no task was queued"
    );

    // Ticking again in the same hour changes nothing; the template fixed, the next hour's run
    // creates its task and clears the error.
    assert_eq!(s.tick().await.expect("tick"), Default::default());
    let mut fixed = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    fixed.template = json!({"domain_name": "all", "interval": 300});
    assert!(schedules.create(&fixed, 20).await.expect("replace"));
    f.clock.advance(HOUR_MS);
    let report = s.tick().await.expect("tick");
    assert_eq!(report.created, 1, "{report:?}");
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(t1.last_error, None);
    assert_eq!(f.queue.0.lock().expect("queue").len(), 1);
}

/// The in-process store, except that claiming a fire time of the `broken` schedule fails (as a
/// corrupt run record or a failed write of that schedule's keys would) until it is mended.
#[derive(Debug)]
struct OneBroken {
    inner: MemoryScheduleStore,
    broken: Mutex<Option<String>>,
}

impl OneBroken {
    fn is_broken(&self, id: &str) -> bool {
        self.broken
            .lock()
            .map(|broken| broken.as_deref() == Some(id))
            .unwrap_or(true)
    }

    fn mend(&self) {
        if let Ok(mut broken) = self.broken.lock() {
            *broken = None;
        }
    }
}

#[async_trait]
impl ScheduleStore for OneBroken {
    async fn create(&self, record: &ScheduleRecord, max: usize) -> Result<bool, StoreError> {
        self.inner.create(record, max).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        self.inner.get(tenant, id).await
    }

    async fn list(
        &self,
        tenant: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(usize, Vec<ScheduleRecord>), StoreError> {
        self.inner.list(tenant, limit, offset).await
    }

    async fn delete(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        self.inner.delete(tenant, id).await
    }

    async fn set_paused(
        &self,
        tenant: &str,
        id: &str,
        paused: bool,
        now_ms: i64,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        self.inner.set_paused(tenant, id, paused, now_ms).await
    }

    async fn all(&self) -> Result<Vec<ScheduleRecord>, StoreError> {
        self.inner.all().await
    }

    async fn claim_fire(
        &self,
        tenant: &str,
        id: &str,
        fire_time: i64,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<FireClaim, StoreError> {
        if self.is_broken(id) {
            return Err(StoreError::Corrupt {
                key: format!("runs:{id}"),
                reason: "not our JSON".into(),
            });
        }
        self.inner
            .claim_fire(tenant, id, fire_time, owner, now_ms, lease_ms)
            .await
    }

    async fn complete_fire(
        &self,
        tenant: &str,
        id: &str,
        fire_time: i64,
        owner: &str,
        result: FireResult,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .complete_fire(tenant, id, fire_time, owner, result, now_ms)
            .await
    }

    async fn skip_fires(
        &self,
        tenant: &str,
        id: &str,
        up_to: i64,
        skipped: u64,
    ) -> Result<(), StoreError> {
        self.inner.skip_fires(tenant, id, up_to, skipped).await
    }

    async fn record_failure(
        &self,
        tenant: &str,
        id: &str,
        at_ms: i64,
        message: &str,
    ) -> Result<bool, StoreError> {
        self.inner.record_failure(tenant, id, at_ms, message).await
    }

    async fn clear_failure(
        &self,
        tenant: &str,
        id: &str,
        seen: &statport_core::schedule::ScheduleFailure,
    ) -> Result<bool, StoreError> {
        self.inner.clear_failure(tenant, id, seen).await
    }

    async fn runs(
        &self,
        tenant: &str,
        id: &str,
        limit: usize,
    ) -> Result<Vec<statport_core::schedule::ScheduleRun>, StoreError> {
        self.inner.runs(tenant, id, limit).await
    }
}

#[tokio::test]
async fn one_failing_schedule_does_not_stop_the_others_and_is_told_why() {
    let f = fixture();
    f.objects.ensure_bucket("logs").await.expect("bucket");
    let reading = || {
        Tenant::reading(LogSource {
            bucket: "logs".into(),
            prefix: String::new(),
            format: LogFormat::Cloudfront,
        })
    };
    let store = Arc::new(OneBroken {
        inner: MemoryScheduleStore::new(),
        broken: Mutex::new(Some("s-t1".into())),
    });
    for r in [
        record("t1", json!({"domain_name": "all", "interval": 300})),
        record("t2", json!({"domain_name": "all", "interval": 300})),
    ] {
        assert!(store.create(&r, 20).await.expect("create"));
    }
    let mut s = scheduler(
        &f,
        TenantDirectory::default()
            .with("t1", reading())
            .with("t2", reading()),
    );
    s.schedules = store.clone();
    let first_fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    f.clock.advance(first_fire - NOW + 1_000);
    let report = s.tick().await.expect("the tick itself succeeds");
    assert_eq!((report.created, report.failed), (1, 1), "{report:?}");
    let t2 = store.get("t2", "s-t2").await.expect("get").expect("there");
    assert!(t2.last_fire_time.is_some(), "the healthy schedule ran");
    assert_eq!(t2.last_failure, None);
    assert_eq!(f.queue.0.lock().expect("queue").len(), 1);
    let t1 = store.get("t1", "s-t1").await.expect("get").expect("there");
    assert_eq!(t1.last_fire_time, None, "the failing one did not run");
    let failure = t1.last_failure.expect("the failure is recorded on it");
    assert_eq!((failure.at, failure.consecutive), (first_fire + 1_000, 1));
    assert!(
        failure.message.contains("could not be read"),
        "{}",
        failure.message
    );
    assert!(
        !failure.message.contains("runs:") && !failure.message.contains("JSON"),
        "no key or detail for the tenant: {}",
        failure.message
    );

    // It fails again at the next tick, counted; once mended, its run is made and the failure
    // is gone.
    f.clock.advance(1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!((report.created, report.failed), (0, 1), "{report:?}");
    let t1 = store.get("t1", "s-t1").await.expect("get").expect("there");
    assert_eq!(t1.last_failure.map(|e| e.consecutive), Some(2));
    store.mend();
    f.clock.advance(1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!((report.created, report.failed), (1, 0), "{report:?}");
    let t1 = store.get("t1", "s-t1").await.expect("get").expect("there");
    assert_eq!(
        (t1.last_fire_time, t1.last_failure, t1.last_error),
        (Some(first_fire), None, None)
    );
    assert_eq!(f.queue.0.lock().expect("queue").len(), 2);
}

#[tokio::test]
async fn a_run_put_off_by_a_queue_outage_is_recorded_until_it_is_made() {
    let f = fixture();
    f.objects.ensure_bucket("logs").await.expect("bucket");
    let t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    let schedules = &f.schedules;
    let r = record("t1", json!({"domain_name": "all", "interval": 300}));
    assert!(schedules.create(&r, 20).await.expect("create"));
    let s = scheduler(&f, TenantDirectory::default().with("t1", t1));
    f.queue.set_down(true);
    let first_fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    f.clock.advance(first_fire - NOW + 1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!((report.postponed, report.failed), (1, 0), "{report:?}");
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    let failure = t1.last_failure.expect("recorded");
    assert_eq!(failure.consecutive, 1);
    assert!(
        failure.message.contains("task queue did not answer"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("10.0.0.7"), "{}", failure.message);
    assert_eq!(
        t1.last_error, None,
        "not a refusal: nothing for the tenant to fix"
    );
    f.clock.advance(1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!(report.taken_elsewhere, 1, "the lease holds: {report:?}");
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        t1.last_failure.map(|e| e.consecutive),
        Some(1),
        "still due, so not cleared"
    );

    // The queue is back; once the lease passes the run is taken again, made, and the failure
    // clears.
    f.queue.set_down(false);
    f.clock
        .advance(i64::try_from(s.settings.lease_secs).expect("small") * 1_000 - 1_000);
    let report = s.tick().await.expect("tick");
    assert_eq!(report.created, 1, "{report:?}");
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (t1.last_fire_time, t1.last_failure),
        (Some(first_fire), None)
    );
    assert_eq!(f.queue.0.lock().expect("queue").len(), 1);
}

#[tokio::test]
async fn a_failure_overtaken_by_another_schedulers_run_is_cleared_at_the_next_tick() {
    let f = fixture();
    f.objects.ensure_bucket("logs").await.expect("bucket");
    let t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    let schedules = &f.schedules;
    let r = record("t1", json!({"domain_name": "all", "interval": 300}));
    assert!(schedules.create(&r, 20).await.expect("create"));
    let s = scheduler(&f, TenantDirectory::default().with("t1", t1));
    let first_fire = NOW - NOW.rem_euclid(HOUR_MS) + HOUR_MS;
    f.clock.advance(first_fire - NOW + 1_000);
    assert_eq!(s.tick().await.expect("tick").created, 1);
    // Another scheduler's claim of that fire time failed, and it wrote so after the run was
    // made: nothing is left due, so the next tick clears it.
    assert!(schedules
        .record_failure("t1", "s-t1", first_fire + 1_500, "late")
        .await
        .expect("record"));
    f.clock.advance(1_000);
    assert_eq!(s.tick().await.expect("tick"), TickReport::default());
    let t1 = schedules
        .get("t1", "s-t1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (t1.last_fire_time, t1.last_failure),
        (Some(first_fire), None)
    );
}
