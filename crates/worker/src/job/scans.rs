//! The export run's side of the fan-out ([`crate::fanout`]): what its parts are (partial
//! aggregates merged into the result, [`Aggregates`]; the sorted runs of a `logs` export are in
//! [`super::logs`]), how a failed read or scan ends the run ([`Unfinished`]), and the progress
//! written to the task while the scans run.

use std::sync::Arc;

use statport_core::error::thousands;
use statport_core::stats::partial::Partial;
use statport_core::task::TaskRecord;
use statport_core::ErrorCode;
use statport_core::ExportCondition;
use statport_storage::{ObjectMeta, StorageError};
use tokio::task::JoinError;
use tracing::warn;

use statport_core::tenant::LogSource;

use super::{storage_stop, ExportContext, Unfinished};
use crate::fanout::{FanOut, Gather, ScanFailure, Watch};
use crate::scan::{ScanError, ScanSignals, ScanStats};

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
    type Failure = Unfinished;

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

/// Reads every selected object of the run (several at once) into `gather`, reporting progress
/// to the task; stops early on a failure, a lost claim, the gatherer's refusal or shutdown.
pub(super) async fn scan_all<G: Gather<Failure = Unfinished>>(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    source: &LogSource,
    gather: G,
    objects: Vec<ObjectMeta>,
    total_bytes: u64,
) -> Result<(G, ScanStats), Unfinished> {
    let fan_out = FanOut {
        objects: &ctx.objects,
        source,
        condition: Arc::new(record.condition.clone()),
        geo: ctx.geo.clone(),
        parallelism: ctx.settings.scan_parallelism,
        signals: Arc::new(ScanSignals::default()),
        stop: &ctx.shutdown,
    };
    let mut progress = Progress {
        ctx,
        record,
        run_id,
        total_bytes,
    };
    fan_out.run(gather, objects, &mut progress).await
}

impl ScanFailure for Unfinished {
    fn fetch(bucket: &str, key: &str, e: &StorageError) -> Self {
        storage_stop(e, &format!("GET {bucket}/{key}"))
    }

    fn scan(bucket: &str, e: ScanError) -> Self {
        match e {
            ScanError::Corrupt { key, reason } => Unfinished::fail(
                ErrorCode::CorruptLogFile,
                format!("the log file '{key}' is not valid gzip ({reason})"),
            ),
            ScanError::Read { key, reason } => {
                Unfinished::Retry(format!("object store: GET {bucket}/{key}: {reason}"))
            }
            ScanError::Cancelled => Unfinished::Dropped,
        }
    }

    fn thread(e: &JoinError) -> Self {
        Unfinished::Retry(format!("scan thread: {e}"))
    }

    fn fetch_stopped() -> Self {
        Unfinished::Dropped
    }

    fn with_stats(self, stats: ScanStats) -> Self {
        match self {
            Unfinished::Fail(error, _) => Unfinished::Fail(error, stats),
            other => other,
        }
    }
}

/// The run's progress, written to its task every `progress_interval` while the scans run.
struct Progress<'a> {
    ctx: &'a ExportContext,
    record: &'a TaskRecord,
    run_id: &'a str,
    /// The compressed bytes of every selected object: 99 % of progress.
    total_bytes: u64,
}

impl Watch<Unfinished> for Progress<'_> {
    fn every(&self) -> Option<std::time::Duration> {
        Some(self.ctx.settings.progress_interval)
    }

    async fn tick(&mut self, bytes_read: u64, stats: &ScanStats) -> Result<(), Unfinished> {
        let (ctx, record) = (self.ctx, self.record);
        let progress = bytes_read
            .saturating_mul(99)
            .checked_div(self.total_bytes)
            .unwrap_or(0)
            .min(99) as u8;
        match ctx
            .tasks
            .progress(
                &record.tenant_id,
                &record.task_id,
                self.run_id,
                progress,
                stats.lines,
                stats.skipped,
                ctx.clock.now_ms(),
            )
            .await
        {
            Ok(true) => Ok(()),
            // The task was deleted or another run took it over.
            Ok(false) => Err(Unfinished::Dropped),
            Err(e) => {
                warn!(task_id = %record.task_id, error = %e, "progress report failed");
                Ok(())
            }
        }
    }

    fn stopped(&self) -> Unfinished {
        // The process is shutting down: the task is handed back.
        Unfinished::Released
    }
}
