//! The link-key stores: one key for every process sharing a backend, rotated once per period
//! however many processes look at once.

use std::sync::Arc;

use statport_records::{
    open_sqlite, LinkKeyStore, MemoryLinkKeyStore, RedisLinkKeyStore, SqliteLinkKeyStore,
};

use crate::common::{drop_keys, redis_url, TempSqlite};

const T0: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

/// What every store must do; `a` and `b` are two handles on one backend (two processes).
async fn suite(a: Arc<dyn LinkKeyStore>, b: Arc<dyn LinkKeyStore>) {
    let first = a.link_keys(b"key-a-1", T0, DAY).await.expect("create");
    assert_eq!(first.current.secret, b"key-a-1");
    // The other process gets the same key, not its own candidate.
    let seen = b.link_keys(b"key-b-1", T0 + 5, DAY).await.expect("read");
    assert_eq!(seen, first);
    // Rotation once the period is over; the old key is kept as the previous one.
    let rotated = b
        .link_keys(b"key-b-2", T0 + DAY, DAY)
        .await
        .expect("rotate");
    assert_eq!(rotated.current.secret, b"key-b-2");
    assert_eq!(rotated.previous.as_ref(), Some(&first.current));
    assert_eq!(
        a.link_keys(b"key-a-2", T0 + DAY + 1, DAY)
            .await
            .expect("read"),
        rotated
    );
    // Many processes looking at once after the next period: exactly one rotation wins.
    let looks = (0..8u8).map(|i| {
        let store = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tokio::spawn(async move {
            store
                .link_keys(&[i; 32], T0 + 2 * DAY, DAY)
                .await
                .expect("look")
        })
    });
    let mut seen = Vec::new();
    for look in looks {
        seen.push(look.await.expect("task"));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    assert_eq!(seen[0].previous.as_ref(), Some(&rotated.current));
}

#[tokio::test]
async fn memory_link_keys_pass_the_suite() {
    let store: Arc<dyn LinkKeyStore> = Arc::new(MemoryLinkKeyStore::new());
    suite(Arc::clone(&store), store).await;
}

#[tokio::test]
async fn redis_link_keys_are_shared_by_separate_connections() {
    let namespace = format!("statport-test-{}", uuid::Uuid::new_v4().simple());
    let connect = || async {
        let client = redis::Client::open(redis_url()).expect("url");
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .unwrap_or_else(|e| panic!("Redis at {} must be reachable: {e}", redis_url()));
        Arc::new(RedisLinkKeyStore::with_connection(conn, &namespace)) as Arc<dyn LinkKeyStore>
    };
    suite(connect().await, connect().await).await;
    drop_keys(&namespace).await;
}

#[tokio::test]
async fn sqlite_link_keys_are_shared_by_separate_pools() {
    let file = TempSqlite::new();
    let open = || async {
        let pool = open_sqlite(&file.path()).await.expect("open sqlite");
        Arc::new(SqliteLinkKeyStore::open(pool).await.expect("table")) as Arc<dyn LinkKeyStore>
    };
    suite(open().await, open().await).await;
}
