//! The k-way merge of sorted runs into the rows of a `logs` export.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use statport_core::log::row::sort_key;
use statport_core::request::LogOrder;

use super::Run;
use crate::temp_disk::{BudgetedWriter, Reservation, TempDiskBudget};

/// Read buffer per run being merged.
const READ_BUFFER: usize = 64 * 1024;

/// The longest packed row accepted when reading a run back (a log line is capped far below).
const MAX_ROW_BYTES: usize = 16 * 1024 * 1024;

/// Merges sorted runs into one stream of packed rows, in the export's order, cut at `count`.
///
/// More than `fan_in` runs are first merged `fan_in` at a time into longer runs (each also cut
/// at `count`) in the same directory, so open files and read buffers stay bounded; their bytes
/// are reserved in the temp disk budget as they are written. Run files are removed (and their
/// reservations given back) as soon as they are read.
#[derive(Debug)]
pub struct Merger {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<(Rank, usize)>>,
    order: LogOrder,
    left: u64,
    /// The row last returned (moved out of its reader).
    current: Vec<u8>,
}

/// A sort key mapped so that the smallest rank comes first in either order.
type Rank = (i128, i128);

fn rank(order: LogOrder, row: &[u8]) -> io::Result<Rank> {
    let (time, seq) = sort_key(row).ok_or_else(|| torn("a row shorter than its key"))?;
    Ok(match order {
        LogOrder::Asc => (i128::from(time), i128::from(seq)),
        LogOrder::Desc => (-i128::from(time), -i128::from(seq)),
    })
}

fn torn(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a sort run is damaged: {what}"),
    )
}

impl Merger {
    /// Opens `runs` for merging, first merging them down to at most `fan_in` (at least 2) in
    /// `dir`, the longer runs' bytes reserved in `disk` (a refusal is an
    /// [`Exhausted`](crate::temp_disk::Exhausted) inside the error).
    pub fn new(
        mut runs: Vec<Run>,
        order: LogOrder,
        count: u64,
        fan_in: usize,
        dir: &Path,
        disk: &TempDiskBudget,
    ) -> io::Result<Merger> {
        let fan_in = fan_in.max(2);
        let mut pass = 0usize;
        while runs.len() > fan_in {
            let mut longer = Vec::with_capacity(runs.len().div_ceil(fan_in));
            let mut group = 0usize;
            let mut rest = runs.into_iter().peekable();
            while rest.peek().is_some() {
                let chunk: Vec<Run> = rest.by_ref().take(fan_in).collect();
                let path = dir.join(format!("merge-{pass}-{group}.run"));
                group += 1;
                match Merger::merge_into(chunk, order, count, &path, disk) {
                    Ok(run) => longer.push(run),
                    Err(e) => {
                        // Nothing of the merge is of use any more: every run file it holds goes.
                        longer.into_iter().chain(rest).for_each(discard);
                        return Err(e);
                    }
                }
            }
            runs = longer;
            pass += 1;
        }
        Merger::open(runs, order, count)
    }

    /// Merges `runs` into one longer run at `path`, its bytes reserved in `disk`; on an error
    /// the file is removed.
    fn merge_into(
        runs: Vec<Run>,
        order: LogOrder,
        count: u64,
        path: &Path,
        disk: &TempDiskBudget,
    ) -> io::Result<Run> {
        let mut held = disk.empty();
        let written = Merger::open(runs, order, count)
            .and_then(|mut merger| merger.write_to(path, &mut held));
        match written {
            Ok(rows) => Ok(Run {
                path: path.to_path_buf(),
                rows,
                disk: held,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    fn open(runs: Vec<Run>, order: LogOrder, count: u64) -> io::Result<Merger> {
        let mut merger = Merger {
            readers: Vec::with_capacity(runs.len()),
            heap: BinaryHeap::with_capacity(runs.len()),
            order,
            left: count,
            current: Vec::new(),
        };
        for run in runs {
            let mut reader = RunReader::open(run)?;
            if reader.advance()? {
                let r = rank(order, &reader.row)?;
                merger.heap.push(Reverse((r, merger.readers.len())));
            }
            merger.readers.push(reader);
        }
        Ok(merger)
    }

    /// The next packed row in order; `None` after `count` rows or when every run is read.
    pub fn next_row(&mut self) -> io::Result<Option<&[u8]>> {
        if self.left == 0 {
            return Ok(None);
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let reader = &mut self.readers[i];
        std::mem::swap(&mut self.current, &mut reader.row);
        if reader.advance()? {
            let r = rank(self.order, &reader.row)?;
            self.heap.push(Reverse((r, i)));
        }
        self.left -= 1;
        Ok(Some(&self.current))
    }

    /// Writes every remaining row to a new run file at `path`, its bytes reserved in `disk`;
    /// returns the rows written.
    fn write_to(&mut self, path: &Path, disk: &mut Reservation) -> io::Result<u64> {
        let file = BudgetedWriter::new(File::create(path)?, disk);
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let mut rows = 0u64;
        while let Some(row) = self.next_row()? {
            let len = u32::try_from(row.len()).map_err(io::Error::other)?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(row)?;
            rows += 1;
        }
        out.into_inner().map_err(|e| e.into_error())?;
        Ok(rows)
    }
}

/// Removes the file of a run that will not be read, then gives its bytes back.
fn discard(run: Run) {
    let _ = std::fs::remove_file(&run.path);
}

/// One run being read back; its file is removed when it is dropped, then its reservation
/// given back.
#[derive(Debug)]
struct RunReader {
    path: PathBuf,
    input: BufReader<File>,
    left: u64,
    row: Vec<u8>,
    _disk: Reservation,
}

impl RunReader {
    fn open(run: Run) -> io::Result<RunReader> {
        let input = BufReader::with_capacity(READ_BUFFER, File::open(&run.path)?);
        Ok(RunReader {
            path: run.path,
            input,
            left: run.rows,
            row: Vec::new(),
            _disk: run.disk,
        })
    }

    /// Reads the next row into `row`; false at the run's end.
    fn advance(&mut self) -> io::Result<bool> {
        if self.left == 0 {
            return Ok(false);
        }
        let mut len = [0u8; 4];
        self.input
            .read_exact(&mut len)
            .map_err(|_| torn("it ends early"))?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_ROW_BYTES {
            return Err(torn("a row longer than any log line"));
        }
        self.row.clear();
        self.row.resize(len, 0);
        self.input
            .read_exact(&mut self.row)
            .map_err(|_| torn("it ends inside a row"))?;
        self.left -= 1;
        Ok(true)
    }
}

impl Drop for RunReader {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
