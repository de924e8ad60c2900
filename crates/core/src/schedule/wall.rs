//! Wall-clock times and the instants they name in a zone, with the daylight-saving cases made
//! explicit: a wall time can name one instant, none (skipped by a spring-forward gap) or two
//! (repeated by a fall-back fold).
//!
//! Wall times are carried as "ms since epoch read as if the zone were UTC", so the arithmetic
//! stays in `i64` and the `cron` crate can iterate them in [`chrono::Utc`].

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};

/// What one wall-clock time is in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WallTime {
    /// An ordinary time: one instant (ms since epoch).
    Single(i64),
    /// A time skipped by a spring-forward gap; `shifted` is the instant it names when read with
    /// the offset in force before the gap (02:30 in a 02:00→03:00 gap is 03:30 after it).
    Gap {
        /// ms since epoch.
        shifted: i64,
    },
    /// A time repeated by a fall-back fold: its two instants, earliest first.
    Fold {
        /// ms since epoch.
        first: i64,
        /// ms since epoch.
        second: i64,
    },
}

impl WallTime {
    /// The instant a boundary (start of an hour, day, week or month) at this wall time stands
    /// for: the first instant, or the gap's end for a skipped time at the start of a gap.
    pub(super) fn earliest(self) -> i64 {
        match self {
            WallTime::Single(t) | WallTime::Gap { shifted: t } => t,
            WallTime::Fold { first, .. } => first,
        }
    }
}

/// The naive date-time of a wall time (ms read as UTC); `None` outside chrono's range.
pub(super) fn naive(wall_ms: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(wall_ms).map(|d| d.naive_utc())
}

/// The zone's offset from UTC at `instant_ms`, in ms; `None` outside chrono's range.
pub(super) fn offset_ms<Z: TimeZone>(zone: &Z, instant_ms: i64) -> Option<i64> {
    let at = naive(instant_ms)?;
    Some(i64::from(zone.offset_from_utc_datetime(&at).fix().local_minus_utc()) * 1000)
}

/// The wall time (ms read as UTC) of `instant_ms` in `zone`.
pub(super) fn wall_of<Z: TimeZone>(zone: &Z, instant_ms: i64) -> Option<i64> {
    instant_ms.checked_add(offset_ms(zone, instant_ms)?)
}

/// What the wall time `wall_ms` is in `zone`; `None` outside chrono's range.
pub(super) fn resolve<Z: TimeZone>(zone: &Z, wall_ms: i64) -> Option<WallTime> {
    let local = naive(wall_ms)?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(WallTime::Single(t.timestamp_millis())),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.timestamp_millis(), b.timestamp_millis());
            Some(WallTime::Fold {
                first: a.min(b),
                second: a.max(b),
            })
        }
        LocalResult::None => {
            // The offsets on the two sides of the gap: reading the wall time with one of them
            // lands on the other side, so two lookups find both; the one before the gap is the
            // smaller (clocks went forward).
            let guess = offset_ms(zone, wall_ms)?;
            let one = offset_ms(zone, wall_ms.checked_sub(guess)?)?;
            let other = offset_ms(zone, wall_ms.checked_sub(one)?)?;
            let before = one.min(other);
            Some(WallTime::Gap {
                shifted: wall_ms.checked_sub(before)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use super::*;
    use crate::time::{ms_from_civil, HOUR_MS, MINUTE_MS};

    fn wall(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, 0).expect("test value")
    }

    #[test]
    fn new_york_gap_and_fold() {
        let ny: Tz = "America/New_York".parse().expect("test value");
        // 2026-03-08 02:30 does not exist; read with EST (-5) it is 07:30Z = 03:30 EDT.
        assert_eq!(
            resolve(&ny, wall(2026, 3, 8, 2, 30)),
            Some(WallTime::Gap {
                shifted: wall(2026, 3, 8, 7, 30)
            })
        );
        // 2026-11-01 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
        assert_eq!(
            resolve(&ny, wall(2026, 11, 1, 1, 30)),
            Some(WallTime::Fold {
                first: wall(2026, 11, 1, 5, 30),
                second: wall(2026, 11, 1, 6, 30)
            })
        );
        assert_eq!(
            resolve(&ny, wall(2026, 6, 1, 12, 0)),
            Some(WallTime::Single(wall(2026, 6, 1, 16, 0)))
        );
    }

    #[test]
    fn lord_howe_half_hour_gap() {
        let lh: Tz = "Australia/Lord_Howe".parse().expect("test value");
        // 2026-10-04 02:00 +10:30 → 02:30 +11:00; 02:15 is read as 02:45 +11:00 = 15:45Z.
        let shifted = match resolve(&lh, wall(2026, 10, 4, 2, 15)) {
            Some(WallTime::Gap { shifted }) => shifted,
            other => panic!("{other:?}"),
        };
        assert_eq!(shifted, wall(2026, 10, 3, 15, 45));
        assert_eq!(
            wall_of(&lh, shifted),
            Some(wall(2026, 10, 4, 2, 15) + 30 * MINUTE_MS)
        );
        assert_eq!(offset_ms(&lh, shifted), Some(11 * HOUR_MS));
    }
}
