//! The synchronous reports' engine: an origin-volume request runs on the export machinery (the
//! log objects selected as for a task by [`select_objects`], each scanned by the same scan into
//! the same [`Partial`], several at once, merged) within bounds that keep a request from tying up
//! the API: the compressed bytes it may read (checked from the object listing, before reading
//! anything), its wall time, and how many run at once on the process.
//!
//! The server groups of the request filter records by edge location in front of the partial
//! result ([`EdgeFiltered`]); everything else is the `origin_detail` condition's own selection.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use statport_core::log::format::LogFormat;
use statport_core::log::RecordSink;
use statport_core::origin_volume::server_group::{EdgeFilter, EdgeFiltered};
use statport_core::origin_volume::{OriginVolumeRequest, ReportFailure, VolumePoint};
use statport_core::stats::partial::Partial;
use statport_core::stats::sketch::SketchLimits;
use statport_core::table::Cell;
use statport_core::tenant::Tenant;
use statport_core::ExportCondition;
use statport_storage::{ObjectMeta, ObjectStore, StorageError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use crate::job::StoppableReader;
use crate::scan::{ScanError, ScanSignals, ScanStats};
use crate::source::select_objects;

/// The bounds and knobs of synchronous reports (`[reports]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
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
    tenants: Arc<HashMap<String, Tenant>>,
    settings: ReportSettings,
    running: Arc<Semaphore>,
}

impl OriginVolumeReporter {
    /// A reporter reading `tenants`' log sources from `objects` within `settings`.
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        tenants: Arc<HashMap<String, Tenant>>,
        settings: ReportSettings,
    ) -> Self {
        let running = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
        OriginVolumeReporter {
            objects,
            tenants,
            settings,
            running,
        }
    }

    /// The origin bytes of every interval of `request`, zeros included, in time order.
    pub async fn origin_volume(
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
        let max_rows = tenant.limits.max_rows;
        let edges = Arc::new(request.edges.clone());
        // An `origin_detail` partial is an interval series: no sketch is involved.
        let mut merged = Partial::for_condition(&condition, max_rows, &SketchLimits::default());
        let mut pending = objects.into_iter();
        let mut running: JoinSet<Result<Partial, ReportFailure>> = JoinSet::new();
        let parallelism = self.settings.scan_parallelism.max(1);
        loop {
            while running.len() < parallelism {
                let Some(object) = pending.next() else { break };
                running.spawn(scan_object(
                    Arc::clone(&self.objects),
                    source.bucket.clone(),
                    source.format,
                    object,
                    ScanInput {
                        condition: Arc::clone(&condition),
                        edges: Arc::clone(&edges),
                        signals: Arc::clone(signals),
                        max_rows,
                    },
                    stop.clone(),
                ));
            }
            match running.join_next().await {
                None => break,
                Some(Ok(Ok(part))) => merged.merge(&part).map_err(|e| internal(&e))?,
                // Dropping `running` aborts the other fetches; the caller stops their scans.
                Some(Ok(Err(failure))) => return Err(failure),
                Some(Err(join)) => return Err(internal(&join)),
            }
        }
        points(&condition, &merged)
    }
}

/// What every scan of one report shares.
struct ScanInput {
    condition: Arc<ExportCondition>,
    edges: Arc<EdgeFilter>,
    signals: Arc<ScanSignals>,
    max_rows: u64,
}

async fn scan_object(
    objects: Arc<dyn ObjectStore>,
    bucket: String,
    format: LogFormat,
    object: ObjectMeta,
    input: ScanInput,
    stop: CancellationToken,
) -> Result<Partial, ReportFailure> {
    let reader = tokio::select! {
        got = objects.get(&bucket, &object.key) => got.map_err(|e| storage_failure(&e))?,
        () = stop.cancelled() => return Err(internal(&"report stopped")),
    };
    let reader = StoppableReader::new(reader, stop);
    let handle = tokio::task::spawn_blocking(move || {
        let mut partial =
            Partial::for_condition(&input.condition, input.max_rows, &SketchLimits::default());
        let mut sink = EdgeFiltered {
            filter: &input.edges,
            inner: &mut partial,
        };
        scan(
            format,
            &object.key,
            SyncIoBridge::new(reader),
            &input.condition,
            &mut sink,
            &input.signals,
        )
        .map(|_| partial)
    });
    match handle.await {
        Ok(Ok(partial)) => Ok(partial),
        Ok(Err(ScanError::Corrupt { key, reason })) => {
            Err(ReportFailure::CorruptLogFile { key, reason })
        }
        Ok(Err(e @ ScanError::Read { .. })) => Err(ReportFailure::Unavailable {
            cause: e.to_string(),
        }),
        Ok(Err(ScanError::Cancelled)) => Err(internal(&"scan cancelled")),
        Err(join) => Err(internal(&join)),
    }
}

/// The one place a report calls the scan (the format-generic scan of the export runs).
fn scan(
    format: LogFormat,
    key: &str,
    compressed: impl Read,
    condition: &ExportCondition,
    sink: &mut impl RecordSink,
    signals: &Arc<ScanSignals>,
) -> Result<ScanStats, ScanError> {
    crate::scan::scan(format, key, compressed, condition, sink, signals)
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
