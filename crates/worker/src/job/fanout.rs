//! Fan-out and progress: the task's log objects read in parallel into bounded parts that are
//! gathered in file order, progress reported, and every scan thread stopped promptly when the
//! run stops.
//!
//! What a part is depends on the export: a partial aggregate merged into the result
//! ([`Aggregates`]), or the sorted runs of a `logs` export ([`super::logs`]); the [`Gather`]
//! trait is the seam.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use statport_core::condition::thousands;
use statport_core::geo::select::GeoSink;
use statport_core::geo::{GeoLookup, NoDatabase};
use statport_core::partial::{Partial, RecordSink};
use statport_core::task::TaskRecord;
use statport_core::ErrorCode;
use statport_core::ExportCondition;
use statport_storage::{ObjectMeta, ObjectStore};
use tokio::task::JoinSet;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{storage_stop, ExportContext, LogSource, Unfinished};
use crate::scan::{scan, ScanError, ScanSignals, ScanStats};

/// What a run's scans fill, and how their parts come together.
pub(super) trait Gather: 'static {
    /// What the scan of one object fills, on its own blocking thread.
    type Part: RecordSink + Send + 'static;
    /// What a finished part hands back to the gatherer.
    type Done: Send + 'static;
    /// A fresh part for the object at `index` of the listing.
    fn part(&self, index: usize) -> Self::Part;
    /// Ends a part on its scan thread (e.g. writes its last sorted run).
    fn seal(part: Self::Part) -> Result<Self::Done, Unfinished>;
    /// Takes in the next part, in the order of the listing; `Err` stops the run.
    fn absorb(&mut self, done: Self::Done) -> Result<(), Unfinished>;
}

/// The parts of a statistics export: partial aggregates merged into one, bounded in rows.
pub(super) struct Aggregates {
    /// The merged result so far.
    pub merged: Partial,
    empty: Partial,
    max_rows: u64,
}

impl Aggregates {
    /// An empty result for `condition`, bounded at `max_rows`.
    pub fn new(condition: &ExportCondition, max_rows: u64, ctx: &ExportContext) -> Self {
        // Bounded: an export whose rows are only known while scanning (`all` or a wildcard
        // grouped by domain) stops growing at the tenant's row limit instead of exhausting
        // memory.
        let empty = Partial::for_condition(condition, max_rows, &ctx.settings.sketches);
        Aggregates {
            merged: empty.clone(),
            empty,
            max_rows,
        }
    }
}

impl Gather for Aggregates {
    type Part = Partial;
    type Done = Partial;

    fn part(&self, _index: usize) -> Partial {
        self.empty.clone()
    }

    fn seal(part: Partial) -> Result<Partial, Unfinished> {
        Ok(part)
    }

    fn absorb(&mut self, part: Partial) -> Result<(), Unfinished> {
        if self.merged.merge(&part).is_err() {
            return Err(Unfinished::Retry(
                "partial aggregates of different shapes".into(),
            ));
        }
        match self.merged.overflowed() {
            Some(rows) => Err(too_many_rows(rows, self.max_rows)),
            None => Ok(()),
        }
    }
}

/// What the scan of one object ends with: its sealed part and counters, or why it stopped.
type ScanOutcome<D> = Result<(D, ScanStats), Unfinished>;

/// Reads every selected object (several at once), gathering their parts in listing order and
/// reporting progress; stops early on a failure, a lost claim, the gatherer's refusal or
/// shutdown.
pub(super) async fn scan_all<G: Gather>(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    source: &LogSource,
    mut gather: G,
    objects: Vec<ObjectMeta>,
    total_bytes: u64,
) -> Result<(G, ScanStats), Unfinished> {
    let condition = Arc::new(record.condition.clone());
    let signals = Arc::new(ScanSignals::default());
    // Cancelled with the process, or by this run when it stops early: wakes reads that wait on
    // the network so every scan thread ends promptly.
    let run_stop = ctx.shutdown.child_token();
    let mut stats = ScanStats::default();
    let mut pending = objects.into_iter().enumerate();
    let mut running: JoinSet<(usize, ScanOutcome<G::Done>)> = JoinSet::new();
    // Parts are gathered in the order of the objects, whatever order they finish in, so an
    // approximate result (a top list past its key budget) is the same on every run. Finished
    // parts wait here for the ones before them; at most `parallelism` of them.
    let mut finished: BTreeMap<usize, (G::Done, ScanStats)> = BTreeMap::new();
    let mut next_to_merge = 0usize;
    let mut ticker = tokio::time::interval(ctx.settings.progress_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let parallelism = ctx.settings.scan_parallelism.max(1);
    let result = loop {
        while running.len() < parallelism && finished.len() < parallelism {
            let Some((index, object)) = pending.next() else {
                break;
            };
            let scan = scan_object::<G>(
                Arc::clone(&ctx.objects),
                source.clone(),
                object,
                (Arc::clone(&condition), ctx.geo.clone()),
                Arc::clone(&signals),
                run_stop.clone(),
                gather.part(index),
            );
            running.spawn(async move { (index, scan.await) });
        }
        if running.is_empty() {
            break Ok(());
        }
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(Ok((index, Ok(done)))) => {
                    finished.insert(index, done);
                    let mut stop = None;
                    while let Some((part, part_stats)) = finished.remove(&next_to_merge) {
                        next_to_merge += 1;
                        stats.lines += part_stats.lines;
                        stats.skipped += part_stats.skipped;
                        stats.selected += part_stats.selected;
                        stats.too_long += part_stats.too_long;
                        if let Err(refused) = gather.absorb(part) {
                            stop = Some(refused);
                            break;
                        }
                    }
                    if let Some(stop) = stop {
                        break Err(stop);
                    }
                }
                Some(Ok((_, Err(stop)))) => break Err(stop),
                Some(Err(join)) => break Err(Unfinished::Retry(format!("scan thread: {join}"))),
                None => {}
            },
            () = ctx.shutdown.cancelled() => break Err(Unfinished::Released),
            _ = ticker.tick() => {
                let read = signals.bytes_read.load(Ordering::Relaxed);
                let progress = read.saturating_mul(99).checked_div(total_bytes).unwrap_or(0).min(99) as u8;
                match ctx.tasks.progress(&record.tenant_id, &record.task_id, run_id, progress, stats.lines, stats.skipped, ctx.clock.now_ms()).await {
                    Ok(true) => {}
                    Ok(false) => break Err(Unfinished::Dropped),
                    Err(e) => warn!(task_id = %record.task_id, error = %e, "progress report failed"),
                }
            }
        }
    };
    if let Err(stop) = result {
        signals.cancel.store(true, Ordering::Relaxed);
        run_stop.cancel();
        // Wait for the scans rather than abort them: a blocking scan thread outlives an aborted
        // task and would read through the runtime after it shut down. Each scan sees the cancel
        // flag at its next check and ends.
        while running.join_next().await.is_some() {}
        return Err(match stop {
            Unfinished::Fail(error, _) => Unfinished::Fail(error, stats),
            other => other,
        });
    }
    Ok((gather, stats))
}

