//! The shape every per-interval partial result shares: named series (domains, ISPs) × the
//! intervals of the range, one cell each, bounded in rows.
//!
//! [`ReportAggregate`](crate::stats::aggregate::ReportAggregate) (counters),
//! [`DistinctCounts`](crate::stats::distinct::DistinctCounts) (sets of IPs) and
//! [`IspAggregate`](crate::stats::isp::IspAggregate) (counters per ISP) differ only in their cell; the
//! bucketing, the series index, the row cap and the row order live here once.

use hashbrown::HashMap;

use serde::{Deserialize, Serialize};

use crate::request::ExportCondition;
use crate::time::format_rfc3339;
use crate::time::granularity::Granularity;

/// Cells of type `C` per series and interval, at most `max_rows` of them (series × intervals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesGrid<C> {
    granularity: Granularity,
    range_start: i64,
    range_end: i64,
    /// Interval starts, `[range_start, range_end)`.
    bucket_starts: Vec<i64>,
    /// Series names, in order of first sight (`""` for the one unnamed series).
    names: Vec<String>,
    /// `cells[s][b]`: the cell of series `s` in interval `b`.
    cells: Vec<Vec<C>>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// Most rows (series × intervals) the grid may grow to; `u64::MAX` when unbounded.
    #[serde(default = "unbounded")]
    max_rows: u64,
    /// Set once a new series was refused: at least how many rows the input needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overflow: Option<u64>,
}

fn unbounded() -> u64 {
    u64::MAX
}

impl<C: Clone + Default> SeriesGrid<C> {
    /// An empty grid over `condition`'s range and granularity, with no series yet.
    pub fn new(condition: &ExportCondition, max_rows: u64) -> Self {
        SeriesGrid {
            granularity: condition.granularity,
            range_start: condition.range_start,
            range_end: condition.range_end,
            bucket_starts: condition
                .granularity
                .bucket_starts(condition.range_start, condition.range_end)
                .collect(),
            names: Vec::new(),
            cells: Vec::new(),
            index: HashMap::new(),
            max_rows,
            overflow: None,
        }
    }

    /// Number of intervals.
    pub fn buckets(&self) -> u64 {
        u64::try_from(self.bucket_starts.len()).unwrap_or(u64::MAX)
    }

    /// The series named `name`, created (all cells default) if new and the row cap allows;
    /// `None`, with the overflow recorded, when it does not.
    pub fn series(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        let series = u64::try_from(self.names.len() + 1).unwrap_or(u64::MAX);
        let rows = series.saturating_mul(self.buckets());
        if rows > self.max_rows {
            self.overflow = Some(self.overflow.map_or(rows, |o| o.max(rows)));
            return None;
        }
        let i = self.names.len();
        self.names.push(name.to_string());
        self.cells
            .push(vec![C::default(); self.bucket_starts.len()]);
        self.index.insert(name.to_string(), i);
        Some(i)
    }

    /// The index of the interval holding `ts`; `None` outside the range.
    pub fn bucket_of(&self, ts: i64) -> Option<usize> {
        if ts < self.range_start || ts >= self.range_end {
            return None;
        }
        match self.granularity.step_ms() {
            Some(step) => usize::try_from(ts.abs_diff(self.range_start) / step.unsigned_abs()).ok(),
            None => self
                .bucket_starts
                .partition_point(|&b| b <= ts)
                .checked_sub(1),
        }
        .filter(|&b| b < self.bucket_starts.len())
    }

    /// The cell of series `name` (created if the cap allows) in the interval of `ts`; `None`
    /// outside the range or past the cap.
    pub fn cell_mut(&mut self, name: &str, ts: i64) -> Option<&mut C> {
        let bucket = self.bucket_of(ts)?;
        let series = self.series(name)?;
        self.cells.get_mut(series)?.get_mut(bucket)
    }

    /// True when `other` covers the same intervals (so the two may merge).
    pub fn same_shape(&self, other: &SeriesGrid<C>) -> bool {
        self.granularity == other.granularity
            && self.range_start == other.range_start
            && self.range_end == other.range_end
    }

    /// Folds `other`'s cells into `self`'s, series by name, with `merge(mine, theirs)`; the cap
    /// of `self` applies to the series `other` brings, and an overflow in either stays recorded.
    /// The caller checks [`same_shape`](Self::same_shape) first.
    pub fn merge_with(&mut self, other: &SeriesGrid<C>, mut merge: impl FnMut(&mut C, &C)) {
        if let Some(theirs) = other.overflow {
            self.overflow = Some(self.overflow.map_or(theirs, |o| o.max(theirs)));
        }
        for (name, theirs) in other.names.iter().zip(&other.cells) {
            let Some(mine) = self.series(name).and_then(|i| self.cells.get_mut(i)) else {
                continue;
            };
            for (m, t) in mine.iter_mut().zip(theirs) {
                merge(m, t);
            }
        }
    }

    /// `Some(rows)` once a series was refused for the row cap (the result is incomplete).
    pub fn overflowed(&self) -> Option<u64> {
        self.overflow
    }

    /// Records that the input needs at least `rows` rows, more than the cap.
    pub fn record_overflow(&mut self, rows: u64) {
        self.overflow = Some(self.overflow.map_or(rows, |o| o.max(rows)));
    }

    /// The row cap (`u64::MAX` when unbounded).
    pub fn max_rows(&self) -> u64 {
        self.max_rows
    }

    /// Rebuilds the name index after deserializing.
    pub fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
    }

    /// Every cell, in no particular order.
    pub fn cells(&self) -> impl Iterator<Item = &C> {
        self.cells.iter().flatten()
    }

    /// Number of rows [`rows`](Self::rows) yields.
    pub fn row_count(&self) -> usize {
        self.bucket_starts.len() * self.names.len()
    }

    /// Every (interval start as RFC 3339 in the granularity's offset, series name, cell), by
    /// time then name.
    pub fn rows(&self) -> impl Iterator<Item = (String, &str, &C)> + '_ {
        let offset = self.granularity.offset_secs();
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        self.bucket_starts
            .iter()
            .enumerate()
            .flat_map(move |(b, &start)| {
                let time = format_rfc3339(start, offset);
                order
                    .clone()
                    .into_iter()
                    .map(move |s| (time.clone(), self.names[s].as_str(), &self.cells[s][b]))
            })
    }
}
