//! Finished jobs of the apalis-redis queue: apalis-redis keeps each done job's payload, its
//! metadata hash and its id in the done set forever; all of it is removed.

use apalis_redis::ConnectionManager;
use async_trait::async_trait;

use super::FinishedJobs;
use crate::port::QueueError;

/// Done jobs whose records one script call removes; bounds the work of one Redis call.
const TRIM_CHUNK: usize = 500;

/// Removes the records of up to `ARGV[1]` done jobs.
///
/// `KEYS[1]` the done set, `KEYS[2]` the job data hash, `KEYS[3]` the metadata key prefix (one
/// hash per job at `<prefix>:<id>`, plus `<prefix>:result`). Returns how many jobs it removed.
static TRIM_DONE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3] .. ':result', id)
  redis.call('DEL', KEYS[3] .. ':' .. id)
end
return #ids
",
    )
});

/// The finished-job records of one Redis queue.
#[derive(Clone)]
pub struct RedisFinishedJobs {
    conn: ConnectionManager,
    config: apalis_redis::Config,
}

impl std::fmt::Debug for RedisFinishedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFinishedJobs")
            .field("done_set", &self.config.done_jobs_set())
            .finish_non_exhaustive()
    }
}

impl RedisFinishedJobs {
    /// The records of the apalis-redis queue described by `config`, over `conn`.
    pub fn new(conn: ConnectionManager, config: apalis_redis::Config) -> Self {
        RedisFinishedJobs { conn, config }
    }

    async fn trim_done(&self) -> Result<u64, redis::RedisError> {
        let mut removed = 0u64;
        loop {
            let mut call = TRIM_DONE.prepare_invoke();
            call.key(self.config.done_jobs_set())
                .key(self.config.job_data_hash())
                .key(self.config.job_meta_hash())
                .arg(TRIM_CHUNK);
            let n: u64 = call.invoke_async(&mut self.conn.clone()).await?;
            removed = removed.saturating_add(n);
            if n < TRIM_CHUNK as u64 {
                return Ok(removed);
            }
        }
    }
}

#[async_trait]
impl FinishedJobs for RedisFinishedJobs {
    async fn trim(&self) -> Result<u64, QueueError> {
        self.trim_done().await.map_err(QueueError::from_display)
    }
}
