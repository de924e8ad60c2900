//! The export run over the in-process adapters (a folder as object store, the in-memory task
//! store) with a manual clock: the paths that are hard to reach through the queue.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use statport_core::clock::ManualClock;
use statport_core::task::TaskStatus;
use statport_core::time::ms_from_civil;
use statport_core::ExportRequest;
use statport_status::MemoryTaskStore;
use statport_storage::LocalStore;

use super::*;

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
    let sources = HashMap::from([(
        "t1".to_string(),
        LogSource {
            bucket: "logs".into(),
            prefix: "cf/".into(),
            format: LogFormat::Cloudfront,
        },
    )]);
    let ctx = ExportContext {
        tasks: store.clone(),
        objects,
        sources: Arc::new(sources),
        clock: Arc::new(ManualClock::new(
            ms_from_civil(2026, 11, 2, 0, 0, 0).expect("date"),
        )),
        settings: WorkerSettings {
            late_hours: 2,
            max_attempts: 3,
            progress_interval: Duration::from_millis(5),
            scan_parallelism: 2,
            temp_dir: root.join("tmp"),
            results_bucket: "results".into(),
            results_prefix: "exports/".into(),
        },
    };
    Fixture { ctx, store, root }
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
    task(&f, "t-loop", "csv", 3).await;
    assert_eq!(
        run_export(&f.ctx, &job("t-loop"), "run-4")
            .await
            .expect("no retry"),
        RunEnd::Failed
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
