//! A [`CronSpec`]'s fire times as instants, safe across daylight-saving changes.
//!
//! The expression is matched against wall-clock times (iterated by the `cron` crate in UTC used
//! as a wall clock), and each matching wall time becomes instants in the schedule's zone:
//! - a wall time that does not exist (spring forward) fires once, shifted forward by the gap
//!   (02:30 in a 02:00→03:00 gap fires at 03:30), and only once if that instant is also a
//!   regular fire time;
//! - a wall time that happens twice (fall back) fires once, at the first instant, except when
//!   the hour field covers all 24 hours: then it fires at both, so an hourly schedule keeps one
//!   run per real hour (as Vixie cron does for wildcard jobs).
//!
//! Results are strictly increasing and bounded: the search never looks further than
//! [`SEARCH_HORIZON_MS`] of wall time past its start (an expression such as `0 0 30 2 *`
//! yields nothing rather than looping).

use std::collections::BTreeSet;

use chrono::DateTime;

use super::cron::CronSpec;
use super::wall::{offset_ms, resolve, WallTime};
use crate::time::{DAY_MS, HOUR_MS};

/// How far past its start a search for fire times looks, in wall-clock ms (5 years).
pub const SEARCH_HORIZON_MS: i64 = 5 * 366 * DAY_MS;

/// The offsets that can move an instant's wall time are sampled this far either side of the
/// search start: wider than the longest gap or fold (a whole day, Samoa 2011).
const TRANSITION_REACH_MS: i64 = 30 * HOUR_MS;

impl CronSpec {
    /// The fire times strictly after `after_ms` and at most `until_ms` (ms since epoch),
    /// ascending, at most `max` of them.
    pub fn fire_times_after(&self, after_ms: i64, until_ms: i64, max: usize) -> Vec<i64> {
        self.search(after_ms, until_ms, max)
    }

    /// The next `n` fire times strictly after `after_ms`, ascending (fewer when the search
    /// horizon ends first).
    pub fn next_fire_times(&self, after_ms: i64, n: usize) -> Vec<i64> {
        self.search(after_ms, i64::MAX, n)
    }

    fn search(&self, after_ms: i64, until_ms: i64, max: usize) -> Vec<i64> {
        if max == 0 || until_ms <= after_ms {
            return Vec::new();
        }
        let Some(start_wall) = self.earliest_wall_after(after_ms) else {
            return Vec::new();
        };
        let horizon_wall = start_wall.saturating_add(SEARCH_HORIZON_MS);
        let Some(start) = DateTime::from_timestamp_millis(start_wall) else {
            return Vec::new();
        };
        // The `max` smallest instants found so far.
        let mut found: BTreeSet<i64> = BTreeSet::new();
        // No later wall time names an instant before this one (gap-shifted and second fold
        // instants are the only ones out of order, and they are later than it).
        let mut frontier = i64::MIN;
        for wall in self.schedule.after(&start) {
            let wall_ms = wall.timestamp_millis();
            if wall_ms > horizon_wall {
                break;
            }
            let Some(resolved) = resolve(&self.zone, wall_ms) else {
                break;
            };
            let mut keep = |instant: i64| {
                if instant > after_ms && instant <= until_ms {
                    found.insert(instant);
                    if found.len() > max {
                        found.pop_last();
                    }
                }
            };
            match resolved {
                WallTime::Single(t) => {
                    keep(t);
                    frontier = t;
                }
                WallTime::Gap { shifted } => keep(shifted),
                WallTime::Fold { first, second } => {
                    keep(first);
                    if self.every_hour {
                        keep(second);
                    }
                    frontier = first;
                }
            }
            if frontier > until_ms {
                break;
            }
            if found.len() == max && found.last().is_some_and(|last| *last < frontier) {
                break;
            }
        }
        found.into_iter().collect()
    }

    /// A wall time (ms read as UTC) before every wall time that can name an instant after
    /// `after_ms`: the wall time of `after_ms` under the smallest offset in force around it.
    fn earliest_wall_after(&self, after_ms: i64) -> Option<i64> {
        let mut smallest = i64::MAX;
        let mut at = after_ms.checked_sub(TRANSITION_REACH_MS)?;
        let end = after_ms.checked_add(TRANSITION_REACH_MS)?;
        while at <= end {
            smallest = smallest.min(offset_ms(&self.zone, at)?);
            at += HOUR_MS;
        }
        // Whole seconds (the crate's resolution), one before, so nothing at the start is lost.
        let wall = after_ms.checked_add(smallest)?.checked_sub(1000)?;
        Some(wall.div_euclid(1000) * 1000)
    }
}

