//! The aggregation seam: a scan hands every selected record to a [`RecordSink`] and knows nothing
//! of the kind of export it feeds; the kind is a [`Partial`], one mergeable, serializable partial
//! result per kind of export, chosen from the validated condition.
//!
//! Partial results over disjoint inputs [`merge`](Partial::merge) into the result of the union,
//! in any order and grouping (associative and commutative), and survive a serde round trip, so
//! one task can be split across workers or files and its parts combined later.
//!
//! Kinds: [`Partial::Series`] (per-interval counters: `reports_detail`, `origin_detail`),
//! [`Partial::Top`] (top lists: the `top_*_detail` actions), [`Partial::Distinct`] (distinct
//! client IPs per interval: `uv`) and [`Partial::Isp`] (per-interval, per-ISP counters:
//! `isp_detail`). The approximate kinds are bounded by [`SketchLimits`] and say how far from
//! exact they are ([`Partial::approximation`]).

use serde::{Deserialize, Serialize};

use crate::error::thousands;
use crate::log::geo::GeoInfo;
use crate::log::{LogRecord, RecordSink};
use crate::request::{Action, ExportCondition};
use crate::stats::aggregate::{ReportAggregate, ShapeMismatch};
use crate::stats::distinct::{DistinctCounts, UV_STANDARD_ERROR};
use crate::stats::isp::IspAggregate;
use crate::stats::sketch::SketchLimits;
use crate::stats::top::TopList;
use crate::table::{Cell, Column};

impl RecordSink for ReportAggregate {
    fn add(&mut self, record: &LogRecord<'_>) {
        ReportAggregate::add(self, record);
    }
}

/// The partial result of one kind of export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Partial {
    /// Per-interval counters, per domain when grouped.
    Series(ReportAggregate),
    /// Keys ranked by bytes or requests, per domain when grouped.
    Top(TopList),
    /// Distinct client IPs per interval, per domain when grouped.
    Distinct(DistinctCounts),
    /// Per-interval counters per ISP (`isp_detail`).
    Isp(IspAggregate),
}

impl Partial {
    /// The empty partial result `condition` asks for, holding at most `max_rows` rows (the
    /// tenant's limit; see [`ReportAggregate::bounded`]) and exact within `limits`.
    pub fn for_condition(
        condition: &ExportCondition,
        max_rows: u64,
        limits: &SketchLimits,
    ) -> Self {
        match condition.action {
            a if a.is_top_list() => Partial::Top(TopList::new(condition, limits, max_rows)),
            Action::Uv => Partial::Distinct(DistinctCounts::new(condition, limits, max_rows)),
            Action::IspDetail => Partial::Isp(IspAggregate::bounded(condition, max_rows)),
            _ => Partial::Series(ReportAggregate::bounded(condition, max_rows)),
        }
    }

    /// Adds `other` (a result over a disjoint input) into `self`.
    pub fn merge(&mut self, other: &Partial) -> Result<(), ShapeMismatch> {
        match (self, other) {
            (Partial::Series(mine), Partial::Series(theirs)) => mine.merge(theirs),
            (Partial::Top(mine), Partial::Top(theirs)) => mine.merge(theirs),
            (Partial::Distinct(mine), Partial::Distinct(theirs)) => mine.merge(theirs),
            (Partial::Isp(mine), Partial::Isp(theirs)) => mine.merge(theirs),
            _ => Err(ShapeMismatch),
        }
    }

    /// `Some(rows)` once the result outgrew its row limit (the task must fail), else `None`.
    pub fn overflowed(&self) -> Option<u64> {
        match self {
            Partial::Series(a) => a.overflowed(),
            Partial::Top(t) => t.overflowed(),
            Partial::Distinct(d) => d.overflowed(),
            Partial::Isp(a) => a.overflowed(),
        }
    }

    /// Rebuilds lookup indexes after deserializing.
    pub fn reindex(&mut self) {
        match self {
            Partial::Series(a) => a.reindex(),
            Partial::Top(t) => t.reindex(),
            Partial::Distinct(d) => d.reindex(),
            Partial::Isp(a) => a.reindex(),
        }
    }

    /// `None` when every value of the file is exact; otherwise a sentence for the task view
    /// saying which values are estimates and how far off they may be.
    pub fn approximation(&self) -> Option<String> {
        match self {
            Partial::Series(_) | Partial::Isp(_) => None,
            Partial::Top(t) => t.approximation().map(|a| {
                format!(
                    "approximate top list: more distinct keys than the {} counters kept (Space-Saving); each ranked value is an upper bound at most {} over the true value, and any key not listed had at most {}; the other column is a lower bound",
                    thousands(a.counters),
                    thousands(a.max_error),
                    thousands(a.floor)
                )
            }),
            Partial::Distinct(d) => {
                let rows = d.estimated_rows();
                if rows.is_empty() {
                    return None;
                }
                const SHOWN: usize = 20;
                let mut listed = rows.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
                if rows.len() > SHOWN {
                    listed.push_str(&format!(" and {} more", thousands((rows.len() - SHOWN) as u64)));
                }
                Some(format!(
                    "{} uv values are HyperLogLog estimates (standard error {UV_STANDARD_ERROR}), the rest exact: {listed}",
                    thousands(rows.len() as u64)
                ))
            }
        }
    }

