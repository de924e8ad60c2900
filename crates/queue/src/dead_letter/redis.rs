//! Dead letters of the apalis-redis queue: `<queue>:dead` and each job's metadata hash.

use apalis_redis::{Config, ConnectionManager};
use async_trait::async_trait;
use redis::Script;

use super::{reason_of, sort_oldest_first, DeadLetter, DeadLetters};
use crate::port::QueueError;

/// The dead letters of the Redis queue a [`Config`] names.
#[derive(Clone)]
pub struct RedisDeadLetters {
    conn: ConnectionManager,
    config: Config,
}

impl std::fmt::Debug for RedisDeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDeadLetters")
            .field("dead_set", &self.config.dead_jobs_set())
            .finish_non_exhaustive()
    }
}

const REQUEUE: &str = r#"
-- KEYS: dead set, active list, metadata prefix, signal list, data hash; ARGV[1]: id
if redis.call("srem", KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call("hexists", KEYS[5], ARGV[1]) == 0 then return 0 end
local meta = KEYS[3] .. ":" .. ARGV[1]
redis.call("hset", meta, "status", "Pending", "attempts", 0)
redis.call("hdel", meta, "result", "done_at", "locked_by", "locked_at")
redis.call("rpush", KEYS[2], ARGV[1])
redis.call("del", KEYS[4])
redis.call("lpush", KEYS[4], 1)
return 1
"#;

impl RedisDeadLetters {
    /// The dead letters of the queue `config` names (see [`crate::redis::config`]), over `conn`.
    pub fn new(conn: ConnectionManager, config: Config) -> Self {
        RedisDeadLetters { conn, config }
    }

    async fn read(&self) -> Result<Vec<DeadLetter>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.config.dead_jobs_set())
            .query_async(&mut conn)
            .await?;
        let mut letters = Vec::with_capacity(ids.len());
        for id in ids {
            let payload: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(self.config.job_data_hash())
                .arg(&id)
                .query_async(&mut conn)
                .await?;
            let (result, done_at): (Option<String>, Option<u64>) = redis::cmd("HMGET")
                .arg(format!("{}:{id}", self.config.job_meta_hash()))
                .arg("result")
                .arg("done_at")
                .query_async(&mut conn)
                .await?;
            letters.push(DeadLetter {
                payload: String::from_utf8_lossy(&payload.unwrap_or_default()).into_owned(),
                reason: reason_of(result.as_deref().unwrap_or("")),
                dead_at: done_at,
                id,
            });
        }
        sort_oldest_first(&mut letters);
        Ok(letters)
    }
}

#[async_trait]
impl DeadLetters for RedisDeadLetters {
    async fn list(&self) -> Result<Vec<DeadLetter>, QueueError> {
        self.read().await.map_err(QueueError::from_display)
    }

    async fn requeue(&self, id: &str) -> Result<bool, QueueError> {
        let moved: u32 = Script::new(REQUEUE)
            .key(self.config.dead_jobs_set())
            .key(self.config.active_jobs_list())
            .key(self.config.job_meta_hash())
            .key(self.config.signal_list())
            .key(self.config.job_data_hash())
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(QueueError::from_display)?;
        Ok(moved == 1)
    }
}
