//! Dead letters: jobs the queue gave up on, for an operator to list and put back.
//!
//! They live in the apalis-redis keys of the queue (`<queue>:dead` and each job's metadata
//! hash), so one list holds both kinds of dead job: payloads that do not decode (moved there by
//! the queue's payload check when fetched, see `vendor/apalis-redis/PATCHED.md`) and jobs
//! aborted by the runner (a task that crashed its worker `max_attempts` times; its task is
//! already `fail`).

use apalis_redis::{Config, ConnectionManager};
use redis::Script;

/// One dead job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The apalis job id (a ULID).
    pub id: String,
    /// The payload as stored (lossy UTF-8).
    pub payload: String,
    /// Why it is dead (the recorded error).
    pub reason: String,
    /// When it died, seconds since the epoch.
    pub dead_at: Option<u64>,
}

/// The dead letters of one queue.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    conn: ConnectionManager,
    config: Config,
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

impl DeadLetters {
    /// The dead letters of the queue `config` names, over `conn`.
    pub fn new(conn: ConnectionManager, config: Config) -> Self {
        DeadLetters { conn, config }
    }

    /// Every dead job, oldest first.
    pub async fn list(&self) -> Result<Vec<DeadLetter>, redis::RedisError> {
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
        letters.sort_by(|a, b| a.dead_at.cmp(&b.dead_at).then(a.id.cmp(&b.id)));
        Ok(letters)
    }

    /// Puts the dead job `id` back at the end of the queue with its attempts reset; `false`
    /// when there is no such dead job.
    pub async fn requeue(&self, id: &str) -> Result<bool, redis::RedisError> {
        let moved: u32 = Script::new(REQUEUE)
            .key(self.config.dead_jobs_set())
            .key(self.config.active_jobs_list())
            .key(self.config.job_meta_hash())
            .key(self.config.signal_list())
            .key(self.config.job_data_hash())
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(moved == 1)
    }

    /// Puts every dead job back; returns how many.
    pub async fn requeue_all(&self) -> Result<usize, redis::RedisError> {
        let mut moved = 0;
        for letter in self.list().await? {
            if self.requeue(&letter.id).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }
}

/// The error text of a recorded result (`{"Err": "…"}`), or the raw result.
fn reason_of(result: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(map)) => match map.get("Err") {
            Some(serde_json::Value::String(reason)) => reason.clone(),
            _ => result.to_owned(),
        },
        _ => result.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_the_recorded_error() {
        assert_eq!(
            reason_of(r#"{"Err":"undecodable payload: x"}"#),
            "undecodable payload: x"
        );
        assert_eq!(reason_of("odd"), "odd");
    }
}
