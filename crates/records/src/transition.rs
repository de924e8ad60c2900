//! The rules of the guarded transitions and of listing order, as pure functions over records.
//!
//! Every [`TaskStore`](crate::TaskStore) computes the next record with these and only differs in
//! how it makes "read, decide, write" atomic, so all stores agree on the semantics.

use std::cmp::Ordering;

use statport_core::outbox::{AttemptResult, CallbackDelivery};
use statport_core::task::{TaskRecord, TaskStatus};

use crate::store::{Claim, ListQuery, Outcome, TaskPage};

/// [`TaskStore::claim`](crate::TaskStore::claim) applied to `current`.
pub(crate) fn claim(current: &TaskRecord, run_id: &str, now_ms: i64) -> Claim {
    if current.status.is_final() {
        return Claim::AlreadyFinished(current.clone());
    }
    let mut next = current.clone();
    if current.status == TaskStatus::Processing {
        // The run that owned it never reported an end: its worker died or was cut off.
        next.retries.crash_recoveries = next.retries.crash_recoveries.saturating_add(1);
    }
    next.retries.next_retry_at = None;
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

/// The update step every store runs for [`TaskStore::claim`](crate::TaskStore::claim): the
/// record to write (none when nothing changes) and the answer.
pub(crate) fn claim_step(
    current: Option<&TaskRecord>,
    run_id: &str,
    now_ms: i64,
) -> (Option<TaskRecord>, Claim) {
    match current {
        None => (None, Claim::Missing),
        Some(current) => match claim(current, run_id, now_ms) {
            Claim::Started(next) => (Some(next.clone()), Claim::Started(next)),
            other => (None, other),
        },
    }
}

/// A guarded change (progress or finish) as a store's update step: the record to write and
/// whether there was one.
pub(crate) fn guarded_step(next: Option<TaskRecord>) -> (Option<TaskRecord>, bool) {
    let changed = next.is_some();
    (next, changed)
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
            approximation,
        } => {
            next.status = TaskStatus::Success;
            next.approximation = approximation.clone();
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
        Outcome::Deferred { cause, retry_at } => {
            let retries = &mut next.retries;
            retries.transient_failures = retries.transient_failures.saturating_add(1);
            retries.retrying_since.get_or_insert(now_ms);
            retries.next_retry_at = Some(*retry_at);
            retries.last_error = Some(cause.clone());
            return Some(back_to_waiting(next, now_ms));
        }
        Outcome::Released => return Some(back_to_waiting(next, now_ms)),
    }
    next.end_time = Some(now_ms);
    next.update_time = now_ms;
    // The outbox: the end's callback is recorded in the same write as the end.
    next.callback = next
        .condition
        .callback_url
        .as_ref()
        .map(|_| CallbackDelivery::pending(run_id, now_ms));
    Some(next)
}

