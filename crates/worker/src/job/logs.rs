//! The run of a `logs` export: every selected object scanned into sorted runs (the query
//! applied on the scan thread), the runs merged in the export's order and cut at its `count`,
//! the rows written in the export's format, the file uploaded.
//!
//! csv and JSON Lines stream into the object store while the merge produces them
//! ([`UploadWriter`]: a multipart upload on S3, a staged file on the local store), so the
//! result never sits on the worker's disk; xlsx, a zip archive written with seeks, goes through
//! a file first. Everything the run writes on disk lives in its own directory under the
//! worker's temp dir (`statport-logs-<task>-<run>`), removed when the run ends however it ends,
//! and is held in the worker's temp disk budget while it exists: the sorted runs, the merge
//! passes, the xlsx file. A refusal fails the run with `StatPort.TempDiskFull`.

use std::path::PathBuf;
use std::sync::Arc;

use statport_core::log::query::Query;
use statport_core::log::row::{PackedRow, LOG_COLUMNS};
use statport_core::request::{LogOrder, LogsSpec};
use statport_core::table::Language;
use statport_core::task::TaskRecord;
use statport_core::ErrorCode;
use statport_storage::{ObjectMeta, StorageError, UploadWriter};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::scans::scan_all;
use super::write::{result_key, upload_file, upload_stop, Uploaded};
use statport_core::tenant::LogSource;

use super::{temp_disk_full, ExportContext, ResultFile, Unfinished};
use crate::fanout::Gather;
use crate::output::{self, RowWriter};
use crate::output::{Contents, RowKind, Target};
use crate::sort::{Merger, Run, RunBuilder, RunSettings, SORT_DIR_PREFIX};
use crate::temp_disk::{Exhausted, TempDiskBudget};

/// Rows written between two checks of the shutdown signal.
const CHECK_EVERY: u64 = 4_096;

/// The sorted runs of every scanned object.
struct SortedRuns {
    settings: RunSettings,
    runs: Vec<Run>,
}

impl Gather for SortedRuns {
    type Part = RunBuilder;
    type Done = Vec<Run>;
    type Failure = Unfinished;

    fn part(&self, index: usize) -> RunBuilder {
        RunBuilder::new(self.settings.clone(), index)
    }

    fn seal(part: RunBuilder) -> Result<Vec<Run>, Unfinished> {
        part.finish().map_err(|e| match Exhausted::find_in(&e) {
            Some(refused) => temp_disk_full(refused),
            None => Unfinished::Retry(format!("writing a sort run to the temp dir: {e}")),
        })
    }

    fn absorb(&mut self, runs: Vec<Run>) -> Result<(), Unfinished> {
        self.runs.extend(runs);
        Ok(())
    }
}

/// The run's temp directory, removed with everything in it when dropped.
struct RunDir(PathBuf);

