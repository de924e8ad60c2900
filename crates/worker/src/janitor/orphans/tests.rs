//! The orphan sweep over a folder as object store, the in-memory task store (behind a switch
//! that makes it unreadable) and a manual clock; objects are aged by setting their files'
//! modification times.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use statport_core::task::{TaskRecord, TaskStatus};
use statport_core::time::clock::{Clock, ManualClock};
use statport_core::ExportRequest;
use statport_records::{
    Admission, AdmissionLimits, Claim, MemoryTaskStore, Outcome, StoreError, TaskPage, TaskStore,
};
use statport_storage::{LocalStore, ObjectStore};

use super::*;
use crate::janitor::{SweepReport, TenantRetention};

const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;
const GRACE: Duration = Duration::from_secs(3600);

/// The in-memory task store, unreadable (`list` and `get` fail) while `down`, and unable to
/// answer `get` alone while `gets_down`.
#[derive(Debug, Default)]
struct Switchable {
    inner: MemoryTaskStore,
    down: AtomicBool,
    gets_down: AtomicBool,
}

fn unreachable() -> StoreError {
    StoreError::Contention {
        task_id: "any".into(),
        attempts: 0,
    }
}

#[async_trait::async_trait]
impl TaskStore for Switchable {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &AdmissionLimits,
    ) -> Result<Admission, StoreError> {
        self.inner.admit(record, limits).await
    }

    async fn expire_file(
        &self,
        tenant: &str,
        task_id: &str,
        ended_by: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.inner
            .expire_file(tenant, task_id, ended_by, now_ms)
            .await
    }

    async fn get(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        if self.down.load(Ordering::SeqCst) || self.gets_down.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        self.inner.get(tenant, task_id).await
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<TaskPage, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(unreachable());
        }
        self.inner.list(tenant, query).await
    }

    async fn delete(&self, tenant: &str, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.inner.delete(tenant, task_id).await
    }

    async fn claim(
        &self,
        tenant: &str,
        task_id: &str,
        run_id: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        self.inner.claim(tenant, task_id, run_id, now_ms).await
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
        self.inner
            .progress(
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
        self.inner
            .finish(tenant, task_id, run_id, outcome, now_ms)
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

struct Fixture {
    janitor: Janitor,
    tasks: Arc<Switchable>,
    objects: Arc<LocalStore>,
    clock: Arc<ManualClock>,
    root: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn fixture() -> Fixture {
    let root = std::env::temp_dir().join(format!(
        "statport-orphans-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let objects = Arc::new(LocalStore::new(&root));
    objects.ensure_bucket("results").await.expect("bucket");
    let tasks = Arc::new(Switchable::default());
    let clock = Arc::new(ManualClock::new(T0));
    let janitor = Janitor {
        tasks: tasks.clone(),
        objects: objects.clone(),
        results_bucket: "results".into(),
        tenants: vec![TenantRetention {
            tenant: "t1".into(),
            file_retention: Duration::from_secs(3 * 86_400),
        }],
        queue: None,
        clock: clock.clone(),
        sort_dirs: None,
        orphans: Some(OrphanSweep::new("exports/", GRACE)),
    };
    Fixture {
        janitor,
        tasks,
        objects,
        clock,
        root,
    }
}

impl Fixture {
    /// Writes `key` in the results bucket as last changed at `written_ms`.
    async fn put(&self, key: &str, written_ms: i64) {
        self.objects
            .put_bytes(
                "results",
                key,
                bytes::Bytes::from_static(b"a,b\n"),
                "text/csv",
            )
            .await
            .expect("put");
        let path = self.root.join("results").join(key);
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(written_ms).expect("after 1970"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(at))
            .expect("set mtime");
    }

    async fn exists(&self, key: &str) -> bool {
        self.objects.get("results", key).await.is_ok()
    }

    /// A record of tenant `t1` in `status`, naming `file_key`, stored.
    async fn task(&self, id: &str, status: TaskStatus, file_key: Option<&str>) -> TaskRecord {
        let mut r = record(id);
        r.status = status;
        r.file_key = file_key.map(str::to_owned);
        r.end_time = status.is_final().then_some(self.clock.now_ms());
        self.tasks.create(&r).await.expect("create");
        r
    }

    /// Sweeps at `at` and says how many orphans went.
    async fn sweep_at(&self, at: i64) -> u64 {
        self.clock.set(at);
        let report: SweepReport = self.janitor.sweep().await;
        report.orphans_deleted
    }
}

fn record(id: &str) -> TaskRecord {
    let body = json!({"domain_name": "a.example.com", "start_time": 0, "end_time": 3_600_000,
                      "interval": 3600, "export_format": "csv"});
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid");
    TaskRecord::waiting(id.into(), "t1".into(), id.into(), condition, 0)
}

#[tokio::test]
async fn an_old_orphan_goes_once_seen_orphaned_for_the_grace() {
    let f = fixture().await;
    let key = "exports/t1/gone.csv";
    f.put(key, T0 - 5 * 60 * MIN).await;
    // Old, but this janitor has not seen it orphaned for long: kept.
    assert_eq!(f.sweep_at(T0).await, 0);
    assert_eq!(f.sweep_at(T0 + 30 * MIN).await, 0);
    assert!(f.exists(key).await);
    // An orphan at every sweep for the grace: deleted, and counted.
    assert_eq!(f.sweep_at(T0 + 60 * MIN).await, 1);
    assert!(!f.exists(key).await);
}

#[tokio::test]
async fn a_young_orphan_is_kept_until_it_is_as_old_as_the_grace() {
    let f = fixture().await;
    let key = "exports/t1/gone.csv";
    f.put(key, T0 - 5 * 60 * MIN).await;
    assert_eq!(f.sweep_at(T0).await, 0);
    // Rewritten 10 minutes before the sweep that would have deleted it: too young.
    f.put(key, T0 + 50 * MIN).await;
    assert_eq!(f.sweep_at(T0 + 60 * MIN).await, 0);
    assert!(f.exists(key).await);
    assert_eq!(f.sweep_at(T0 + 110 * MIN).await, 1);
    assert!(!f.exists(key).await);
}

#[tokio::test]
async fn files_live_records_want_are_kept_and_the_others_go() {
    let f = fixture().await;
    let old = T0 - 5 * 60 * MIN;
    // Wanted: a success naming its file, and the key a waiting or processing task's run writes.
    f.task("done", TaskStatus::Success, Some("exports/t1/done.csv"))
        .await;
    f.task("queued", TaskStatus::Waiting, None).await;
    f.task("running", TaskStatus::Processing, None).await;
    // Not wanted: a failed task's, an expired file, a key its task's runs never write.
    f.task("failed", TaskStatus::Fail, None).await;
    let mut expired = f
        .task(
            "expired",
            TaskStatus::Success,
            Some("exports/t1/expired.csv"),
        )
        .await;
    expired.file_expired_at = Some(T0 - 60 * MIN);
    f.tasks.create(&expired).await.expect("expire");
    let kept = [
        "exports/t1/done.csv",
        "exports/t1/queued.csv",
        "exports/t1/running.csv",
    ];
    let gone = [
        "exports/t1/failed.csv",
        "exports/t1/expired.csv",
        "exports/t1/queued.json",
    ];
    for key in kept.iter().chain(&gone) {
        f.put(key, old).await;
    }
    assert_eq!(f.sweep_at(T0).await, 0);
    assert_eq!(f.sweep_at(T0 + 2 * 60 * MIN).await, 3);
    for key in kept {
        assert!(f.exists(key).await, "{key} is kept");
    }
    for key in gone {
        assert!(!f.exists(key).await, "{key} is deleted");
    }
}

#[tokio::test]
async fn a_resubmitted_task_whose_new_run_failed_loses_its_old_file() {
    let f = fixture().await;
    let key = "exports/t1/again.csv";
    // A success with its file, ended long ago but within its retention.
    f.task("again", TaskStatus::Success, Some(key)).await;
    f.put(key, T0 - 5 * 60 * MIN).await;
    // The same condition again: the task is reset, naming no file; its run fails.
    let Admission::Replaced { record, .. } = f
        .tasks
        .admit(&record("new"), &AdmissionLimits::default())
        .await
        .expect("admit")
    else {
        panic!("the same condition replaces the task");
    };
    assert_eq!((record.task_id.as_str(), record.file_key), ("again", None));
    assert_eq!(f.sweep_at(T0).await, 0);
    assert_eq!(
        f.sweep_at(T0 + 2 * 60 * MIN).await,
        0,
        "waiting: its run may write the key"
    );
    f.tasks
        .claim("t1", "again", "r2", T0 + 2 * 60 * MIN)
        .await
        .expect("claim");
    let failed = Outcome::Fail {
        error: statport_core::task::TaskError {
            error_code: "X".into(),
            error_msg: "no".into(),
        },
        read_lines: 0,
        skipped_lines: 0,
    };
    assert!(f
        .tasks
        .finish("t1", "again", "r2", failed, T0 + 2 * 60 * MIN)
        .await
        .expect("finish"));
    // Retention never sees it (a failed task has no file); the orphan sweep does.
    assert_eq!(f.sweep_at(T0 + 3 * 60 * MIN).await, 0);
    assert!(f.exists(key).await);
    assert_eq!(f.sweep_at(T0 + 4 * 60 * MIN).await, 1);
    assert!(!f.exists(key).await);
}

#[tokio::test]
async fn nothing_goes_while_the_task_store_cannot_be_read() {
    let f = fixture().await;
    let key = "exports/t1/gone.csv";
    f.put(key, T0 - 5 * 60 * MIN).await;
    f.tasks.down.store(true, Ordering::SeqCst);
    for hour in 0..4 {
        assert_eq!(f.sweep_at(T0 + hour * 60 * MIN).await, 0);
    }
    assert!(f.exists(key).await);
    // Readable again, its time as an orphan starts now.
    f.tasks.down.store(false, Ordering::SeqCst);
    assert_eq!(f.sweep_at(T0 + 4 * 60 * MIN).await, 0);
    // The listing says orphan, but the read just before the delete fails: kept.
    f.tasks.gets_down.store(true, Ordering::SeqCst);
    assert_eq!(f.sweep_at(T0 + 5 * 60 * MIN).await, 0);
    assert!(f.exists(key).await);
    f.tasks.gets_down.store(false, Ordering::SeqCst);
    assert_eq!(f.sweep_at(T0 + 6 * 60 * MIN).await, 0, "starts over");
    assert_eq!(f.sweep_at(T0 + 7 * 60 * MIN).await, 1);
}

#[tokio::test]
async fn keys_no_task_writes_under_the_prefix_go_and_keys_outside_it_stay() {
    let f = fixture().await;
    let old = T0 - 5 * 60 * MIN;
    let odd = [
        "exports/notes.txt",
        "exports/t1/sub/x.csv",
        "exports/t1/x.pdf",
    ];
    for key in odd {
        f.put(key, old).await;
    }
    f.put("logs/t1/x.csv", old).await;
    assert_eq!(f.sweep_at(T0).await, 0);
    assert_eq!(f.sweep_at(T0 + 60 * MIN).await, 3);
    for key in odd {
        assert!(!f.exists(key).await, "{key}");
    }
    assert!(f.exists("logs/t1/x.csv").await, "outside the prefix");
}
