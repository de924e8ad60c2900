//! Redis does not grow with the number of tasks ever run: 10,000 real exports (admitted under
//! the kept-tasks limit, queued on apalis-redis, run by the real workers) leave the same number
//! of keys and about the same memory after the last thousand as after the second thousand.
//!
//! Without eviction at admission, the task records grow by a thousand per round; without the
//! janitor's trim of finished jobs, apalis's job payloads, metadata hashes and done set do.
//! Runs against the real Redis at `REDIS_URL` (default `redis://127.0.0.1:6379/`); the result
//! files go to a local folder (the object store is not what is measured).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use statport_core::log::format::LogFormat;
use statport_core::stats::sketch::SketchLimits;
use statport_core::task::{ExportJob, TaskRecord, TaskStatus};
use statport_core::tenant::{LogSource, Tenant, TenantDirectory};
use statport_core::time::clock::{Clock, ManualClock, SystemClock};
use statport_core::ExportRequest;
use statport_queue::finished::RedisFinishedJobs;
use statport_queue::redis::{connect as connect_redis, storage as job_storage, worker_backend};
use statport_queue::QueueSettings;
use statport_records::{Admission, AdmissionLimits, ListQuery, RedisTaskStore, TaskStore};
use statport_storage::{LocalStore, ObjectStore};
use statport_worker::janitor::{Janitor, TenantRetention};
use statport_worker::retry::RetryPolicy;
use statport_worker::runner::run_workers;
use statport_worker::{CancellationToken, ExportContext, WorkerSettings};

const ROUNDS: usize = 10;
const PER_ROUND: usize = 1_000;
const TENANT: &str = "t";
const DAY_MS: i64 = 86_400_000;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

/// Keys under `patterns` and the bytes Redis reports for them.
async fn footprint(conn: &mut ConnectionManager, patterns: &[String]) -> (usize, u64) {
    let mut keys = Vec::new();
    for pattern in patterns {
        let mut iter = conn
            .scan_match::<_, String>(pattern.as_str())
            .await
            .expect("SCAN");
        while let Some(key) = iter.next_item().await {
            keys.push(key.expect("key"));
        }
    }
    let mut bytes = 0u64;
    for key in &keys {
        let used: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(conn)
            .await
            .expect("MEMORY USAGE");
        bytes += used.unwrap_or(0);
    }
    (keys.len(), bytes)
}

async fn delete_keys(conn: &mut ConnectionManager, patterns: &[String]) {
    for pattern in patterns {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(conn)
            .await
            .expect("KEYS");
        for chunk in keys.chunks(500) {
            let _: () = conn.del(chunk).await.expect("DEL");
        }
    }
}

fn task(i: usize, now: i64) -> TaskRecord {
    // Distinct conditions (one hour each), so no task replaces another.
    let start = 1_767_225_600_000i64 + i64::try_from(i).expect("small") * 3_600_000;
    let condition = ExportRequest {
        domain_name: Some("a.example.com".into()),
        start_time: Some(start),
        end_time: Some(start + 3_600_000),
        granularity: Some("hourly".into()),
        ..ExportRequest::default()
    }
    .validate()
    .expect("valid");
    TaskRecord::waiting(
        format!("task{i:05}"),
        TENANT.into(),
        format!("n{i}"),
        condition,
        now,
    )
}