/// Used by tests elsewhere in the module: fire times of `spec` in `[from, to)` as UTC instants.
#[cfg(test)]
pub(super) fn between(spec: &CronSpec, from_ms: i64, to_ms: i64) -> Vec<i64> {
    spec.fire_times_after(from_ms - 1, to_ms - 1, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ms_from_civil, MINUTE_MS};

    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, 0).expect("test value")
    }

    fn spec(cron: &str, zone: &str) -> CronSpec {
        CronSpec::parse(cron, zone).expect("test value")
    }

    /// The fire times on each local day from `first_day` for `days` days (UTC bounds given).
    fn per_day(spec: &CronSpec, day_starts: &[i64]) -> Vec<usize> {
        day_starts
            .windows(2)
            .map(|w| between(spec, w[0], w[1]).len())
            .collect()
    }

    /// New York local midnights (as instants) from Mar 6 to Mar 11, 2026 (DST from Mar 8).
    fn ny_march_midnights() -> Vec<i64> {
        vec![
            utc(2026, 3, 6, 5, 0),
            utc(2026, 3, 7, 5, 0),
            utc(2026, 3, 8, 5, 0),
            utc(2026, 3, 9, 4, 0),
            utc(2026, 3, 10, 4, 0),
        ]
    }

    /// New York local midnights from Oct 30 to Nov 3, 2026 (EST from Nov 1).
    fn ny_november_midnights() -> Vec<i64> {
        vec![
            utc(2026, 10, 30, 4, 0),
            utc(2026, 10, 31, 4, 0),
            utc(2026, 11, 1, 4, 0),
            utc(2026, 11, 2, 5, 0),
            utc(2026, 11, 3, 5, 0),
        ]
    }

    #[test]
    fn daily_schedules_fire_once_a_day_across_new_york_transitions() {
        for cron in ["30 2 * * *", "30 1 * * *", "0 2 * * *", "0 1 * * *"] {
            let s = spec(cron, "America/New_York");
            assert_eq!(per_day(&s, &ny_march_midnights()), [1, 1, 1, 1], "{cron}");
            assert_eq!(
                per_day(&s, &ny_november_midnights()),
                [1, 1, 1, 1],
                "{cron}"
            );
        }
        // 02:30 on Mar 8 does not exist: it fires at 03:30 EDT (07:30Z).
        let s = spec("30 2 * * *", "America/New_York");
        assert_eq!(
            between(&s, utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)),
            [utc(2026, 3, 8, 7, 30)]
        );
        // 01:30 on Nov 1 happens twice: it fires at the first (EDT, 05:30Z).
        let s = spec("30 1 * * *", "America/New_York");
        assert_eq!(
            between(&s, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)),
            [utc(2026, 11, 1, 5, 30)]
        );
    }

    #[test]
    fn shifted_time_that_is_also_a_regular_fire_time_fires_once() {
        // 02:30 shifts to 03:30, which `30 2,3` also names.
        let s = spec("30 2,3 * * *", "America/New_York");
        assert_eq!(
            between(&s, utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)),
            [utc(2026, 3, 8, 7, 30)]
        );
    }

    #[test]
    fn hourly_fires_once_per_real_hour() {
        for cron in ["0 * * * *", "@hourly", "15 */1 * * *"] {
            let s = spec(cron, "America/New_York");
            assert_eq!(
                per_day(&s, &ny_march_midnights()),
                [24, 24, 23, 24],
                "{cron}"
            );
            assert_eq!(
                per_day(&s, &ny_november_midnights()),
                [24, 24, 25, 24],
                "{cron}"
            );
            let fall = between(&s, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0));
            assert!(fall.windows(2).all(|w| w[1] - w[0] == HOUR_MS), "{cron}");
        }
        // Hours restricted (not every hour): the repeated 01:00 fires once.
        let s = spec("0 0-22 * * *", "America/New_York");
        assert_eq!(per_day(&s, &ny_november_midnights()), [23, 23, 23, 23]);
    }

    #[test]
    fn berlin_transitions() {
        // 2026: CET→CEST Mar 29 02:00→03:00; CEST→CET Oct 25 03:00→02:00.
        let spring = [
            utc(2026, 3, 27, 23, 0),
            utc(2026, 3, 28, 23, 0),
            utc(2026, 3, 29, 22, 0),
        ];
        let fall = [
            utc(2026, 10, 23, 22, 0),
            utc(2026, 10, 24, 22, 0),
            utc(2026, 10, 25, 23, 0),
        ];
        for cron in ["30 2 * * *", "0 2 * * *", "59 2 * * *"] {
            let s = spec(cron, "Europe/Berlin");
            assert_eq!(per_day(&s, &spring), [1, 1], "{cron}");
            assert_eq!(per_day(&s, &fall), [1, 1], "{cron}");
        }
        let s = spec("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            between(&s, spring[1], spring[2]),
            [utc(2026, 3, 29, 1, 30)] // 03:30 CEST
        );
        assert_eq!(between(&s, fall[1], fall[2]), [utc(2026, 10, 25, 0, 30)]); // 02:30 CEST
        let hourly = spec("0 * * * *", "Europe/Berlin");
        assert_eq!(per_day(&hourly, &spring), [24, 23]);
        assert_eq!(per_day(&hourly, &fall), [24, 25]);
    }

    #[test]
    fn shanghai_has_no_dst() {
        let s = spec("0 1 * * *", "Asia/Shanghai");
        assert_eq!(
            s.next_fire_times(utc(2026, 3, 1, 0, 0), 2),
            [utc(2026, 3, 1, 17, 0), utc(2026, 3, 2, 17, 0)]
        );
        // 01:00 Shanghai is 17:00 UTC the day before.
        assert_eq!(
            s.next_fire_times(utc(2026, 12, 31, 12, 0), 1),
            [utc(2026, 12, 31, 17, 0)]
        );
        let hourly = spec("0 * * * *", "Asia/Shanghai");
        assert_eq!(
            hourly
                .fire_times_after(utc(2026, 3, 1, 0, 0), utc(2026, 4, 1, 0, 0), usize::MAX)
                .len(),
            31 * 24
        );
    }

    #[test]
    fn lord_howe_half_hour_shift_fires_once() {
        // 2026-04-05 02:00 +11 → 01:30 +10:30; 2026-10-04 02:00 +10:30 → 02:30 +11.
        let s = spec("15 1,2 * * *", "Australia/Lord_Howe");
        let fall_day = between(&s, utc(2026, 4, 4, 13, 0), utc(2026, 4, 5, 13, 30));
        // 01:15 happens once (before the fold at 01:30..02:00), 02:15 once.
        assert_eq!(fall_day, [utc(2026, 4, 4, 14, 15), utc(2026, 4, 4, 15, 45)]);
        let spring_day = between(&s, utc(2026, 10, 3, 13, 30), utc(2026, 10, 4, 13, 0));
        // 02:15 does not exist: it fires at 02:45 +11 (15:45Z).
        assert_eq!(
            spring_day,
            [utc(2026, 10, 3, 14, 45), utc(2026, 10, 3, 15, 45)]
        );
        let every_half = spec("*/30 * * * *", "Australia/Lord_Howe");
        let times = between(&every_half, utc(2026, 4, 4, 13, 0), utc(2026, 4, 5, 13, 30));
        assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn results_are_bounded_ordered_and_strict() {
        let s = spec("*/5 * * * *", "UTC");
        let t = utc(2026, 1, 1, 0, 0);
        assert_eq!(
            s.next_fire_times(t, 3),
            [t + 5 * MINUTE_MS, t + 10 * MINUTE_MS, t + 15 * MINUTE_MS]
        );
        assert_eq!(s.fire_times_after(t, t + 12 * MINUTE_MS, 10).len(), 2);
        assert_eq!(s.fire_times_after(t - 1, t, 10), [t]);
        assert!(s.fire_times_after(t, t, 10).is_empty());
        assert!(s.fire_times_after(t, t + DAY_MS, 0).is_empty());
        // February 30 never comes: bounded, empty.
        assert!(spec("0 0 30 2 *", "UTC").next_fire_times(t, 1).is_empty());
        // Extreme inputs neither panic nor loop.
        assert!(s.next_fire_times(i64::MAX - 1, 1).is_empty());
        assert!(s.next_fire_times(i64::MIN, 1).is_empty());
    }

    #[test]
    fn day_of_week_is_unix_numbered() {
        let thursday = utc(2026, 1, 1, 0, 0);
        let monday = spec("0 9 * * 1", "UTC").next_fire_times(thursday, 1);
        assert_eq!(monday, [utc(2026, 1, 5, 9, 0)]);
        let sunday = spec("0 9 * * 0", "UTC").next_fire_times(thursday, 1);
        assert_eq!(
            sunday,
            spec("0 9 * * 7", "UTC").next_fire_times(thursday, 1)
        );
        assert_eq!(sunday, [utc(2026, 1, 4, 9, 0)]);
        let weekly = spec("@weekly", "UTC").next_fire_times(thursday, 1);
        assert_eq!(weekly, [utc(2026, 1, 4, 0, 0)]);
    }

    /// Over all of 2026 in zones with hour, half-hour and midnight transitions: a daily
    /// schedule fires on every local date exactly once, an hourly one every real hour.
    #[test]
    fn a_year_of_daily_and_hourly_fires_in_many_zones() {
        let (from, to) = (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        for zone in [
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Asia/Shanghai",
            "Pacific/Chatham",
        ] {
            for (hour, minute) in [
                (0, 0),
                (0, 30),
                (1, 0),
                (1, 30),
                (2, 0),
                (2, 15),
                (2, 30),
                (3, 0),
                (23, 30),
            ] {
                let s = spec(&format!("{minute} {hour} * * *"), zone);
                let times = s.fire_times_after(from, to, usize::MAX);
                let dates: Vec<i64> = times
                    .iter()
                    .map(|t| {
                        super::super::wall::wall_of(&s.zone, *t)
                            .expect("in range")
                            .div_euclid(DAY_MS)
                    })
                    .collect();
                assert!(
                    dates.windows(2).all(|w| w[1] == w[0] + 1),
                    "{zone} {hour}:{minute}"
                );
                assert!((364..=366).contains(&dates.len()), "{zone} {hour}:{minute}");
            }
            let hourly = spec("0 * * * *", zone).fire_times_after(from, to, usize::MAX);
            let step = hourly.windows(2).map(|w| w[1] - w[0]);
            if zone == "Australia/Lord_Howe" || zone == "Pacific/Chatham" {
                // Half-hour or :45 offsets and a 30-min shift: local hours are not all an
                // hour apart, but never repeat nor go backwards.
                assert!(step.clone().all(|d| d > 0), "{zone}");
            } else {
                assert!(step.clone().all(|d| d == HOUR_MS), "{zone}");
                assert_eq!(hourly.len(), 365 * 24, "{zone}");
            }
        }
    }

    #[test]
    fn searching_from_inside_a_fold() {
        // Hourly, after the first 01:00 (EDT, 05:00Z): the second 01:00 (EST) is next.
        let hourly = spec("0 * * * *", "America/New_York");
        assert_eq!(
            hourly.next_fire_times(utc(2026, 11, 1, 5, 0), 3),
            [
                utc(2026, 11, 1, 6, 0),
                utc(2026, 11, 1, 7, 0),
                utc(2026, 11, 1, 8, 0)
            ]
        );
        // Daily 01:30, after its (first) run: the next day, not the repeated 01:30.
        let daily = spec("30 1 * * *", "America/New_York");
        assert_eq!(
            daily.next_fire_times(utc(2026, 11, 1, 5, 30), 1),
            [utc(2026, 11, 2, 6, 30)]
        );
    }

    #[test]
    fn next_fire_times_across_a_fall_back_are_increasing() {
        let s = spec("*/20 * * * *", "America/New_York");
        let times = s.next_fire_times(utc(2026, 11, 1, 4, 0), 100);
        assert_eq!(times.len(), 100);
        assert!(times.windows(2).all(|w| w[1] - w[0] == 20 * MINUTE_MS));
    }
}
