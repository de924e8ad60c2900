//! The real binary, killed while a task waits, then started again: the task accepted before the
//! kill ends `success` after it. On the embedded backend this is the SQLite file and the local
//! folder surviving a crash; on Redis + S3 it is the same promise over the shared services.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use statport_core::time::{ms_from_civil, HOUR_MS};

use crate::common::{unique, E2eBackend};

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The test's config file: the backend of this run, one tenant `r` (`tenant_extra` added to its
/// table), then `extra`. No link secret: the processes share the keys in the task store.
pub(crate) fn write_config(
    dir: &std::path::Path,
    port: u16,
    key: &str,
    tenant_extra: &str,
    extra: &str,
) -> std::path::PathBuf {
    let mut settings = statport::config::Settings::load(None).expect("defaults");
    let embedded = E2eBackend::from_env().apply(&mut settings);
    let backends = match embedded {
        Some(data) => {
            let _ = std::fs::remove_dir_all(&data);
            format!(
                "[backends]\nstore = \"sqlite\"\nqueue = \"sqlite\"\nobjects = \"local\"\n[embedded]\nsqlite_path = \"{}\"\nobjects_dir = \"{}\"\n",
                dir.join("statport.db").display(),
                dir.join("objects").display()
            )
        }
        None => format!(
            "[backends]\nstore = \"redis\"\nqueue = \"redis\"\nobjects = \"s3\"\n[redis]\nurl = \"{}\"\nnamespace = \"{}\"\n[queue]\nname = \"{}\"\n[s3]\nendpoint = \"{}\"\n[results]\nbucket = \"{}\"\n",
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into()),
            unique("restart"),
            unique("restart-queue"),
            std::env::var("S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into()),
            unique("restart-results"),
        ),
    };
    let config = format!(
        "{backends}[api]\nlisten = \"127.0.0.1:{port}\"\n\
         [tenants.r]\napi_key_hashes = [\"{}\"]\nlog_bucket = \"{}\"\nlog_prefix = \"cf/\"\nlog_format = \"cloudfront\"\n{tenant_extra}{extra}",
        statport_access::hash_api_key(key),
        unique("restart-logs"),
    );
    let path = dir.join("statport.toml");
    std::fs::write(&path, config).expect("write the config");
    path
}

/// Writes tenant `r`'s logs with `statport gen-logs`: `hours` hourly files from
/// 2026-11-24T00:00:00Z, `lines_per_hour` lines each.
pub(crate) fn gen_logs(config: &std::path::Path, hours: u32, lines_per_hour: u32) {
    let (hours, lines) = (hours.to_string(), lines_per_hour.to_string());
    let status = statport(
        config,
        &[
            "gen-logs",
            "--tenant",
            "r",
            "--start",
            "2026-11-24T00:00:00Z",
            "--hours",
            &hours,
            "--lines-per-hour",
            &lines,
        ],
    )
    .status()
    .expect("run gen-logs");
    assert!(status.success());
}

/// Submits `body` as `key` to the API at `base`; the new task's id.
pub(crate) async fn create_task(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: &Value,
) -> String {
    let created: Value = http
        .post(format!("{base}/v1/cdn/statistics/export-tasks"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    created["task_id"].as_str().expect("task id").to_owned()
}

pub(crate) fn statport(config: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_statport"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "statport did not get ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn task(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Value {
    http.get(format!("{base}/v1/cdn/statistics/export-tasks/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET the task")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_accepted_before_a_kill_ends_success_after_the_restart() {
    let dir = std::env::temp_dir().join(unique("statport-restart"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let key = unique("key");
    let config = write_config(&dir, port, &key, "", "");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let day = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("date");
    gen_logs(&config, 2, 500);

    // The API alone: the task is accepted and waits, for no worker runs.
    let api = Running(
        statport(&config, &["api"])
            .spawn()
            .expect("start statport api"),
    );
    wait_ready(&http, &base).await;
    let id = create_task(
        &http,
        &base,
        &key,
        &json!({"domain_name": "all", "start_time": day, "end_time": day + 2 * HOUR_MS,
                      "interval": 3600, "export_format": "csv"}),
    )
    .await;
    assert_eq!(task(&http, &base, &key, &id).await["status"], "waiting");
    // SIGKILL: no graceful anything.
    drop(api);

    // Started again with workers, the task runs to the end.
    let _serve = Running(
        statport(&config, &["serve"])
            .spawn()
            .expect("start statport serve"),
    );
    wait_ready(&http, &base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let done = loop {
        let t = task(&http, &base, &key, &id).await;
        if matches!(t["status"].as_str(), Some("success" | "fail")) {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task did not end: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "success", "{done}");
    assert!(
        done["export_count"].as_u64().is_some_and(|n| n > 0),
        "{done}"
    );
    let link = done["download_link"].as_str().expect("link");
    let response = http.get(link).send().await.expect("download");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.expect("body");
    assert!(body.lines().count() > 1, "{body}");
    drop(_serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Processes started at the same moment on a new SQLite file all set it up (they used to race
/// apalis-sqlite's migrations, and some failed to start). Embedded only: it is about the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_started_together_on_a_new_sqlite_file_all_start() {
    let dir = std::env::temp_dir().join(unique("statport-sqlite-race"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("statport.toml");
    std::fs::write(
        &config,
        format!(
            "[backends]\nstore = \"sqlite\"\nqueue = \"sqlite\"\nobjects = \"local\"\n[embedded]\nsqlite_path = \"{}\"\nobjects_dir = \"{}\"\n",
            dir.join("statport.db").display(),
            dir.join("objects").display()
        ),
    )
    .expect("write the config");
    let children: Vec<Child> = (0..8)
        .map(|_| {
            statport(&config, &["dead-letters", "list"])
                .spawn()
                .expect("start statport")
        })
        .collect();
    for mut child in children {
        let status = child.wait().expect("wait");
        assert!(status.success(), "a process failed to set up the new file");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
