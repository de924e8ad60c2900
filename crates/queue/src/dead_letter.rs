//! Dead letters: jobs the queue gave up on, for an operator to list and put back.
//!
//! Two kinds end up here: jobs a handler aborted ([`crate::JobEnd::Abort`], e.g. a task that
//! crashed its worker too many times) and, on Redis, payloads that do not decode (moved there by
//! the payload check when fetched, see `vendor/apalis-redis/PATCHED.md`). On SQLite a job whose
//! retries ran out is one too.

mod redis;
mod sqlite;

use async_trait::async_trait;

pub use self::redis::RedisDeadLetters;
pub use self::sqlite::SqliteDeadLetters;
use crate::port::QueueError;

/// A job the queue gave up on, as an operator lists it to decide whether to put it back.
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
#[async_trait]
pub trait DeadLetters: Send + Sync + std::fmt::Debug {
    /// Every dead job, oldest first.
    async fn list(&self) -> Result<Vec<DeadLetter>, QueueError>;

    /// Puts the dead job `id` back on the queue, due at once, with its attempts reset; `false`
    /// when there is no such dead job.
    async fn requeue(&self, id: &str) -> Result<bool, QueueError>;

    /// Puts every dead job back; returns how many.
    async fn requeue_all(&self) -> Result<usize, QueueError> {
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
pub(crate) fn reason_of(result: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(map)) => match map.get("Err") {
            Some(serde_json::Value::String(reason)) => reason.clone(),
            _ => result.to_owned(),
        },
        _ => result.to_owned(),
    }
}

/// Oldest first, then by id.
pub(crate) fn sort_oldest_first(letters: &mut [DeadLetter]) {
    letters.sort_by(|a, b| a.dead_at.cmp(&b.dead_at).then(a.id.cmp(&b.id)));
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
