//! The status stores against the conformance suite, plus what only Redis can show: the key
//! layout, separate namespaces, and races between separate connections (separate workers).
//!
//! Needs the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379/`); fails when it is down.
//!
//! The SQLite task store's own cases (separate pools over one file, reopening) are in
//! `store/sqlite.rs`; the schedule stores and their suite in `store/schedules.rs`.

mod common;
#[path = "store/link_keys.rs"]
mod link_keys;
#[path = "store/schedules.rs"]
mod schedules;
#[path = "store/sqlite.rs"]
mod sqlite;

use std::sync::Arc;

use common::{drop_namespace, fresh_redis_store, record, redis_url, suite::suite};
use statport_records::{Claim, ListQuery, MemoryTaskStore, Outcome, RedisTaskStore, TaskStore};

const T0: i64 = 1_767_225_600_000;

#[tokio::test]
async fn memory_store_passes_the_suite() {
    suite(&MemoryTaskStore::new()).await;
}

#[tokio::test]
async fn memory_outbox_passes_the_suite() {
    common::outbox_suite::outbox_suite(&MemoryTaskStore::new()).await;
}

#[tokio::test]
async fn redis_outbox_passes_the_suite() {
    let store = fresh_redis_store().await;
    common::outbox_suite::outbox_suite(&store).await;
    drop_namespace(&store).await;
}

#[tokio::test]
async fn redis_store_passes_the_suite() {
    let store = fresh_redis_store().await;
    suite(&store).await;
    drop_namespace(&store).await;
}

#[tokio::test]
async fn redis_keys_follow_the_documented_layout() {
    let store = fresh_redis_store().await;
    let ns = store.namespace().to_owned();
    store
        .create(&record("t1", "job", "n", T0, T0 + 7))
        .await
        .expect("create");
    let Claim::Started(_) = store
        .claim("t1", "job", "run-1", T0 + 9)
        .await
        .expect("claim")
    else {
        panic!("claim should start");
    };

    let client = redis::Client::open(redis_url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let hash = format!("{ns}:task:t1:job");
    let (status, run_id): (String, String) = redis::cmd("HMGET")
        .arg(&hash)
        .arg("status")
        .arg("run_id")
        .query_async(&mut conn)
        .await
        .expect("HMGET");
    assert_eq!((status.as_str(), run_id.as_str()), ("processing", "run-1"));
    let json: String = redis::cmd("HGET")
        .arg(&hash)
        .arg("record")
        .query_async(&mut conn)
        .await
        .expect("HGET");
    let stored: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(stored["attempts"], 1);
    let index: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(format!("{ns}:tasks:t1"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    assert_eq!(index.len(), 1, "one entry per task, the old one replaced");
    assert_eq!(index[0].1, (T0 + 9) as f64);
    assert!(index[0].0.ends_with(":job"), "{}", index[0].0);

    store.delete("t1", "job").await.expect("delete");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(left.is_empty(), "delete leaves nothing behind: {left:?}");
}

#[tokio::test]
async fn namespaces_do_not_see_each_other() {
    let a = fresh_redis_store().await;
    let b = fresh_redis_store().await;
    a.create(&record("t", "job", "n", T0, T0))
        .await
        .expect("create");
    assert_eq!(b.get("t", "job").await.expect("get"), None);
    assert_eq!(
        b.list("t", &ListQuery::default())
            .await
            .expect("list")
            .total,
        0
    );
    assert!(a.get("t", "job").await.expect("get").is_some());
    drop_namespace(&a).await;
}

/// Two "workers" with their own connections to one namespace.
async fn two_workers() -> (Arc<dyn TaskStore>, Arc<dyn TaskStore>, RedisTaskStore) {
    let first = fresh_redis_store().await;
    let second = RedisTaskStore::connect(&redis_url(), first.namespace())
        .await
        .expect("second connection");
    (Arc::new(first.clone()), Arc::new(second), first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_lose_no_attempt() {
    let (w1, w2, raw) = two_workers().await;
    w1.create(&record("t", "job", "n", T0, T0))
        .await
        .expect("create");
    let mut handles = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 { w1.clone() } else { w2.clone() };
        handles.push(tokio::spawn(async move {
            let run = format!("run-{i}");
            let claim = store.claim("t", "job", &run, T0 + i).await.expect("claim");
            assert!(matches!(claim, Claim::Started(_)), "{claim:?}");
            run
        }));
    }
    let mut runs = Vec::new();
    for handle in handles {
        runs.push(handle.await.expect("task"));
    }
    let rec = w1.get("t", "job").await.expect("get").expect("present");
    assert_eq!(rec.attempts, 16, "every claim counted once");
    let owner = rec.run_id.clone().expect("owned");
    // Only the last claim's run may report.
    let mut accepted = 0;
    for run in &runs {
        if w2
            .progress("t", "job", run, 5, 1, 0, T0 + 100)
            .await
            .expect("progress")
        {
            accepted += 1;
            assert_eq!(run, &owner);
        }
    }
    assert_eq!(accepted, 1);
    drop_namespace(&raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_finishes_from_two_connections_have_one_winner() {
    let (w1, w2, raw) = two_workers().await;
    for round in 0..20 {
        let id = format!("job{round}");
        w1.create(&record("t", &id, "n", T0, T0))
            .await
            .expect("create");
        let Claim::Started(_) = w1.claim("t", &id, "r1", T0 + 1).await.expect("claim") else {
            panic!("claim should start");
        };
        let spawn_finish = |store: Arc<dyn TaskStore>, key: &'static str, now: i64| {
            let id = id.clone();
            tokio::spawn(async move {
                let outcome = Outcome::Success {
                    export_count: 1,
                    file_size: 1,
                    file_key: key.to_owned(),
                    read_lines: 1,
                    skipped_lines: 0,
                    approximation: None,
                };
                store
                    .finish("t", &id, "r1", outcome, now)
                    .await
                    .expect("finish")
            })
        };
        let first = spawn_finish(w1.clone(), "from-w1", T0 + 2);
        let second = spawn_finish(w2.clone(), "from-w2", T0 + 3);
        let (first, second) = (first.await.expect("task"), second.await.expect("task"));
        assert!(first ^ second, "exactly one finish wins, round {round}");
        let done = w1.get("t", &id).await.expect("get").expect("present");
        let (key, end) = if first {
            ("from-w1", T0 + 2)
        } else {
            ("from-w2", T0 + 3)
        };
        assert_eq!(done.file_key.as_deref(), Some(key));
        assert_eq!((done.end_time, done.update_time), (Some(end), end));
    }
    drop_namespace(&raw).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let err = RedisTaskStore::connect("redis://127.0.0.1:1/", "statport-test")
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.is_retryable(), "{err}");
}
