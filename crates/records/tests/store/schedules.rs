//! The schedule stores against their conformance suite, plus what only shared stores can show:
//! claims racing from separate connections (separate schedulers) and the Redis key layout.

use std::sync::Arc;

use statport_records::{
    open_sqlite, FireClaim, MemoryScheduleStore, RedisScheduleStore, ScheduleStore,
    SqliteScheduleStore, SqliteTaskStore,
};

use crate::common::{drop_keys, redis_url, schedule, schedule_suite::schedule_suite, TempSqlite};

const T0: i64 = 1_767_225_600_000;

async fn fresh_redis() -> RedisScheduleStore {
    let namespace = format!("statport-test-{}", uuid::Uuid::new_v4().simple());
    RedisScheduleStore::connect(&redis_url(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("Redis at {} must be reachable: {e}", redis_url()))
}

async fn open_sqlite_store(file: &TempSqlite) -> SqliteScheduleStore {
    let pool = open_sqlite(&file.path()).await.expect("open sqlite");
    SqliteScheduleStore::open(pool).await.expect("tables")
}

#[tokio::test]
async fn memory_schedule_store_passes_the_suite() {
    schedule_suite(&MemoryScheduleStore::new()).await;
}

#[tokio::test]
async fn redis_schedule_store_passes_the_suite() {
    let store = fresh_redis().await;
    schedule_suite(&store).await;
    drop_keys(store.namespace()).await;
}

#[tokio::test]
async fn sqlite_schedule_store_passes_the_suite() {
    let file = TempSqlite::new();
    let store = open_sqlite_store(&file).await;
    schedule_suite(&store).await;
    store.pool().close().await;
}

/// 20 claims of one fire time from two stores with their own connections: one winner.
async fn claims_from_two_connections_have_one_winner(
    first: Arc<dyn ScheduleStore>,
    second: Arc<dyn ScheduleStore>,
) {
    assert!(first
        .create(&schedule("t", "s", T0), 10)
        .await
        .expect("create"));
    for round in 0..5i64 {
        let fire = T0 + round * 3_600_000;
        let mut handles = Vec::new();
        for i in 0..20i64 {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            handles.push(tokio::spawn(async move {
                store
                    .claim_fire("t", "s", fire, &format!("sched-{i}"), fire + i, 60_000)
                    .await
                    .expect("claim_fire")
            }));
        }
        let mut claimed = 0;
        for handle in handles {
            match handle.await.expect("task") {
                FireClaim::Claimed => claimed += 1,
                FireClaim::Taken(_) => {}
                FireClaim::Missing => panic!("the schedule exists"),
            }
        }
        assert_eq!(claimed, 1, "round {round}");
    }
    assert_eq!(second.runs("t", "s", 100).await.expect("runs").len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_claims_from_two_connections_have_one_winner() {
    let first = fresh_redis().await;
    let second = RedisScheduleStore::connect(&redis_url(), first.namespace())
        .await
        .expect("second connection");
    let namespace = first.namespace().to_owned();
    claims_from_two_connections_have_one_winner(Arc::new(first), Arc::new(second)).await;
    drop_keys(&namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_claims_from_two_pools_have_one_winner() {
    let file = TempSqlite::new();
    let first = open_sqlite_store(&file).await;
    let second = open_sqlite_store(&file).await;
    claims_from_two_connections_have_one_winner(Arc::new(first), Arc::new(second)).await;
}

#[tokio::test]
async fn sqlite_schedules_share_the_file_with_tasks_and_survive_it_closing() {
    let file = TempSqlite::new();
    let pool = open_sqlite(&file.path()).await.expect("open sqlite");
    SqliteTaskStore::open(pool.clone())
        .await
        .expect("task tables");
    let store = SqliteScheduleStore::open(pool.clone())
        .await
        .expect("schedule tables");
    let record = schedule("t", "s", T0);
    assert!(store.create(&record, 10).await.expect("create"));
    assert_eq!(
        store
            .claim_fire("t", "s", T0 + 1, "a", T0 + 1, 10)
            .await
            .expect("claim"),
        FireClaim::Claimed
    );
    pool.close().await;

    let reopened = open_sqlite_store(&file).await;
    assert_eq!(reopened.get("t", "s").await.expect("get"), Some(record));
    assert_eq!(reopened.runs("t", "s", 10).await.expect("runs").len(), 1);
    reopened.pool().close().await;
}

#[tokio::test]
async fn redis_schedule_keys_follow_the_layout_and_delete_leaves_nothing() {
    let store = fresh_redis().await;
    let ns = store.namespace().to_owned();
    assert!(store
        .create(&schedule("t1", "s", T0), 10)
        .await
        .expect("create"));
    assert_eq!(
        store
            .claim_fire("t1", "s", T0 + 1, "a", T0 + 1, 10)
            .await
            .expect("claim"),
        FireClaim::Claimed
    );
    let client = redis::Client::open(redis_url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.sort();
    let expected = [
        "schedule-runs:t1:s",
        "schedule-tenants",
        "schedule:t1:s",
        "schedules:t1",
    ]
    .map(|k| format!("{ns}:{k}"));
    assert_eq!(keys, expected);
    let paused: String = redis::cmd("HGET")
        .arg(format!("{ns}:schedule:t1:s"))
        .arg("paused")
        .query_async(&mut conn)
        .await
        .expect("HGET");
    assert_eq!(paused, "0");

    store.delete("t1", "s").await.expect("delete");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(left.is_empty(), "delete leaves nothing behind: {left:?}");
}
