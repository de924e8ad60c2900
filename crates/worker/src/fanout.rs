//! The fan-out of one scan over many log objects, shared by the export runs ([`crate::job`])
//! and the synchronous reports ([`crate::origin_volume`]): the objects read several at once, each
//! scanned on its own blocking thread into a bounded part, the parts gathered in listing order,
//! and every scan stopped promptly when the fan-out ends early.
//!
//! Three seams say what differs between the callers: [`Gather`] (what a part is and how parts
//! come together: partial aggregates merged, sorted runs collected, an origin-volume series),
//! [`ScanFailure`] (how the caller names a failed read or scan: a run's
//! [`Unfinished`](crate::job) or a report's `ReportFailure`), and [`Watch`] (what the fan-out does
//! between parts: an export run reports progress and stops at the process's shutdown; a report
//! has a wall-time bound around the whole fan-out instead).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use statport_core::log::geo::{GeoLookup, NoDatabase};
use statport_core::log::RecordSink;
use statport_core::request::GeoSink;
use statport_core::tenant::LogSource;
use statport_core::ExportCondition;
use statport_storage::{ObjectMeta, ObjectStore, StorageError};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Interval;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use crate::scan::{scan, ScanError, ScanSignals, ScanStats};

/// What a fan-out's scans fill, and how their parts come together.
pub(crate) trait Gather: 'static {
    /// What the scan of one object fills, on its own blocking thread.
    type Part: RecordSink + Send + 'static;
    /// What a finished part hands back to the gatherer.
    type Done: Send + 'static;
    /// Why the fan-out ends early, in the caller's terms.
    type Failure: ScanFailure;
    /// A fresh part for the object at `index` of the listing.
    fn part(&self, index: usize) -> Self::Part;
    /// Ends a part on its scan thread (e.g. writes its last sorted run).
    fn seal(part: Self::Part) -> Result<Self::Done, Self::Failure>;
    /// Takes in the next part, in the order of the listing; `Err` stops the fan-out.
    fn absorb(&mut self, done: Self::Done) -> Result<(), Self::Failure>;
}

/// How a caller names each way a scan of the fan-out can fail.
pub(crate) trait ScanFailure: Sized + Send + 'static {
    /// The GET of `bucket/key` failed.
    fn fetch(bucket: &str, key: &str, e: &StorageError) -> Self;
    /// The scan of an object of `bucket` failed: a corrupt body, a failed read, or cancelled
    /// because the fan-out was stopping.
    fn scan(bucket: &str, e: ScanError) -> Self;
    /// A scan's task or thread died (a panic, or the runtime shutting down).
    fn thread(e: &JoinError) -> Self;
    /// The fan-out was stopping while an object's GET was still waiting for an answer.
    fn fetch_stopped() -> Self;
    /// The failure with the counters of every part gathered before it (a run records them).
    fn with_stats(self, _stats: ScanStats) -> Self {
        self
    }
}

/// What a fan-out does besides gathering parts, while its scans run.
pub(crate) trait Watch<F>: Send {
    /// How often [`tick`](Self::tick) is called; `None`: never.
    fn every(&self) -> Option<Duration>;
    /// Called every [`every`](Self::every) with the compressed bytes read so far and the
    /// counters of the parts gathered; `Err` stops the fan-out.
    fn tick(
        &mut self,
        bytes_read: u64,
        stats: &ScanStats,
    ) -> impl Future<Output = Result<(), F>> + Send;
    /// What the fan-out ends with when its [`FanOut::stop`] is cancelled.
    fn stopped(&self) -> F;
}

/// Everything one fan-out reads, and how it is stopped.
pub(crate) struct FanOut<'a> {
    /// Where the log objects are.
    pub objects: &'a Arc<dyn ObjectStore>,
    /// The tenant's log source: bucket and format.
    pub source: &'a LogSource,
    /// The selection every scan applies.
    pub condition: Arc<ExportCondition>,
    /// The IP database the geography filters read, when the condition has any.
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// Objects read at the same time (at least 1).
    pub parallelism: usize,
    /// The scans' shared cancel flag and byte counter.
    pub signals: Arc<ScanSignals>,
    /// Cancelled from outside (the process's shutdown): the fan-out ends with
    /// [`Watch::stopped`].
    pub stop: &'a CancellationToken,
}

/// What the scan of one object ends with: its sealed part and counters, or why it stopped.
type ScanOutcome<D, F> = Result<(D, ScanStats), F>;

