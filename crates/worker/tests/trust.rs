//! The export queue when things go wrong, against the real Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379/`; these tests fail when it is unreachable): a shutdown hands
//! running tasks to another worker at once, a poison payload goes to the dead letters while the
//! queue keeps flowing, and a Redis restart loses no accepted task.

mod common;

use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use statport_core::task::{ExportJob, TaskStatus};
use statport_queue::dead_letter::{DeadLetter, DeadLetters, RedisDeadLetters};
use statport_queue::redis::config as queue_config;
use statport_records::TaskStore;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_hands_a_running_task_to_another_worker_at_once() {
    let env = Env::new(&redis_url()).await;
    env.task("t-stop").await;
    let mut storage = env.storage();
    push(&mut storage, "t-stop").await;

    // Worker A's reads stall mid-object, so its run is inside a scan when the shutdown comes.
    let hang = HangingStore::new(env.objects.clone());
    let a = env.start_workers(hang.clone());
    tokio::time::timeout(Duration::from_secs(20), hang.reading.notified())
        .await
        .expect("worker A started the scan");
    assert_eq!(env.status("t-stop").await, TaskStatus::Processing);

    let stopped_at = Instant::now();
    a.stop();
    let ended = tokio::time::timeout(Duration::from_secs(10), a.handle)
        .await
        .expect("worker A stops within its grace period")
        .expect("joined");
    ended.expect("a clean stop");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
    let back = env.record("t-stop").await;
    assert_eq!((back.status, back.run_id), (TaskStatus::Waiting, None));

    // Worker B takes it long before A's heartbeat could have expired (5 s x 3).
    let b = env.start_workers(env.objects.clone());
    env.wait_for("t-stop", TaskStatus::Success, Duration::from_secs(10))
        .await;
    assert!(
        stopped_at.elapsed() < env.settings.heartbeat * env.settings.missed_heartbeats as u32,
        "taken over after {:?}",
        stopped_at.elapsed()
    );
    let done = env.record("t-stop").await;
    assert_eq!(
        done.retries.crash_recoveries, 0,
        "a hand-back is not a crash"
    );
    b.stop();
    b.handle.await.expect("joined").expect("a clean stop");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_payload_is_dead_lettered_and_the_queue_keeps_flowing() {
    let env = Env::new(&redis_url()).await;
    let mut storage = env.storage();
    // A job whose payload is then overwritten with garbage in the queue's data hash.
    push(&mut storage, "will-be-garbage").await;
    let config = queue_config(&env.settings);
    let mut conn = env.conn.clone();
    let ids: Vec<String> = redis::cmd("HKEYS")
        .arg(config.job_data_hash())
        .query_async(&mut conn)
        .await
        .expect("hkeys");
    assert_eq!(ids.len(), 1);
    let garbage_id = ids[0].clone();
    let _: () = redis::cmd("HSET")
        .arg(config.job_data_hash())
        .arg(&garbage_id)
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .expect("hset");
    // A good job behind it, and one whose task crashed its workers max_attempts times.
    env.task("t-good").await;
    push(&mut storage, "t-good").await;
    env.task("t-crashy").await;
    for run in 0..=env.ctx(env.objects.clone()).settings.max_attempts {
        env.tasks
            .claim(TENANT, "t-crashy", &format!("dead-{run}"), 0)
            .await
            .expect("claim");
    }
    push(&mut storage, "t-crashy").await;

    let w = env.start_workers(env.objects.clone());
    env.wait_for("t-good", TaskStatus::Success, Duration::from_secs(10))
        .await;
    env.wait_for("t-crashy", TaskStatus::Fail, Duration::from_secs(10))
        .await;
    let crashy = env.record("t-crashy").await;
    assert_eq!(
        crashy.error.expect("error").error_code,
        "StatPort.TooManyAttempts"
    );
    let dead = RedisDeadLetters::new(env.conn.clone(), config.clone());
    let letters = wait_for_letters(&dead, 2).await;
    w.stop();
    w.handle.await.expect("joined").expect("a clean stop");

    let garbage = letters
        .iter()
        .find(|l| l.id == garbage_id)
        .expect("the garbage is a dead letter");
    assert_eq!(garbage.payload, "{not json");
    assert!(
        garbage.reason.starts_with("undecodable payload"),
        "{}",
        garbage.reason
    );
    assert!(garbage.dead_at.is_some());
    let crash = letters
        .iter()
        .find(|l| l.id != garbage_id)
        .expect("the crash loop is a dead letter");
    assert!(crash.payload.contains("t-crashy"), "{}", crash.payload);
    assert!(
        crash.reason.contains("crashed its worker"),
        "{}",
        crash.reason
    );

    // Requeue puts a dead job back on the queue.
    assert!(dead.requeue(&garbage_id).await.expect("requeue"));
    assert!(!dead.requeue(&garbage_id).await.expect("requeue"), "once");
    let active: Vec<String> = redis::cmd("LRANGE")
        .arg(config.active_jobs_list())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("lrange");
    assert_eq!(active, vec![garbage_id.clone()]);
    assert_eq!(dead.list().await.expect("list").len(), 1);
    assert_eq!(dead.requeue_all().await.expect("requeue all"), 1);
    assert!(dead.list().await.expect("list").is_empty());
    env.cleanup().await;
}

async fn wait_for_letters(dead: &RedisDeadLetters, n: usize) -> Vec<DeadLetter> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let letters = dead.list().await.expect("list");
        if letters.len() >= n || Instant::now() > deadline {
            assert_eq!(letters.len(), n, "dead letters: {letters:?}");
            return letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_reschedules_the_job_through_the_queue() {
    let env = Env::new(&redis_url()).await;
    env.task("t-flaky").await;
    let mut storage = env.storage();
    push(&mut storage, "t-flaky").await;
    // The first read fails as an unreachable S3 does; the run defers, the job is acked and a
    // new one is scheduled at the retry time (the first backoff: 0.5 to 2 s).
    let w = env.start_workers(HangingStore::flaky(env.objects.clone(), 1));
    env.wait_for("t-flaky", TaskStatus::Success, Duration::from_secs(15))
        .await;
    let done = env.record("t-flaky").await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.retries.transient_failures, 1);
    assert_eq!(done.retries.crash_recoveries, 0);
    assert!(
        done.retries.last_error.as_deref().is_some_and(|e| e
            .starts_with("object store: GET logs/cf/E.2026-11-01-0")
            && e.ends_with(": connection refused")),
        "{:?}",
        done.retries.last_error
    );
    w.stop();
    w.handle.await.expect("joined").expect("a clean stop");
    env.cleanup().await;
}

/// A `redis-server` of this test's own, persisting to an append-only file in a temp dir.
struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl OwnRedis {
    /// Starts it on a free port; `None` when `redis-server` is not installed.
    fn start() -> Option<OwnRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("statport-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let child = OwnRedis::spawn(port, &dir)?;
        Some(OwnRedis { port, dir, child })
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Option<std::process::Child> {
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Some(child),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("starting redis-server failed: {e}"),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits until it answers PING.
    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answered = async {
                let client = redis::Client::open(self.url()).ok()?;
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
            }
            .await;
            if answered.is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `SHUTDOWN` (the append-only file is flushed), `down` without a server (polls and
    /// heartbeats fail meanwhile), then a new server on the same port and directory.
    async fn restart(&mut self, down: Duration) {
        let client = redis::Client::open(self.url()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut conn).await;
        let _ = tokio::task::block_in_place(|| self.child.wait());
        tokio::time::sleep(down).await;
        self.child = OwnRedis::spawn(self.port, &self.dir).expect("redis-server");
        self.ready().await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_accepted_task_and_workers_recover() {
    let Some(mut redis) = OwnRedis::start() else {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return;
    };
    redis.ready().await;
    let conn = statport_queue::redis::connect(&redis.url())
        .await
        .expect("connect");
    let mut env = Env::with_connection(conn).await;
    env.settings.heartbeat = Duration::from_secs(1);
    env.settings.missed_heartbeats = 3;
    let mut storage = env.storage();
    // Reads wait at a gate: the first runs are still going when Redis restarts.
    let gate = HangingStore::gated(env.objects.clone());
    let w = env.start_workers(gate.clone());

    // Accepted before the restart: two runs in flight (concurrency 2), the rest queued.
    let around: Vec<String> = (0..4).map(|i| format!("around-{i}")).collect();
    for id in &around {
        env.task(id).await;
        push(&mut storage, id).await;
    }
    tokio::time::timeout(Duration::from_secs(10), gate.reading.notified())
        .await
        .expect("a run started");
    // Down for 3 heartbeats: every worker's fetch and heartbeat fails meanwhile.
    redis.restart(Duration::from_secs(3)).await;
    gate.open.send_replace(true);
    // After: the same workers (no restart of theirs) and the same connection take new tasks.
    let after: Vec<String> = (0..2).map(|i| format!("after-{i}")).collect();
    for id in &after {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The connection manager reconnects in the background; a call may fail meanwhile.
            let created = match env.try_task(id).await {
                Ok(()) => storage
                    .push(ExportJob {
                        tenant_id: TENANT.into(),
                        task_id: id.clone(),
                    })
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match created {
                Ok(()) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no push after the restart: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    for id in around.iter().chain(&after) {
        env.wait_for(id, TaskStatus::Success, Duration::from_secs(60))
            .await;
    }
    for id in &around {
        let r = env.record(id).await;
        eprintln!(
            "{id}: attempts {}, crash recoveries {}, transient failures {}",
            r.attempts, r.retries.crash_recoveries, r.retries.transient_failures
        );
    }
    assert!(!w.handle.is_finished(), "the workers kept running");
    w.stop();
    tokio::time::timeout(Duration::from_secs(10), w.handle)
        .await
        .expect("stopped")
        .expect("joined")
        .expect("a clean stop");
    env.cleanup().await;
}
