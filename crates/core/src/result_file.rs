//! Where a task's result file is kept, and whether an object under the results prefix is still
//! some task's file: the one rule the API, the submitter, a superseded run and the janitor's
//! sweep of orphans share.
//!
//! Every run of a task writes the same key, [`result_key`] (`{prefix}{tenant}/{task_id}.{ext}`),
//! so the key of a task's file is known from its record even when the record names none (a task
//! reset by a same-condition resubmission, a run whose upload landed after it lost the task).
//! The invariant: an object under the results prefix is either wanted by a live record
//! ([`wants_file`]) or an orphan, to be deleted.

use crate::request::ExportFormat;
use crate::task::{TaskRecord, TaskStatus};
use crate::tenant::is_valid_tenant_id;

/// Every output format, for reading a key's extension back.
const FORMATS: [ExportFormat; 3] = [ExportFormat::Csv, ExportFormat::Json, ExportFormat::Xlsx];

/// The object key of a task's result file under the results `prefix`.
pub fn result_key(prefix: &str, tenant: &str, task_id: &str, format: ExportFormat) -> String {
    format!("{prefix}{tenant}/{task_id}.{}", format.extension())
}

/// The key every run of `record` writes its file to.
pub fn record_key(prefix: &str, record: &TaskRecord) -> String {
    result_key(
        prefix,
        &record.tenant_id,
        &record.task_id,
        record.export_format(),
    )
}

/// Every key a removed `record` may have left a file under: the one its runs write
/// ([`record_key`]), and the one it names when that differs (written under another prefix
/// before a configuration change). Deleting a missing object is not an error, so all go.
pub fn keys_of(prefix: &str, record: &TaskRecord) -> Vec<String> {
    let mut keys = vec![record_key(prefix, record)];
    if let Some(named) = &record.file_key {
        if !keys.contains(named) {
            keys.push(named.clone());
        }
    }
    keys
}

/// A key under the results prefix read back into the task it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultKey<'a> {
    /// The tenant of the task.
    pub tenant: &'a str,
    /// The task.
    pub task_id: &'a str,
    /// The format its extension names.
    pub format: ExportFormat,
}

impl<'a> ResultKey<'a> {
    /// Reads `key` as `{prefix}<tenant>/<task_id>.<ext>`, exactly as [`result_key`] writes it
    /// (a valid tenant id, a non-empty task id, a known extension); `None` for anything else,
    /// which no task would ever write.
    pub fn parse(prefix: &str, key: &'a str) -> Option<Self> {
        let rest = key.strip_prefix(prefix)?;
        let (tenant, file) = rest.split_once('/')?;
        let (task_id, ext) = file.rsplit_once('.')?;
        let format = FORMATS.into_iter().find(|f| f.extension() == ext)?;
        let valid = is_valid_tenant_id(tenant) && !task_id.is_empty() && !task_id.contains('/');
        valid.then_some(ResultKey {
            tenant,
            task_id,
            format,
        })
    }
}

/// True when `record` still wants the object at `key`: its task is `waiting` or `processing`
/// and `key` is the one its run writes (a run may be about to name it), or it is `success`,
/// names `key` as its file and the file has not expired. Anything else under the results
/// prefix belongs to no task: an orphan.
pub fn wants_file(prefix: &str, record: &TaskRecord, key: &str) -> bool {
    match record.status {
        TaskStatus::Waiting | TaskStatus::Processing => record_key(prefix, record) == key,
        TaskStatus::Success => {
            record.file_key.as_deref() == Some(key) && record.file_expired_at.is_none()
        }
        TaskStatus::Fail => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExportRequest;

    fn record(status: TaskStatus, format: &str) -> TaskRecord {
        let body = serde_json::json!({"domain_name": "a.example.com", "start_time": 0,
            "end_time": 3_600_000, "interval": 3600, "export_format": format});
        let condition = ExportRequest::from_json(&body)
            .and_then(|r| r.validate())
            .expect("valid");
        let mut r = TaskRecord::waiting("t9".into(), "acme".into(), "n".into(), condition, 0);
        r.status = status;
        r
    }

    #[test]
    fn a_key_reads_back_into_its_task_and_nothing_else_does() {
        let key = result_key("exports/", "acme", "t9", ExportFormat::Xlsx);
        assert_eq!(key, "exports/acme/t9.xlsx");
        assert_eq!(
            ResultKey::parse("exports/", &key),
            Some(ResultKey {
                tenant: "acme",
                task_id: "t9",
                format: ExportFormat::Xlsx
            })
        );
        for odd in [
            "exports/acme/t9.txt",
            "exports/acme/t9",
            "exports/acme/.csv",
            "exports/acme/sub/t9.csv",
            "exports/-bad/t9.csv",
            "exports/t9.csv",
            "other/acme/t9.csv",
        ] {
            assert_eq!(ResultKey::parse("exports/", odd), None, "{odd}");
        }
        // An empty prefix: the whole bucket is the results'.
        assert!(ResultKey::parse("", "acme/t9.csv").is_some());
    }

    #[test]
    fn only_a_live_record_wants_its_file() {
        let key = "exports/acme/t9.csv";
        for status in [TaskStatus::Waiting, TaskStatus::Processing] {
            let r = record(status, "csv");
            assert!(wants_file("exports/", &r, key), "{status:?}");
            assert!(!wants_file("exports/", &r, "exports/acme/t9.json"));
        }
        let mut done = record(TaskStatus::Success, "csv");
        assert!(!wants_file("exports/", &done, key), "success names no file");
        done.file_key = Some(key.into());
        assert!(wants_file("exports/", &done, key));
        done.file_expired_at = Some(5);
        assert!(!wants_file("exports/", &done, key), "expired");
        let mut failed = record(TaskStatus::Fail, "csv");
        failed.file_key = Some(key.into());
        assert!(!wants_file("exports/", &failed, key));
    }

    #[test]
    fn a_removed_record_leaves_its_run_key_and_its_named_key() {
        let mut r = record(TaskStatus::Fail, "json");
        assert_eq!(keys_of("exports/", &r), vec!["exports/acme/t9.json"]);
        r.file_key = Some("exports/acme/t9.json".into());
        assert_eq!(keys_of("exports/", &r), vec!["exports/acme/t9.json"]);
        r.file_key = Some("old/acme/t9.json".into());
        assert_eq!(
            keys_of("exports/", &r),
            vec!["exports/acme/t9.json", "old/acme/t9.json"]
        );
    }
}
