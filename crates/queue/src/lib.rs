//! The job queue: how export jobs get from the API to the workers, on apalis over Redis or
//! SQLite, behind ports the rest of statport holds as `Arc<dyn …>`.
//!
//! # Layout
//! - [`port`]: [`JobQueue`] (push a job now or at a time) and [`QueueError`].
//! - [`apalis_queue`]: [`ApalisQueue`], the one [`JobQueue`] over either backend's apalis
//!   storage (`RedisQueue` and `SqliteQueue` are it, named per backend).
//! - [`settings`]: [`QueueSettings`], one struct for both backends.
//! - [`handler`]: [`JobHandler`], what a worker does with a job, and [`JobEnd`], how a run ends.
//! - [`runner`]: [`run_workers`], the apalis workers over either backend (one generic function),
//!   turning a [`JobEnd`] into an ack, a pushed job, a retry or a dead letter.
//! - [`redis`]: apalis-redis: connection, configuration (payload check), its storage, and
//!   over it [`redis::RedisQueue`] and the worker backend.
//! - [`sqlite`]: apalis-sqlite on a caller's pool: setup, configuration, its storage, and over
//!   it [`sqlite::SqliteQueue`] and the worker backend.
//! - [`dead_letter`]: [`DeadLetters`], the jobs the queue gave up on (list, requeue), for both.
//! - [`finished`]: [`FinishedJobs`], trimming the backends' records of finished jobs.
//! - [`payload`]: the payload check (a stored job must decode).

pub mod apalis_queue;
pub mod dead_letter;
pub mod finished;
pub mod handler;
pub mod payload;
pub mod port;
pub mod redis;
pub mod runner;
pub mod settings;
pub mod sqlite;

pub use apalis_queue::ApalisQueue;
pub use dead_letter::{DeadLetter, DeadLetters};
pub use finished::FinishedJobs;
pub use handler::{JobEnd, JobHandler};
pub use port::{JobQueue, QueueError};
pub use runner::{run_workers, unique_worker_name, ErrorSpacing, RunnerError, WorkerBackend};
pub use settings::QueueSettings;
/// The stop token runs watch, re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;
