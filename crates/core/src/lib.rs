//! The statport domain: what an export task asks for and how log lines become statistics.
//!
//! Pure code only: no I/O, no async runtime. Everything here is a plain function over bytes
//! and structs, unit-tested without any server.
//!
//! # Layout
//! - [`time`]: civil-date arithmetic and RFC 3339 formatting over epoch milliseconds.
//! - [`granularity`]: statistics intervals (5 min, hour, day, month with a UTC offset) and bucketing;
//!   total over every `i64` (results that do not fit are `None`, never an overflow).
//! - [`condition`]: the export request as submitted, and its validation into an [`ExportCondition`]
//!   under a tenant's [`RequestLimits`] (times in 1970..2100, domains and rows per export capped).
//! - [`error`]: the error codes clients see.
//! - [`log`]: one parsed access-log line ([`LogRecord`]).
//! - [`logrow`]: the rows of the `logs` export: its columns, a selected record packed into bytes
//!   for the external sort, and read back into cells.
//! - [`format`]: the log formats, each with its file-name rule and line parser
//!   ([`format::cloudfront`]: CloudFront standard logs, driven by the `#Fields` header;
//!   [`format::huawei`]: Huawei CDN logs, one file per domain, hour and service area).
//! - [`geo`]: client geography from an IP database (MaxMind DB): the lookup seam, the
//!   `country` / `province` / `isp` / `service_area` filters applied in front of a sink, a small
//!   database writer for tests.
//! - [`isp`]: the per-interval, per-ISP counters of `isp_detail`, bounded in rows.
//! - [`callback`]: completion callbacks, the pure part: acceptable URLs, the address policy
//!   (no loopback, link-local or private destinations unless allowed), what validation needs
//!   ([`callback::CallbackSupport`]) and the `X-Statport-Signature` HMAC-SHA256 signature with
//!   its verification.
//! - [`clock`]: the current time behind a trait, so tests pass a fixed clock.
//! - [`grid`]: series × intervals with a row cap, the shape of every per-interval result.
//! - [`aggregate`]: mergeable partial aggregates and the rows they finish into, bounded in rows
//!   when the series are only found while scanning.
//! - [`top`]: top lists (exact, then Space-Saving past a key budget).
//! - [`distinct`]: distinct client IPs per interval (exact, then HyperLogLog++ past a bound).
//! - [`partial`]: the aggregation seam: the [`partial::RecordSink`] a scan feeds and the
//!   [`partial::Partial`] result of each kind of export, chosen from the condition.
//! - [`query`]: the Lucene-style query language of the `logs` export, parsed once into a
//!   matcher over [`LogRecord`]s.
//! - [`table`]: the column / cell model shared by every output writer.
//! - [`task`]: the stored task record, its states and the job that carries it through the queue.
//! - [`schedule`]: recurring exports: the stored schedule, its relative window, the record of
//!   each fire time; cron in a time zone (DST-safe fire times), window ranges, the catch-up
//!   policy and the schedule request.
//! - [`server_group`]: Wangsu `serverGroups`: the configured group → edge-code prefixes map, the
//!   [`server_group::EdgeFilter`] a request resolves to and the sink that applies it.
//! - [`volume`]: the synchronous origin-volume report (Wangsu `volOrigin`): its query and body
//!   validated into an `origin_detail` condition plus an edge filter, its failures, megabytes.
//! - [`tenant`]: a tenant's limits ([`tenant::TenantLimits`]) and the [`tenant::Rate`] type the
//!   rate limiters take.

pub mod aggregate;
pub mod callback;
pub mod clock;
pub mod condition;
pub mod distinct;
pub mod error;
pub mod format;
pub mod geo;
pub mod granularity;
pub mod grid;
pub mod isp;
pub mod log;
pub mod logrow;
pub mod partial;
pub mod query;
pub mod schedule;
pub mod server_group;
pub mod table;
pub mod task;
pub mod tenant;
pub mod time;
pub mod top;
pub mod volume;

pub use condition::{ExportCondition, ExportRequest, RequestLimits};
pub use error::{ApiError, ErrorCode};
pub use log::LogRecord;
