//! The bound on a worker process's temp disk (`worker.temp_disk_bytes`): one byte budget that
//! every file a run writes in the temp dir draws from (sorted runs, merge passes, result files
//! waiting for their upload), shared by all the runs of the process.
//!
//! A run reserves bytes before it writes them ([`TempDiskBudget::reserve`], or a
//! [`BudgetedWriter`] under a file's buffer) and holds the [`Reservation`] while the file
//! exists; dropping the reservation gives the bytes back. A reservation the budget cannot take
//! fails at once with [`Exhausted`] (carried through the writers inside an `io::Error`) and the
//! run fails with `StatPort.TempDiskFull`. Nothing waits for room: runs that each hold part of
//! the budget can never wait on each other, and a task never sits on a worker slot for disk.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The temp disk budget of one worker process: cheap to clone, every clone the same budget.
#[derive(Debug, Clone)]
pub struct TempDiskBudget(Arc<Budget>);

#[derive(Debug)]
struct Budget {
    limit: u64,
    used: AtomicU64,
}

/// A reservation refused: the bytes asked for do not fit under the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the temp disk bound of {limit} bytes is reached: {in_use} bytes in use, {requested} more asked for")]
pub struct Exhausted {
    /// Bytes asked for.
    pub requested: u64,
    /// Bytes the process's runs held when it was refused.
    pub in_use: u64,
    /// The bound (`worker.temp_disk_bytes`).
    pub limit: u64,
}

impl Exhausted {
    /// The refusal inside `err`, when `err` is one (a write through a [`BudgetedWriter`]).
    pub fn find_in(err: &io::Error) -> Option<&Exhausted> {
        err.get_ref()?.downcast_ref::<Exhausted>()
    }
}

impl From<Exhausted> for io::Error {
    /// A refusal as the write error it is to the writers (`StorageFull`).
    fn from(e: Exhausted) -> io::Error {
        io::Error::new(io::ErrorKind::StorageFull, e)
    }
}

impl TempDiskBudget {
    /// A budget of `limit` bytes, nothing reserved.
    pub fn new(limit: u64) -> TempDiskBudget {
        TempDiskBudget(Arc::new(Budget {
            limit,
            used: AtomicU64::new(0),
        }))
    }

    /// The bound, in bytes.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Bytes reserved now, by every run of the process.
    pub fn in_use(&self) -> u64 {
        self.0.used.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, all or nothing.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation, Exhausted> {
        let mut reservation = self.empty();
        reservation.grow(bytes)?;
        Ok(reservation)
    }

    /// A reservation of nothing yet, for a file that grows as it is written.
    pub fn empty(&self) -> Reservation {
        Reservation {
            budget: Arc::clone(&self.0),
            bytes: 0,
            refused: None,
        }
    }
}

impl Budget {
    /// Takes `bytes` if they fit (no sum past the bound, no overflow).
    fn take(&self, bytes: u64) -> Result<(), Exhausted> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .map(|_| ())
            .map_err(|in_use| Exhausted {
                requested: bytes,
                in_use,
                limit: self.limit,
            })
    }

