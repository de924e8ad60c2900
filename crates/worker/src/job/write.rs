//! File writing: the aggregate's rows into a csv / json / xlsx file in the temp dir (its bytes
//! held in the temp disk budget until it is removed), uploaded under the task's result key.

use std::path::Path;

use statport_core::stats::partial::Partial;
use statport_core::task::TaskRecord;
use statport_core::ErrorCode;
use statport_core::ExportCondition;
use statport_storage::StorageError;

use super::{storage_cause, temp_disk_full, ExportContext, Unfinished};
use crate::output::{self, Contents, RowKind, Target};
use crate::temp_disk::Reservation;

/// A result file as stored: what the task's record keeps of it.
pub(super) struct Uploaded {
    /// Its size in bytes.
    pub size: u64,
    /// Its object key in the results bucket ([`result_key`]).
    pub key: String,
}

pub use statport_core::result_file::result_key;

/// Writes the aggregate's rows to `path` in the condition's format (csv text cells that start
/// like a formula neutralized when `escape_formulas`), its bytes held in `disk` before they are
/// written (a refusal fails the write, and `disk` says so); returns the rows written.
pub fn write_file(
    path: &Path,
    condition: &ExportCondition,
    aggregate: &Partial,
    escape_formulas: bool,
    disk: &mut Reservation,
) -> Result<u64, output::OutputError> {
    let columns = Partial::columns(condition);
    let mut writer = output::writer_for(
        condition.export_format,
        Target::BudgetedFile { path, disk },
        Contents {
            columns: &columns,
            language: condition.language,
            rows: RowKind::Aggregate,
            escape_formulas,
        },
    )?;
    for row in aggregate.rows(condition) {
        writer.write_row(&row)?;
    }
    writer.finish()
}

/// Writes the rows to a temp file and uploads it; returns the rows and the stored file.
/// A shutdown does not wait for the upload (the task is released; the next run writes the same
/// file again).
pub(super) async fn write_and_upload(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    aggregate: Partial,
) -> Result<(u64, Uploaded), Unfinished> {
    let condition = &record.condition;
    let format = condition.export_format;
    let temp = ctx.settings.temp_dir.join(format!(
        "{}-{run_id}.{}",
        record.task_id,
        format.extension()
    ));
    let (rows, disk) = {
        let temp = temp.clone();
        let condition = condition.clone();
        let escape = super::escape_formulas(ctx, &record.tenant_id);
        let mut disk = ctx.temp_disk.empty();
        tokio::task::spawn_blocking(move || {
            let rows = write_file(&temp, &condition, &aggregate, escape, &mut disk);
            (rows, disk)
        })
        .await
        .map_err(|e| Unfinished::Retry(format!("writer thread: {e}")))?
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(match disk.refused() {
                Some(refused) => temp_disk_full(refused),
                None => Unfinished::Retry(format!("writing the result file: {e}")),
            });
        }
    };
    let file = upload_file(ctx, record, &temp).await;
    // The file is removed: its bytes go back to the budget.
    drop(disk);
    Ok((rows, file?))
}

/// Uploads the finished result file at `temp` under the task's result key and removes it;
/// returns the stored file. A shutdown does not wait for the upload.
pub(super) async fn upload_file(
    ctx: &ExportContext,
    record: &TaskRecord,
    temp: &Path,
) -> Result<Uploaded, Unfinished> {
    let format = record.condition.export_format;
    let key = result_key(
        &ctx.settings.results_prefix,
        &record.tenant_id,
        &record.task_id,
        format,
    );
    // A shutdown does not wait for an upload: the next run writes the same file again.
    let uploaded = tokio::select! {
        done = ctx.objects.put_file(
            &ctx.settings.results_bucket,
            &key,
            temp,
            format.content_type(),
        ) => Some(done),
        () = ctx.shutdown.cancelled() => None,
    };
    let _ = std::fs::remove_file(temp);
    let Some(uploaded) = uploaded else {
        return Err(Unfinished::Released);
    };
    let size = uploaded.map_err(|e| upload_stop(ctx, &key, e))?;
    Ok(Uploaded { size, key })
}

/// How a run ends after a failed upload of the result file `key`.
pub(super) fn upload_stop(ctx: &ExportContext, key: &str, e: StorageError) -> Unfinished {
    match e {
        StorageError::NoSuchBucket { bucket } => Unfinished::fail(
            ErrorCode::ResultBucketMissing,
            format!("the result bucket '{bucket}' does not exist"),
        ),
        e if e.is_retryable() => Unfinished::Retry(storage_cause(
            &format!("PUT {}/{key}", ctx.settings.results_bucket),
            &e,
        )),
        e => Unfinished::fail(
            ErrorCode::ObjectStoreError,
            format!("the object store refused the result file: {e}"),
        ),
    }
}
