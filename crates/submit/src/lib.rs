//! Task submission as a service: the one way a task comes to exist, whoever asks for it (the
//! HTTP API, the scheduler, and whatever front end comes next). A [`Submitter`] validates a
//! request body under the tenant's limits, admits the task into the task store (the unfinished
//! and kept limits, the same condition taking an existing task's place) and queues its job,
//! undoing the admission when the queue is away, so no accepted task is lost and none is left
//! unqueued.
//!
//! # Layout
//! - [`submitter`]: [`Submitter`], [`Submitted`] (a new task, or the one an equal condition
//!   already had) and [`Deployment`] (what this deployment supports: an IP database, the
//!   callback address policy); its tests in `submitter/tests.rs`.
//! - [`counts`]: [`SubmitCounts`], the counters of accepted and refused submissions the API
//!   exports on `/metrics`, and the [`Counter`] they are made of.

pub mod counts;
pub mod submitter;

pub use counts::{Counter, SubmitCounts};
pub use submitter::{Deployment, Submitted, Submitter};