    /// Gives `bytes` back.
    fn give(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// Bytes of the temp disk held for files that exist (or are being written); given back when
/// dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
    /// The last refusal, kept for the writers whose own errors hide it.
    refused: Option<Exhausted>,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The last time this reservation could not grow, if it ever failed to: how a caller tells
    /// a refusal from another failure when a library between (csv, json, xlsx) reports the
    /// write's error in its own terms.
    pub fn refused(&self) -> Option<&Exhausted> {
        self.refused.as_ref()
    }

    /// Holds `more` bytes besides, all or nothing.
    pub fn grow(&mut self, more: u64) -> Result<(), Exhausted> {
        if let Err(refused) = self.budget.take(more) {
            self.refused = Some(refused.clone());
            return Err(refused);
        }
        // Within the budget's own sum, which did not overflow.
        self.bytes = self.bytes.saturating_add(more);
        Ok(())
    }

    /// Holds exactly `bytes`: grows (which can be refused) or gives the rest back.
    pub fn resize_to(&mut self, bytes: u64) -> Result<(), Exhausted> {
        match bytes.checked_sub(self.bytes) {
            Some(more) => self.grow(more),
            None => {
                self.budget.give(self.bytes.saturating_sub(bytes));
                self.bytes = bytes;
                Ok(())
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// A file (or any byte sink) whose bytes are reserved in `disk` before they are written; a
/// write the budget refuses fails with [`Exhausted`] inside the `io::Error` and writes nothing.
/// Put it under the file's buffer, so a reservation is one per buffer flushed.
#[derive(Debug)]
pub struct BudgetedWriter<'r, W> {
    inner: W,
    disk: &'r mut Reservation,
}

impl<'r, W: Write> BudgetedWriter<'r, W> {
    /// `inner`, its bytes counted in `disk` (which outlives the writer while the file exists).
    pub fn new(inner: W, disk: &'r mut Reservation) -> Self {
        BudgetedWriter { inner, disk }
    }
}

impl<W: Write> Write for BudgetedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = u64::try_from(buf.len()).map_err(io::Error::other)?;
        self.disk.grow(n)?;
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_released_when_dropped() {
        let budget = TempDiskBudget::new(100);
        let a = budget.reserve(60).expect("fits");
        assert_eq!(budget.in_use(), 60);
        let refused = budget.reserve(41).expect_err("over the bound");
        assert_eq!(
            refused,
            Exhausted {
                requested: 41,
                in_use: 60,
                limit: 100
            }
        );
        assert_eq!(budget.in_use(), 60, "a refusal takes nothing");
        let b = budget.reserve(40).expect("exactly the rest");
        assert_eq!(budget.in_use(), 100);
        drop(a);
        assert_eq!(budget.in_use(), 40);
        drop(b);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.limit(), 100);
    }

    #[test]
    fn a_reservation_grows_and_shrinks() {
        let budget = TempDiskBudget::new(100);
        let mut r = budget.empty();
        r.grow(30).expect("fits");
        r.grow(70).expect("fits");
        assert!(r.refused().is_none());
        assert!(r.grow(1).is_err());
        assert_eq!(
            r.refused().map(|e| e.requested),
            Some(1),
            "the refusal is kept"
        );
        assert_eq!((r.bytes(), budget.in_use()), (100, 100));
        r.resize_to(10).expect("a shrink");
        assert_eq!((r.bytes(), budget.in_use()), (10, 10));
        r.resize_to(95).expect("grows again");
        assert!(r.resize_to(101).is_err());
        assert_eq!((r.bytes(), budget.in_use()), (95, 95));
        drop(r);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn huge_requests_are_refused_not_wrapped() {
        let budget = TempDiskBudget::new(u64::MAX);
        let _held = budget.reserve(u64::MAX - 1).expect("fits");
        let err = budget.reserve(u64::MAX).expect_err("would overflow");
        assert_eq!(err.in_use, u64::MAX - 1);
        let small = TempDiskBudget::new(10);
        assert!(small.reserve(u64::MAX).is_err());
        assert_eq!(small.in_use(), 0);
    }

    #[test]
    fn clones_share_one_budget_across_threads() {
        let budget = TempDiskBudget::new(1_000);
        let granted: u64 = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let budget = budget.clone();
                    s.spawn(move || {
                        let mut held = Vec::new();
                        for _ in 0..100 {
                            if let Ok(r) = budget.reserve(3) {
                                held.push(r);
                            }
                        }
                        held
                    })
                })
                .collect();
            let held: Vec<Vec<Reservation>> = threads
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect();
            let granted = held.iter().flatten().map(Reservation::bytes).sum();
            assert_eq!(budget.in_use(), granted);
            granted
        });
        // 2,400 bytes asked for, 999 granted (333 reservations of 3): never past the bound.
        assert_eq!(granted, 999);
        assert_eq!(budget.in_use(), 0, "all given back");
    }

    #[test]
    fn a_budgeted_writer_refuses_the_write_past_the_bound() {
        let budget = TempDiskBudget::new(10);
        let mut disk = budget.empty();
        let mut out = Vec::new();
        {
            let mut w = BudgetedWriter::new(&mut out, &mut disk);
            w.write_all(b"12345678").expect("fits");
            let err = w.write_all(b"abc").expect_err("past the bound");
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            assert_eq!(Exhausted::find_in(&err).map(|e| e.requested), Some(3));
        }
        assert_eq!(out, b"12345678", "nothing of the refused write");
        assert_eq!(
            disk.bytes(),
            8,
            "held after the writer, while the file exists"
        );
        drop(disk);
        assert_eq!(budget.in_use(), 0);
    }
}
