//! The run of a `logs` export: every selected object scanned into sorted runs (the query
//! applied on the scan thread), the runs merged in the export's order and cut at its `count`,
//! the rows written in the export's format, the file uploaded.
//!
//! Everything the run writes on disk lives in its own directory under the worker's temp dir
//! (`statport-logs-<task>-<run>`), removed when the run ends however it ends.

use std::path::PathBuf;

use statport_core::logrow::{PackedRow, LOG_COLUMNS};
use statport_core::query::Query;

use super::fanout::Gather;
use super::write::upload_file;
use super::*;
use crate::sort::{Merger, Run, RunBuilder, RunSettings};

/// Rows written between two checks of the shutdown signal.
const CHECK_EVERY: u64 = 65_536;

/// The sorted runs of every scanned object.
struct SortedRuns {
    settings: RunSettings,
    runs: Vec<Run>,
}

impl Gather for SortedRuns {
    type Part = RunBuilder;
    type Done = Vec<Run>;

    fn part(&self, index: usize) -> RunBuilder {
        RunBuilder::new(self.settings.clone(), index)
    }

    fn seal(part: RunBuilder) -> Result<Vec<Run>, Stop> {
        part.finish()
            .map_err(|e| Stop::Retry(format!("writing a sort run to the temp dir: {e}")))
    }

    fn absorb(&mut self, runs: Vec<Run>) -> Result<(), Stop> {
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

/// Runs a `logs` export over `objects`; returns what [`execute`] returns.
pub(super) async fn export(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    source: &LogSource,
    objects: Vec<ObjectMeta>,
    total_bytes: u64,
) -> Result<(u64, u64, String, ScanStats, Option<String>), Stop> {
    let condition = &record.condition;
    let spec = condition.logs.clone().ok_or_else(|| {
        fail(
            ErrorCode::InvalidParameter,
            "the task is a 'logs' export without its query, count and order",
        )
    })?;
    // Checked at submission; a stored query that no longer parses is the task's failure.
    let query = Query::parse(&spec.query).map_err(|e| {
        fail(
            ErrorCode::InvalidParameter,
            format!("the parameter 'query' is invalid {e}"),
        )
    })?;
    let dir = RunDir::create(
        ctx.settings
            .temp_dir
            .join(format!("statport-logs-{}-{run_id}", record.task_id)),
    )
    .map_err(|e| Stop::Retry(format!("creating the export's temp dir: {e}")))?;
    let gather = SortedRuns {
        settings: RunSettings {
            query: Arc::new(query),
            order: spec.order,
            count: spec.count,
            buffer_bytes: ctx.settings.logs.sort_buffer_bytes,
            dir: dir.0.clone(),
        },
        runs: Vec::new(),
    };
    let (gathered, stats) =
        scan_all(ctx, record, run_id, source, gather, objects, total_bytes).await?;
    if ctx.shutdown.is_cancelled() {
        return Err(Stop::Released);
    }
    let runs = gathered.runs;
    info!(task_id = %record.task_id, runs = runs.len(), selected = stats.selected, "log rows sorted into runs");

    let path = dir
        .0
        .join(format!("result.{}", condition.export_format.extension()));
    let written = {
        let path = path.clone();
        let condition = condition.clone();
        let run_dir = dir.0.clone();
        let fan_in = ctx.settings.logs.merge_fan_in;
        let shutdown = ctx.shutdown.clone();
        tokio::task::spawn_blocking(move || {
            write_rows(&path, &condition, runs, fan_in, &run_dir, &shutdown)
        })
        .await
        .map_err(|e| Stop::Retry(format!("writer thread: {e}")))?
    };
    let rows = match written {
        Ok(rows) => rows,
        Err(_) if ctx.shutdown.is_cancelled() => return Err(Stop::Released),
        Err(e) => return Err(Stop::Retry(format!("writing the result file: {e}"))),
    };
    let (size, key) = upload_file(ctx, record, &path).await?;
    drop(dir);
    Ok((rows, size, key, stats, None))
}

/// Merges `runs` into the result file at `path`; returns the rows written.
fn write_rows(
    path: &Path,
    condition: &ExportCondition,
    runs: Vec<Run>,
    fan_in: usize,
    run_dir: &Path,
    shutdown: &CancellationToken,
) -> Result<u64, output::OutputError> {
    let (order, count) = condition
        .logs
        .as_ref()
        .map_or((Default::default(), 0), |spec| (spec.order, spec.count));
    let mut merger = Merger::new(runs, order, count, fan_in, run_dir)?;
    let mut writer: Box<dyn RowWriter + Send> = match condition.export_format {
        ExportFormat::Csv => output::csv_writer(path, &LOG_COLUMNS, condition.language)?,
        ExportFormat::Json => output::json_lines_writer(path, &LOG_COLUMNS)?,
        ExportFormat::Xlsx => output::xlsx_writer(path, &LOG_COLUMNS, condition.language)?,
    };
    let mut rows = 0u64;
    while let Some(packed) = merger.next_row()? {
        let row = PackedRow::parse(packed).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a sort run is damaged: a row that does not read back",
            )
        })?;
        writer.write_row(&row.cells())?;
        rows += 1;
        if rows % CHECK_EVERY == 0 && shutdown.is_cancelled() {
            return Err(std::io::Error::other("stopped by shutdown").into());
        }
    }
    writer.finish()
}