/// A finished scan of the fan-out: the object's index in the listing and how its scan ended.
type Finished<G> = (
    usize,
    ScanOutcome<<G as Gather>::Done, <G as Gather>::Failure>,
);

impl FanOut<'_> {
    /// Reads every object of `objects` (several at once), gathering their parts into `gather`
    /// in listing order; stops early on a failure, the gatherer's or the watch's refusal, or
    /// [`stop`](Self::stop). Returns the gatherer and the counters of every scan.
    pub(crate) async fn run<G: Gather, W: Watch<G::Failure>>(
        self,
        mut gather: G,
        objects: Vec<ObjectMeta>,
        watch: &mut W,
    ) -> Result<(G, ScanStats), G::Failure> {
        let signals = self.signals;
        // Cancelled with `stop`, or by this fan-out when it ends early: wakes reads that wait on
        // the network so every scan thread ends promptly.
        let scans_stop = self.stop.child_token();
        let mut stats = ScanStats::default();
        let mut pending = objects.into_iter().enumerate();
        let mut running: JoinSet<Finished<G>> = JoinSet::new();
        // Parts are gathered in the order of the objects, whatever order they finish in, so an
        // approximate result (a top list past its key budget) is the same on every run.
        // Finished parts wait here for the ones before them; at most `parallelism` of them.
        let mut finished: BTreeMap<usize, (G::Done, ScanStats)> = BTreeMap::new();
        let mut next_to_merge = 0usize;
        let mut ticker = watch.every().map(|every| {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        let parallelism = self.parallelism.max(1);
        let result = loop {
            while running.len() < parallelism && finished.len() < parallelism {
                let Some((index, object)) = pending.next() else {
                    break;
                };
                let scan = scan_object::<G>(
                    Arc::clone(self.objects),
                    self.source.clone(),
                    object,
                    (Arc::clone(&self.condition), self.geo.clone()),
                    Arc::clone(&signals),
                    scans_stop.clone(),
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
                        let mut refused = None;
                        while let Some((part, part_stats)) = finished.remove(&next_to_merge) {
                            next_to_merge += 1;
                            stats.lines += part_stats.lines;
                            stats.skipped += part_stats.skipped;
                            stats.selected += part_stats.selected;
                            stats.too_long += part_stats.too_long;
                            if let Err(failure) = gather.absorb(part) {
                                refused = Some(failure);
                                break;
                            }
                        }
                        if let Some(failure) = refused {
                            break Err(failure);
                        }
                    }
                    Some(Ok((_, Err(failure)))) => break Err(failure),
                    Some(Err(join)) => break Err(G::Failure::thread(&join)),
                    None => {}
                },
                () = self.stop.cancelled() => break Err(watch.stopped()),
                () = next_tick(&mut ticker) => {
                    let read = signals.bytes_read.load(Ordering::Relaxed);
                    if let Err(failure) = watch.tick(read, &stats).await {
                        break Err(failure);
                    }
                }
            }
        };
        if let Err(failure) = result {
            signals.cancel.store(true, Ordering::Relaxed);
            scans_stop.cancel();
            // Wait for the scans rather than abort them: a blocking scan thread outlives an
            // aborted task and would read through the runtime after it shut down. Each scan
            // sees the cancel flag at its next check and ends.
            while running.join_next().await.is_some() {}
            return Err(failure.with_stats(stats));
        }
        Ok((gather, stats))
    }
}

/// The next tick of `ticker`; never, without one.
async fn next_tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
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
) -> ScanOutcome<G::Done, G::Failure> {
    let LogSource { bucket, format, .. } = source;
    let reader = tokio::select! {
        got = objects.get(&bucket, &object.key) => got
            .map_err(|e| G::Failure::fetch(&bucket, &object.key, &e))?,
        () = stop.cancelled() => return Err(G::Failure::fetch_stopped()),
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
        Ok(Err(e)) => Err(G::Failure::scan(&bucket, e)),
        Err(join) => Err(G::Failure::thread(&join)),
    }
}

/// An object body whose reads fail once `stop` is cancelled, even while they wait on the
/// network, so a scan thread blocked in a read ends when its fan-out stops.
struct StoppableReader<R> {
    inner: R,
    stopped: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<R> StoppableReader<R> {
    fn new(inner: R, stop: CancellationToken) -> Self {
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
