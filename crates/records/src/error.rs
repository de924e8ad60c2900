//! The error every [`TaskStore`](crate::TaskStore) operation can return.

/// Why a status-store operation failed.
///
/// None of these is the client's fault: the API answers them with a 5xx (503 when
/// [`StoreError::is_retryable`]), a worker retries the job later when retryable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached, timed out, or rejected a command.
    #[error("status store request failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// The SQLite file could not be read or written (busy past the timeout, disk full, I/O).
    #[error("status store request failed: sqlite: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The SQLite file's folder could not be created.
    #[error("status store file {path} could not be opened: {source}")]
    Open {
        /// The SQLite file that was to be opened, so the operator sees which path to fix.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The SQLite file holds tables of a newer schema than this statport knows.
    #[error("status store tables {component} have schema version {found}; this statport supports up to {supported}")]
    Schema {
        /// Which store's tables are too new (`tasks`, `schedules`), as recorded in the file.
        component: String,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A stored record could not be read back (not our JSON, or filed under the wrong key).
    #[error("stored record {key} is corrupt: {reason}")]
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
    #[error("{task_id} changed concurrently {attempts} times in a row; giving up")]
    Contention {
        /// The task (or schedule) being changed.
        task_id: String,
        /// How many read-then-write rounds were tried.
        attempts: usize,
    },
}

impl StoreError {
    /// True when trying the same call again later may succeed (Redis unreachable or slow, write
    /// contention); false when it will fail the same way (corrupt data, a rejected script).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            StoreError::Sqlite(e) => sqlite_is_transient(e),
            StoreError::Contention { .. } => true,
            StoreError::Corrupt { .. }
            | StoreError::Encode(_)
            | StoreError::Open { .. }
            | StoreError::Schema { .. } => false,
        }
    }
}

/// SQLite result codes (the primary code, the low byte of an extended one) that clear up when
/// the other writer is done: `SQLITE_BUSY` and `SQLITE_LOCKED`.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// True for the SQLite failures that a later try may not meet: a lock held past the busy
/// timeout, a pool with no free connection in time, an I/O error.
fn sqlite_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        _ => false,
    }
}
