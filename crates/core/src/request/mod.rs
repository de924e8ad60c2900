//! The export request as a client sends it, and its validation into the [`ExportCondition`]
//! that everything after the API trusts.
//!
//! [`ExportRequest`] is the unchecked body (every field optional, JSON types checked one by one
//! so a wrong type names its field); [`ExportRequest::validate`] turns it into the condition.
//! [`ExportRequest::validate_with`] also enforces a tenant's [`RequestLimits`] (domains per
//! request, rows per export, what a `callback_url` may be).
//!
//! # Layout
//! - `action`: the value types ([`Action`], [`StatType`], [`SchemeFilter`], [`ExportFormat`],
//!   [`LogOrder`], [`LogsSpec`]).
//! - `domain`: the `domain_name` filter ([`DomainFilter`], [`DomainPattern`]).
//! - `limits`: every bound of a request, named once ([`RequestLimits`], [`MAX_TOP_N`],
//!   [`MAX_LOG_ROWS`], [`max_span_days`], …).
//! - `body`: [`ExportRequest`] and its reading from JSON.
//! - `validate`: one validator per field or group, run by [`ExportRequest::validate_with`].
//! - `condition`: [`ExportCondition`], its [`RowEstimate`] and the per-record selection.
//! - `select`: the geography step of selection ([`GeoSink`]), in front of a sink.

mod action;
mod body;
mod condition;
mod domain;
mod limits;
mod select;
mod validate;

pub use action::{Action, ExportFormat, LogOrder, LogsSpec, SchemeFilter, StatType};
pub use body::ExportRequest;
pub use condition::{ExportCondition, RowEstimate};
pub use domain::{DomainFilter, DomainPattern};
pub use limits::{
    max_span_days, RequestLimits, DEFAULT_TOP_N, END_TIME_MS, MAX_LOG_ROWS, MAX_LOG_SPAN_DAYS,
    MAX_TASK_NAME_CHARS, MAX_TOP_N, MIN_TIME_MS,
};
pub use select::{GeoSink, CACHE_ENTRIES};

#[cfg(test)]
mod tests;
