//! Mergeable partial aggregates of log records, and the rows they finish into.
//!
//! A worker (or one slice of a task, later) feeds the records it selected into a
//! [`ReportAggregate`]; aggregates over disjoint inputs [`merge`](ReportAggregate::merge) into
//! the aggregate of the union, so a task can be split across workers and combined in any order.
//!
//! Grouped by domain over `all` or a wildcard, the number of series is only known while scanning;
//! [`ReportAggregate::bounded`] caps series × buckets so a log with many hosts cannot exhaust a
//! worker's memory, and [`ReportAggregate::overflowed`] tells the job to fail the task.

use serde::{Deserialize, Serialize};

use crate::log::LogRecord;
use crate::request::{Action, ExportCondition, StatType};
use crate::stats::grid::SeriesGrid;
use crate::table::{Cell, Column};

/// What is counted in one interval for one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Bytes sent to viewers.
    pub flux: u64,
    /// Requests served: one per log line counted.
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
    group_by_domain: bool,
    /// Counters per series (domains; one unnamed series when not grouped) and interval.
    grid: SeriesGrid<Counters>,
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
        let mut agg = ReportAggregate {
            group_by_domain: condition.group_by_domain,
            grid: SeriesGrid::new(condition, max_rows),
        };
        if condition.group_by_domain {
            for host in condition.domains.exact_hosts() {
                agg.grid.series(&host);
            }
        } else {
            agg.grid.series("");
        }
        agg
    }

    /// `None` while every record fitted; once a new series was refused because it would have
    /// made more than the `max_rows` given to [`bounded`](Self::bounded), `Some(rows)` with
    /// at least how many rows the input needed. The counts are then incomplete: fail the task.
    /// [`merge`](Self::merge) keeps the flag.
    pub fn overflowed(&self) -> Option<u64> {
        self.grid.overflowed()
    }

    /// The row cap this aggregate enforces (`u64::MAX` when unbounded).
    pub fn max_rows(&self) -> u64 {
        self.grid.max_rows()
    }

    /// Counts one record the condition selected; records outside the range are ignored.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        let series = if self.group_by_domain {
            &record.host
        } else {
            ""
        };
        if let Some(c) = self.grid.cell_mut(series, record.timestamp_ms) {
            c.flux += record.bytes;
            c.req_num += 1;
            if record.origin_fetch {
                c.origin_flux += record.bytes;
            }
        }
    }

    /// Adds `other`'s counts into `self`: the aggregate of both inputs. The cap of `self`
    /// applies to the series `other` brings; an overflow in either stays recorded.
    pub fn merge(&mut self, other: &ReportAggregate) -> Result<(), ShapeMismatch> {
        if !self.grid.same_shape(&other.grid) || self.group_by_domain != other.group_by_domain {
            return Err(ShapeMismatch);
        }
        self.grid.merge_with(&other.grid, Counters::add);
        Ok(())
    }

    /// Rebuilds the lookup index after deserializing.
    pub fn reindex(&mut self) {
        self.grid.reindex();
    }

    /// Total counters over every interval and series (for logs and checks).
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.grid.cells() {
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
        self.grid.row_count()
    }

    /// The rows, ordered by time then domain, every interval present (0 where empty).
    pub fn rows<'a>(&'a self, condition: &ExportCondition) -> impl Iterator<Item = Vec<Cell>> + 'a {
        let column = value_column(condition);
        let grouped = self.group_by_domain;
        self.grid.rows().map(move |(time, domain, c)| {
            let value = match column {
                Column::ReqNum => c.req_num,
                Column::OriginFlux => c.origin_flux,
                _ => c.flux,
            };
            let mut row = Vec::with_capacity(3);
            row.push(Cell::Text(time));
            if grouped {
                row.push(Cell::Text(domain.to_string()));
            }
            row.push(Cell::Count(value));
            row
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
pub(crate) mod tests;