    /// The columns of the export file.
    pub fn columns(condition: &ExportCondition) -> Vec<Column> {
        match condition.action {
            a if a.is_top_list() => TopList::columns(condition),
            Action::Uv => DistinctCounts::columns(condition),
            Action::IspDetail => IspAggregate::columns(),
            _ => ReportAggregate::columns(condition),
        }
    }

    /// The rows of the export file, in file order.
    pub fn rows<'a>(
        &'a self,
        condition: &'a ExportCondition,
    ) -> Box<dyn Iterator<Item = Vec<Cell>> + 'a> {
        match self {
            Partial::Series(a) => Box::new(a.rows(condition)),
            Partial::Top(t) => Box::new(t.rows()),
            Partial::Distinct(d) => Box::new(d.rows()),
            Partial::Isp(a) => Box::new(a.rows()),
        }
    }
}

impl RecordSink for Partial {
    #[inline]
    fn add(&mut self, record: &LogRecord<'_>) {
        match self {
            Partial::Series(a) => a.add(record),
            Partial::Top(t) => t.add(record),
            Partial::Distinct(d) => d.add(record),
            // Without geography the client's ISP is not known.
            Partial::Isp(a) => a.add(crate::log::geo::UNKNOWN_ISP, record),
        }
    }

    #[inline]
    fn add_located(&mut self, record: &LogRecord<'_>, geo: &GeoInfo) {
        match self {
            Partial::Series(a) => a.add(record),
            Partial::Top(t) => t.add(record),
            Partial::Distinct(d) => d.add(record),
            Partial::Isp(a) => a.add(geo.isp_name(), record),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::stats::aggregate::tests::rec;
    use crate::time::ms_from_civil;
    use crate::ExportRequest;

    fn condition(body: serde_json::Value) -> ExportCondition {
        ExportRequest::from_json(&body)
            .and_then(|r| r.validate())
            .expect("valid")
    }

    /// A deterministic stream of records over the day, several hosts, some origin fetches.
    fn records(n: usize, seed: u64) -> Vec<(i64, u64, String, bool)> {
        let day = ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date");
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let ts = day + i64::try_from((x >> 20) % 86_400_000).expect("fits");
                let bytes = (x >> 8) % 100_000;
                let host = format!("h{}.example.com", (x >> 40) % 7);
                (ts, bytes, host, (x >> 4).is_multiple_of(3))
            })
            .collect()
    }

    fn feed(p: &mut Partial, part: &[(i64, u64, String, bool)]) {
        for (ts, bytes, host, origin) in part {
            p.add(&rec(host, *ts, *bytes, *origin));
        }
    }

    fn through_serde(p: &Partial) -> Partial {
        let mut back: Partial =
            serde_json::from_str(&serde_json::to_string(p).expect("serialize")).expect("parse");
        back.reindex();
        back
    }

    #[test]
    fn merging_any_split_equals_one_pass() {
        for body in [
            json!({"domain_name": "all", "group_by": "domain", "start_time": 1_761_955_200_000i64,
                   "end_time": 1_762_041_600_000i64, "interval": 3600}),
            json!({"domain_name": "*.example.com", "start_time": 1_761_955_200_000i64,
                   "end_time": 1_762_041_600_000i64, "interval": 300, "action": "reports_detail"}),
        ] {
            let c = condition(body);
            let input = records(5_000, 42);
            let mut one_pass = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
            feed(&mut one_pass, &input);
            // Several splits, each part serialized and merged in a different order.
            for (seed, parts) in [(1u64, 2usize), (2, 3), (3, 7), (4, 50)] {
                let mut cuts: Vec<usize> = records(parts - 1, seed)
                    .iter()
                    .map(|(ts, ..)| usize::try_from(ts.rem_euclid(5_000)).expect("small"))
                    .collect();
                cuts.sort_unstable();
                let mut bounds = vec![0];
                bounds.extend(cuts);
                bounds.push(input.len());
                let mut pieces: Vec<Partial> = bounds
                    .windows(2)
                    .map(|w| {
                        let mut p = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
                        feed(&mut p, &input[w[0]..w[1]]);
                        through_serde(&p)
                    })
                    .collect();
                if seed.is_multiple_of(2) {
                    pieces.reverse();
                }
                // ((p0 + p1) + p2) + … and p0 + (p1 + (p2 + …)) both equal one pass.
                let mut left = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
                for p in &pieces {
                    left.merge(p).expect("same shape");
                }
                let mut right = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
                for p in pieces.iter().rev() {
                    let mut acc = p.clone();
                    acc.merge(&right).expect("same shape");
                    right = acc;
                }
                let rows = |p: &Partial| p.rows(&c).collect::<Vec<_>>();
                assert_eq!(rows(&left), rows(&one_pass), "{parts} parts, left fold");
                assert_eq!(rows(&right), rows(&one_pass), "{parts} parts, right fold");
            }
        }
    }
}
