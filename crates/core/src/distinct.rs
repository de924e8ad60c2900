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

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};

use crate::aggregate::{bucket_index, ShapeMismatch};
use crate::condition::ExportCondition;
use crate::granularity::Granularity;
use crate::log::LogRecord;
use crate::partial::SketchLimits;
use crate::table::{Cell, Column};
use crate::time::format_rfc3339;

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
/// bounded in rows like [`ReportAggregate::bounded`](crate::aggregate::ReportAggregate::bounded)
/// and in memory as the module documentation says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctCounts {
    granularity: Granularity,
    range_start: i64,
    range_end: i64,
    group_by_domain: bool,
    bucket_starts: Vec<i64>,
    domains: Vec<String>,
    /// `cells[d][b]`: IPs of domain `d` in bucket `b`.
    cells: Vec<Vec<Distinct>>,
    exact_per_interval: u64,
    exact_per_task: u64,
    max_rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overflow: Option<u64>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// IPs held in exact sets over every cell.
    #[serde(skip)]
    exact_total: u64,
}

impl DistinctCounts {
    /// An empty result for `condition`, at most `max_rows` rows, exact within `limits`. When
    /// grouped, the exact hosts the condition names have their rows up front (0 without
    /// traffic).
    pub fn new(condition: &ExportCondition, limits: &SketchLimits, max_rows: u64) -> Self {
        let g = condition.granularity;
        let bucket_starts: Vec<i64> = g
            .bucket_starts(condition.range_start, condition.range_end)
            .collect();
        let mut counts = DistinctCounts {
            granularity: g,
            range_start: condition.range_start,
            range_end: condition.range_end,
            group_by_domain: condition.group_by_domain,
            bucket_starts,
            domains: Vec::new(),
            cells: Vec::new(),
            exact_per_interval: u64::from(limits.uv_exact_per_interval),
            exact_per_task: limits.uv_exact_per_task,
            max_rows,
            overflow: None,
            index: HashMap::new(),
            exact_total: 0,
        };
        if condition.group_by_domain {
            for host in condition.domains.exact_hosts() {
                counts.series_index(&host);
            }
        } else if counts.buckets() > max_rows {
            counts.overflow = Some(counts.buckets());
        } else {
            counts.domains.push(String::new());
            counts
                .cells
                .push(vec![Distinct::default(); counts.bucket_starts.len()]);
        }
        counts
    }

    fn buckets(&self) -> u64 {
        self.bucket_starts.len() as u64
    }

    fn series_index(&mut self, host: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(host) {
            return Some(i);
        }
        let rows = (self.domains.len() as u64 + 1).saturating_mul(self.buckets());
        if rows > self.max_rows {
            self.overflow = Some(self.overflow.map_or(rows, |o| o.max(rows)));
            return None;
        }
        let i = self.domains.len();
        self.domains.push(host.to_string());
        self.cells
            .push(vec![Distinct::default(); self.bucket_starts.len()]);
        self.index.insert(host.to_string(), i);
        Some(i)
    }

    /// `Some(rows)` once a series was refused for the row limit (the task must fail).
    pub fn overflowed(&self) -> Option<u64> {
        self.overflow
    }

    /// Counts one selected record's client IP.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        let Some(bucket) = bucket_index(
            self.granularity,
            self.range_start,
            self.range_end,
            &self.bucket_starts,
            record.timestamp_ms,
        ) else {
            return;
        };
        let Some(ip) = ip_number(record.client_ip) else {
            return;
        };
        let series = if self.group_by_domain {
            match self.series_index(&record.host) {
                Some(i) => i,
                None => return,
            }
        } else {
            0
        };
        let (per_interval, per_task) = (self.exact_per_interval, self.exact_per_task);
        let Some(cell) = self.cells.get_mut(series).and_then(|s| s.get_mut(bucket)) else {
            return;
        };
        match cell {
            Distinct::Exact(set) => {
                if set.insert(ip) {
                    self.exact_total += 1;
                    if set.len() as u64 > per_interval || self.exact_total > per_task {
                        self.exact_total -= set.len() as u64;
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
        if self.granularity != other.granularity
            || self.range_start != other.range_start
            || self.range_end != other.range_end
            || self.group_by_domain != other.group_by_domain
        {
            return Err(ShapeMismatch);
        }
        if let Some(theirs) = other.overflow {
            self.overflow = Some(self.overflow.map_or(theirs, |o| o.max(theirs)));
        }
        for (name, theirs) in other.domains.iter().zip(&other.cells) {
            let target = if self.group_by_domain {
                self.series_index(name)
            } else {
                Some(0)
            };
            let Some(t) = target else { continue };
            for (b, their_cell) in theirs.iter().enumerate() {
                self.merge_cell(t, b, their_cell);
            }
        }
        Ok(())
    }

    fn merge_cell(&mut self, series: usize, bucket: usize, theirs: &Distinct) {
        let (per_interval, per_task) = (self.exact_per_interval, self.exact_per_task);
        let Some(mine) = self.cells.get_mut(series).and_then(|s| s.get_mut(bucket)) else {
            return;
        };
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
        self.exact_total = self.exact_total - before + after;
        if after > per_interval || self.exact_total > per_task {
            self.exact_total -= after;
            mine.estimate();
        }
    }

    /// Rebuilds the lookup index and the exact total after deserializing.
    pub fn reindex(&mut self) {
        self.index = self
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i))
            .collect();
        self.exact_total = self.cells.iter().flatten().map(Distinct::exact_len).sum();
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

    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.domains.len()).collect();
        order.sort_by(|&a, &b| self.domains[a].cmp(&self.domains[b]));
        order
    }

    /// The rows, by time then domain, every interval present (0 where empty).
    pub fn rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        let offset = self.granularity.offset_secs();
        let order = self.order();
        self.bucket_starts
            .iter()
            .enumerate()
            .flat_map(move |(b, &start)| {
                let time = format_rfc3339(start, offset);
                order.clone().into_iter().map(move |d| {
                    let mut row = Vec::with_capacity(3);
                    row.push(Cell::Text(time.clone()));
                    if self.group_by_domain {
                        row.push(Cell::Text(self.domains[d].clone()));
                    }
                    row.push(Cell::Count(self.cells[d][b].count()));
                    row
                })
            })
    }

    /// The rows whose `uv` is an estimate, as `time` (and `domain` when grouped), in file
    /// order, and how many there are; empty when every count is exact.
    pub fn estimated_rows(&self) -> Vec<String> {
        let offset = self.granularity.offset_secs();
        let order = self.order();
        let mut out = Vec::new();
        for (b, &start) in self.bucket_starts.iter().enumerate() {
            for &d in &order {
                if matches!(self.cells[d][b], Distinct::Estimate(_)) {
                    let time = format_rfc3339(start, offset);
                    out.push(if self.group_by_domain {
                        format!("{time} {}", self.domains[d])
                    } else {
                        time
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
