//! The export worker: turns a queued task into a result file.
//!
//! # Layout
//! - [`source`]: which log objects can hold lines of the task's range (file-name hours, late lines).
//! - [`scan`]: one object: multi-member gzip → CloudFront parser → selection → partial aggregate.
//! - [`job`]: one run of a task: claim, scan every object (in parallel, merging the partial
//!   aggregates, or sorting the rows of a `logs` export), write the file, upload it (streamed
//!   for `logs`), record the result; progress and cancellation go
//!   through the guarded transitions of the status store; each recorded end goes to the
//!   [`TaskEnded`] port (the binary's completion callbacks).
//! - [`report`]: the synchronous reports' engine: an origin-volume request scanned like a task
//!   (same object selection, scan and partial result, several files at once) within bounds on
//!   the bytes read, the wall time and the reports running at once.
//! - [`sort`]: the external sort of `logs` exports: selected rows packed into sorted runs on
//!   disk in bounded memory, merged back in time order and cut at the export's `count`.
//! - [`retry`]: backoff with jitter and the retry span of transient failures.
//! - [`output`]: the csv / json / JSON Lines / xlsx writers (csv and JSON Lines into any byte
//!   sink, e.g. a streaming upload).
//! - [`runner`]: [`job::run_export`] as the queue's job handler (`statport-queue`, Redis or
//!   SQLite): each [`RunEnd`] becomes an ack, a scheduled or immediate new job, or a dead
//!   letter; and `run_workers` over either backend.
//! - [`janitor`]: retention sweeps: expired result files, the queue's records of finished jobs
//!   (through the queue's `FinishedJobs` port).

mod fanout;
pub mod janitor;
pub mod job;
pub mod output;
pub mod report;
pub mod retry;
pub mod runner;
pub mod scan;
pub mod sort;
pub mod source;

pub use job::{
    run_export, ExportContext, LogSource, RunEnd, TaskEnd, TaskEnded, Tenant, WorkerSettings,
};
/// The shutdown token of an [`ExportContext`], re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;
