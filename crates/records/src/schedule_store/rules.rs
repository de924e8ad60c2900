//! The rules of the schedule store as pure functions over records, so every
//! [`ScheduleStore`](super::ScheduleStore) computes the same next state and only differs in how
//! it makes "read, decide, write" atomic.

use std::cmp::{Ordering, Reverse};

use statport_core::schedule::{RunState, ScheduleFailure, ScheduleRecord, ScheduleRun};

use super::{FireClaim, FireResult, RUNS_KEPT};

/// Listing order: newest `create_time` first, ties by `schedule_id` descending.
pub(crate) fn newest_first(a: &ScheduleRecord, b: &ScheduleRecord) -> Ordering {
    b.create_time
        .cmp(&a.create_time)
        .then_with(|| b.schedule_id.cmp(&a.schedule_id))
}

/// Orders and pages `records` (all of one tenant): (total, page).
pub(crate) fn page(
    mut records: Vec<ScheduleRecord>,
    limit: usize,
    offset: usize,
) -> (usize, Vec<ScheduleRecord>) {
    records.sort_by(newest_first);
    let total = records.len();
    (
        total,
        records.into_iter().skip(offset).take(limit).collect(),
    )
}

/// [`ScheduleStore::set_paused`](super::ScheduleStore::set_paused) applied to `current`; `None`
/// when it is already in that state (nothing to write).
pub(crate) fn set_paused(
    current: &ScheduleRecord,
    paused: bool,
    now_ms: i64,
) -> Option<ScheduleRecord> {
    if current.paused == paused {
        return None;
    }
    let mut next = current.clone();
    next.paused = paused;
    next.update_time = now_ms;
    if !paused {
        // Fire times that passed while paused are not run.
        next.last_fire_time = Some(current.last_fire_time.map_or(now_ms, |t| t.max(now_ms)));
    }
    Some(next)
}

/// [`ScheduleStore::claim_fire`](super::ScheduleStore::claim_fire) for a schedule that exists and
/// is not paused, given the run already stored for the fire time: the run to write (when
/// claimed) and the answer.
pub(crate) fn claim(
    existing: Option<&ScheduleRun>,
    schedule_id: &str,
    fire_time: i64,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
) -> (Option<ScheduleRun>, FireClaim) {
    if let Some(run) = existing {
        let lease_passed =
            matches!(run.state, RunState::Claimed { lease_until, .. } if lease_until <= now_ms);
        if !lease_passed {
            return (None, FireClaim::Taken(run.clone()));
        }
    }
    let run = ScheduleRun {
        schedule_id: schedule_id.to_owned(),
        fire_time,
        state: RunState::Claimed {
            owner: owner.to_owned(),
            lease_until: now_ms.saturating_add(lease_ms),
        },
        update_time: now_ms,
    };
    (Some(run), FireClaim::Claimed)
}

/// The run and schedule after [`ScheduleStore::complete_fire`](super::ScheduleStore::complete_fire);
/// `None` when `owner` does not hold `run`.
pub(crate) fn complete(
    run: &ScheduleRun,
    schedule: &ScheduleRecord,
    owner: &str,
    result: &FireResult,
    now_ms: i64,
) -> Option<(ScheduleRun, ScheduleRecord)> {
    let held = matches!(&run.state, RunState::Claimed { owner: holder, .. } if holder == owner);
    if !held {
        return None;
    }
    let mut next_run = run.clone();
    let mut next = schedule.clone();
    next.last_fire_time = Some(
        schedule
            .last_fire_time
            .map_or(run.fire_time, |t| t.max(run.fire_time)),
    );
    match result {
        FireResult::Created { task_id } => {
            next_run.state = RunState::Created {
                task_id: task_id.clone(),
            };
            next.last_error = None;
        }
        FireResult::Refused(error) => {
            next_run.state = RunState::Refused {
                error: error.clone(),
            };
            next.last_error = Some(error.clone());
        }
    }
    next.last_failure = None;
    next_run.update_time = now_ms;
    Some((next_run, next))
}

/// [`ScheduleStore::skip_fires`](super::ScheduleStore::skip_fires) applied to `current`; `None`
/// when `up_to` is not after the latest handled fire time (already recorded).
pub(crate) fn skip(current: &ScheduleRecord, up_to: i64, skipped: u64) -> Option<ScheduleRecord> {
    if current.last_fire_time.is_some_and(|last| last >= up_to) {
        return None;
    }
    let mut next = current.clone();
    next.last_fire_time = Some(up_to);
    next.skipped_fires = next.skipped_fires.saturating_add(skipped);
    Some(next)
}

/// [`ScheduleStore::record_failure`](super::ScheduleStore::record_failure) applied to
/// `current`: one more failed attempt, counted from the one recorded before.
pub(crate) fn fail(current: &ScheduleRecord, at_ms: i64, message: &str) -> ScheduleRecord {
    let mut next = current.clone();
    next.last_failure = Some(ScheduleFailure::next(
        current.last_failure.as_ref(),
        at_ms,
        message,
    ));
    next
}

/// [`ScheduleStore::clear_failure`](super::ScheduleStore::clear_failure) applied to `current`;
/// `None` when its failure is not `seen` (none, or recorded since).
pub(crate) fn clear_failure(
    current: &ScheduleRecord,
    seen: &ScheduleFailure,
) -> Option<ScheduleRecord> {
    if current.last_failure.as_ref() != Some(seen) {
        return None;
    }
    let mut next = current.clone();
    next.last_failure = None;
    Some(next)
}

