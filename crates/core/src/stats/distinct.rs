//! Distinct client IPs per interval (`uv`), per domain when grouped.
//!
//! Each cell (interval × domain) counts exactly, in a set of IPs, until it holds more than
//! [`SketchLimits::uv_exact_per_interval`] IPs, or until the task's exact sets together hold
//! more than [`SketchLimits::uv_exact_per_task`]; the cell that crosses either bound becomes a
//! HyperLogLog++ sketch (`cardinality-estimator`, precision 14: 16,384 six-bit registers, about
//! 12 KiB; standard error 1.04 / √16384 ≈ 0.81 %). Memory per task is therefore bounded by the
//! task budget of exact IPs plus one sketch per estimated cell. The sketch hashes with a fixed
//! seed, so parts built by different workers merge.
//!
//! IPv4 and IPv6 addresses are counted as the same address space (IPv4 as IPv4-mapped IPv6); a
//! client IP that parses as neither is not counted.

use std::collections::HashSet;
use std::net::IpAddr;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};

use crate::log::LogRecord;
use crate::request::ExportCondition;
use crate::stats::aggregate::ShapeMismatch;
use crate::stats::grid::SeriesGrid;
use crate::stats::sketch::SketchLimits;
use crate::table::{Cell, Column};

/// The sketch a cell becomes past its exact bound.
type Sketch = CardinalityEstimator<u128, wyhash::WyHash, 14, 6>;

/// The standard error of an estimated cell, as the docs and the task view state it.
pub const UV_STANDARD_ERROR: &str = "0.81%";

/// One cell's distinct IPs.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Distinct {
    Exact(HashSet<u128>),
    Estimate(Box<Sketch>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(HashSet::new())
    }
}

impl PartialEq for Distinct {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Distinct::Exact(a), Distinct::Exact(b)) => a == b,
            (Distinct::Estimate(a), Distinct::Estimate(b)) => a.estimate() == b.estimate(),
            _ => false,
        }
    }
}

impl Eq for Distinct {}

impl Distinct {
    fn count(&self) -> u64 {
        match self {
            Distinct::Exact(set) => set.len() as u64,
            Distinct::Estimate(sketch) => sketch.estimate() as u64,
        }
    }

    fn exact_len(&self) -> u64 {
        match self {
            Distinct::Exact(set) => set.len() as u64,
            Distinct::Estimate(_) => 0,
        }
    }

    /// Turns an exact set into a sketch of the same IPs.
    fn estimate(&mut self) {
        if let Distinct::Exact(set) = self {
            let mut sketch = Box::new(Sketch::new());
            for ip in set.iter() {
                sketch.insert(ip);
            }
            *self = Distinct::Estimate(sketch);
        }
    }
}

/// The IP as a number in the IPv6 space (IPv4 mapped); `None` when it is neither.
pub fn ip_number(ip: &str) -> Option<u128> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(u128::from(v4.to_ipv6_mapped())),
        IpAddr::V6(v6) => Some(u128::from(v6)),
    }
}

/// The partial result of `uv`: distinct client IPs per interval, per domain when grouped,
/// bounded in rows like [`ReportAggregate::bounded`](crate::stats::aggregate::ReportAggregate::bounded)
/// and in memory as the module documentation says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctCounts {
    group_by_domain: bool,
    /// IPs per series (domains; one unnamed series when not grouped) and interval.
    grid: SeriesGrid<Distinct>,
    exact_per_interval: u64,
    exact_per_task: u64,
    /// IPs held in exact sets over every cell.
    #[serde(skip)]
    exact_total: u64,
}

impl DistinctCounts {
    /// An empty result for `condition`, at most `max_rows` rows, exact within `limits`. When
    /// grouped, the exact hosts the condition names have their rows up front (0 without
    /// traffic).
    pub fn new(condition: &ExportCondition, limits: &SketchLimits, max_rows: u64) -> Self {
        let mut counts = DistinctCounts {
            group_by_domain: condition.group_by_domain,
            grid: SeriesGrid::new(condition, max_rows),
            exact_per_interval: u64::from(limits.uv_exact_per_interval),
            exact_per_task: limits.uv_exact_per_task,
            exact_total: 0,
        };
        if condition.group_by_domain {
            for host in condition.domains.exact_hosts() {
                counts.grid.series(&host);
            }
        } else {
            counts.grid.series("");
        }
        counts
    }