async fn unfinished(tasks: &dyn TaskStore) -> usize {
    let page = tasks
        .list(TENANT, &ListQuery::everything())
        .await
        .expect("list");
    page.data.iter().filter(|r| !r.status.is_final()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_memory_is_flat_over_10000_tasks() {
    let url = redis_url();
    let conn = tokio::time::timeout(Duration::from_secs(10), connect_redis(&url))
        .await
        .unwrap_or_else(|_| panic!("redis at {url} did not answer within 10 s"))
        .expect("connect");
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let namespace = format!("statport-retention-{suffix}");
    let queue = QueueSettings {
        name: format!("statport-retention-queue-{suffix}"),
        heartbeat: Duration::from_secs(1),
        missed_heartbeats: 3,
        poll_interval: Duration::from_millis(10),
        concurrency: 4,
        job_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(5),
    };
    let patterns = vec![format!("{namespace}:*"), format!("{}:*", queue.name)];
    let dir = std::env::temp_dir().join(format!("statport-retention-{suffix}"));
    let objects: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&dir));
    objects.ensure_bucket("logs").await.expect("bucket");
    objects.ensure_bucket("results").await.expect("bucket");
    let tasks: Arc<dyn TaskStore> =
        Arc::new(RedisTaskStore::with_connection(conn.clone(), &namespace));
    let ctx = Arc::new(ExportContext {
        tasks: Arc::clone(&tasks),
        objects: Arc::clone(&objects),
        tenants: Arc::new(TenantDirectory::from(HashMap::from([(
            TENANT.to_string(),
            Tenant::reading(LogSource {
                bucket: "logs".into(),
                prefix: String::new(),
                format: LogFormat::Cloudfront,
            }),
        )]))),
        clock: Arc::new(SystemClock),
        settings: WorkerSettings {
            late_hours: 0,
            max_attempts: 5,
            progress_interval: Duration::from_secs(1),
            scan_parallelism: 1,
            temp_dir: dir.clone(),
            results_bucket: "results".into(),
            results_prefix: "exports/".into(),
            sketches: SketchLimits::default(),
            logs: statport_worker::sort::LogSortSettings::default(),
            timeouts: statport_worker::JobTimeouts::default(),
            retry: RetryPolicy::with_span(Duration::from_secs(900)),
        },
        geo: None,
        shutdown: CancellationToken::new(),
        task_ended: None,
        temp_disk: statport_worker::temp_disk::TempDiskBudget::new(u64::MAX),
    });
    let storage = job_storage(conn.clone(), &queue);
    let stop = CancellationToken::new();
    let workers = tokio::spawn(run_workers(
        Arc::clone(&ctx),
        worker_backend(conn.clone(), &queue),
        queue.clone(),
        stop.clone(),
    ));
    // The sweep's clock is 4 days ahead, so every file is past the 3-day retention.
    let later = Arc::new(ManualClock::new(SystemClock.now_ms() + 4 * DAY_MS));
    let janitor = Janitor {
        tasks: Arc::clone(&tasks),
        objects: Arc::clone(&objects),
        results_bucket: "results".into(),
        tenants: vec![TenantRetention {
            tenant: TENANT.into(),
            file_retention: Duration::from_secs(3 * 86_400),
        }],
        queue: Some(Arc::new(RedisFinishedJobs::new(
            conn.clone(),
            apalis_redis::Config::default().queue(&queue.name),
        ))),
        clock: later,
        sort_dirs: None,
        orphans: None,
    };
    let limits = AdmissionLimits {
        max_kept: 50,
        max_unfinished: PER_ROUND,
    };
    let mut measured = Vec::new();
    let started = Instant::now();
    // What the API does with an admission: queue the job, delete the evicted tasks' files.
    let admit = |i: usize| {
        let tasks = Arc::clone(&tasks);
        let objects = Arc::clone(&objects);
        let mut push = storage.clone();
        async move {
            let record = task(i, SystemClock.now_ms());
            let Admission::Created { evicted, .. } =
                tasks.admit(&record, &limits).await.expect("admit")
            else {
                panic!("task {i} was not created");
            };
            for gone in evicted {
                if let Some(key) = gone.file_key {
                    objects.delete("results", &key).await.expect("delete file");
                }
            }
            push.push(ExportJob {
                tenant_id: TENANT.into(),
                task_id: record.task_id.clone(),
            })
            .await
            .expect("push");
        }
    };
    let settle = || async {
        let deadline = Instant::now() + Duration::from_secs(120);
        while unfinished(tasks.as_ref()).await > 0 {
            assert!(Instant::now() < deadline, "tasks did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    for round in 0..ROUNDS {
        // A round: a thousand tasks, then one more once they all ended, so each measurement
        // sees the same state (the kept limit reached, nothing running).
        for i in round * PER_ROUND..(round + 1) * PER_ROUND {
            admit(i).await;
        }
        settle().await;
        admit(ROUNDS * PER_ROUND + round).await;
        settle().await;
        let report = janitor.sweep().await;
        let mut c = conn.clone();
        let (keys, bytes) = footprint(&mut c, &patterns).await;
        eprintln!(
            "round {round}: {keys} keys, {bytes} bytes ({} files expired, {} queue records trimmed, {:.1}s)",
            report.files_expired,
            report.queue_records_removed,
            started.elapsed().as_secs_f64()
        );
        measured.push((keys, bytes));
    }
    stop.cancel();
    workers.await.expect("join").expect("workers stop cleanly");

    // Every task ended successfully and no file outlived its retention.
    let page = tasks
        .list(TENANT, &ListQuery::everything())
        .await
        .expect("list");
    assert!(page.data.iter().all(|r| r.status == TaskStatus::Success));
    assert!(page.data.iter().all(|r| r.file_expired_at.is_some()));
    let files = objects.list("results", "").await.expect("list files");
    assert!(files.is_empty(), "{} result files left", files.len());

    // Flat: the last round leaves no more than the second did (the first warms up).
    let (keys_2, bytes_2) = measured[1];
    let (keys_n, bytes_n) = measured[ROUNDS - 1];
    assert!(
        keys_n <= keys_2 + 5,
        "keys grew from {keys_2} to {keys_n}: {measured:?}"
    );
    assert!(
        bytes_n <= bytes_2 + bytes_2 / 10,
        "memory grew from {bytes_2} to {bytes_n} bytes: {measured:?}"
    );
    let mut c = conn.clone();
    delete_keys(&mut c, &patterns).await;
    let _ = std::fs::remove_dir_all(&dir);
}
