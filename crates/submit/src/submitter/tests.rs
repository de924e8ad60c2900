//! The submitter over the in-process task store and a queue that can be switched off: what an
//! unreachable queue leaves behind (nothing new, the previous task as it was) and what a second
//! submission of the same condition gives (the existing task); the tasks a new one evicts keep
//! their records and files until it is queued.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;
use statport_core::log::format::LogFormat;
use statport_core::task::TaskStatus;
use statport_core::tenant::{LogSource, Tenant, TenantLimits};
use statport_core::time::clock::ManualClock;
use statport_core::time::HOUR_MS;
use statport_queue::QueueError;
use statport_records::{ListQuery, MemoryTaskStore};
use statport_storage::{LocalStore, ObjectStore};

use super::*;

const NOW: i64 = 1_795_000_000_000;

/// A queue that records what it is given while up and refuses everything while down.
#[derive(Debug)]
struct SwitchQueue {
    up: AtomicBool,
    jobs: Mutex<Vec<ExportJob>>,
}

#[async_trait]
impl JobQueue for SwitchQueue {
    async fn push(&self, job: ExportJob) -> Result<(), statport_queue::QueueError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(QueueError("connection refused".into()));
        }
        self.jobs
            .lock()
            .map_err(|e| QueueError(e.to_string()))?
            .push(job);
        Ok(())
    }

    async fn push_at(&self, job: ExportJob, _at_ms: i64) -> Result<(), QueueError> {
        self.push(job).await
    }
}

fn submitter(queue: Arc<SwitchQueue>, tasks: Arc<MemoryTaskStore>) -> Submitter {
    let root = std::env::temp_dir().join("statport-submit-tests-unused");
    Submitter {
        tasks,
        queue,
        objects: Arc::new(LocalStore::new(root)),
        results_bucket: "results".into(),
        results_prefix: "exports/".into(),
        tenants: Arc::new(TenantDirectory::default()),
        deployment: Deployment::default(),
        clock: Arc::new(ManualClock::new(NOW)),
        counts: Arc::new(SubmitCounts::default()),
    }
}

fn body() -> Value {
    json!({"domain_name": "www.example.com", "start_time": NOW - 24 * HOUR_MS, "end_time": NOW, "interval": 3600})
}

fn queue(up: bool) -> Arc<SwitchQueue> {
    Arc::new(SwitchQueue {
        up: AtomicBool::new(up),
        jobs: Mutex::new(Vec::new()),
    })
}

async fn all(tasks: &MemoryTaskStore) -> Vec<TaskRecord> {
    let query = ListQuery {
        limit: 100,
        offset: 0,
        task_id: None,
        task_name: None,
    };
    tasks.list("t1", &query).await.expect("list").data
}

#[tokio::test]
async fn an_unreachable_queue_leaves_no_task_behind() {
    let tasks = Arc::new(MemoryTaskStore::new());
    let s = submitter(queue(false), Arc::clone(&tasks));
    let err = s.submit("t1", &body()).await.expect_err("queue down");
    assert_eq!(err.code, ErrorCode::ServiceUnavailable);
    assert!(all(&tasks).await.is_empty(), "the admitted task was undone");
    assert_eq!(s.counts.created.get(), 0);
}

#[tokio::test]
async fn the_same_condition_gives_the_existing_task() {
    let tasks = Arc::new(MemoryTaskStore::new());
    let q = queue(true);
    let s = submitter(Arc::clone(&q), Arc::clone(&tasks));
    let first = s.submit("t1", &body()).await.expect("created");
    assert!(matches!(first, Submitted::Created(_)));
    let again = s.submit("t1", &body()).await.expect("existing");
    assert!(matches!(again, Submitted::Existing(_)));
    assert_eq!(again.record().task_id, first.record().task_id);
    // Still waiting: not queued a second time.
    assert_eq!(q.jobs.lock().expect("jobs").len(), 1);
    assert_eq!(all(&tasks).await.len(), 1);
}

#[tokio::test]
async fn a_failed_task_resubmitted_while_the_queue_is_down_is_restored() {
    let tasks = Arc::new(MemoryTaskStore::new());
    let q = queue(true);
    let s = submitter(Arc::clone(&q), Arc::clone(&tasks));
    let condition = ExportRequest::from_json(&body())
        .and_then(|r| r.validate_with(&s.request_limits("t1")))
        .expect("valid");
    let mut failed = TaskRecord::waiting("f1".into(), "t1".into(), "old".into(), condition, NOW);
    failed.status = TaskStatus::Fail;
    tasks.create(&failed).await.expect("create");
    q.up.store(false, Ordering::SeqCst);
    let err = s.submit("t1", &body()).await.expect_err("queue down");
    assert_eq!(err.code, ErrorCode::ServiceUnavailable);
    let kept = all(&tasks).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].task_id.as_str(), kept[0].status),
        ("f1", TaskStatus::Fail)
    );
    // With the queue back, the same request takes the failed task and queues it again.
    q.up.store(true, Ordering::SeqCst);
    let again = s.submit("t1", &body()).await.expect("requeued");
    assert!(matches!(again, Submitted::Existing(ref r) if r.task_id == "f1"));
    assert_eq!(q.jobs.lock().expect("jobs").len(), 1);
}

