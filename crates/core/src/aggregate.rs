//! Mergeable partial aggregates of log records, and the rows they finish into.
//!
//! A worker (or one slice of a task, later) feeds the records it selected into a
//! [`ReportAggregate`]; aggregates over disjoint inputs [`merge`](ReportAggregate::merge) into
//! the aggregate of the union, so a task can be split across workers and combined in any order.
//!
//! Grouped by domain over `all` or a wildcard, the number of series is only known while scanning;
//! [`ReportAggregate::bounded`] caps series × buckets so a log with many hosts cannot exhaust a
//! worker's memory, and [`ReportAggregate::overflowed`] tells the job to fail the task.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::condition::{Action, ExportCondition, StatType};
use crate::granularity::Granularity;
use crate::log::LogRecord;
use crate::table::{Cell, Column};
use crate::time::format_rfc3339;

/// What is counted in one interval for one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Bytes sent to viewers.
    pub flux: u64,
    /// Requests.
    pub req_num: u64,
    /// Bytes of requests the edge fetched from the origin.
    pub origin_flux: u64,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.flux += other.flux;
        self.req_num += other.req_num;
        self.origin_flux += other.origin_flux;
    }
}

/// Why two aggregates cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot merge aggregates of different shapes (range, granularity or grouping differ)")]
pub struct ShapeMismatch;

/// Per-interval counters, per domain when grouped: the partial result of `reports_detail` and
/// `origin_detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAggregate {
    granularity: Granularity,
    range_start: i64,
    range_end: i64,
    group_by_domain: bool,
    /// Bucket starts, `[range_start, range_end)`.
    bucket_starts: Vec<i64>,
    /// Series names (domains); one unnamed series when not grouped.
    domains: Vec<String>,
    /// `series[d][b]`: counters of domain `d` in bucket `b`.
    series: Vec<Vec<Counters>>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// Most rows (series × buckets) the aggregate may grow to; `u64::MAX` when unbounded.
    #[serde(default = "unbounded")]
    max_rows: u64,
    /// Set once a new series was refused: at least how many rows the input needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overflow: Option<u64>,
}

fn unbounded() -> u64 {
    u64::MAX
}

impl ReportAggregate {
    /// An empty, unbounded aggregate for `condition`. When grouped by domain, the exact hosts
    /// the condition names get a series up front, so they appear (with zeros) even without
    /// traffic.
    pub fn new(condition: &ExportCondition) -> Self {
        Self::bounded(condition, u64::MAX)
    }

    /// An empty aggregate for `condition` that never holds more than `max_rows` rows (series ×
    /// buckets; use the tenant's [`RequestLimits::max_rows`](crate::RequestLimits)).
    ///
    /// A record whose domain would need a new series past the cap is dropped and the aggregate
    /// records that it [`overflowed`](Self::overflowed): its result is incomplete and the task
    /// must fail (`ErrorCode::TooManyRows`). The check runs only when a new series would be
    /// created, so counting into existing series costs nothing more.
    pub fn bounded(condition: &ExportCondition, max_rows: u64) -> Self {
        let g = condition.granularity;
        let bucket_starts: Vec<i64> = g
            .bucket_starts(condition.range_start, condition.range_end)
            .collect();
        let mut agg = ReportAggregate {
            granularity: g,
            range_start: condition.range_start,
            range_end: condition.range_end,
            group_by_domain: condition.group_by_domain,
            bucket_starts,
            domains: Vec::new(),
            series: Vec::new(),
            index: HashMap::new(),
            max_rows,
            overflow: None,
        };
        if condition.group_by_domain {
            for host in condition.domains.exact_hosts() {
                agg.series_index(&host);
            }
        } else if agg.buckets() > max_rows {
            agg.overflow = Some(agg.buckets());
        } else {
            agg.domains.push(String::new());
            agg.series
                .push(vec![Counters::default(); agg.bucket_starts.len()]);
        }
        agg
    }

    /// `None` while every record fitted; once a new series was refused because it would have
    /// made more than the `max_rows` given to [`bounded`](Self::bounded), `Some(rows)` with
    /// at least how many rows the input needed. The counts are then incomplete: fail the task.
    /// [`merge`](Self::merge) keeps the flag.
    pub fn overflowed(&self) -> Option<u64> {
        self.overflow
    }

    /// The row cap this aggregate enforces (`u64::MAX` when unbounded).
    pub fn max_rows(&self) -> u64 {
        self.max_rows
    }

    fn buckets(&self) -> u64 {
        u64::try_from(self.bucket_starts.len()).unwrap_or(u64::MAX)
    }

    fn bucket_of(&self, ts: i64) -> Option<usize> {
        bucket_index(
            self.granularity,
            self.range_start,
            self.range_end,
            &self.bucket_starts,
            ts,
        )
    }

