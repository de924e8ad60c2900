//! Sorted runs: the record sink of a `logs` scan, which keeps the rows its query selects and
//! writes them out, sorted, whenever its buffer is full.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use statport_core::log::query::Query;
use statport_core::log::row::{pack, SortKey};
use statport_core::log::LogRecord;
use statport_core::log::RecordSink;
use statport_core::request::LogOrder;

use crate::temp_disk::{Reservation, TempDiskBudget};

/// How a run builder sorts and spills, shared by every scan of one export.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The rows selected, beyond the condition's common filters.
    pub query: Arc<Query>,
    /// The export's order, in which each run is sorted before it is written.
    pub order: LogOrder,
    /// The export's row count: a run keeps at most this many rows.
    pub count: u64,
    /// Bytes of packed rows (and their index) held before a run is written.
    pub buffer_bytes: usize,
    /// Where runs are written (the export run's own temp directory).
    pub dir: PathBuf,
    /// The worker's temp disk budget: each run is reserved in it before it is written.
    pub disk: TempDiskBudget,
}

/// One sorted run on disk: rows as `[u32 length][packed row]`, in the export's order.
#[derive(Debug)]
pub struct Run {
    /// The run's file, read back by the merge and removed with the run's directory.
    pub path: PathBuf,
    /// Rows in it: the merge reads exactly this many back, so it knows a run's end.
    pub rows: u64,
    /// Its bytes in the temp disk budget, given back when the merge has read and removed it
    /// (a run dropped unread leaves its file to the removal of the run's directory).
    pub disk: Reservation,
}

/// Where one packed row sits in the buffer, with its key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: SortKey,
    start: usize,
    end: usize,
}

/// Bytes of index per buffered row, counted against the buffer.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Bytes before each row in a run file: its length as a `u32`.
const RUN_ROW_HEADER: u64 = 4;

/// The record sink of one log file's scan in a `logs` export: rows the query selects are
/// packed into a buffer that is sorted and spilled as a [`Run`] when full, and once more by
/// [`finish`](Self::finish).
///
/// A record's sequence number is the file's index in the listing (high 32 bits) and the
/// record's place among the file's selected records (low 32 bits), so sorting is exact and the
/// same on every run.
#[derive(Debug)]
pub struct RunBuilder {
    settings: RunSettings,
    file_index: u64,
    next_in_file: u64,
    buffer: Vec<u8>,
    index: Vec<Entry>,
    runs: Vec<Run>,
    /// The first failure to write a run (a refused reservation among them: an
    /// [`Exhausted`](crate::temp_disk::Exhausted) inside); later records are dropped and
    /// `finish` reports it.
    failed: Option<io::Error>,
    /// Rows the query selected.
    selected: u64,
}

impl RunBuilder {
    /// A builder for the log file at `file_index` in the listing.
    pub fn new(settings: RunSettings, file_index: usize) -> Self {
        RunBuilder {
            settings,
            file_index: file_index as u64,
            next_in_file: 0,
            buffer: Vec::new(),
            index: Vec::new(),
            runs: Vec::new(),
            failed: None,
            selected: 0,
        }
    }

    /// Writes what is buffered as a last run; returns every run of this file.
    pub fn finish(mut self) -> io::Result<Vec<Run>> {
        self.spill();
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.runs),
        }
    }

    /// Rows the query selected so far (before any `count` cut).
    pub fn selected(&self) -> u64 {
        self.selected
    }

    fn spill(&mut self) {
        if self.index.is_empty() || self.failed.is_some() {
            return;
        }
        match self.order() {
            LogOrder::Asc => self.index.sort_unstable_by_key(|e| e.key),
            LogOrder::Desc => self
                .index
                .sort_unstable_by_key(|e| std::cmp::Reverse(e.key)),
        }
        let keep = usize::try_from(self.settings.count)
            .unwrap_or(usize::MAX)
            .min(self.index.len());
        let entries = &self.index[..keep];
        // The run's exact size, reserved before a byte of it is written.
        let size = entries.iter().fold(0u64, |sum, e| {
            sum.saturating_add(RUN_ROW_HEADER)
                .saturating_add(e.end.saturating_sub(e.start) as u64)
        });
        match self.settings.disk.reserve(size) {
            Ok(disk) => {
                let path =
                    self.settings
                        .dir
                        .join(format!("{}-{}.run", self.file_index, self.runs.len()));
                match write_run(&path, &self.buffer, entries) {
                    Ok(()) => self.runs.push(Run {
                        path,
                        rows: keep as u64,
                        disk,
                    }),
                    Err(e) => {
                        let _ = std::fs::remove_file(&path);
                        self.failed = Some(e);
                    }
                }
            }
            Err(refused) => self.failed = Some(refused.into()),
        }
        self.buffer.clear();
        self.index.clear();
    }

    fn order(&self) -> LogOrder {
        self.settings.order
    }
}

fn write_run(path: &Path, buffer: &[u8], entries: &[Entry]) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    for entry in entries {
        let row = &buffer[entry.start..entry.end];
        // A packed row comes from one log line, capped far below 4 GiB by the scan.
        let len = u32::try_from(row.len()).map_err(io::Error::other)?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(row)?;
    }
    out.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

impl RecordSink for RunBuilder {
    fn add(&mut self, record: &LogRecord<'_>) {
        if self.failed.is_some() || !self.settings.query.matches(record) {
            return;
        }
        self.selected += 1;
        if self.buffer.capacity() == 0 {
            // The whole buffer at once (untouched pages cost nothing until written): growing
            // by doubling would briefly hold the old and the new copy, half again the bound.
            self.buffer.reserve_exact(self.settings.buffer_bytes);
        }
        let seq = (self.file_index << 32) | (self.next_in_file & 0xFFFF_FFFF);
        self.next_in_file += 1;
        let start = self.buffer.len();
        pack(record, seq, &mut self.buffer);
        self.index.push(Entry {
            key: (record.timestamp_ms, seq),
            start,
            end: self.buffer.len(),
        });
        let held = self
            .buffer
            .len()
            .saturating_add(self.index.len().saturating_mul(ENTRY_BYTES));
        if held >= self.settings.buffer_bytes {
            self.spill();
        }
    }
}
