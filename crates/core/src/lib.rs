//! The statport domain: what an export task asks for and how log lines become statistics.
//!
//! Pure code only: no I/O, no async runtime. Everything here is a plain function over bytes
//! and structs, unit-tested without any server.
//!
//! # Layout
//! Grouped by the domain each part holds; the arrows of the import graph point one way, from
//! the top of this list down to its leaves (`error`, `table`, `time`), with no circle.
//! - [`result_file`]: the key of a task's result file under the results prefix, read back
//!   ([`result_file::ResultKey`]), and whether a record still wants an object there
//!   ([`result_file::wants_file`]): the invariant the orphan sweep enforces.
//! - [`task`]: the stored task record, its states and the job that carries it through the queue.
//! - [`tenant`]: a tenant (keys, log source, limits, callback secret), the
//!   [`tenant::TenantDirectory`] every part looks tenants up in, its limits
//!   ([`tenant::TenantLimits`]), the [`tenant::Rate`] type the rate limiters take, and which
//!   ids may name a tenant ([`tenant::is_valid_tenant_id`]).
//! - [`schedule`]: recurring exports: the stored schedule, its relative window, the record of
//!   each fire time; cron in a time zone (DST-safe fire times), window ranges, the catch-up
//!   policy and the schedule request.
//! - [`origin_volume`]: the synchronous origin-volume report (Wangsu `volOrigin`): its query and
//!   body validated into an `origin_detail` condition plus an edge filter from the configured
//!   server groups, its failures, megabytes, and the [`origin_volume::OriginVolumeEngine`] port
//!   the API calls and the worker implements.
//! - [`stats`]: the mergeable statistics a scan feeds ([`stats::partial::Partial`], one kind per
//!   export: counters, top lists, distinct counts, per-ISP counters) and their bounds.
//! - [`request`]: the export request as submitted, and its validation into an
//!   [`ExportCondition`] under a tenant's [`RequestLimits`], with every request limit named once.
//! - [`log`]: one parsed access-log line ([`LogRecord`]) and what reads it: the log formats, client
//!   geography, the `logs` query language and that export's rows.
//! - [`callback`]: completion callbacks, the pure part: acceptable URLs, the address policy
//!   (no loopback, link-local or private destinations unless allowed), what validation needs
//!   ([`callback::CallbackSupport`]) and the `X-Statport-Signature` HMAC-SHA256 signature with
//!   its verification.
//! - [`outbox`]: the completion callback of a task's end as the record keeps it (pending,
//!   leased, delivered, failed), and the pure rules of claiming and recording its attempts.
//! - [`table`]: the column / cell model shared by every output writer.
//! - [`time`]: civil-date arithmetic and RFC 3339 over epoch milliseconds, the statistics
//!   granularities, and the clock behind a trait.
//! - [`error`]: the error codes clients see, and the one error type that carries them.

pub mod callback;
pub mod error;
pub mod log;
pub mod origin_volume;
pub mod outbox;
pub mod request;
pub mod result_file;
pub mod schedule;
pub mod stats;
pub mod table;
pub mod task;
pub mod tenant;
pub mod time;

pub use error::{ApiError, ErrorCode};
pub use log::LogRecord;
pub use request::{ExportCondition, ExportRequest, RequestLimits};