    /// `Some(rows)` once a series was refused for the row limit (the task must fail).
    pub fn overflowed(&self) -> Option<u64> {
        self.grid.overflowed()
    }

    /// Counts one selected record's client IP.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        let Some(ip) = ip_number(record.client_ip) else {
            return;
        };
        let series = if self.group_by_domain {
            &record.host
        } else {
            ""
        };
        let Some(cell) = self.grid.cell_mut(series, record.timestamp_ms) else {
            return;
        };
        match cell {
            Distinct::Exact(set) => {
                if set.insert(ip) {
                    self.exact_total += 1;
                    let len = set.len() as u64;
                    if len > self.exact_per_interval || self.exact_total > self.exact_per_task {
                        self.exact_total -= len;
                        cell.estimate();
                    }
                }
            }
            Distinct::Estimate(sketch) => sketch.insert(&ip),
        }
    }

    /// Adds `other` (over a disjoint input, or the same IPs seen elsewhere) into `self`: each
    /// cell holds the union of both.
    pub fn merge(&mut self, other: &DistinctCounts) -> Result<(), ShapeMismatch> {
        if !self.grid.same_shape(&other.grid) || self.group_by_domain != other.group_by_domain {
            return Err(ShapeMismatch);
        }
        let (per_interval, per_task) = (self.exact_per_interval, self.exact_per_task);
        let mut exact_total = self.exact_total;
        self.grid.merge_with(&other.grid, |mine, theirs| {
            let before = mine.exact_len();
            match (&mut *mine, theirs) {
                (Distinct::Exact(set), Distinct::Exact(their_set)) => {
                    set.extend(their_set.iter().copied());
                }
                (Distinct::Estimate(sketch), Distinct::Exact(their_set)) => {
                    for ip in their_set {
                        sketch.insert(ip);
                    }
                }
                (mine, Distinct::Estimate(their_sketch)) => {
                    mine.estimate();
                    if let Distinct::Estimate(sketch) = mine {
                        sketch.merge(their_sketch);
                    }
                }
            }
            let after = mine.exact_len();
            exact_total = exact_total - before + after;
            if after > per_interval || exact_total > per_task {
                exact_total -= after;
                mine.estimate();
            }
        });
        self.exact_total = exact_total;
        Ok(())
    }

    /// Rebuilds the lookup index and the exact total after deserializing.
    pub fn reindex(&mut self) {
        self.grid.reindex();
        self.exact_total = self.grid.cells().map(Distinct::exact_len).sum();
    }

    /// The columns: `time`, `domain` when grouped, `uv`.
    pub fn columns(condition: &ExportCondition) -> Vec<Column> {
        let mut cols = vec![Column::Time];
        if condition.group_by_domain {
            cols.push(Column::Domain);
        }
        cols.push(Column::Uv);
        cols
    }

    /// The rows, by time then domain, every interval present (0 where empty).
    pub fn rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        self.grid.rows().map(|(time, domain, cell)| {
            let mut row = Vec::with_capacity(3);
            row.push(Cell::Text(time));
            if self.group_by_domain {
                row.push(Cell::Text(domain.to_string()));
            }
            row.push(Cell::Count(cell.count()));
            row
        })
    }

    /// The rows whose `uv` is an estimate, as `time` (and `domain` when grouped), in file
    /// order; empty when every count is exact.
    pub fn estimated_rows(&self) -> Vec<String> {
        self.grid
            .rows()
            .filter(|(_, _, cell)| matches!(cell, Distinct::Estimate(_)))
            .map(|(time, domain, _)| {
                if self.group_by_domain {
                    format!("{time} {domain}")
                } else {
                    time
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