/// The task's end when its rows outgrow the tenant's limit while scanning.
fn too_many_rows(at_least: u64, max_rows: u64) -> Unfinished {
    Unfinished::fail(
        ErrorCode::TooManyRows,
        format!(
            "this export makes at least {} rows and the limit is {} rows per export: use a coarser granularity, a shorter range or name the domains",
            thousands(at_least),
            thousands(max_rows)
        ),
    )
}

async fn scan_object<G: Gather>(
    objects: Arc<dyn ObjectStore>,
    source: LogSource,
    object: ObjectMeta,
    // The condition with the IP database its geography filters read.
    (condition, geo): (Arc<ExportCondition>, Option<Arc<dyn GeoLookup>>),
    signals: Arc<ScanSignals>,
    stop: CancellationToken,
    part: G::Part,
) -> Result<(G::Done, ScanStats), Unfinished> {
    let LogSource { bucket, format, .. } = source;
    let reader = tokio::select! {
        got = objects.get(&bucket, &object.key) => got
            .map_err(|e| storage_stop(&e, &format!("GET {bucket}/{}", object.key)))?,
        () = stop.cancelled() => return Err(Unfinished::Dropped),
    };
    let reader = StoppableReader::new(reader, stop);
    let handle = tokio::task::spawn_blocking(move || {
        let sync = SyncIoBridge::new(reader);
        let scanned = if condition.geo_needed() {
            // The geography filters in front of the part; a condition without them scans
            // straight into it and pays nothing. Without a database only logs stating their
            // area get here (checked before the scan), and they need no lookup.
            let lookup: &dyn GeoLookup = geo.as_deref().unwrap_or(&NoDatabase);
            let mut sink = GeoSink::new(part, lookup, &condition);
            scan(format, &object.key, sync, &condition, &mut sink, &signals)
                .map(|stats| (sink.into_inner(), stats))
        } else {
            let mut part = part;
            scan(format, &object.key, sync, &condition, &mut part, &signals)
                .map(|stats| (part, stats))
        };
        scanned.map(|(part, stats)| G::seal(part).map(|done| (done, stats)))
    });
    match handle.await {
        Ok(Ok(sealed)) => sealed,
        Ok(Err(ScanError::Corrupt { key, reason })) => Err(Unfinished::fail(
            ErrorCode::CorruptLogFile,
            format!("the log file '{key}' is not valid gzip ({reason})"),
        )),
        Ok(Err(ScanError::Read { key, reason })) => Err(Unfinished::Retry(format!(
            "object store: GET {bucket}/{key}: {reason}"
        ))),
        Ok(Err(ScanError::Cancelled)) => Err(Unfinished::Dropped),
        Err(join) => Err(Unfinished::Retry(format!("scan thread: {join}"))),
    }
}

/// An object body whose reads fail once `stop` is cancelled, even while they wait on the
/// network, so a scan thread blocked in a read ends when its run stops. Also used by the
/// synchronous reports ([`crate::report`]).
pub(crate) struct StoppableReader<R> {
    inner: R,
    stopped: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<R> StoppableReader<R> {
    pub(crate) fn new(inner: R, stop: CancellationToken) -> Self {
        StoppableReader {
            inner,
            stopped: Box::pin(stop.cancelled_owned()),
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for StoppableReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if std::future::Future::poll(self.stopped.as_mut(), cx).is_ready() {
            return std::task::Poll::Ready(Err(std::io::Error::other("run stopped")));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
