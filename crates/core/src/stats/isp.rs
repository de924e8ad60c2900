//! The partial result of `isp_detail`: flux and requests per interval per ISP, the ISP as the
//! IP database names it ([`UNKNOWN_ISP`](crate::log::geo::UNKNOWN_ISP) when it names none).
//!
//! Like a grouped [`ReportAggregate`](crate::stats::aggregate::ReportAggregate), the ISPs are only found
//! while scanning: [`IspAggregate::bounded`] caps ISPs × buckets at the tenant's `max_rows`, and
//! [`IspAggregate::overflowed`] tells the job to fail the task.

use serde::{Deserialize, Serialize};

use crate::log::LogRecord;
use crate::request::ExportCondition;
use crate::stats::aggregate::ShapeMismatch;
use crate::stats::grid::SeriesGrid;
use crate::table::{Cell, Column};

/// Flux and requests of one ISP in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IspCounters {
    /// Bytes sent to viewers.
    pub flux: u64,
    /// Requests served: one per log line counted.
    pub req_num: u64,
}

/// Per-interval counters per ISP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IspAggregate {
    /// Counters per ISP (series) and interval.
    grid: SeriesGrid<IspCounters>,
}

impl IspAggregate {
    /// An empty aggregate for `condition` holding at most `max_rows` rows.
    pub fn bounded(condition: &ExportCondition, max_rows: u64) -> Self {
        IspAggregate {
            grid: SeriesGrid::new(condition, max_rows),
        }
    }

    /// `Some(rows)` once a new ISP was refused for the row cap (the result is incomplete).
    pub fn overflowed(&self) -> Option<u64> {
        self.grid.overflowed()
    }

    /// Counts one selected record served to a client of `isp`.
    pub fn add(&mut self, isp: &str, record: &LogRecord<'_>) {
        if let Some(c) = self.grid.cell_mut(isp, record.timestamp_ms) {
            c.flux = c.flux.saturating_add(record.bytes);
            c.req_num = c.req_num.saturating_add(1);
        }
    }

    /// Adds `other` (over a disjoint input) into `self`; `self`'s cap applies.
    pub fn merge(&mut self, other: &IspAggregate) -> Result<(), ShapeMismatch> {
        if !self.grid.same_shape(&other.grid) {
            return Err(ShapeMismatch);
        }
        self.grid.merge_with(&other.grid, |m, t| {
            m.flux = m.flux.saturating_add(t.flux);
            m.req_num = m.req_num.saturating_add(t.req_num);
        });
        Ok(())
    }

    /// Rebuilds the lookup index after deserializing.
    pub fn reindex(&mut self) {
        self.grid.reindex();
    }

    /// The columns: `time`, `isp`, `flux`, `req_num`.
    pub fn columns() -> Vec<Column> {
        vec![Column::Time, Column::Isp, Column::Flux, Column::ReqNum]
    }

