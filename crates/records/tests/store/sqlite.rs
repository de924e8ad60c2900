//! The SQLite store against the conformance suite, plus what only a file can show: separate
//! pools (separate processes) over one file, and records that outlive their pool.

use std::sync::Arc;

use statport_records::{
    open_sqlite, Admission, AdmissionLimits, ListQuery, SqliteTaskStore, TaskStore,
};

use crate::common::{record, record_for, suite::suite, TempSqlite};

const T0: i64 = 1_767_225_600_000;

async fn open_store(file: &TempSqlite) -> SqliteTaskStore {
    let pool = open_sqlite(&file.path()).await.expect("open sqlite");
    SqliteTaskStore::open(pool).await.expect("tables")
}

#[tokio::test]
async fn sqlite_outbox_passes_the_suite() {
    let file = TempSqlite::new();
    crate::common::outbox_suite::outbox_suite(&open_store(&file).await).await;
}

#[tokio::test]
async fn sqlite_store_passes_the_suite() {
    let file = TempSqlite::new();
    let store = open_store(&file).await;
    suite(&store).await;
    store.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_over_one_file_admit_exactly_the_limit() {
    let file = TempSqlite::new();
    let first: Arc<dyn TaskStore> = Arc::new(open_store(&file).await);
    let second: Arc<dyn TaskStore> = Arc::new(open_store(&file).await);
    let limits = AdmissionLimits::default();
    let mut handles = Vec::new();
    for i in 0..20i64 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let rec = record_for("t", &format!("r{i:02}"), i, T0 + i);
        handles.push(tokio::spawn(async move {
            store.admit(&rec, &limits).await.expect("admit")
        }));
    }
    let mut accepted = 0;
    for handle in handles {
        match handle.await.expect("task") {
            Admission::Created { .. } => accepted += 1,
            Admission::TooManyUnfinished { limit, .. } => assert_eq!(limit, 5),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, limits.max_unfinished);
    for store in [&first, &second] {
        let page = store
            .list("t", &ListQuery::everything())
            .await
            .expect("list");
        assert_eq!(
            page.total, limits.max_unfinished,
            "both pools see the same tasks"
        );
    }
}

#[tokio::test]
async fn records_survive_closing_the_pool() {
    let file = TempSqlite::new();
    let store = open_store(&file).await;
    let kept = record("t", "job", "kept", T0, T0 + 5);
    store.create(&kept).await.expect("create");
    store
        .create(&record("t", "gone", "n", T0, T0))
        .await
        .expect("create");
    store.delete("t", "gone").await.expect("delete");
    store.pool().close().await;
    drop(store);

    let reopened = open_store(&file).await;
    assert_eq!(reopened.get("t", "job").await.expect("get"), Some(kept));
    assert_eq!(reopened.get("t", "gone").await.expect("get"), None);
    let page = reopened
        .list("t", &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(page.total, 1);
    reopened.pool().close().await;
}

#[tokio::test]
async fn a_file_from_a_newer_schema_is_refused() {
    let file = TempSqlite::new();
    let store = open_store(&file).await;
    sqlx::query("UPDATE statport_schema_versions SET version = 99 WHERE component = 'tasks'")
        .execute(store.pool())
        .await
        .expect("bump version");
    let err = SqliteTaskStore::open(store.pool().clone())
        .await
        .expect_err("a newer schema");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("99"), "{err}");
    store.pool().close().await;
}
