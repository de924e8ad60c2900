//! Admission of a new task under its tenant's limits: at most `max_unfinished` tasks waiting or
//! processing, at most `max_kept` tasks kept (the oldest finished ones are evicted), and a task
//! whose normalized condition equals an existing one takes that task's place.
//!
//! The rule is a pure function over the tenant's current records (`decide`); every
//! [`TaskStore`](crate::TaskStore) applies it atomically against concurrent submissions, so all
//! stores agree on the semantics.

use std::cmp::Ordering;

use statport_core::task::{TaskRecord, TaskStatus};
use statport_core::ExportCondition;

/// The per-tenant limits a new task is admitted under (defaults from the IoTDA seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Tasks kept per tenant; creating one more evicts the oldest finished task.
    pub max_kept: usize,
    /// Tasks `waiting` or `processing` per tenant; one more is refused.
    pub max_unfinished: usize,
}

impl Default for AdmissionLimits {
    /// 50 kept, 5 unfinished (the IoTDA seed).
    fn default() -> Self {
        AdmissionLimits {
            max_kept: 50,
            max_unfinished: 5,
        }
    }
}

/// What [`TaskStore::admit`](crate::TaskStore::admit) did with a new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Stored as a new task; queue a job for it.
    Created {
        /// The record as stored, whose job the caller queues.
        record: TaskRecord,
        /// Older finished tasks removed to stay within `max_kept`: delete their files.
        evicted: Vec<TaskRecord>,
    },
    /// An existing task with the same normalized condition took the request: same `task_id`,
    /// reset to `waiting` and naming no file (the same condition is the same format, so every
    /// run writes the same key: the new run overwrites the previous file; if it fails, the
    /// janitor's orphan sweep deletes that file).
    Replaced {
        /// The record as stored now.
        record: TaskRecord,
        /// What the task was before (boxed: the variants stay small).
        previous: Box<TaskRecord>,
        /// True when a job must be queued: the previous task was not `waiting` (a `waiting` one
        /// still has its job in the queue; a `processing` one loses its run, which stops at its
        /// next report).
        requeue: bool,
    },
    /// Refused: the tenant already has this many unfinished tasks.
    TooManyUnfinished {
        /// Tasks `waiting` or `processing` now.
        unfinished: usize,
        /// The tenant's `max_unfinished`, so the refusal can say what the limit is.
        limit: usize,
    },
}

/// The condition with the submitted times replaced by the normalized range, so two requests
/// that export exactly the same rows compare equal.
pub fn normalized(condition: &ExportCondition) -> ExportCondition {
    let mut c = condition.clone();
    c.start_time = c.range_start;
    c.end_time = c.range_end;
    c
}

/// True when `a` and `b` export the same file: equal conditions after [`normalized`] (action,
/// domains as written, range, granularity, grouping, stat type, filters, format, language and
/// callback). The task name does not count.
pub fn same_condition(a: &ExportCondition, b: &ExportCondition) -> bool {
    normalized(a) == normalized(b)
}

/// The decision for one submission: the record to write, the records to remove, and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The record to store (absent when refused).
    pub(crate) write: Option<TaskRecord>,
    /// Records to remove with their index entries.
    pub(crate) evict: Vec<TaskRecord>,
    /// What the caller is told.
    pub(crate) admission: Admission,
}

fn is_unfinished(r: &TaskRecord) -> bool {
    matches!(r.status, TaskStatus::Waiting | TaskStatus::Processing)
}

fn oldest_first(a: &&TaskRecord, b: &&TaskRecord) -> Ordering {
    a.create_time
        .cmp(&b.create_time)
        .then_with(|| a.task_id.cmp(&b.task_id))
}

/// Admits `new` (a fresh `waiting` record) among the tenant's `existing` records.
pub(crate) fn decide(
    existing: &[TaskRecord],
    new: &TaskRecord,
    limits: &AdmissionLimits,
) -> Decision {
    let unfinished = existing.iter().filter(|r| is_unfinished(r)).count();
    if let Some(previous) = existing
        .iter()
        .find(|r| same_condition(&r.condition, &new.condition))
    {
        if !is_unfinished(previous) && unfinished >= limits.max_unfinished {
            return refused(unfinished, limits);
        }
        let mut record = new.clone();
        record.task_id = previous.task_id.clone();
        return Decision {
            write: Some(record.clone()),
            evict: Vec::new(),
            admission: Admission::Replaced {
                requeue: previous.status != TaskStatus::Waiting,
                record,
                previous: Box::new(previous.clone()),
            },
        };
    }
    if unfinished >= limits.max_unfinished {
        return refused(unfinished, limits);
    }
    let kept_after = existing.len() + 1;
    let surplus = kept_after.saturating_sub(limits.max_kept);
    let mut finished: Vec<&TaskRecord> = existing.iter().filter(|r| r.status.is_final()).collect();
    finished.sort_by(oldest_first);
    let evict: Vec<TaskRecord> = finished.into_iter().take(surplus).cloned().collect();
    Decision {
        write: Some(new.clone()),
        admission: Admission::Created {
            record: new.clone(),
            evicted: evict.clone(),
        },
        evict,
    }
}

