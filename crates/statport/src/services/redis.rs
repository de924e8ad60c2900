//! The Redis backend: the process's two connections (patient for workers and sweeps,
//! fail-fast for API requests), the bundles built over them, and what the connected Redis keeps
//! on disk.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis_redis::ConnectionManager;
use statport_access::RedisRateLimiter;
use statport_queue::dead_letter::RedisDeadLetters;
use statport_queue::finished::RedisFinishedJobs;
use statport_queue::redis::RedisQueue;
use statport_queue::QueueSettings;
use statport_records::{RedisLinkKeyStore, RedisScheduleStore, RedisTaskStore};
use statport_worker::runner::run_workers;
use tracing::{info, warn};

use super::backends::{QueueBundle, StoreBundle};

/// The two Redis connections of a process.
#[derive(Debug, Clone)]
pub struct RedisConnections {
    /// Workers and sweeps: waits patiently through slow scripts and reconnects.
    pub patient: ConnectionManager,
    /// API requests: gives up within seconds, so a client gets a 503 instead of a hang.
    pub fail_fast: ConnectionManager,
}

impl RedisConnections {
    /// Both connections to `url`, lazy (nothing is dialled yet).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(RedisConnections {
            patient: redis_connection(url, RedisProfile::Patient)?,
            fail_fast: redis_connection(url, RedisProfile::FailFast)?,
        })
    }

    /// The store bundle: task and schedule records and the rate limiter under `namespace`,
    /// API requests over the fail-fast connection, workers over the patient one.
    pub fn store(&self, namespace: &str) -> StoreBundle {
        StoreBundle {
            tasks: Arc::new(RedisTaskStore::with_connection(
                self.patient.clone(),
                namespace,
            )),
            outbox: Arc::new(RedisTaskStore::with_connection(
                self.patient.clone(),
                namespace,
            )),
            api_tasks: Arc::new(RedisTaskStore::with_connection(
                self.fail_fast.clone(),
                namespace,
            )),
            schedules: Arc::new(RedisScheduleStore::with_connection(
                self.fail_fast.clone(),
                namespace,
            )),
            link_keys: Arc::new(RedisLinkKeyStore::with_connection(
                self.fail_fast.clone(),
                namespace,
            )),
            rate_limiter: Arc::new(RedisRateLimiter::with_connection(
                self.fail_fast.clone(),
                namespace,
            )),
        }
    }

    /// The queue bundle: apalis-redis, the API pushing over the fail-fast connection.
    pub fn queue(&self, settings: &QueueSettings) -> QueueBundle {
        let patient = self.patient.clone();
        QueueBundle {
            api_queue: Arc::new(RedisQueue::new(self.fail_fast.clone(), settings)),
            dead_letters: Arc::new(RedisDeadLetters::new(
                self.patient.clone(),
                statport_queue::redis::config(settings),
            )),
            finished: Arc::new(RedisFinishedJobs::new(
                self.patient.clone(),
                apalis_redis::Config::default().queue(&settings.name),
            )),
            workers: Arc::new(move |ctx, settings, shutdown| {
                let backend = statport_queue::redis::worker_backend(patient.clone(), &settings);
                Box::pin(run_workers(ctx, backend, settings, shutdown))
            }),
        }
    }
}

/// How a Redis connection behaves when Redis is slow or away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisProfile {
    /// Workers and sweeps: queue scripts may take a while under load; reconnects are retried
    /// patiently (10 s per reply, 5 s per connection attempt, 6 tries).
    Patient,
    /// API requests: a client waits at most about 3 s before a 503 while Redis is away
    /// (2 s per reply, 1 s per connection attempt, 1 retry).
    FailFast,
}

/// A lazy Redis connection: nothing is dialled until the first command, so a process starts
/// while Redis is down. Fails only on a malformed URL.
pub fn redis_connection(url: &str, profile: RedisProfile) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).with_context(|| {
        format!(
            "invalid configuration: redis.url '{}'",
            statport_api::ready::redact_credentials(url)
        )
    })?;
    let config = redis::aio::ConnectionManagerConfig::new();
    let config = match profile {
        RedisProfile::Patient => config
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_connection_timeout(Some(Duration::from_secs(5))),
        RedisProfile::FailFast => config
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200)),
    };
    ConnectionManager::new_lazy_with_config(client, config)
        .with_context(|| format!("preparing the Redis connection to {url}"))
}

