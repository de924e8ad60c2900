//! The mergeable statistics: what a scan turns selected records into. Every kind of export has
//! one partial result ([`partial::Partial`]) that merges in any order and grouping and survives a
//! serde round trip, so a task's files, sub-jobs and rollups combine into the same rows.
//!
//! # Layout
//! - [`partial`]: the [`partial::Partial`] of each kind of export, chosen from the condition,
//!   and the rows it finishes into.
//! - [`grid`]: series × intervals with a row cap, the shape of every per-interval result.
//! - [`aggregate`]: per-interval counters (`reports_detail`, `origin_detail`), bounded in rows
//!   when the series are only found while scanning.
//! - [`top`]: top lists (exact, then Space-Saving past a key budget).
//! - [`distinct`]: distinct client IPs per interval (exact, then HyperLogLog++ past a bound).
//! - [`isp`]: the per-interval, per-ISP counters of `isp_detail`, bounded in rows.
//! - [`sketch`]: [`sketch::SketchLimits`], the memory bounds past which top lists and distinct
//!   counts turn approximate.

pub mod aggregate;
pub mod distinct;
pub mod grid;
pub mod isp;
pub mod partial;
pub mod sketch;
pub mod top;