fn refused(unfinished: usize, limits: &AdmissionLimits) -> Decision {
    Decision {
        write: None,
        evict: Vec::new(),
        admission: Admission::TooManyUnfinished {
            unfinished,
            limit: limits.max_unfinished,
        },
    }
}

#[cfg(test)]
mod tests {
    use statport_core::request::ExportRequest;

    use super::*;

    const T0: i64 = 1_767_225_600_000;

    fn condition(start: i64, domain: &str) -> ExportCondition {
        condition_until(start, start + 3_600_000, domain)
    }

    fn condition_until(start: i64, end: i64, domain: &str) -> ExportCondition {
        ExportRequest {
            domain_name: Some(domain.to_owned()),
            start_time: Some(start),
            end_time: Some(end),
            granularity: Some("hourly".to_owned()),
            ..ExportRequest::default()
        }
        .validate()
        .expect("valid condition")
    }

    fn rec(id: &str, created: i64, status: TaskStatus, c: ExportCondition) -> TaskRecord {
        let mut r = TaskRecord::waiting(id.into(), "t".into(), id.into(), c, created);
        r.status = status;
        r
    }

    #[test]
    fn equal_after_normalizing_the_range() {
        // 00:10–00:50 and 00:00–01:00 both export the hour 00:00–01:00.
        let a = condition_until(T0 + 600_000, T0 + 3_000_000, "a.example.com");
        let mut b = condition(T0, "a.example.com");
        assert_ne!(a, b);
        assert!(same_condition(&a, &b));
        b.export_format = statport_core::request::ExportFormat::Json;
        assert!(!same_condition(&a, &b));
        assert!(!same_condition(&a, &condition(T0, "b.example.com")));
    }

    #[test]
    fn sixth_unfinished_is_refused_and_a_finished_slot_is_not_counted() {
        let mut existing: Vec<TaskRecord> = (0..5)
            .map(|i| {
                rec(
                    &format!("w{i}"),
                    T0 + i,
                    TaskStatus::Waiting,
                    condition(T0 + i * 3_600_000, "a.example.com"),
                )
            })
            .collect();
        let new = rec(
            "n",
            T0 + 9,
            TaskStatus::Waiting,
            condition(T0, "x.example.com"),
        );
        let d = decide(&existing, &new, &AdmissionLimits::default());
        assert_eq!(
            d.admission,
            Admission::TooManyUnfinished {
                unfinished: 5,
                limit: 5
            }
        );
        assert!(d.write.is_none());
        existing[2].status = TaskStatus::Success;
        let d = decide(&existing, &new, &AdmissionLimits::default());
        assert!(matches!(d.admission, Admission::Created { .. }));
    }

    #[test]
    fn the_oldest_finished_tasks_are_evicted_over_the_kept_limit() {
        let limits = AdmissionLimits {
            max_kept: 3,
            max_unfinished: 5,
        };
        let existing = vec![
            rec(
                "old-running",
                T0,
                TaskStatus::Processing,
                condition(T0, "a.example.com"),
            ),
            rec(
                "second",
                T0 + 2,
                TaskStatus::Fail,
                condition(T0, "b.example.com"),
            ),
            rec(
                "first",
                T0 + 1,
                TaskStatus::Success,
                condition(T0, "c.example.com"),
            ),
        ];
        let new = rec(
            "n",
            T0 + 9,
            TaskStatus::Waiting,
            condition(T0, "d.example.com"),
        );
        let d = decide(&existing, &new, &limits);
        let evicted: Vec<&str> = d.evict.iter().map(|r| r.task_id.as_str()).collect();
        assert_eq!(evicted, vec!["first"], "the running task is never evicted");
    }

    #[test]
    fn same_condition_replaces_and_requeues_unless_still_waiting() {
        let c = condition(T0, "a.example.com");
        for (status, requeue) in [
            (TaskStatus::Waiting, false),
            (TaskStatus::Processing, true),
            (TaskStatus::Success, true),
            (TaskStatus::Fail, true),
        ] {
            let existing = vec![rec("old", T0, status, c.clone())];
            let new = rec("new", T0 + 5, TaskStatus::Waiting, c.clone());
            let d = decide(&existing, &new, &AdmissionLimits::default());
            let Admission::Replaced {
                record, requeue: r, ..
            } = d.admission
            else {
                panic!("expected a replacement for {status:?}");
            };
            assert_eq!(record.task_id, "old");
            assert_eq!(record.status, TaskStatus::Waiting);
            assert_eq!(record.create_time, T0 + 5);
            assert_eq!(r, requeue, "{status:?}");
            assert!(d.evict.is_empty());
        }
    }
}