/// The fire times to remove so that the [`RUNS_KEPT`] latest runs stay, and every `Claimed` run.
pub(crate) fn to_trim(runs: &[ScheduleRun]) -> Vec<i64> {
    let mut newest_first: Vec<&ScheduleRun> = runs.iter().collect();
    newest_first.sort_by_key(|run| Reverse(run.fire_time));
    newest_first
        .into_iter()
        .skip(RUNS_KEPT)
        .filter(|run| !matches!(run.state, RunState::Claimed { .. }))
        .map(|run| run.fire_time)
        .collect()
}

/// Orders `runs` newest fire time first and keeps `limit` of them.
pub(crate) fn latest(mut runs: Vec<ScheduleRun>, limit: usize) -> Vec<ScheduleRun> {
    runs.sort_by_key(|run| Reverse(run.fire_time));
    runs.truncate(limit);
    runs
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use statport_core::schedule::{RelativeWindow, ScheduleError, WindowUnit};

    use super::*;

    fn schedule(last_fire_time: Option<i64>) -> ScheduleRecord {
        ScheduleRecord {
            schedule_id: "s".into(),
            tenant_id: "t".into(),
            name: "n".into(),
            cron: "0 * * * *".into(),
            time_zone: "UTC".into(),
            window: RelativeWindow {
                unit: WindowUnit::Hour,
                count: 1,
                time_zone: None,
            },
            template: json!({}),
            paused: false,
            create_time: 0,
            update_time: 0,
            last_fire_time,
            last_error: None,
            last_failure: None,
            skipped_fires: 0,
        }
    }

    fn run(fire_time: i64, state: RunState) -> ScheduleRun {
        ScheduleRun {
            schedule_id: "s".into(),
            fire_time,
            state,
            update_time: 0,
        }
    }

    fn claimed(owner: &str, lease_until: i64) -> RunState {
        RunState::Claimed {
            owner: owner.into(),
            lease_until,
        }
    }

    #[test]
    fn a_lease_ends_at_its_instant() {
        let held = run(5, claimed("a", 100));
        assert!(matches!(
            claim(Some(&held), "s", 5, "b", 99, 10).1,
            FireClaim::Taken(_)
        ));
        let (next, answer) = claim(Some(&held), "s", 5, "b", 100, 10);
        assert_eq!(answer, FireClaim::Claimed);
        assert_eq!(next.map(|r| r.state), Some(claimed("b", 110)));
    }

    #[test]
    fn only_the_holder_completes_and_the_last_fire_time_never_goes_back() {
        let held = run(5, claimed("a", 100));
        let refused = FireResult::Refused(ScheduleError {
            fire_time: 5,
            error_code: "X".into(),
            error_msg: "y".into(),
        });
        assert!(complete(&held, &schedule(None), "b", &refused, 7).is_none());
        let (done, next) = complete(&held, &schedule(Some(9)), "a", &refused, 7).expect("held");
        assert!(matches!(done.state, RunState::Refused { .. }));
        assert_eq!(next.last_fire_time, Some(9));
        assert!(next.last_error.is_some());
        assert!(
            complete(&done, &next, "a", &refused, 8).is_none(),
            "only once"
        );
    }

    #[test]
    fn a_failure_counts_on_until_a_run_is_completed() {
        let failed = fail(&fail(&schedule(Some(3)), 10, "a"), 20, "b");
        let failure = failed.last_failure.clone().expect("recorded");
        assert_eq!(
            (failure.at, failure.message.as_str(), failure.consecutive),
            (20, "b", 2)
        );
        assert_eq!(failed.last_fire_time, Some(3), "nothing else changes");
        let held = run(5, claimed("a", 100));
        let created = FireResult::Created {
            task_id: "x".into(),
        };
        let (_, next) = complete(&held, &failed, "a", &created, 30).expect("held");
        assert_eq!(next.last_failure, None, "the next completed run clears it");
        let again = fail(&next, 40, "c");
        let seen = again.last_failure.clone().expect("recorded");
        assert_eq!(seen.consecutive, 1, "counted afresh");
        let newer = fail(&again, 50, "d");
        assert!(
            clear_failure(&newer, &seen).is_none(),
            "a newer failure stays"
        );
        let cleared = clear_failure(&again, &seen).expect("still the one seen");
        assert_eq!(cleared.last_failure, None);
        assert!(clear_failure(&cleared, &seen).is_none());
    }

    #[test]
    fn resuming_moves_the_last_fire_time_to_now_and_pausing_does_not() {
        let paused = set_paused(&schedule(Some(3)), true, 10).expect("changed");
        assert_eq!((paused.paused, paused.last_fire_time), (true, Some(3)));
        assert!(set_paused(&paused, true, 11).is_none());
        let resumed = set_paused(&paused, false, 20).expect("changed");
        assert_eq!(
            (resumed.last_fire_time, resumed.update_time),
            (Some(20), 20)
        );
    }

    #[test]
    fn trimming_keeps_the_latest_and_every_claimed_run() {
        let mut runs: Vec<ScheduleRun> = (0..RUNS_KEPT as i64 + 3)
            .map(|t| {
                run(
                    t,
                    RunState::Created {
                        task_id: "x".into(),
                    },
                )
            })
            .collect();
        runs[1].state = claimed("a", 0);
        let mut trimmed = to_trim(&runs);
        trimmed.sort_unstable();
        assert_eq!(trimmed, vec![0, 2]);
    }
}
