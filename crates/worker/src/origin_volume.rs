//! The synchronous reports' engine: an origin-volume request runs on the export machinery (the
//! log objects selected as for a task by [`select_objects`], read by the same fan-out
//! (`crate::fanout`) as an export run, each scanned into the same [`Partial`], merged) within
//! bounds that keep a request from tying up
//! the API: the compressed bytes it may read (checked from the object listing, before reading
//! anything), its wall time, and how many run at once on the process.
//!
//! The server groups of the request filter records by edge location in front of the partial
//! result ([`EdgeFiltered`]); everything else is the `origin_detail` condition's own selection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use statport_core::log::LogRecord;
use statport_core::log::RecordSink;
use statport_core::origin_volume::server_group::{EdgeFilter, EdgeFiltered};
use statport_core::origin_volume::{
    OriginVolumeEngine, OriginVolumeRequest, ReportFailure, VolumePoint,
};
use statport_core::stats::partial::Partial;
use statport_core::stats::sketch::SketchLimits;
use statport_core::table::Cell;
use statport_core::tenant::TenantDirectory;
use statport_core::ExportCondition;
use statport_storage::{ObjectStore, StorageError};
use tokio::sync::Semaphore;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;

use crate::fanout::{FanOut, Gather, ScanFailure, Watch};
use crate::scan::{ScanError, ScanSignals, ScanStats};
use crate::source::select_objects;

/// The bounds and knobs of synchronous reports (`[reports]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginVolumeSettings {
    /// Most compressed log bytes one report may read (the sum of the listed sizes of the files
    /// its range needs); over it the report is refused before anything is read.
    pub max_compressed_bytes: u64,
    /// Longest wall time of one report, listing included; past it the report is stopped.
    pub timeout: Duration,
    /// Reports running at once on this process; one more is refused at once (429).
    pub max_concurrent: usize,
    /// Log files one report reads at the same time.
    pub scan_parallelism: usize,
    /// Hours after a range's end whose files may still hold its lines (as `worker.late_hours`).
    pub late_hours: u32,
}

/// Runs origin-volume reports over the tenants' logs.
#[derive(Debug, Clone)]
pub struct OriginVolumeReporter {
    objects: Arc<dyn ObjectStore>,
    tenants: Arc<TenantDirectory>,
    settings: OriginVolumeSettings,
    running: Arc<Semaphore>,
}

impl OriginVolumeReporter {
    /// A reporter reading `tenants`' log sources from `objects` within `settings`.
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        tenants: Arc<TenantDirectory>,
        settings: OriginVolumeSettings,
    ) -> Self {
        let running = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
        OriginVolumeReporter {
            objects,
            tenants,
            settings,
            running,
        }
    }

    async fn run(
        &self,
        tenant_id: &str,
        request: &OriginVolumeRequest,
        signals: &Arc<ScanSignals>,
        stop: &CancellationToken,
    ) -> Result<Vec<VolumePoint>, ReportFailure> {
        let tenant = self
            .tenants
            .get(tenant_id)
            .ok_or(ReportFailure::NoLogSource)?;
        let source = &tenant.source;
        let condition = Arc::new(request.condition.clone());
        let listed = self
            .objects
            .list(&source.bucket, &source.prefix)
            .await
            .map_err(|e| storage_failure(&e))?;
        let objects = select_objects(source.format, listed, &condition, self.settings.late_hours);
        let bytes = objects
            .iter()
            .fold(0u64, |sum, o| sum.saturating_add(o.size));
        if bytes > self.settings.max_compressed_bytes {
            return Err(ReportFailure::TooLarge {
                bytes,
                files: objects.len(),
                limit: self.settings.max_compressed_bytes,
            });
        }
        let series = OriginSeries::new(&condition, tenant.limits.max_rows, &request.edges);
        let fan_out = FanOut {
            objects: &self.objects,
            source,
            condition: Arc::clone(&condition),
            // An `origin_detail` condition has no geography filter.
            geo: None,
            parallelism: self.settings.scan_parallelism,
            signals: Arc::clone(signals),
            stop,
        };
        let (series, _) = fan_out.run(series, objects, &mut Unwatched).await?;
        points(&condition, &series.merged)
    }
}

