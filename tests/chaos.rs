//! Chaos: many tasks over three real `statport worker` processes on a real Redis (a server of
//! the test's own, with an append-only file) and the S3 server. Worker processes are SIGKILLed
//! at random times, at least [`KILLS`] times, each restarted at once, and Redis is SIGKILLed once
//! in the middle and started again from its AOF. Every task must still end `success` with the
//! file a calm run (no kills) made for the same request, and the results bucket must hold exactly
//! the files of the live tasks: nothing lost, nothing orphaned.
//!
//! The kill times come from a seeded RNG; the seed is printed (and read from
//! `STATPORT_CHAOS_SEED`) so a failing run can be replayed. The run prints the kill count, the
//! Redis restart time, the takeover times (from a kill to the next start of each task the killed
//! worker held, read from the workers' own log lines) and the wall time.
//!
//! Redis + S3 only: the embedded backend has no server to kill (`scripts/test.sh` skips it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use calamine::{Reader, Xlsx};
use serde_json::{json, Value};
use statport::config::{ObjectBackend, Settings};
use statport::services::object_store;
use statport_core::task::{TaskRecord, TaskStatus};
use statport_core::time::{ms_from_civil, parse_rfc3339, HOUR_MS};
use statport_records::{RedisTaskStore, TaskStore};
use statport_storage::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{unique, E2eBackend};
use crate::restart::{free_port, wait_ready, Running};

/// Worker SIGKILLs the chaos run makes at least (issue 15 point 14).
const KILLS: usize = 50;
/// Worker processes of the chaos run.
const WORKERS: usize = 3;
/// The random pause before each kill, ms: [KILL_GAP_MS.0, KILL_GAP_MS.1).
const KILL_GAP_MS: (u64, u64) = (200, 1000);
/// Hours of generated logs the tasks read.
const HOURS: u32 = 6;
/// Lines per hourly log file: enough that a task takes a few seconds in a debug build.
const LINES_PER_HOUR: u64 = 100_000;
/// The tenant of both runs.
const TENANT: &str = "r";