#[tokio::test]
async fn evicted_tasks_keep_record_and_file_until_the_new_task_is_queued() {
    let root =
        std::env::temp_dir().join(format!("statport-submit-{}", uuid::Uuid::new_v4().simple()));
    let objects = Arc::new(LocalStore::new(&root));
    objects.ensure_bucket("results").await.expect("bucket");
    let tasks = Arc::new(MemoryTaskStore::new());
    let q = queue(false);
    let mut t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    t1.limits = TenantLimits {
        max_kept_tasks: 1,
        ..TenantLimits::DEFAULT
    };
    let s = Submitter {
        objects: objects.clone(),
        tenants: Arc::new(TenantDirectory::default().with("t1", t1)),
        ..submitter(Arc::clone(&q), Arc::clone(&tasks))
    };
    // One finished task with its file: the kept limit is full.
    let condition = ExportRequest::from_json(&body())
        .and_then(|r| r.validate_with(&s.request_limits("t1")))
        .expect("valid");
    let mut done = TaskRecord::waiting("old".into(), "t1".into(), "old".into(), condition, NOW);
    done.status = TaskStatus::Success;
    done.file_key = Some("r/old.csv".into());
    tasks.create(&done).await.expect("create");
    objects
        .put_bytes(
            "results",
            "r/old.csv",
            bytes::Bytes::from_static(b"a,b\n"),
            "text/csv",
        )
        .await
        .expect("put");
    let other = json!({"domain_name": "www.example.com", "start_time": NOW - 2 * HOUR_MS, "end_time": NOW, "interval": 3600});

    // The queue is away: the new task is not created and the old one is still whole.
    let err = s.submit("t1", &other).await.expect_err("queue down");
    assert_eq!(err.code, ErrorCode::ServiceUnavailable);
    let kept = all(&tasks).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].task_id, "old");
    assert!(
        objects.get("results", "r/old.csv").await.is_ok(),
        "the old file is kept"
    );

    // The queue is back: the new task goes in, the old one and its file go.
    q.up.store(true, Ordering::SeqCst);
    let created = s.submit("t1", &other).await.expect("created");
    let kept = all(&tasks).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].task_id, created.record().task_id);
    assert!(
        objects.get("results", "r/old.csv").await.is_err(),
        "the old file is deleted"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A task reset by the same condition names no file, but its previous file is still at the key
/// every run of it writes; when its new run failed and the task is later evicted, that file
/// goes with it.
#[tokio::test]
async fn an_evicted_task_that_was_resubmitted_loses_the_file_at_its_key() {
    let root =
        std::env::temp_dir().join(format!("statport-submit-{}", uuid::Uuid::new_v4().simple()));
    let objects = Arc::new(LocalStore::new(&root));
    objects.ensure_bucket("results").await.expect("bucket");
    let tasks = Arc::new(MemoryTaskStore::new());
    let mut t1 = Tenant::reading(LogSource {
        bucket: "logs".into(),
        prefix: String::new(),
        format: LogFormat::Cloudfront,
    });
    t1.limits = TenantLimits {
        max_kept_tasks: 1,
        ..TenantLimits::DEFAULT
    };
    let s = Submitter {
        objects: objects.clone(),
        tenants: Arc::new(TenantDirectory::default().with("t1", t1)),
        ..submitter(queue(true), Arc::clone(&tasks))
    };
    let condition = ExportRequest::from_json(&body())
        .and_then(|r| r.validate_with(&s.request_limits("t1")))
        .expect("valid");
    let key = "exports/t1/old.csv";
    let mut done = TaskRecord::waiting("old".into(), "t1".into(), "old".into(), condition, NOW);
    done.status = TaskStatus::Success;
    done.file_key = Some(key.into());
    tasks.create(&done).await.expect("create");
    objects
        .put_bytes(
            "results",
            key,
            bytes::Bytes::from_static(b"a,b\n"),
            "text/csv",
        )
        .await
        .expect("put");
    // The same condition again: the task is reset and names no file; its new run fails.
    let again = s.submit("t1", &body()).await.expect("existing");
    assert!(
        matches!(again, Submitted::Existing(ref r) if r.task_id == "old" && r.file_key.is_none())
    );
    tasks.claim("t1", "old", "r2", NOW).await.expect("claim");
    let failed = statport_records::Outcome::Fail {
        error: statport_core::task::TaskError {
            error_code: "X".into(),
            error_msg: "no".into(),
        },
        read_lines: 0,
        skipped_lines: 0,
    };
    assert!(tasks
        .finish("t1", "old", "r2", failed, NOW)
        .await
        .expect("finish"));
    // Another task evicts it: the file at its key goes too.
    let other = json!({"domain_name": "www.example.com", "start_time": NOW - 2 * HOUR_MS, "end_time": NOW, "interval": 3600});
    s.submit("t1", &other).await.expect("created");
    assert!(
        objects.get("results", key).await.is_err(),
        "the evicted task's file is deleted"
    );
    let _ = std::fs::remove_dir_all(&root);
}