#[async_trait]
impl OriginVolumeEngine for OriginVolumeReporter {
    /// The origin bytes of every interval of `request`, zeros included, in time order, within
    /// the settings' bounds.
    async fn origin_volume(
        &self,
        tenant_id: &str,
        request: &OriginVolumeRequest,
    ) -> Result<Vec<VolumePoint>, ReportFailure> {
        let _permit =
            Arc::clone(&self.running)
                .try_acquire_owned()
                .map_err(|_| ReportFailure::Busy {
                    limit: self.settings.max_concurrent.max(1),
                })?;
        let signals = Arc::new(ScanSignals::default());
        let stop = CancellationToken::new();
        let result = tokio::time::timeout(
            self.settings.timeout,
            self.run(tenant_id, request, &signals, &stop),
        )
        .await;
        // Whatever ended the report, no scan keeps reading: blocked reads fail at once, scan
        // loops end at their next check.
        signals.cancel.store(true, Ordering::Relaxed);
        stop.cancel();
        result.unwrap_or_else(|_| {
            Err(ReportFailure::TimedOut {
                limit_ms: u64::try_from(self.settings.timeout.as_millis()).unwrap_or(u64::MAX),
            })
        })
    }
}

/// The parts of a report: origin-volume series, each counting only the requested edges,
/// merged into one.
struct OriginSeries {
    /// The merged result so far.
    merged: Partial,
    /// What each object's scan starts from.
    empty: Partial,
    edges: Arc<EdgeFilter>,
}

impl OriginSeries {
    fn new(condition: &ExportCondition, max_rows: u64, edges: &EdgeFilter) -> Self {
        // An `origin_detail` partial is an interval series: no sketch is involved.
        let empty = Partial::for_condition(condition, max_rows, &SketchLimits::default());
        OriginSeries {
            merged: empty.clone(),
            empty,
            edges: Arc::new(edges.clone()),
        }
    }
}

impl Gather for OriginSeries {
    type Part = EdgePart;
    type Done = Partial;
    type Failure = ReportFailure;

    fn part(&self, _index: usize) -> EdgePart {
        EdgePart {
            edges: Arc::clone(&self.edges),
            partial: self.empty.clone(),
        }
    }

    fn seal(part: EdgePart) -> Result<Partial, ReportFailure> {
        Ok(part.partial)
    }

    fn absorb(&mut self, part: Partial) -> Result<(), ReportFailure> {
        self.merged.merge(&part).map_err(|e| internal(&e))
    }
}

/// One object's part of a report: the records of the requested edges ([`EdgeFiltered`]) into
/// a partial result of its own.
struct EdgePart {
    edges: Arc<EdgeFilter>,
    partial: Partial,
}

impl RecordSink for EdgePart {
    fn add(&mut self, record: &LogRecord<'_>) {
        EdgeFiltered {
            filter: &self.edges,
            inner: &mut self.partial,
        }
        .add(record);
    }
}

impl ScanFailure for ReportFailure {
    fn fetch(_bucket: &str, _key: &str, e: &StorageError) -> Self {
        storage_failure(e)
    }

    fn scan(_bucket: &str, e: ScanError) -> Self {
        match e {
            ScanError::Corrupt { key, reason } => ReportFailure::CorruptLogFile { key, reason },
            e @ ScanError::Read { .. } => ReportFailure::Unavailable {
                cause: e.to_string(),
            },
            ScanError::Cancelled => internal(&"scan cancelled"),
        }
    }

    fn thread(e: &JoinError) -> Self {
        internal(e)
    }

    fn fetch_stopped() -> Self {
        internal(&"report stopped")
    }
}

/// A report's fan-out reports no progress; its bound is the wall time around it
/// ([`OriginVolumeSettings::timeout`]).
struct Unwatched;

impl Watch<ReportFailure> for Unwatched {
    fn every(&self) -> Option<Duration> {
        None
    }

    async fn tick(&mut self, _: u64, _: &ScanStats) -> Result<(), ReportFailure> {
        Ok(())
    }

    fn stopped(&self) -> ReportFailure {
        internal(&"report stopped")
    }
}

/// One point per interval from the merged partial result (one unnamed series: the rows are the
/// intervals in time order, the count last).
fn points(
    condition: &ExportCondition,
    merged: &Partial,
) -> Result<Vec<VolumePoint>, ReportFailure> {
    let starts = condition
        .granularity
        .bucket_starts(condition.range_start, condition.range_end);
    let mut points = Vec::new();
    let mut rows = merged.rows(condition);
    for start_ms in starts {
        let bytes = match rows.next().as_deref().and_then(<[Cell]>::last) {
            Some(Cell::Count(n)) => *n,
            _ => {
                return Err(internal(
                    &"the partial result has fewer rows than intervals",
                ))
            }
        };
        points.push(VolumePoint { start_ms, bytes });
    }
    if rows.next().is_some() {
        return Err(internal(&"the partial result has more rows than intervals"));
    }
    Ok(points)
}

fn storage_failure(e: &StorageError) -> ReportFailure {
    match e {
        StorageError::NoSuchBucket { bucket } => ReportFailure::LogBucketNotFound {
            bucket: bucket.clone(),
        },
        e => ReportFailure::Unavailable {
            cause: e.to_string(),
        },
    }
}

fn internal(e: &dyn std::fmt::Display) -> ReportFailure {
    ReportFailure::Internal {
        cause: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