/// SplitMix64: the kill times and victims, replayable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[low, high)`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The test's own `redis-server`, persisting every write to its AOF before answering, so it can
/// be SIGKILLed and started again on the same data without touching the shared Redis.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts it on a free port with its data in `dir`, and waits until it answers.
    async fn start(dir: &Path) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        server.spawn();
        server.wait_up().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server (is it installed?)");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown save, only what the AOF already holds survives.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) until it answers `PING` with `PONG` (not `LOADING`).
    async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut answer = [0u8; 64];
                if stream.write_all(b"PING\r\n").await.is_ok() {
                    if let Ok(n) = stream.read(&mut answer).await {
                        if answer[..n].starts_with(b"+PONG") {
                            return;
                        }
                    }
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where a run keeps its records, queue and result files.
struct RunPlace {
    namespace: String,
    queue: String,
    results_bucket: String,
}

impl RunPlace {
    fn new(run: &str) -> RunPlace {
        RunPlace {
            namespace: unique(&format!("chaos-{run}")),
            queue: unique(&format!("chaos-{run}-queue")),
            results_bucket: unique(&format!("chaos-{run}-results")),
        }
    }
}

/// A config file for one run: Redis `redis_url`, the run's place, the shared log bucket, short
/// heartbeats (a killed worker's jobs are taken over after 1 s × 3), and tenant `r`.
fn write_run_config(
    dir: &Path,
    name: &str,
    port: u16,
    redis_url: &str,
    place: &RunPlace,
    log_bucket: &str,
    key: &str,
) -> PathBuf {
    let config = format!(
        "[backends]\nstore = \"redis\"\nqueue = \"redis\"\nobjects = \"s3\"\n\
         [redis]\nurl = \"{redis_url}\"\nnamespace = \"{}\"\n\
         [queue]\nname = \"{}\"\nheartbeat_secs = 1\nmissed_heartbeats = 3\nshutdown_timeout_secs = 5\n\
         [s3]\nendpoint = \"{}\"\n\
         [results]\nbucket = \"{}\"\n\
         [api]\nlisten = \"127.0.0.1:{port}\"\n\
         # A task is killed with its worker several times: 50 kills over 3 workers and 10 tasks\n\
         # would crash-loop some past the default of 5 (StatPort.TooManyAttempts); 20 is the most.\n\
         [worker]\nmax_attempts = 20\nprogress_interval_ms = 200\n\
         [tenants.{TENANT}]\napi_key_hashes = [\"{}\"]\nlog_bucket = \"{log_bucket}\"\nlog_prefix = \"cf/\"\nlog_format = \"cloudfront\"\n\
         [tenants.{TENANT}.limits]\nmax_unfinished_tasks = 20\napi_per_second = 100\napi_burst = 100\n",
        place.namespace,
        place.queue,
        s3_endpoint(),
        place.results_bucket,
        statport_access::hash_api_key(key),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("write the config");
    path
}

fn s3_endpoint() -> String {
    std::env::var("S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

/// The object store the processes use, for the test to read and list result files directly.
fn objects() -> Arc<dyn ObjectStore> {
    let mut settings = Settings::load(None).expect("defaults");
    settings.backends.objects = ObjectBackend::S3;
    settings.s3.endpoint = s3_endpoint();
    object_store(&settings)
}

/// The real binary with `config`; its log lines go to `stdout` as asked.
fn statport(config: &Path, args: &[&str], log: &str, stdout: Stdio) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_statport"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1")
        .stdout(stdout)
        .stderr(Stdio::inherit());
    command
}

/// The requests both runs submit: every action family and format, each condition different
/// (a same-condition request would replace a task).
fn requests(day: i64) -> Vec<Value> {
    let end = day + i64::from(HOURS) * HOUR_MS;
    vec![
        json!({"domain_name": "all", "start_time": day, "end_time": end, "interval": 3600,
               "group_by": "domain", "stat_type": "flux", "export_format": "csv", "language": "en"}),
        json!({"domain_name": "*.example.com", "start_time": day, "end_time": end,
               "granularity": "daily+8", "stat_type": "req_num", "scheme": "https", "export_format": "json"}),
        json!({"domain_name": "www.example.com,img.example.com", "start_time": day, "end_time": end,
               "interval": 300, "export_format": "xlsx"}),
        json!({"action": "top_url_detail", "domain_name": "all", "group_by": "domain",
               "start_time": day, "end_time": end, "top_n": 50}),
        json!({"action": "top_ip_detail", "domain_name": "all", "start_time": day, "end_time": end,
               "stat_type": "req_num", "top_n": 100, "export_format": "json"}),
        json!({"action": "top_referer_detail", "domain_name": "*.example.com", "start_time": day,
               "end_time": end, "top_n": 30, "export_format": "xlsx", "language": "en"}),
        json!({"action": "uv", "domain_name": "all", "group_by": "domain", "start_time": day,
               "end_time": end, "interval": 3600}),
        json!({"action": "origin_detail", "domain_name": "all", "group_by": "domain",
               "start_time": day, "end_time": end, "interval": 300, "export_format": "json"}),
        json!({"action": "logs", "domain_name": "all", "start_time": day, "end_time": end,
               "count": 20000, "order": "asc", "query": "status:404 OR status:[500 TO 599] OR result:miss",
               "language": "en"}),
        json!({"action": "logs", "domain_name": "www.example.com", "start_time": day, "end_time": end,
               "count": 20000, "export_format": "json"}),
    ]
}

/// Submits every request as tenant `r`; returns the task ids in the same order.
async fn submit_all(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    bodies: &[Value],
) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        let response = http
            .post(format!("{base}/v1/cdn/statistics/export-tasks"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let task: Value = response.json().await.expect("JSON");
        assert_eq!(status, 201, "{body} → {task}");
        ids.push(task["task_id"].as_str().expect("task_id").to_owned());
    }
    ids
}

/// The tenant's tasks as the API lists them, by id (one page: the runs have 10 tasks).
async fn list_tasks(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Option<BTreeMap<String, Value>> {
    let page: Value = http
        .get(format!("{base}/v1/cdn/statistics/export-tasks?limit=100"))
        .bearer_auth(key)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let tasks = page["data"].as_array()?;
    Some(
        tasks
            .iter()
            .filter_map(|t| Some((t["task_id"].as_str()?.to_owned(), t.clone())))
            .collect(),
    )
}

/// Waits (bounded by `limit`) until every task in `ids` is `success` or `fail`; returns their
/// views and when each was first seen final (ms since the epoch).
async fn wait_all_final(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    ids: &[String],
    limit: Duration,
) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + limit;
    loop {
        // The API may briefly fail while Redis restarts: that is a retry, not an end.
        if let Some(tasks) = list_tasks(http, base, key).await {
            let done = ids.iter().all(|id| {
                tasks
                    .get(id)
                    .is_some_and(|t| matches!(t["status"].as_str(), Some("success" | "fail")))
            });
            if done {
                return tasks;
            }
            if Instant::now() >= deadline {
                let unfinished: Vec<&Value> = ids
                    .iter()
                    .filter_map(|id| tasks.get(id))
                    .filter(|t| !matches!(t["status"].as_str(), Some("success" | "fail")))
                    .collect();
                panic!("tasks did not end within {limit:?}: {unfinished:#?}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "the API did not answer the listing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The stored records of `ids` (with `file_key` and `run_id`, which the API view leaves out).
async fn records(store: &RedisTaskStore, ids: &[String]) -> Vec<TaskRecord> {
    let mut out = Vec::new();
    for id in ids {
        let record = store
            .get(TENANT, id)
            .await
            .expect("read the record")
            .unwrap_or_else(|| panic!("task {id} has no record"));
        out.push(record);
    }
    out
}

/// Reads a whole object.
async fn read_object(store: &Arc<dyn ObjectStore>, bucket: &str, key: &str) -> Vec<u8> {
    let mut reader = store.get(bucket, key).await.expect("get the result file");
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .await
        .expect("read the result file");
    bytes
}

/// Every sheet's cells, as text, for comparing xlsx files by content.
fn xlsx_cells(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    let mut book = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an xlsx file");
    let names = book.sheet_names();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).expect("a worksheet");
            let rows = range
                .rows()
                .map(|row| row.iter().map(|c| format!("{c:?}")).collect())
                .collect();
            (name, rows)
        })
        .collect()
}

/// Checks that the results bucket holds exactly the files the live tasks name.
async fn assert_no_orphans(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    store: &RedisTaskStore,
    objects: &Arc<dyn ObjectStore>,
    bucket: &str,
) -> usize {
    let live = list_tasks(http, base, key).await.expect("list the tasks");
    let ids: Vec<String> = live.keys().cloned().collect();
    let wanted: BTreeSet<String> = records(store, &ids)
        .await
        .into_iter()
        .filter_map(|r| r.file_key)
        .collect();
    let stored: BTreeSet<String> = objects
        .list(bucket, "")
        .await
        .expect("list the results bucket")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        stored, wanted,
        "the results bucket holds exactly the live tasks' files (left: stored, right: named by a task)"
    );
    stored.len()
}

/// One line a worker logged about a run: when, which task, and whether it started or ended.
#[derive(Debug, Clone)]
struct RunEvent {
    at_ms: i64,
    process: (usize, usize),
    task_id: String,
    started: bool,
}

/// The value of `field=` after `message` in a log line (span fields before it may share the
/// name: apalis's span has a `task_id` of its own).
fn field<'a>(line: &'a str, message: &str, field: &str) -> Option<&'a str> {
    let after = &line[line.find(message)? + message.len()..];
    let start = after.find(&format!(" {field}="))? + field.len() + 2;
    after[start..].split_whitespace().next()
}

/// Reads a worker's log lines: run starts and ends go to `events`, warnings and errors to the
/// test's stderr (so a failing run shows them).
fn follow_log(
    child: &mut Child,
    process: (usize, usize),
    events: Arc<Mutex<Vec<RunEvent>>>,
    file: PathBuf,
) {
    let Some(stdout) = child.stdout.take() else {
        return;
    };
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(file).ok();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            let message = ["export started", "export finished", "export dropped"]
                .into_iter()
                .find(|m| line.contains(m));
            if let Some(message) = message {
                let at = line.split_whitespace().next().and_then(parse_rfc3339);
                if let (Some(at_ms), Some(task_id)) = (at, field(&line, message, "task_id")) {
                    if let Ok(mut events) = events.lock() {
                        events.push(RunEvent {
                            at_ms,
                            process,
                            task_id: task_id.to_owned(),
                            started: message == "export started",
                        });
                    }
                }
            }
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("[worker {}.{}] {line}", process.0, process.1);
            }
        }
    });
}

