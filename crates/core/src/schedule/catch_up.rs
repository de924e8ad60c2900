//! Which fire times a scheduler runs when it looks at a schedule: the catch-up policy.
//!
//! **Catch-up policy.** A schedule's fire times are due once they have passed and were not
//! handled yet (after its last handled fire time, or after its creation). When one fire time is
//! due, as in normal operation, it runs. When several are due because no scheduler ran for a
//! while, only the latest one runs, and only if it is no older than the catch-up limit
//! (`max_catch_up`, 24 hours by default); the others are skipped and counted in the schedule's
//! `skipped_fires`, never run late. A due fire time older than the limit is skipped too. Fire
//! times that pass while a schedule is paused are not due when it resumes.
//!
//! Pure: the caller passes the time; pausing is the store's business (it moves the last handled
//! fire time on resume).

use super::cron::CronSpec;
use super::fire::SEARCH_HORIZON_MS;
use crate::time::{DAY_MS, MINUTE_MS};

/// The default catch-up limit: a missed fire time up to a day old still runs.
pub const DEFAULT_MAX_CATCH_UP_MS: i64 = DAY_MS;

/// Skipped fire times are counted up to this many; past it `skipped` is a lower bound (a
/// minutely schedule down for ten weeks). So is a count over an outage longer than the search
/// horizon ([`SEARCH_HORIZON_MS`], 5 years).
pub const SKIP_COUNT_CAP: usize = 100_000;

/// What to do with a schedule now: the fire times to run and the ones to skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Fire times to run now (ms since epoch): none or one.
    pub run: Vec<i64>,
    /// The latest skipped fire time (ms since epoch); `None` when none was skipped. With an
    /// empty `run`, the schedule's last handled fire time moves here.
    pub skipped_up_to: Option<i64>,
    /// How many fire times were skipped (at most [`SKIP_COUNT_CAP`], then a lower bound).
    pub skipped: u64,
}

/// Applies the catch-up policy (see the module documentation) to `spec` whose last handled fire
/// time is `last_handled_ms` (its `create_time` when none was handled), at `now_ms`.
pub fn due_fire_times(
    spec: &CronSpec,
    last_handled_ms: i64,
    now_ms: i64,
    max_catch_up_ms: i64,
) -> Due {
    let first_two = spec.fire_times_after(last_handled_ms, now_ms, 2);
    let (latest, due) = match first_two[..] {
        [] => return Due::default(),
        [only] => (only, 1),
        [_, second, ..] => {
            let latest = latest_at_or_before(spec, last_handled_ms, now_ms).unwrap_or(second);
            let before = spec.fire_times_after(last_handled_ms, latest - 1, SKIP_COUNT_CAP);
            (latest, before.len() as u64 + 1)
        }
    };
    let fresh = now_ms.saturating_sub(latest) <= max_catch_up_ms;
    if !fresh {
        return Due {
            run: Vec::new(),
            skipped_up_to: Some(latest),
            skipped: due,
        };
    }
    let skipped = due - 1;
    Due {
        run: vec![latest],
        skipped_up_to: if skipped == 0 {
            None
        } else {
            latest_at_or_before(spec, last_handled_ms, latest - 1)
        },
        skipped,
    }
}

/// The latest fire time in `(lower, upper]`, searched backwards from `upper` over doubling
/// spans (a minute, two, four … up to the search horizon), so a frequent schedule is not
/// enumerated from `lower`.
fn latest_at_or_before(spec: &CronSpec, lower: i64, upper: i64) -> Option<i64> {
    let mut span = MINUTE_MS;
    loop {
        let from = upper.saturating_sub(span).max(lower);
        if let Some(latest) = spec.fire_times_after(from, upper, usize::MAX).last() {
            return Some(*latest);
        }
        if from == lower || span > SEARCH_HORIZON_MS {
            return None;
        }
        span = span.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ms_from_civil, HOUR_MS};

    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, 0).expect("test value")
    }

    fn daily() -> CronSpec {
        CronSpec::parse("0 1 * * *", "UTC").expect("test value")
    }

    #[test]
    fn normal_tick_runs_the_one_fire_time() {
        let fire = utc(2026, 5, 1, 1, 0);
        let due = due_fire_times(
            &daily(),
            fire - DAY_MS,
            fire + 1000,
            DEFAULT_MAX_CATCH_UP_MS,
        );
        assert_eq!(
            due,
            Due {
                run: vec![fire],
                skipped_up_to: None,
                skipped: 0
            }
        );
        // Ticking every second over a minutely schedule: each tick sees at most one.
        let minutely = CronSpec::parse("* * * * *", "UTC").expect("test value");
        let mut last = fire;
        let mut runs = 0;
        for tick in 1..=180 {
            let due = due_fire_times(&minutely, last, fire + tick * 1000, DEFAULT_MAX_CATCH_UP_MS);
            assert_eq!(due.skipped, 0);
            if let Some(t) = due.run.first() {
                last = *t;
                runs += 1;
            }
        }
        assert_eq!(runs, 3);
    }

    #[test]
    fn nothing_due() {
        let fire = utc(2026, 5, 1, 1, 0);
        assert_eq!(
            due_fire_times(&daily(), fire, fire + HOUR_MS, DEFAULT_MAX_CATCH_UP_MS),
            Due::default()
        );
        // A clock behind the last handled fire time.
        assert_eq!(
            due_fire_times(&daily(), fire, fire - HOUR_MS, DEFAULT_MAX_CATCH_UP_MS),
            Due::default()
        );
    }

    #[test]
    fn three_days_down_runs_the_latest_and_skips_two() {
        let last = utc(2026, 5, 1, 1, 0);
        let now = utc(2026, 5, 4, 2, 0); // fire times May 2, 3, 4 at 01:00 are due
        let due = due_fire_times(&daily(), last, now, DEFAULT_MAX_CATCH_UP_MS);
        assert_eq!(
            due,
            Due {
                run: vec![utc(2026, 5, 4, 1, 0)],
                skipped_up_to: Some(utc(2026, 5, 3, 1, 0)),
                skipped: 2
            }
        );
    }

    #[test]
    fn down_longer_than_the_limit_runs_nothing() {
        let last = utc(2026, 5, 1, 1, 0);
        let now = utc(2026, 5, 4, 2, 0);
        let due = due_fire_times(&daily(), last, now, HOUR_MS / 2);
        assert_eq!(
            due,
            Due {
                run: vec![],
                skipped_up_to: Some(utc(2026, 5, 4, 1, 0)),
                skipped: 3
            }
        );
        // One due fire time, but too old, is skipped as well.
        let due = due_fire_times(&daily(), last, last + DAY_MS + 2 * DAY_MS / 3, HOUR_MS);
        assert_eq!(due.run, Vec::<i64>::new());
        assert_eq!(due.skipped, 1);
    }

    #[test]
    fn a_long_outage_of_a_minutely_schedule_is_counted_boundedly() {
        let minutely = CronSpec::parse("* * * * *", "UTC").expect("test value");
        let last = utc(2026, 1, 1, 0, 0);
        let now = last + 100 * DAY_MS + 30_000;
        let due = due_fire_times(&minutely, last, now, DEFAULT_MAX_CATCH_UP_MS);
        assert_eq!(due.run, [last + 100 * DAY_MS]);
        assert_eq!(due.skipped, SKIP_COUNT_CAP as u64);
        assert_eq!(due.skipped_up_to, Some(last + 100 * DAY_MS - MINUTE_MS));
    }
}
