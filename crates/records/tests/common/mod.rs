//! Helpers shared by the store tests: records to store, fresh Redis namespaces and fresh
//! SQLite files.

pub mod outbox_suite;
pub mod schedule_suite;
pub mod suite;

use std::path::PathBuf;

use serde_json::json;
use statport_core::schedule::{RelativeWindow, ScheduleRecord, WindowUnit};
use statport_core::task::TaskRecord;
use statport_core::ExportRequest;
use statport_records::RedisTaskStore;

/// The Redis the tests use: `REDIS_URL`, else the local default. Tests fail when it is down.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// A store under a namespace no other test uses.
pub async fn fresh_redis_store() -> RedisTaskStore {
    let namespace = format!("statport-test-{}", uuid::Uuid::new_v4().simple());
    RedisTaskStore::connect(&redis_url(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("Redis at {} must be reachable: {e}", redis_url()))
}

/// Deletes every key of the store's namespace.
pub async fn drop_namespace(store: &RedisTaskStore) {
    drop_keys(store.namespace()).await;
}

/// Deletes every key under `namespace`.
pub async fn drop_keys(namespace: &str) {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

/// A SQLite file of its own under the system temp folder, in a folder that does not exist yet
/// (so opening it also creates the folder); the folder is removed on drop.
#[derive(Debug)]
pub struct TempSqlite {
    folder: PathBuf,
}

impl TempSqlite {
    /// A fresh, not yet created, location.
    pub fn new() -> Self {
        let folder = std::env::temp_dir().join(format!(
            "statport-records-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        TempSqlite { folder }
    }

    /// The file's path (inside a folder of its own).
    pub fn path(&self) -> PathBuf {
        self.folder.join("data").join("statport.db")
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// A waiting task of `tenant`, created and last updated at the given times.
pub fn record(
    tenant: &str,
    task_id: &str,
    name: &str,
    create_ms: i64,
    update_ms: i64,
) -> TaskRecord {
    let condition = ExportRequest::from_json(&json!({
        "domain_name": "a.example.com",
        "start_time": 1767225600000i64,
        "end_time": 1767229200000i64,
        "interval": 300
    }))
    .expect("request parses")
    .validate()
    .expect("request is valid");
    let mut record = TaskRecord::waiting(
        task_id.to_owned(),
        tenant.to_owned(),
        name.to_owned(),
        condition,
        create_ms,
    );
    record.update_time = update_ms;
    record
}

/// A waiting task of `tenant` whose condition is told apart by `variant` (its start hour), so
/// records with different variants never count as the same condition.
pub fn record_for(tenant: &str, task_id: &str, variant: i64, create_ms: i64) -> TaskRecord {
    let start = 1_767_225_600_000i64 + variant * 3_600_000;
    let condition = ExportRequest::from_json(&json!({
        "domain_name": "a.example.com",
        "start_time": start,
        "end_time": start + 3_600_000,
        "interval": 300
    }))
    .expect("request parses")
    .validate()
    .expect("request is valid");
    TaskRecord::waiting(
        task_id.to_owned(),
        tenant.to_owned(),
        task_id.to_owned(),
        condition,
        create_ms,
    )
}

/// A running schedule of `tenant` (hourly, the previous hour), created at `create_ms`, never fired.
pub fn schedule(tenant: &str, schedule_id: &str, create_ms: i64) -> ScheduleRecord {
    ScheduleRecord {
        schedule_id: schedule_id.to_owned(),
        tenant_id: tenant.to_owned(),
        name: format!("{schedule_id} of {tenant}"),
        cron: "0 * * * *".to_owned(),
        time_zone: "UTC".to_owned(),
        window: RelativeWindow {
            unit: WindowUnit::Hour,
            count: 1,
            time_zone: None,
        },
        template: json!({"domain_name": "a.example.com", "interval": 300}),
        paused: false,
        create_time: create_ms,
        update_time: create_ms,
        last_fire_time: None,
        last_error: None,
        last_failure: None,
        skipped_fires: 0,
    }
}
