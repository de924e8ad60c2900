//! The export worker: turns a queued task into a result file.
//!
//! # Layout
//! - [`source`]: which log objects can hold lines of the task's range (file-name hours, late lines).
//! - [`scan`]: one object: multi-member gzip → CloudFront parser → selection → partial aggregate.
//! - [`job`]: one run of a task: claim, scan every object (in parallel, merging the partial
//!   aggregates), write the file, upload it, record the result; progress and cancellation go
//!   through the guarded transitions of the status store.
//! - [`output`]: the csv / json / xlsx writers.
//! - [`runner`]: the apalis-redis workers that pull jobs and call [`job::run_export`].
//! - [`janitor`]: retention sweeps: expired result files, the queue's records of finished jobs.

pub mod janitor;
pub mod job;
pub mod output;
pub mod runner;
pub mod scan;
pub mod source;

pub use job::{run_export, ExportContext, LogFormat, LogSource, RunEnd, WorkerSettings};
