//! The apalis-redis backend (the vendored, patched `apalis-redis`, see its `PATCHED.md`): the
//! connection, the queue configuration, the push side ([`RedisQueue`], the shared
//! [`ApalisQueue`] adapter over this storage) and the value the runner pulls from
//! ([`worker_backend`]).
//!
//! Jobs live under `<name>:*` keys. apalis-redis retries a failed job (`JobEnd::Error`) up to 25
//! times, `attempt` seconds apart; a job whose worker stopped heart-beating is re-enqueued by
//! another worker's heartbeat after heartbeat × missed beats.

use std::time::Duration;

pub use apalis_redis::ConnectionManager;
use apalis_redis::RedisStorage;
use statport_core::task::ExportJob;

use crate::apalis_queue::{self, ApalisQueue};
use crate::payload::check_payload;
use crate::runner::{ErrorSpacing, WorkerBackend, FETCH_BATCH};
use crate::settings::QueueSettings;

/// A Redis connection manager with a response timeout long enough for queue scripts under load
/// (redis-rs's default is 500 ms).
pub async fn connect(url: &str) -> Result<ConnectionManager, ::redis::RedisError> {
    let client = ::redis::Client::open(url)?;
    let config = ::redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    client.get_connection_manager_with_config(config).await
}

/// The apalis-redis configuration of the export queue for `settings`: heartbeat and missed
/// beats set explicitly (the crate's default is 30 s × 10), one job per fetch (see
/// [`FETCH_BATCH`]), and a payload that is not an [`ExportJob`] goes to the dead letters when
/// fetched instead of stopping the worker.
pub fn config(settings: &QueueSettings) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(&settings.name)
        .batch_size(FETCH_BATCH)
        .heartbeat_interval(settings.heartbeat)
        .missed_heartbeats(settings.missed_heartbeats)
        .payload_check(Some(check_payload))
}

/// The apalis storage of export jobs for `settings`, over `conn`.
pub fn storage(conn: ConnectionManager, settings: &QueueSettings) -> RedisStorage<ExportJob> {
    RedisStorage::new(conn).with_config(config(settings))
}

/// What the runner pulls from: the storage over `conn` and a [`RedisQueue`] over the same
/// connection for the jobs a run hands back; apalis-redis spaces retries itself.
pub fn worker_backend(
    conn: ConnectionManager,
    settings: &QueueSettings,
) -> WorkerBackend<RedisStorage<ExportJob>> {
    apalis_queue::worker_backend(storage(conn, settings), ErrorSpacing::ByBackend)
}

/// The push side of the apalis-redis queue: the one adapter over this backend's storage.
pub type RedisQueue = ApalisQueue<RedisStorage<ExportJob>>;

impl RedisQueue {
    /// The queue `settings` names, over `conn`.
    pub fn new(conn: ConnectionManager, settings: &QueueSettings) -> Self {
        RedisQueue::from_storage(storage(conn, settings))
    }
}
