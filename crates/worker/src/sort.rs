//! The external sort of the `logs` export: selected log rows, in any number, ordered by time in
//! bounded memory.
//!
//! Rows arrive from many log files at once, and a file may hold rows of any time in its range
//! (late lines land in later files), so no file order gives the time order. Each scan packs the
//! rows it selects ([`statport_core::log::row::pack`]) into a buffer of a fixed size; a full
//! buffer is sorted and written to the run's temp directory as a sorted *run*, cut to the
//! export's `count` rows (the first `count` rows of the result are among the first `count` of
//! every run). At the end the runs are merged, at most `fan_in` at a time (more runs are first
//! merged into fewer, longer runs), and the merged stream is cut at `count` rows.
//!
//! Memory is the scans' buffers (`parallelism` × `buffer_bytes`) plus one read buffer per run
//! being merged; disk is at most the packed size of the selected rows (each run cut to `count`),
//! plus a merge pass's output while its inputs still exist. Every run and pass is reserved in the
//! worker's temp disk budget ([`crate::temp_disk`]) before it is written and given back when its
//! file is removed; a refusal is an error carrying
//! [`Exhausted`](crate::temp_disk::Exhausted).
//! The order is exact: by time, then by the row's sequence number (its file's place in the
//! listing, then its place in the file), so rows of the same millisecond keep a stable order
//! and `desc` is exactly `asc` reversed.
//!
//! # Layout
//! - `runs`: [`RunBuilder`], the record sink a scan fills: query, pack, sort, spill.
//! - `merge`: [`Merger`], the k-way merge of runs into the export's rows.

mod merge;
mod runs;

/// The name prefix of a `logs` run's own directory in the worker's temp dir
/// (`statport-logs-<task>-<run>`); the janitor removes those a dead process left behind.
pub const SORT_DIR_PREFIX: &str = "statport-logs-";

pub use self::merge::Merger;
pub use self::runs::{Run, RunBuilder, RunSettings};

#[cfg(test)]
mod tests;

/// The knobs of the `logs` export's sort (`[worker.logs]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSortSettings {
    /// Bytes of rows each scan holds before it writes a sorted run (so a `logs` export holds
    /// about `scan_parallelism` × this in memory).
    pub sort_buffer_bytes: usize,
    /// Runs merged at once (open files and 64 KiB read buffers); more are merged in passes.
    pub merge_fan_in: usize,
}

impl Default for LogSortSettings {
    fn default() -> Self {
        LogSortSettings {
            sort_buffer_bytes: 32 * 1024 * 1024,
            merge_fan_in: 64,
        }
    }
}
