//! The rules of the guarded transitions and of listing order, as pure functions over records.
//!
//! Every [`TaskStore`](crate::TaskStore) computes the next record with these and only differs in
//! how it makes "read, decide, write" atomic, so all stores agree on the semantics.

use std::cmp::Ordering;

use statport_core::task::{TaskRecord, TaskStatus};

use crate::store::{Claim, ListQuery, Outcome, TaskPage};

/// [`TaskStore::claim`](crate::TaskStore::claim) applied to `current`.
pub(crate) fn claim(current: &TaskRecord, run_id: &str, now_ms: i64) -> Claim {
    if current.status.is_final() {
        return Claim::AlreadyFinished(current.clone());
    }
    let mut next = current.clone();
    next.status = TaskStatus::Processing;
    next.run_id = Some(run_id.to_owned());
    next.attempts = next.attempts.saturating_add(1);
    next.progress = 0;
    next.read_lines = 0;
    next.skipped_lines = 0;
    next.update_time = now_ms;
    Claim::Started(next)
}

/// True when run `run_id` may change `current`: it is `processing` and owned by that run.
fn owned_by(current: &TaskRecord, run_id: &str) -> bool {
    current.status == TaskStatus::Processing && current.run_id.as_deref() == Some(run_id)
}

/// [`TaskStore::progress`](crate::TaskStore::progress) applied to `current`; `None` when the run
/// does not own it.
pub(crate) fn progress(
    current: &TaskRecord,
    run_id: &str,
    progress: u8,
    read_lines: u64,
    skipped_lines: u64,
    now_ms: i64,
) -> Option<TaskRecord> {
    if !owned_by(current, run_id) {
        return None;
    }
    let mut next = current.clone();
    next.progress = progress.min(100);
    next.read_lines = read_lines;
    next.skipped_lines = skipped_lines;
    next.update_time = now_ms;
    Some(next)
}

/// [`TaskStore::finish`](crate::TaskStore::finish) applied to `current`; `None` when the run
/// does not own it.
pub(crate) fn finish(
    current: &TaskRecord,
    run_id: &str,
    outcome: &Outcome,
    now_ms: i64,
) -> Option<TaskRecord> {
    if !owned_by(current, run_id) {
        return None;
    }
    let mut next = current.clone();
    match outcome {
        Outcome::Success {
            export_count,
            file_size,
            file_key,
            read_lines,
            skipped_lines,
        } => {
            next.status = TaskStatus::Success;
            next.progress = 100;
            next.export_count = *export_count;
            next.file_size = Some(*file_size);
            next.file_key = Some(file_key.clone());
            next.read_lines = *read_lines;
            next.skipped_lines = *skipped_lines;
            next.error = None;
        }
        Outcome::Fail {
            error,
            read_lines,
            skipped_lines,
        } => {
            next.status = TaskStatus::Fail;
            next.file_size = None;
            next.file_key = None;
            next.read_lines = *read_lines;
            next.skipped_lines = *skipped_lines;
            next.error = Some(error.clone());
        }
    }
    next.end_time = Some(now_ms);
    next.update_time = now_ms;
    Some(next)
}

/// [`TaskStore::expire_file`](crate::TaskStore::expire_file) applied to `current`: a `success`
/// task with a file that ended at or before `ended_by` records that its file is gone (the key
/// stays, so an old link can still be checked and told "expired"); `None` when there is no
/// such file (already expired, or a task reset or re-run since keeps its new file).
pub(crate) fn expire_file(current: &TaskRecord, ended_by: i64, now_ms: i64) -> Option<TaskRecord> {
    let ended_in_time = current.end_time.is_some_and(|end| end <= ended_by);
    if current.status != TaskStatus::Success
        || current.file_key.is_none()
        || current.file_expired_at.is_some()
        || !ended_in_time
    {
        return None;
    }
    let mut next = current.clone();
    next.file_expired_at = Some(now_ms);
    next.update_time = now_ms;
    Some(next)
}

/// Listing order: newest `update_time` first, then newer `create_time`, then `task_id`
/// descending (byte-wise, as Redis compares strings).
pub(crate) fn newest_first(a: &TaskRecord, b: &TaskRecord) -> Ordering {
    b.update_time
        .cmp(&a.update_time)
        .then_with(|| b.create_time.cmp(&a.create_time))
        .then_with(|| b.task_id.cmp(&a.task_id))
}

/// Filters, orders and pages `records` (all of one tenant, or a superset of the matches).
pub(crate) fn page(records: Vec<TaskRecord>, query: &ListQuery) -> TaskPage {
    let mut matching: Vec<TaskRecord> = records.into_iter().filter(|r| query.matches(r)).collect();
    matching.sort_by(newest_first);
    let total = matching.len();
    let data = matching
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    TaskPage { total, data }
}
