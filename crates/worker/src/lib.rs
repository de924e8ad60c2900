//! The export worker: turns a queued task into a result file.
//!
//! # Layout
//! - [`source`]: which log objects can hold lines of the task's range (file-name hours, late lines).
//! - [`scan`]: one object: multi-member gzip → the parser of the tenant's log format (CloudFront or
//!   Huawei) → the condition's selection → any record sink (a partial aggregate, a sort run).
//! - `fanout` (crate-private): many objects scanned several at once into bounded parts gathered
//!   in listing order, shared by [`job`] and [`origin_volume`] through its `Gather` seam.
//! - [`job`]: one run of a task: claim, scan every object (through the fan-out, merging the
//!   partial aggregates, or sorting the rows of a `logs` export), write the file, upload it
//!   (streamed for `logs` in csv and json), record the result; progress and cancellation go
//!   through the guarded transitions of the record store; each recorded end goes to the
//!   [`TaskEnded`] port (the binary's completion callbacks).
//! - [`origin_volume`]: the engine of the synchronous origin-volume report (`volOrigin`), the
//!   core's `OriginVolumeEngine` port: the request scanned like a task (same object selection,
//!   fan-out, scan and partial result) within bounds on the bytes read, the wall time and the
//!   reports running at once.
//! - [`sort`]: the external sort of `logs` exports: selected rows packed into sorted runs on
//!   disk in bounded memory, merged back in time order and cut at the export's `count`.
//! - [`temp_disk`]: the bound on a worker process's temp disk (`worker.temp_disk_bytes`): one
//!   byte budget shared by its runs, reserved before sort runs, merge passes and result files
//!   are written and given back when they are removed; a run past it fails at once.
//! - [`retry`]: backoff with jitter and the retry span of transient failures.
//! - [`output`]: the csv / json / JSON Lines / xlsx writers, opened through one entry point,
//!   [`output::writer_for`] (a file, or for the formats that stream a byte sink such as a
//!   streaming upload); a new output format is one file there and one arm of its match.
//! - [`runner`]: [`job::run_export`] as the queue's job handler (`statport-queue`, Redis or
//!   SQLite): each [`RunEnd`] becomes the queue's `JobEnd` in one function,
//!   [`runner::job_end`] (an ack, a scheduled or immediate new job, or a dead letter); and
//!   `run_workers` over either backend.
//! - [`janitor`]: retention sweeps: expired result files, orphaned result files (no live
//!   record wants them, past a grace period: [`janitor::orphans`]), the queue's records of
//!   finished jobs (through the queue's `FinishedJobs` port), dead runs' sort directories.

mod fanout;
pub mod janitor;
pub mod job;
pub mod origin_volume;
pub mod output;
pub mod retry;
pub mod runner;
pub mod scan;
pub mod sort;
pub mod source;
pub mod temp_disk;

pub use job::{run_export, ExportContext, JobTimeouts, RunEnd, TaskEnd, TaskEnded, WorkerSettings};
/// The shutdown token of an [`ExportContext`], re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;
