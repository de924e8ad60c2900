//! A backlog of due export jobs is worked off, not fatal (pitfall 5 of
//! `shared/design/APALIS-NOTES.md`).
//!
//! apalis-redis 1.0.0 puts every pushed job in the scheduled set and promoted all due ids with
//! one Lua `unpack`, which fails above ~8,000 values: with a backlog of more than ~8,000 due jobs
//! every fetch failed and every worker died. `vendor/apalis-redis` (see its `PATCHED.md`)
//! promotes them in bounded chunks. This test runs against the real Redis at `REDIS_URL`
//! (default `redis://127.0.0.1:6379/`) and fails when it is unreachable.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use statport_core::task::ExportJob;
use statport_queue::redis::{connect as connect_redis, storage as job_storage};
use statport_queue::QueueSettings;

/// More than the ~8,000 values one Lua `unpack` can take.
const BACKLOG: usize = 10_000;

/// The whole test (push, work off, clean up) must finish within this.
const DEADLINE: Duration = Duration::from_secs(120);

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

/// The distinct jobs handled so far.
type Seen = Arc<Mutex<HashSet<String>>>;

async fn count_job(
    job: ExportJob,
    seen: Data<Seen>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let distinct = {
        let mut seen = seen.lock().map_err(|e| e.to_string())?;
        seen.insert(job.task_id);
        seen.len()
    };
    if distinct == BACKLOG {
        worker.stop()?;
    }
    Ok(())
}

fn distinct_handled(seen: &Seen) -> usize {
    seen.lock().map(|s| s.len()).unwrap_or_default()
}

/// Deletes every key of `queue` and its entry in apalis's global queue list.
async fn delete_queue_keys(
    conn: &mut ConnectionManager,
    queue: &str,
) -> Result<(), redis::RedisError> {
    let keys: Vec<String> = {
        let mut iter = conn.scan_match::<_, String>(format!("{queue}:*")).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key?);
        }
        keys
    };
    for chunk in keys.chunks(500) {
        let _: () = conn.del(chunk).await?;
    }
    let _: () = conn
        .zrem("core:apalis:queues:list", format!("{queue}:workers"))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_10000_due_jobs_is_all_worked_off() {
    let url = redis_url();
    let mut conn = tokio::time::timeout(Duration::from_secs(10), connect_redis(&url))
        .await
        .unwrap_or_else(|_| panic!("redis at {url} did not answer within 10 s (set REDIS_URL)"))
        .unwrap_or_else(|e| panic!("redis at {url} is unreachable (set REDIS_URL): {e}"));

    let queue = format!("statport-test-backlog-{}", uuid::Uuid::new_v4().simple());
    let settings = QueueSettings {
        name: queue.clone(),
        heartbeat: Duration::from_secs(5),
        missed_heartbeats: 3,
        poll_interval: Duration::from_millis(50),
        concurrency: 16,
        job_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(10),
    };
    let storage = job_storage(conn.clone(), &settings);
    let seen: Seen = Arc::default();

    let started = Instant::now();
    let run = {
        let mut storage = storage.clone();
        let seen = Arc::clone(&seen);
        let queue = queue.clone();
        async move {
            let jobs = (0..BACKLOG)
                .map(|i| ExportJob {
                    tenant_id: "tenant-backlog".to_string(),
                    task_id: format!("task-{i:05}"),
                })
                .collect::<Vec<_>>();
            storage
                .push_bulk(jobs)
                .await
                .map_err(|e| format!("pushing {BACKLOG} jobs failed: {e}"))?;
            let pushed = started.elapsed();

            let worker = WorkerBuilder::new(format!("{queue}-worker"))
                .backend(storage.poll_with_interval(settings.poll_interval))
                .data(seen)
                .concurrency(settings.concurrency)
                .build(count_job);
            worker
                .run()
                .await
                .map_err(|e| format!("the worker failed: {e}"))?;
            Ok::<_, String>(pushed)
        }
    };
    let outcome = tokio::time::timeout(DEADLINE, run).await;
    let elapsed = started.elapsed();
    let handled = distinct_handled(&seen);

    // What is left to run, read before the keys are deleted.
    let config = storage.get_config().clone();
    let left: Result<(usize, usize), redis::RedisError> = async {
        let scheduled: usize = conn.zcard(config.scheduled_jobs_set()).await?;
        let active: usize = conn.llen(config.active_jobs_list()).await?;
        Ok((scheduled, active))
    }
    .await;
    let cleanup = delete_queue_keys(&mut conn, &queue).await;

    let pushed = match outcome {
        Err(_) => {
            panic!("timed out after {DEADLINE:?}: {handled} of {BACKLOG} distinct jobs handled")
        }
        Ok(Err(e)) => panic!("{e} ({handled} of {BACKLOG} distinct jobs handled in {elapsed:?})"),
        Ok(Ok(pushed)) => pushed,
    };
    assert_eq!(handled, BACKLOG, "distinct jobs handled");
    let (scheduled, active) = left.unwrap_or_else(|e| panic!("reading the queue failed: {e}"));
    assert_eq!(
        (scheduled, active),
        (0, 0),
        "jobs left in the scheduled set and the active list"
    );
    cleanup.unwrap_or_else(|e| panic!("deleting the test keys of {queue} failed: {e}"));
    eprintln!("{BACKLOG} jobs pushed in {pushed:?}, all handled after {elapsed:?}");
}