/// How much the connected Redis keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisPersistence {
    /// The append-only file is on: with `appendfsync always` or `everysec`, at most about a
    /// second of writes is lost in a crash.
    AppendOnly {
        /// The `appendfsync` setting.
        fsync: String,
    },
    /// Snapshots only (`save` rules): a crash loses everything since the last snapshot.
    SnapshotsOnly,
    /// Nothing: a restart loses every task and queued job.
    None,
}

/// Reads the persistence of the Redis behind `conn` (`CONFIG GET`, which managed services may
/// refuse: then the error says so).
pub async fn redis_persistence(conn: &ConnectionManager) -> redis::RedisResult<RedisPersistence> {
    let mut conn = conn.clone();
    let get = |name: &'static str| {
        let mut c = redis::cmd("CONFIG");
        c.arg("GET").arg(name);
        c
    };
    let appendonly: Vec<String> = get("appendonly").query_async(&mut conn).await?;
    let fsync: Vec<String> = get("appendfsync").query_async(&mut conn).await?;
    let save: Vec<String> = get("save").query_async(&mut conn).await?;
    Ok(persistence_from(
        appendonly.get(1).map_or("", String::as_str),
        fsync.get(1).map_or("", String::as_str),
        save.get(1).map_or("", String::as_str),
    ))
}

/// [`RedisPersistence`] from the `appendonly`, `appendfsync` and `save` settings.
pub fn persistence_from(appendonly: &str, appendfsync: &str, save: &str) -> RedisPersistence {
    if appendonly.eq_ignore_ascii_case("yes") {
        RedisPersistence::AppendOnly {
            fsync: appendfsync.to_owned(),
        }
    } else if !save.trim().is_empty() {
        RedisPersistence::SnapshotsOnly
    } else {
        RedisPersistence::None
    }
}

/// Logs what the connected Redis's persistence means for accepted tasks.
pub async fn warn_about_persistence(conn: &ConnectionManager) {
    match redis_persistence(conn).await {
        Ok(RedisPersistence::AppendOnly { fsync }) if fsync == "always" || fsync == "everysec" => {
            info!(appendfsync = %fsync, "redis persists with the append-only file");
        }
        Ok(RedisPersistence::AppendOnly { fsync }) => warn!(appendfsync = %fsync, "redis appendfsync is neither always nor everysec: a Redis crash can lose accepted tasks; set appendfsync everysec"),
        Ok(RedisPersistence::SnapshotsOnly) => warn!("redis persists with snapshots only: a Redis crash loses the tasks accepted since the last snapshot; set appendonly yes and appendfsync everysec"),
        Ok(RedisPersistence::None) => warn!("redis persists nothing (no append-only file, no snapshots): a Redis restart loses every accepted task and queued job; set appendonly yes and appendfsync everysec"),
        Err(e) => warn!(error = %e, "could not read redis persistence settings (CONFIG GET refused?); make sure appendonly yes and appendfsync everysec are set"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistence_is_read_from_the_redis_settings() {
        assert_eq!(
            persistence_from("no", "everysec", ""),
            RedisPersistence::None
        );
        assert_eq!(
            persistence_from("no", "everysec", "3600 1 300 100"),
            RedisPersistence::SnapshotsOnly
        );
        assert_eq!(
            persistence_from("yes", "everysec", ""),
            RedisPersistence::AppendOnly {
                fsync: "everysec".into()
            }
        );
    }

    #[tokio::test]
    async fn the_live_redis_reports_its_persistence() {
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
        let conn = redis_connection(&url, RedisProfile::FailFast).expect("url");
        let persistence = redis_persistence(&conn).await.expect("CONFIG GET answers");
        // Whatever it is, it must be one of the three (the CI Redis persists nothing).
        assert!(matches!(
            persistence,
            RedisPersistence::None
                | RedisPersistence::SnapshotsOnly
                | RedisPersistence::AppendOnly { .. }
        ));
    }
}