impl RunDir {
    fn create(path: PathBuf) -> std::io::Result<RunDir> {
        // A directory left by a killed run of the same id is stale: start clean.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(RunDir(path))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a `logs` export over `objects`: the body of its run, as [`super::execute`] is for the
/// other actions.
pub(super) async fn export(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    source: &LogSource,
    objects: Vec<ObjectMeta>,
    total_bytes: u64,
) -> Result<ResultFile, Unfinished> {
    let condition = &record.condition;
    let spec = condition.logs.clone().ok_or_else(|| {
        Unfinished::fail(
            ErrorCode::InvalidParameter,
            "the task is a 'logs' export without its query, count and order",
        )
    })?;
    // Checked at submission; a stored query that no longer parses is the task's failure.
    let query = Query::parse(&spec.query).map_err(|e| {
        let refused = statport_core::ApiError::from(e);
        Unfinished::fail(refused.code, refused.message)
    })?;
    let dir = RunDir::create(
        ctx.settings
            .temp_dir
            .join(format!("{SORT_DIR_PREFIX}{}-{run_id}", record.task_id)),
    )
    .map_err(|e| Unfinished::Retry(format!("creating the export's temp dir: {e}")))?;
    let gather = SortedRuns {
        settings: RunSettings {
            query: Arc::new(query),
            order: spec.order,
            count: spec.count,
            buffer_bytes: ctx.settings.logs.sort_buffer_bytes,
            dir: dir.0.clone(),
            disk: ctx.temp_disk.clone(),
        },
        runs: Vec::new(),
    };
    let (gathered, stats) =
        scan_all(ctx, record, run_id, source, gather, objects, total_bytes).await?;
    if ctx.shutdown.is_cancelled() {
        return Err(Unfinished::Released);
    }
    let runs = gathered.runs;
    info!(task_id = %record.task_id, runs = runs.len(), selected = stats.selected, "log rows sorted into runs");

    let format = condition.export_format;
    let language = condition.language;
    let escape = super::escape_formulas(ctx, &record.tenant_id);
    let (rows, file) = if output::streams(format) {
        let key = result_key(
            &ctx.settings.results_prefix,
            &record.tenant_id,
            &record.task_id,
            format,
        );
        let upload = UploadWriter::start(
            Arc::clone(&ctx.objects),
            &ctx.settings.results_bucket,
            &key,
            format.content_type(),
        )
        .await
        .map_err(|e| upload_stop(ctx, &key, e))?;
        let job = WriteJob::new(ctx, &spec, dir.0.clone());
        let written = tokio::task::spawn_blocking(move || {
            let mut upload = upload;
            let sink = output::writer_for(
                format,
                Target::Stream(Box::new(&mut upload)),
                log_contents(language, escape),
            )?;
            let rows = job.write(runs, sink)?;
            // Only now does the object appear under its key; dropping `upload` on an
            // error above aborted it instead.
            let size = upload
                .finish()
                .map_err(|e| output::OutputError::Io(std::io::Error::other(e)))?;
            Ok::<_, output::OutputError>((rows, size))
        })
        .await
        .map_err(|e| Unfinished::Retry(format!("writer thread: {e}")))?;
        let (rows, size) = written.map_err(|e| write_stop(ctx, &key, e))?;
        (rows, Uploaded { size, key })
    } else {
        // A format written with seeks (xlsx, a zip archive) goes through a file in the run's
        // dir.
        let path = dir.0.join(format!("result.{}", format.extension()));
        let job = WriteJob::new(ctx, &spec, dir.0.clone());
        let target = path.clone();
        let mut disk = ctx.temp_disk.empty();
        let (written, disk) = tokio::task::spawn_blocking(move || {
            let written = output::writer_for(
                format,
                Target::BudgetedFile {
                    path: &target,
                    disk: &mut disk,
                },
                log_contents(language, escape),
            )
            .and_then(|sink| job.write(runs, sink));
            (written, disk)
        })
        .await
        .map_err(|e| Unfinished::Retry(format!("writer thread: {e}")))?;
        let rows = match (written, disk.refused()) {
            (Ok(rows), _) => rows,
            (Err(_), Some(refused)) => return Err(temp_disk_full(refused)),
            (Err(e), None) => return Err(write_stop(ctx, "", e)),
        };
        let uploaded = upload_file(ctx, record, &path).await;
        // The file is removed: its bytes go back to the budget.
        drop(disk);
        (rows, uploaded?)
    };
    drop(dir);
    Ok(ResultFile {
        rows,
        file,
        stats,
        approximation: None,
    })
}

/// How a run ends after its result could not be written: the object store's own failure when it
/// was the store (a part refused, the bucket gone), the temp disk budget's refusal (a merge
/// pass), a shutdown, else a retry.
fn write_stop(ctx: &ExportContext, key: &str, e: output::OutputError) -> Unfinished {
    if ctx.shutdown.is_cancelled() {
        return Unfinished::Released;
    }
    let io = match e {
        output::OutputError::Io(io) => io,
        output::OutputError::Csv(csv) => match csv.into_kind() {
            ::csv::ErrorKind::Io(io) => io,
            other => return Unfinished::Retry(format!("writing the result file: {other:?}")),
        },
        output::OutputError::Json(json) => std::io::Error::from(json),
        other => return Unfinished::Retry(format!("writing the result file: {other}")),
    };
    if let Some(refused) = Exhausted::find_in(&io) {
        return temp_disk_full(refused);
    }
    let stored = StorageError::find_in(&io).cloned();
    match stored {
        Some(e) => upload_stop(ctx, key, e),
        None => Unfinished::Retry(format!("writing the result file: {io}")),
    }
}

/// What a `logs` export file holds: the log columns, headers in `language`, one row per line,
/// csv's formula-like cells neutralized when `escape_formulas`.
fn log_contents(language: Language, escape_formulas: bool) -> Contents<'static> {
    Contents {
        columns: &LOG_COLUMNS,
        language,
        rows: RowKind::LogLines,
        escape_formulas,
    }
}

/// What the writer thread needs to merge the runs into a file.
struct WriteJob {
    order: LogOrder,
    count: u64,
    fan_in: usize,
    run_dir: PathBuf,
    disk: TempDiskBudget,
    shutdown: CancellationToken,
}

impl WriteJob {
    fn new(ctx: &ExportContext, spec: &LogsSpec, run_dir: PathBuf) -> Self {
        WriteJob {
            order: spec.order,
            count: spec.count,
            fan_in: ctx.settings.logs.merge_fan_in,
            run_dir,
            disk: ctx.temp_disk.clone(),
            shutdown: ctx.shutdown.clone(),
        }
    }

    /// Merges `runs` into `sink` and finishes it; returns the rows written. Stops (an error)
    /// at a shutdown.
    fn write(
        self,
        runs: Vec<Run>,
        mut sink: Box<dyn RowWriter + Send + '_>,
    ) -> Result<u64, output::OutputError> {
        let mut merger = Merger::new(
            runs,
            self.order,
            self.count,
            self.fan_in,
            &self.run_dir,
            &self.disk,
        )?;
        let mut rows = 0u64;
        while let Some(packed) = merger.next_row()? {
            let row = PackedRow::parse(packed).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a sort run is damaged: a row that does not read back",
                )
            })?;
            sink.write_row(&row.cells())?;
            rows += 1;
            if rows.is_multiple_of(CHECK_EVERY) && self.shutdown.is_cancelled() {
                return Err(std::io::Error::other("stopped by shutdown").into());
            }
        }
        sink.finish()
    }
}
