//! File writing: the aggregate's rows into a csv / json / xlsx file, uploaded under the task's
//! result key.

use super::*;
use crate::output::{Contents, RowKind, Target};

/// The object key of a task's result file.
pub fn result_key(prefix: &str, tenant: &str, task_id: &str, format: ExportFormat) -> String {
    format!("{prefix}{tenant}/{task_id}.{}", format.extension())
}

/// Writes the aggregate's rows to `path` in the condition's format; returns the rows written.
pub fn write_file(
    path: &Path,
    condition: &ExportCondition,
    aggregate: &Partial,
) -> Result<u64, output::OutputError> {
    let columns = Partial::columns(condition);
    let mut writer = output::writer_for(
        condition.export_format,
        Target::File(path),
        Contents {
            columns: &columns,
            language: condition.language,
            rows: RowKind::Aggregate,
        },
    )?;
    for row in aggregate.rows(condition) {
        writer.write_row(&row)?;
    }
    writer.finish()
}

/// Writes the rows to a temp file and uploads it; returns the rows, the file size and its key.
/// A shutdown does not wait for the upload (the task is released; the next run writes the same
/// file again).
pub(super) async fn write_and_upload(
    ctx: &ExportContext,
    record: &TaskRecord,
    run_id: &str,
    aggregate: Partial,
) -> Result<(u64, u64, String), Stop> {
    let condition = &record.condition;
    let format = condition.export_format;
    let temp = ctx.settings.temp_dir.join(format!(
        "{}-{run_id}.{}",
        record.task_id,
        format.extension()
    ));
    let rows = {
        let temp = temp.clone();
        let condition = condition.clone();
        tokio::task::spawn_blocking(move || write_file(&temp, &condition, &aggregate))
            .await
            .map_err(|e| Stop::Retry(format!("writer thread: {e}")))?
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(Stop::Retry(format!("writing the result file: {e}")));
        }
    };
    let (size, key) = upload_file(ctx, record, &temp).await?;
    Ok((rows, size, key))
}

/// Uploads the finished result file at `temp` under the task's result key and removes it;
/// returns the size and the key. A shutdown does not wait for the upload.
pub(super) async fn upload_file(
    ctx: &ExportContext,
    record: &TaskRecord,
    temp: &Path,
) -> Result<(u64, String), Stop> {
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
        return Err(Stop::Released);
    };
    let size = uploaded.map_err(|e| upload_stop(ctx, &key, e))?;
    Ok((size, key))
}

/// The stop for a failed upload of the result file `key`.
pub(super) fn upload_stop(ctx: &ExportContext, key: &str, e: StorageError) -> Stop {
    match e {
        StorageError::NoSuchBucket { bucket } => fail(
            ErrorCode::ResultBucketMissing,
            format!("the result bucket '{bucket}' does not exist"),
        ),
        e if e.is_retryable() => Stop::Retry(storage_cause(
            &format!("PUT {}/{key}", ctx.settings.results_bucket),
            &e,
        )),
        e => fail(
            ErrorCode::ObjectStoreError,
            format!("the object store refused the result file: {e}"),
        ),
    }
}