/// A worker slot of the chaos run: the process now in it and how many came before.
struct Slot {
    process: Running,
    generation: usize,
}

fn start_worker(
    config: &Path,
    slot: usize,
    generation: usize,
    events: &Arc<Mutex<Vec<RunEvent>>>,
) -> Running {
    let mut child = statport(
        config,
        &["worker"],
        "info,apalis_core::backend::persistence=debug",
        Stdio::piped(),
    )
    .spawn()
    .expect("start statport worker");
    let file = config.with_file_name(format!("worker-{slot}.{generation}.log"));
    follow_log(&mut child, (slot, generation), Arc::clone(events), file);
    Running(child)
}

/// One kill: which process, when.
struct Kill {
    process: (usize, usize),
    at_ms: i64,
}

/// For each kill, the time from it to the next start of every task the killed process held (its
/// last start of the task before the kill, with no end after it), in ms: the heartbeat timeout
/// (1 s × 3 here) plus the wait for a free slot when every worker is busy. A task held at a kill
/// and never started again shows as `None` (its task then cannot have ended).
fn takeovers(kills: &[Kill], events: &[RunEvent]) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    for kill in kills {
        let mut held: BTreeMap<&str, bool> = BTreeMap::new();
        for e in events.iter().filter(|e| e.at_ms <= kill.at_ms) {
            if e.started {
                held.insert(&e.task_id, e.process == kill.process);
            } else if e.process == kill.process {
                held.insert(&e.task_id, false);
            }
        }
        for (task, held) in held {
            if !held {
                continue;
            }
            let next = events
                .iter()
                .filter(|e| e.started && e.task_id == task && e.at_ms > kill.at_ms)
                .map(|e| e.at_ms - kill.at_ms)
                .min();
            out.push((task.to_owned(), next));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_survives_worker_kills_and_a_redis_restart_with_the_calm_runs_files() {
    if E2eBackend::from_env() == E2eBackend::Embedded {
        eprintln!("chaos: skipped on the embedded backend (it kills a Redis server)");
        return;
    }
    let wall = Instant::now();
    let seed = std::env::var("STATPORT_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms().unsigned_abs());
    eprintln!("chaos: seed {seed} (replay with STATPORT_CHAOS_SEED={seed})");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(unique("statport-chaos"));
    std::fs::create_dir_all(dir.join("redis")).expect("temp dir");
    eprintln!(
        "chaos: worker logs and Redis data in {} (removed when the test passes)",
        dir.display()
    );
    let mut redis = RedisServer::start(&dir.join("redis")).await;
    let key = unique("key");
    let log_bucket = unique("chaos-logs");
    let http = reqwest::Client::new();
    let store_objects = objects();
    let day = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date");
    let bodies = requests(day);

    // The calm run: one `statport serve`, no kills. Its files are the reference.
    let calm = RunPlace::new("calm");
    let calm_port = free_port();
    let calm_config = write_run_config(
        &dir,
        "calm",
        calm_port,
        &redis.url(),
        &calm,
        &log_bucket,
        &key,
    );
    let started = Instant::now();
    let status = statport(
        &calm_config,
        &[
            "gen-logs",
            "--tenant",
            TENANT,
            "--start",
            "2026-11-24T00:00:00Z",
            "--hours",
            &HOURS.to_string(),
            "--lines-per-hour",
            &LINES_PER_HOUR.to_string(),
            "--bad-line-every",
            "997",
        ],
        "warn",
        Stdio::null(),
    )
    .status()
    .expect("run gen-logs");
    assert!(status.success());
    eprintln!("chaos: logs generated in {:?}", started.elapsed());
    let calm_base = format!("http://127.0.0.1:{calm_port}");
    let calm_started = Instant::now();
    let serve = Running(
        statport(&calm_config, &["serve"], "warn", Stdio::null())
            .spawn()
            .expect("start statport serve"),
    );
    wait_ready(&http, &calm_base).await;
    let calm_ids = submit_all(&http, &calm_base, &key, &bodies).await;
    let calm_views =
        wait_all_final(&http, &calm_base, &key, &calm_ids, Duration::from_secs(120)).await;
    eprintln!(
        "chaos: calm run of {} tasks in {:?}",
        calm_ids.len(),
        calm_started.elapsed()
    );
    let calm_store = RedisTaskStore::connect(&redis.url(), &calm.namespace)
        .await
        .expect("connect to the test's Redis");
    let mut reference = Vec::new();
    for record in records(&calm_store, &calm_ids).await {
        assert_eq!(
            record.status,
            TaskStatus::Success,
            "calm run: {:#?}",
            calm_views.get(&record.task_id)
        );
        let key = record.file_key.clone().expect("a file key");
        reference.push(read_object(&store_objects, &calm.results_bucket, &key).await);
    }
    assert_no_orphans(
        &http,
        &calm_base,
        &key,
        &calm_store,
        &store_objects,
        &calm.results_bucket,
    )
    .await;
    drop(serve);

    // The chaos run: the same requests in a fresh namespace and queue (new tasks), one API and
    // three workers.
    let chaos = RunPlace::new("chaos");
    let port = free_port();
    let config = write_run_config(&dir, "chaos", port, &redis.url(), &chaos, &log_bucket, &key);
    let base = format!("http://127.0.0.1:{port}");
    let chaos_started = Instant::now();
    let _api = Running(
        statport(&config, &["api"], "warn", Stdio::null())
            .spawn()
            .expect("start statport api"),
    );
    let events: Arc<Mutex<Vec<RunEvent>>> = Arc::default();
    let mut slots: Vec<Slot> = (0..WORKERS)
        .map(|slot| Slot {
            process: start_worker(&config, slot, 0, &events),
            generation: 0,
        })
        .collect();
    wait_ready(&http, &base).await;
    let ids = submit_all(&http, &base, &key, &bodies).await;

    let mut kills: Vec<Kill> = Vec::new();
    let mut exited_by_themselves = 0;
    let mut redis_restart = None;
    while kills.len() < KILLS {
        tokio::time::sleep(Duration::from_millis(
            rng.between(KILL_GAP_MS.0, KILL_GAP_MS.1),
        ))
        .await;
        // A worker that stopped on its own is a finding: count it, start it again.
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Ok(Some(exit)) = slot.process.0.try_wait() {
                exited_by_themselves += 1;
                eprintln!(
                    "chaos: worker {i}.{} exited by itself: {exit}",
                    slot.generation
                );
                slot.generation += 1;
                slot.process = start_worker(&config, i, slot.generation, &events);
            }
        }
        if kills.len() == KILLS / 2 && redis_restart.is_none() {
            let down = Instant::now();
            redis.kill();
            redis.spawn();
            redis.wait_up().await;
            let up = down.elapsed();
            redis_restart = Some(up);
            eprintln!("chaos: Redis SIGKILLed and restarted from its AOF: answering after {up:?}");
        }
        let victim = usize::try_from(rng.between(0, WORKERS as u64)).unwrap_or(0);
        let slot = &mut slots[victim];
        kills.push(Kill {
            process: (victim, slot.generation),
            at_ms: now_ms(),
        });
        let _ = slot.process.0.kill();
        let _ = slot.process.0.wait();
        slot.generation += 1;
        slot.process = start_worker(&config, victim, slot.generation, &events);
    }
    let last_kill = now_ms();
    let chaos_span = chaos_started.elapsed();
    eprintln!(
        "chaos: {} worker kills in {chaos_span:?}; waiting for the tasks",
        kills.len()
    );
    let views = wait_all_final(&http, &base, &key, &ids, Duration::from_secs(150)).await;
    let chaos_store = RedisTaskStore::connect(&redis.url(), &chaos.namespace)
        .await
        .expect("connect to the test's Redis");
    let chaos_records = records(&chaos_store, &ids).await;

    // The figures, before the checks, so a failing run shows them too.
    let events = events.lock().map(|e| e.clone()).unwrap_or_default();
    let taken = takeovers(&kills, &events);
    let mut times: Vec<i64> = taken.iter().filter_map(|(_, t)| *t).collect();
    times.sort_unstable();
    let never = taken.iter().filter(|(_, t)| t.is_none()).count();
    let pick = |q: usize| {
        times
            .get((times.len().saturating_sub(1)) * q / 100)
            .copied()
    };
    eprintln!(
        "chaos: takeovers (kill → next start of a task the killed worker held): {} held tasks, min {:?} ms, median {:?} ms, p90 {:?} ms, max {:?} ms; {never} never restarted",
        times.len(),
        times.first(),
        pick(50),
        pick(90),
        times.last()
    );
    eprintln!("chaos: task  action              format  attempts  crash_recoveries  transient  ended after the last kill");
    for (i, r) in chaos_records.iter().enumerate() {
        eprintln!(
            "chaos: {i:>4}  {:<18}  {:<6}  {:>8}  {:>16}  {:>9}  {:?} ms  {}",
            r.condition.action.as_str(),
            r.condition.export_format.extension(),
            r.attempts,
            r.retries.crash_recoveries,
            r.retries.transient_failures,
            r.end_time.map(|t| t - last_kill),
            r.status.as_str(),
        );
    }

    // Every task ended `success`, with the calm run's file.
    for (i, record) in chaos_records.iter().enumerate() {
        assert_eq!(
            record.status,
            TaskStatus::Success,
            "seed {seed}, task {i} ({}): {:#?}",
            bodies[i],
            views.get(&record.task_id)
        );
        let key = record.file_key.clone().expect("a file key");
        let file = read_object(&store_objects, &chaos.results_bucket, &key).await;
        assert_eq!(
            record.file_size,
            Some(file.len() as u64),
            "task {i}: the recorded size"
        );
        // Byte for byte, xlsx too (its creation time is fixed); the cells say where it differs.
        if file != reference[i] && key.ends_with(".xlsx") {
            assert_eq!(
                xlsx_cells(&file),
                xlsx_cells(&reference[i]),
                "seed {seed}, task {i}: the xlsx cells differ from the calm run's"
            );
        }
        assert!(
            file == reference[i],
            "seed {seed}, task {i} ({}): the file differs from the calm run's ({} vs {} bytes)",
            bodies[i],
            file.len(),
            reference[i].len()
        );
    }
    let files = assert_no_orphans(
        &http,
        &base,
        &key,
        &chaos_store,
        &store_objects,
        &chaos.results_bucket,
    )
    .await;
    let redis_up = redis_restart.expect("Redis was restarted");
    eprintln!(
        "chaos: seed {seed}: {} worker kills ({exited_by_themselves} exits on their own), Redis restart {redis_up:?}, {} tasks success with the calm run's files, {files} files and no orphan; chaos run {:?}, wall {:?}",
        kills.len(),
        ids.len(),
        chaos_started.elapsed(),
        wall.elapsed()
    );
    assert_eq!(exited_by_themselves, 0, "no worker stops by itself");
    drop(slots);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
