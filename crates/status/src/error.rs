//! The error every [`TaskStore`](crate::TaskStore) operation can return.

/// Why a status-store operation failed.
///
/// None of these is the client's fault: the API answers them with a 5xx (503 when
/// [`StatusError::is_retryable`]), a worker retries the job later when retryable.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Redis could not be reached, timed out, or rejected a command.
    #[error("status store request failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored record could not be read back (not our JSON, or filed under the wrong key).
    #[error("stored task record {key} is corrupt: {reason}")]
    Corrupt {
        /// The Redis key (or memory slot) holding the record.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record could not be encoded as JSON.
    #[error("task record could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    /// Other writers changed the task between our read and our write too many times in a row.
    #[error("task {task_id} changed concurrently {attempts} times in a row; giving up")]
    Contention {
        /// The task being changed.
        task_id: String,
        /// How many read-then-write rounds were tried.
        attempts: usize,
    },
}

impl StatusError {
    /// True when trying the same call again later may succeed (Redis unreachable or slow, write
    /// contention); false when it will fail the same way (corrupt data, a rejected script).
    pub fn is_retryable(&self) -> bool {
        match self {
            StatusError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            StatusError::Contention { .. } => true,
            StatusError::Corrupt { .. } | StatusError::Encode(_) => false,
        }
    }
}