/// [`CallbackOutbox::claim_callback`](crate::CallbackOutbox::claim_callback) applied to
/// `current`: the record with its callback leased to `owner`, when the callback is due.
/// The update time is left alone: a delivery does not move the task in its listing.
pub(crate) fn claim_callback(
    current: &TaskRecord,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Option<TaskRecord> {
    let claimed = current.callback.as_ref()?.claim(owner, now_ms, lease_ms)?;
    let mut next = current.clone();
    next.callback = Some(claimed);
    Some(next)
}

/// [`CallbackOutbox::record_callback`](crate::CallbackOutbox::record_callback) applied to
/// `current`: the record after `owner`'s attempt at delivery `delivery_id`; `None` when that
/// delivery is not `owner`'s any more (another sender took it over, or the task was replaced).
pub(crate) fn record_callback(
    current: &TaskRecord,
    delivery_id: &str,
    owner: &str,
    result: &AttemptResult,
    now_ms: i64,
) -> Option<TaskRecord> {
    let delivery = current
        .callback
        .as_ref()
        .filter(|d| d.delivery_id == delivery_id)?;
    let recorded = delivery.record(owner, result, now_ms)?;
    let mut next = current.clone();
    next.callback = Some(recorded);
    Some(next)
}

/// [`TaskStore::expire_file`](crate::TaskStore::expire_file) applied to `current`: a `success`
/// task with a file that ended at or before `ended_by` records that its file is gone (the key
/// stays, so an old link can still be checked and told "expired"); `None` when there is no
/// such file (already expired, or a task reset or re-run since keeps its new file). With the
/// record to write comes the key of the file to delete.
pub(crate) fn expire_file(
    current: &TaskRecord,
    ended_by: i64,
    now_ms: i64,
) -> Option<(TaskRecord, String)> {
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
    let key = next.file_key.clone()?;
    Some((next, key))
}

/// `next` unowned and `waiting` again, as a run that ended without ending the task leaves it.
fn back_to_waiting(mut next: TaskRecord, now_ms: i64) -> TaskRecord {
    next.status = TaskStatus::Waiting;
    next.run_id = None;
    next.progress = 0;
    next.update_time = now_ms;
    next
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

#[cfg(test)]
mod tests {
    use statport_core::task::TaskError;
    use statport_core::ExportRequest;

    use super::*;

    fn waiting() -> TaskRecord {
        let body = serde_json::json!({"domain_name": "a.example.com", "start_time": 0,
            "end_time": 3_600_000, "interval": 3600, "export_format": "csv"});
        let condition = ExportRequest::from_json(&body)
            .and_then(|r| r.validate())
            .expect("valid");
        TaskRecord::waiting("t".into(), "x".into(), "t".into(), condition, 0)
    }

    fn started(record: &TaskRecord, run: &str, now: i64) -> TaskRecord {
        match claim(record, run, now) {
            Claim::Started(next) => next,
            other => panic!("not started: {other:?}"),
        }
    }

    #[test]
    fn only_a_claim_of_a_processing_task_counts_a_crash_recovery() {
        let first = started(&waiting(), "r1", 1);
        assert_eq!(first.retries.crash_recoveries, 0);
        let taken_over = started(&first, "r2", 2);
        assert_eq!(taken_over.retries.crash_recoveries, 1);
        assert_eq!(taken_over.attempts, 2);
    }

    #[test]
    fn a_deferred_run_leaves_the_task_waiting_with_the_cause_and_no_crash_counted() {
        let run = started(&waiting(), "r1", 10);
        let outcome = Outcome::Deferred {
            cause: "object store: GET b/k: refused".into(),
            retry_at: 2_010,
        };
        let deferred = finish(&run, "r1", &outcome, 10).expect("owned");
        assert_eq!(deferred.status, TaskStatus::Waiting);
        assert_eq!(deferred.run_id, None);
        assert_eq!(deferred.end_time, None);
        assert_eq!(deferred.retries.transient_failures, 1);
        assert_eq!(deferred.retries.retrying_since, Some(10));
        assert_eq!(deferred.retries.next_retry_at, Some(2_010));
        let again = started(&deferred, "r2", 2_010);
        assert_eq!(
            again.retries.crash_recoveries, 0,
            "a deferral is not a crash"
        );
        assert_eq!(again.retries.next_retry_at, None);
        let later = finish(&again, "r2", &outcome, 2_020).expect("owned");
        assert_eq!(
            later.retries.retrying_since,
            Some(10),
            "the span keeps its start"
        );
        assert_eq!(later.retries.transient_failures, 2);
        // Guarded like every run transition.
        assert!(finish(&later, "r2", &Outcome::Released, 3_000).is_none());
    }

    #[test]
    fn a_released_task_is_waiting_unowned_with_nothing_counted() {
        let run = started(&waiting(), "r1", 10);
        let released = finish(&run, "r1", &Outcome::Released, 20).expect("owned");
        assert_eq!(released.status, TaskStatus::Waiting);
        assert_eq!(released.run_id, None);
        assert!(released.retries.is_empty());
        let failed = finish(
            &started(&released, "r2", 30),
            "r2",
            &Outcome::Fail {
                error: TaskError {
                    error_code: "X".into(),
                    error_msg: "y".into(),
                },
                read_lines: 0,
                skipped_lines: 0,
            },
            40,
        )
        .expect("owned");
        assert_eq!(failed.retries.crash_recoveries, 0);
    }
}
