//! Mergeable partial aggregates of log records, and the rows they finish into.
//!
//! A worker (or one slice of a task, later) feeds the records it selected into a
//! [`ReportAggregate`]; aggregates over disjoint inputs [`merge`](ReportAggregate::merge) into
//! the aggregate of the union, so a task can be split across workers and combined in any order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::condition::{Action, ExportCondition, StatType};
use crate::granularity::Granularity;
use crate::log::LogRecord;
use crate::table::{Cell, Column};
use crate::time::{format_rfc3339, DAY_MS, HOUR_MS, MINUTE_MS};

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
}

impl ReportAggregate {
    /// An empty aggregate for `condition`. When grouped by domain, the exact hosts the condition
    /// names get a series up front, so they appear (with zeros) even without traffic.
    pub fn new(condition: &ExportCondition) -> Self {
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
        };
        if condition.group_by_domain {
            for host in condition.domains.exact_hosts() {
                agg.series_index(&host);
            }
        } else {
            agg.domains.push(String::new());
            agg.series
                .push(vec![Counters::default(); agg.bucket_starts.len()]);
        }
        agg
    }

    fn step_ms(&self) -> Option<i64> {
        match self.granularity {
            Granularity::FiveMinutes => Some(5 * MINUTE_MS),
            Granularity::Hourly => Some(HOUR_MS),
            Granularity::Daily { .. } => Some(DAY_MS),
            Granularity::Monthly { .. } => None,
        }
    }

    fn bucket_of(&self, ts: i64) -> Option<usize> {
        if ts < self.range_start || ts >= self.range_end {
            return None;
        }
        match self.step_ms() {
            Some(step) => Some(((ts - self.range_start) / step) as usize),
            None => self
                .bucket_starts
                .partition_point(|&b| b <= ts)
                .checked_sub(1),
        }
        .filter(|&b| b < self.bucket_starts.len())
    }

    fn series_index(&mut self, host: &str) -> usize {
        if let Some(&i) = self.index.get(host) {
            return i;
        }
        let i = self.domains.len();
        self.domains.push(host.to_string());
        self.series
            .push(vec![Counters::default(); self.bucket_starts.len()]);
        self.index.insert(host.to_string(), i);
        i
    }

    /// Counts one record the condition selected; records outside the range are ignored.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        let Some(bucket) = self.bucket_of(record.timestamp_ms) else {
            return;
        };
        let series = if self.group_by_domain {
            self.series_index(&record.host)
        } else {
            0
        };
        let c = &mut self.series[series][bucket];
        c.flux += record.bytes;
        c.req_num += 1;
        if record.origin_fetch {
            c.origin_flux += record.bytes;
        }
    }

    /// Adds `other`'s counts into `self`: the aggregate of both inputs.
    pub fn merge(&mut self, other: &ReportAggregate) -> Result<(), ShapeMismatch> {
        if self.granularity != other.granularity
            || self.range_start != other.range_start
            || self.range_end != other.range_end
            || self.group_by_domain != other.group_by_domain
        {
            return Err(ShapeMismatch);
        }
        for (name, series) in other.domains.iter().zip(&other.series) {
            let target = if self.group_by_domain {
                self.series_index(name)
            } else {
                0
            };
            for (mine, theirs) in self.series[target].iter_mut().zip(series) {
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

/// The value column of an interval export.
pub fn value_column(condition: &ExportCondition) -> Column {
    match (condition.action, condition.stat_type) {
        (Action::OriginDetail, _) => Column::OriginFlux,
        (_, StatType::ReqNum) => Column::ReqNum,
        (_, StatType::Flux) => Column::Flux,
    }
}

#[cfg(test)]
mod tests;