    /// The series of `host`, created if new and the cap allows; `None` (and the overflow
    /// recorded) when it does not.
    fn series_index(&mut self, host: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(host) {
            return Some(i);
        }
        let series = u64::try_from(self.domains.len() + 1).unwrap_or(u64::MAX);
        let rows = series.saturating_mul(self.buckets());
        if rows > self.max_rows {
            self.overflow = Some(self.overflow.map_or(rows, |o| o.max(rows)));
            return None;
        }
        let i = self.domains.len();
        self.domains.push(host.to_string());
        self.series
            .push(vec![Counters::default(); self.bucket_starts.len()]);
        self.index.insert(host.to_string(), i);
        Some(i)
    }

    /// Counts one record the condition selected; records outside the range are ignored.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        let Some(bucket) = self.bucket_of(record.timestamp_ms) else {
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
        let Some(c) = self.series.get_mut(series).and_then(|s| s.get_mut(bucket)) else {
            return;
        };
        c.flux += record.bytes;
        c.req_num += 1;
        if record.origin_fetch {
            c.origin_flux += record.bytes;
        }
    }

    /// Adds `other`'s counts into `self`: the aggregate of both inputs. The cap of `self`
    /// applies to the series `other` brings; an overflow in either stays recorded.
    pub fn merge(&mut self, other: &ReportAggregate) -> Result<(), ShapeMismatch> {
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
        for (name, series) in other.domains.iter().zip(&other.series) {
            let target = if self.group_by_domain {
                self.series_index(name)
            } else {
                Some(0)
            };
            let Some(mine) = target.and_then(|t| self.series.get_mut(t)) else {
                continue;
            };
            for (mine, theirs) in mine.iter_mut().zip(series) {
                mine.add(theirs);
            }
        }
        Ok(())
    }

    /// Rebuilds the lookup index after deserializing.
    pub fn reindex(&mut self) {
        self.index = self
            .domains
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), i))
            .collect();
    }

    /// Total counters over every interval and series (for logs and checks).
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.series.iter().flatten() {
            t.add(c);
        }
        t
    }

    /// The columns of the export: `time`, `domain` when grouped, then the value column.
    pub fn columns(condition: &ExportCondition) -> Vec<Column> {
        let mut cols = vec![Column::Time];
        if condition.group_by_domain {
            cols.push(Column::Domain);
        }
        cols.push(value_column(condition));
        cols
    }

    /// Number of rows [`rows`](Self::rows) yields.
    pub fn row_count(&self) -> usize {
        self.bucket_starts.len() * self.domains.len()
    }

    /// The rows, ordered by time then domain, every interval present (0 where empty).
    pub fn rows<'a>(&'a self, condition: &ExportCondition) -> impl Iterator<Item = Vec<Cell>> + 'a {
        let column = value_column(condition);
        let offset = self.granularity.offset_secs();
        let mut order: Vec<usize> = (0..self.domains.len()).collect();
        order.sort_by(|&a, &b| self.domains[a].cmp(&self.domains[b]));
        let grouped = self.group_by_domain;
        self.bucket_starts
            .iter()
            .enumerate()
            .flat_map(move |(b, &start)| {
                let time = format_rfc3339(start, offset);
                order.clone().into_iter().map(move |d| {
                    let c = &self.series[d][b];
                    let value = match column {
                        Column::ReqNum => c.req_num,
                        Column::OriginFlux => c.origin_flux,
                        _ => c.flux,
                    };
                    let mut row = Vec::with_capacity(3);
                    row.push(Cell::Text(time.clone()));
                    if grouped {
                        row.push(Cell::Text(self.domains[d].clone()));
                    }
                    row.push(Cell::Count(value));
                    row
                })
            })
    }
}

/// The index of the bucket of `[range_start, range_end)` (whose starts are `bucket_starts`)
/// that holds `ts`; `None` outside the range. Shared by every per-interval partial result.
pub(crate) fn bucket_index(
    granularity: Granularity,
    range_start: i64,
    range_end: i64,
    bucket_starts: &[i64],
    ts: i64,
) -> Option<usize> {
    if ts < range_start || ts >= range_end {
        return None;
    }
    match granularity.step_ms() {
        Some(step) => usize::try_from(ts.abs_diff(range_start) / step.unsigned_abs()).ok(),
        None => bucket_starts.partition_point(|&b| b <= ts).checked_sub(1),
    }
    .filter(|&b| b < bucket_starts.len())
}

/// The value column of an interval export.
pub fn value_column(condition: &ExportCondition) -> Column {
    match (condition.action, condition.stat_type) {
        (Action::OriginDetail, _) => Column::OriginFlux,
        (_, StatType::ReqNum) => Column::ReqNum,
        (_, StatType::Flux) => Column::Flux,
    }
}

#[cfg(test)]
pub(crate) mod tests;
