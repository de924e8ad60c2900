//! One conformance suite over both limiters, then what only Redis shows: a limit shared by two
//! processes (two connections) and keys that expire. Needs the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379/`); fails when it is down.

use statport_core::tenant::TenantLimits;

use super::*;

/// A fixed start time (2026-01-01T00:00:00Z), so the rates are tested without a clock.
const T0: i64 = 1_767_225_600_000;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

fn fresh_namespace() -> String {
    format!("statport-test-{}", uuid::Uuid::new_v4().simple())
}

async fn redis_limiter(namespace: &str) -> RedisRateLimiter {
    RedisRateLimiter::connect(&redis_url(), namespace)
        .await
        .unwrap_or_else(|e| panic!("Redis at {} must be reachable: {e}", redis_url()))
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn check(limiter: &dyn RateLimiter, key: &str, rate: Rate, now: i64) -> Decision {
    limiter.check(key, rate, now).await.expect("check")
}

fn refused(retry_after_ms: i64) -> Decision {
    Decision {
        allowed: false,
        retry_after_ms,
    }
}

/// What every [`RateLimiter`] must do. Each scenario uses its own keys.
async fn suite(limiter: &dyn RateLimiter) {
    let api = TenantLimits::DEFAULT.api_rate();
    // 20 at once pass, the 21st waits one interval (50 ms) and is not counted
    for i in 0..20 {
        assert!(check(limiter, "api:a", api, T0).await.allowed, "call {i}");
    }
    let d = check(limiter, "api:a", api, T0 + 1).await;
    assert_eq!(d, refused(49));
    assert_eq!(d.retry_after_secs(), 1, "Retry-After rounds up");
    assert_eq!(check(limiter, "api:a", api, T0 + 49).await, refused(1));
    assert_eq!(
        check(limiter, "api:a", api, T0 + 50).await,
        Decision::ALLOWED
    );
    assert_eq!(check(limiter, "api:a", api, T0 + 50).await, refused(50));
    // then one per interval: 20 per second sustained
    let mut allowed = 0;
    for ms in (T0 + 100..T0 + 1100).step_by(5) {
        if check(limiter, "api:a", api, ms).await.allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 20, "a busy second allows the sustained rate");
    // a quiet spell refills the burst
    for i in 0..20 {
        let now = T0 + 10_000;
        assert!(check(limiter, "api:a", api, now).await.allowed, "call {i}");
    }
    assert!(!check(limiter, "api:a", api, T0 + 10_000).await.allowed);

    // keys do not share a budget
    for _ in 0..20 {
        check(limiter, "api:b", api, T0).await;
    }
    assert!(!check(limiter, "api:b", api, T0).await.allowed);
    assert!(check(limiter, "api:c", api, T0).await.allowed);

    // one download per 30 s
    let download = TenantLimits::DEFAULT.download_rate();
    assert!(check(limiter, "download:a", download, T0).await.allowed);
    let d = check(limiter, "download:a", download, T0 + 10_000).await;
    assert_eq!(d, refused(20_000));
    assert_eq!(d.retry_after_secs(), 20);
    assert_eq!(
        check(limiter, "download:a", download, T0 + 29_999).await,
        refused(1)
    );
    assert!(
        check(limiter, "download:a", download, T0 + 30_000)
            .await
            .allowed
    );
    assert!(
        check(limiter, "download:a", download, T0 + 90_000)
            .await
            .allowed
    );
    assert!(
        !check(limiter, "download:a", download, T0 + 90_001)
            .await
            .allowed
    );
}

#[tokio::test]
async fn memory_limiter_passes_the_suite() {
    suite(&MemoryRateLimiter::new()).await;
}

#[tokio::test]
async fn redis_limiter_passes_the_suite() {
    let namespace = fresh_namespace();
    suite(&redis_limiter(&namespace).await).await;
    drop_namespace(&namespace).await;
}

#[tokio::test]
async fn two_redis_limiters_share_one_limit() {
    let namespace = fresh_namespace();
    let (a, b) = (
        redis_limiter(&namespace).await,
        redis_limiter(&namespace).await,
    );
    let api = TenantLimits::DEFAULT.api_rate();
    for i in 0..20 {
        let limiter: &dyn RateLimiter = if i % 2 == 0 { &a } else { &b };
        assert!(check(limiter, "api:t", api, T0).await.allowed, "call {i}");
    }
    assert_eq!(check(&a, "api:t", api, T0).await, refused(50));
    assert_eq!(check(&b, "api:t", api, T0).await, refused(50));
    drop_namespace(&namespace).await;
}

#[tokio::test]
async fn redis_keys_expire_once_their_tat_has_passed() {
    let namespace = fresh_namespace();
    let limiter = redis_limiter(&namespace).await;
    let download = TenantLimits::DEFAULT.download_rate();
    assert!(check(&limiter, "download:t", download, T0).await.allowed);
    let mut conn = raw_connection().await;
    let key = format!("{namespace}:rate:download:t");
    assert_eq!(limiter.redis_key("download:t"), key);
    let (tat, ttl): (i64, i64) = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut conn)
        .await
        .expect("GET, PTTL");
    assert_eq!(tat, T0 + 30_000);
    assert!(
        (29_000..=30_000 + EXPIRY_SLACK_MS).contains(&ttl),
        "the key lives until its TAT has passed, plus the slack: {ttl} ms"
    );
    // a refused call neither moves the TAT nor extends the key
    assert!(
        !check(&limiter, "download:t", download, T0 + 1000)
            .await
            .allowed
    );
    let tat: i64 = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(tat, T0 + 30_000);
    drop_namespace(&namespace).await;
}

#[tokio::test]
async fn memory_limiter_forgets_idle_keys() {
    let limiter = MemoryRateLimiter::new();
    let api = TenantLimits::DEFAULT.api_rate();
    for i in 0..MIN_PRUNE_AT - 1 {
        check(&limiter, &format!("api:{i}"), api, T0).await;
    }
    assert_eq!(limiter.len(), MIN_PRUNE_AT - 1);
    check(&limiter, "api:late", api, T0 + 1000).await;
    assert_eq!(limiter.len(), 1, "only the key whose TAT is ahead stays");
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(Decision::ALLOWED.retry_after_secs(), 0);
    assert_eq!(refused(1).retry_after_secs(), 1);
    assert_eq!(refused(1000).retry_after_secs(), 1);
    assert_eq!(refused(1001).retry_after_secs(), 2);
    assert_eq!(refused(0).retry_after_secs(), 1, "refused means wait");
}

async fn drop_namespace(namespace: &str) {
    let mut conn = raw_connection().await;
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