    /// The rows, ordered by time then ISP, every interval present for every ISP seen (zeros
    /// where idle).
    pub fn rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        self.grid.rows().map(|(time, isp, c)| {
            vec![
                Cell::Text(time),
                Cell::Text(isp.to_string()),
                Cell::Count(c.flux),
                Cell::Count(c.req_num),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::log::geo::{GeoInfo, GeoSupport};
    use crate::log::RecordSink;
    use crate::stats::aggregate::tests::rec;
    use crate::stats::partial::Partial;
    use crate::stats::sketch::SketchLimits;
    use crate::time::ms_from_civil;
    use crate::{ExportRequest, RequestLimits};

    fn condition(interval: i64) -> ExportCondition {
        let body = json!({"domain_name": "all", "action": "isp_detail", "interval": interval,
            "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
            "end_time": ms_from_civil(2026, 11, 2, 0, 0, 0).expect("date")});
        let limits = RequestLimits {
            geo: GeoSupport {
                ip_database: true,
                area_in_logs: false,
            },
            ..RequestLimits::default()
        };
        ExportRequest::from_json(&body)
            .and_then(|r| r.validate_with(&limits))
            .expect("valid")
    }

    /// A deterministic stream of (time, bytes, isp or none).
    fn records(n: usize, seed: u64) -> Vec<(i64, u64, Option<String>)> {
        let day = ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date");
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let ts = day + i64::try_from((x >> 20) % 86_400_000).expect("fits");
                let isp = match (x >> 40) % 5 {
                    0 => None,
                    k => Some(format!("ISP {k}")),
                };
                (ts, (x >> 8) % 100_000, isp)
            })
            .collect()
    }

    fn feed(p: &mut Partial, part: &[(i64, u64, Option<String>)]) {
        for (ts, bytes, isp) in part {
            let geo = GeoInfo {
                isp: isp.clone(),
                ..GeoInfo::default()
            };
            p.add_located(&rec("a.example.com", *ts, *bytes, false), &geo);
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
        let c = condition(3600);
        let input = records(3_000, 7);
        let mut one_pass = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
        feed(&mut one_pass, &input);
        for cuts in [
            vec![1_500],
            vec![10, 900, 2_999],
            vec![0, 1, 2, 3, 1_000, 2_000],
        ] {
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(input.len());
            let pieces: Vec<Partial> = bounds
                .windows(2)
                .map(|w| {
                    let mut p = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
                    feed(&mut p, &input[w[0]..w[1]]);
                    through_serde(&p)
                })
                .collect();
            let mut left = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
            for p in pieces.iter().rev() {
                left.merge(p).expect("same shape");
            }
            let mut right = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
            for p in pieces.iter().rev() {
                let mut acc = p.clone();
                acc.merge(&right).expect("same shape");
                right = acc;
            }
            let rows = |p: &Partial| p.rows(&c).collect::<Vec<_>>();
            assert_eq!(rows(&left), rows(&one_pass));
            assert_eq!(rows(&right), rows(&one_pass));
        }
    }

    #[test]
    fn rows_by_time_then_isp_with_both_values_and_unknown() {
        let c = condition(86_400);
        let mut p = Partial::for_condition(&c, u64::MAX, &SketchLimits::default());
        feed(&mut p, &records(1_000, 3));
        assert_eq!(
            Partial::columns(&c),
            [Column::Time, Column::Isp, Column::Flux, Column::ReqNum]
        );
        let rows: Vec<Vec<Cell>> = p.rows(&c).collect();
        let names: Vec<&Cell> = rows.iter().map(|r| &r[1]).collect();
        let expected: Vec<Cell> = ["ISP 1", "ISP 2", "ISP 3", "ISP 4", "unknown"]
            .iter()
            .map(|n| Cell::Text(n.to_string()))
            .collect();
        assert_eq!(names, expected.iter().collect::<Vec<_>>());
        let total: u64 = rows
            .iter()
            .map(|r| match r[3] {
                Cell::Count(n) => n,
                _ => 0,
            })
            .sum();
        assert_eq!(total, 1_000);
        // A partial of another kind does not merge in.
        let series = Partial::for_condition(
            &ExportRequest::from_json(&json!({"domain_name": "all", "interval": 86400,
                "start_time": c.start_time, "end_time": c.end_time}))
            .and_then(|r| r.validate())
            .expect("valid"),
            u64::MAX,
            &SketchLimits::default(),
        );
        assert!(p.merge(&series).is_err());
    }

    #[test]
    fn bounded_by_max_rows() {
        // 24 hourly buckets: 48 rows hold two ISPs, the third overflows.
        let c = condition(3600);
        let mut p = Partial::for_condition(&c, 48, &SketchLimits::default());
        feed(&mut p, &records(500, 11));
        assert_eq!(p.overflowed(), Some(72));
        let mut small = Partial::for_condition(&c, 48, &SketchLimits::default());
        feed(&mut small, &records(500, 11)[..0]);
        assert_eq!(small.overflowed(), None);
        small.merge(&p).expect("same shape");
        assert_eq!(small.overflowed(), Some(72));
    }
}
