//! Statistics intervals and time bucketing.
//!
//! A [`Granularity`] is five minutes, an hour, a day or a month; days and months start at
//! midnight in a whole-hour UTC offset (`daily+8`, the Wangsu form). Bucket starts are epoch ms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{civil_from_days, days_from_civil_wide, DAY_MS, HOUR_MS, MINUTE_MS};

/// The size of one statistics interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// 5 minutes (`fiveminutes`, `interval=300`).
    FiveMinutes,
    /// One hour (`hourly`, `interval=3600`).
    Hourly,
    /// One day starting at midnight in UTC + `offset_hours` (`daily`, `daily+8`, `interval=86400`).
    Daily {
        /// Whole hours east of UTC, −12..=+14.
        offset_hours: i8,
    },
    /// One calendar month starting at midnight of the 1st in UTC + `offset_hours`.
    Monthly {
        /// Whole hours east of UTC, −12..=+14.
        offset_hours: i8,
    },
}

/// Why a granularity text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the granularity must be 'fiveminutes', 'hourly', 'daily' or 'monthly' (the last two with an optional UTC offset such as '+8' or '-5')")]
pub struct InvalidGranularity;

impl Granularity {
    /// The granularity of a Huawei-style `interval` in seconds (300, 3600 or 86400).
    pub fn from_interval_secs(secs: i64) -> Option<Self> {
        match secs {
            300 => Some(Granularity::FiveMinutes),
            3600 => Some(Granularity::Hourly),
            86_400 => Some(Granularity::Daily { offset_hours: 0 }),
            _ => None,
        }
    }

    /// The UTC offset in seconds that bucket starts are shown in.
    pub fn offset_secs(self) -> i32 {
        match self {
            Granularity::FiveMinutes | Granularity::Hourly => 0,
            Granularity::Daily { offset_hours } | Granularity::Monthly { offset_hours } => {
                i32::from(offset_hours) * 3600
            }
        }
    }

    /// The fixed length of a bucket, or `None` for months.
    pub fn step_ms(self) -> Option<i64> {
        match self {
            Granularity::FiveMinutes => Some(5 * MINUTE_MS),
            Granularity::Hourly => Some(HOUR_MS),
            Granularity::Daily { .. } => Some(DAY_MS),
            Granularity::Monthly { .. } => None,
        }
    }

    fn offset_ms(self) -> i128 {
        i128::from(self.offset_secs()) * 1000
    }

    /// The start of the bucket that holds `ms`; `None` when that start is before `i64::MIN`
    /// (only for `ms` within one bucket of `i64::MIN`).
    ///
    /// Like every bucketing function here it is total: the arithmetic runs in `i128`, where no
    /// `i64` input can overflow, and the result is narrowed once, so no input panics.
    pub fn checked_floor(self, ms: i64) -> Option<i64> {
        narrow(self.floor_wide(i128::from(ms)))
    }

    /// The smallest bucket start that is `>= ms`; `None` when it is past `i64::MAX`.
    pub fn checked_ceil(self, ms: i64) -> Option<i64> {
        narrow(self.ceil_wide(i128::from(ms)))
    }

    /// The start of the bucket after the one starting at `bucket_start`; `None` when it is past
    /// `i64::MAX`. Always greater than `bucket_start`.
    pub fn checked_next(self, bucket_start: i64) -> Option<i64> {
        narrow(self.next_wide(i128::from(bucket_start)))
    }

    /// [`checked_floor`](Self::checked_floor), saturating at `i64::MIN` (then not a bucket
    /// start): for times already inside the accepted range, where it is always exact.
    pub fn floor(self, ms: i64) -> i64 {
        saturate(self.floor_wide(i128::from(ms)))
    }

    /// [`checked_ceil`](Self::checked_ceil), saturating at `i64::MAX` (then not a bucket
    /// start): for times already inside the accepted range, where it is always exact.
    pub fn ceil(self, ms: i64) -> i64 {
        saturate(self.ceil_wide(i128::from(ms)))
    }

    /// [`checked_next`](Self::checked_next), saturating at `i64::MAX`.
    pub fn next(self, bucket_start: i64) -> i64 {
        saturate(self.next_wide(i128::from(bucket_start)))
    }

    /// Every bucket start in `[start, end)`, where `start` is already a bucket start (if it is
    /// not, the first step goes to the next real bucket start). Ends early, rather than
    /// overflowing, where the next start would pass `i64::MAX`.
    pub fn bucket_starts(self, start: i64, end: i64) -> impl Iterator<Item = i64> {
        std::iter::successors(Some(start), move |&b| self.checked_next(b))
            .take_while(move |&b| b < end)
    }

    /// Number of buckets [`bucket_starts`](Self::bucket_starts) yields for `[start, end)`,
    /// computed without iterating; saturates at `usize::MAX` (only on 32-bit targets).
    pub fn bucket_count(self, start: i64, end: i64) -> usize {
        if end <= start {
            return 0;
        }
        let count: u128 = match self.step_ms() {
            // start, start + step, … while < end: ceil((end - start) / step).
            Some(step) => end.abs_diff(start).div_ceil(step.unsigned_abs()).into(),
            None => {
                // start, then the first of each following month while < end: one more than the
                // months from start's month to the month holding end - 1.
                let months = self.month_index(i128::from(end) - 1) - self.month_index(start.into());
                (months.max(0) + 1).unsigned_abs()
            }
        };
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    fn ceil_wide(self, ms: i128) -> i128 {
        let f = self.floor_wide(ms);
        if f == ms {
            ms
        } else {
            self.next_wide(f)
        }
    }

    fn floor_wide(self, ms: i128) -> i128 {
        match self {
            Granularity::FiveMinutes | Granularity::Hourly | Granularity::Daily { .. } => {
                let step = i128::from(self.step_ms().unwrap_or(DAY_MS));
                let local = ms + self.offset_ms();
                local - local.rem_euclid(step) - self.offset_ms()
            }
            Granularity::Monthly { .. } => {
                let (y, m) = self.local_month(ms);
                days_from_civil_wide(y, m, 1) * i128::from(DAY_MS) - self.offset_ms()
            }
        }
    }

    fn next_wide(self, bucket_start: i128) -> i128 {
        match self.step_ms() {
            Some(step) => bucket_start + i128::from(step),
            None => {
                let (y, m) = self.local_month(bucket_start);
                // y comes from a day count that fits i64, so it is far from i64::MAX.
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil_wide(ny, nm, 1) * i128::from(DAY_MS) - self.offset_ms()
            }
        }
    }

    /// The local `(year, month)` of `ms` (any value an `i64` plus an offset can take).
    fn local_month(self, ms: i128) -> (i64, u32) {
        let days = (ms + self.offset_ms()).div_euclid(i128::from(DAY_MS));
        // |days| <= 2^63 / 86_400_000 + 1: it fits i64 for every input we are given.
        let days = i64::try_from(days).unwrap_or(if days < 0 { i64::MIN } else { i64::MAX });
        let (y, m, _) = civil_from_days(days);
        (y, m)
    }

    /// Months since year 0 of the local month holding `ms`.
    fn month_index(self, ms: i128) -> i128 {
        let (y, m) = self.local_month(ms);
        i128::from(y) * 12 + i128::from(m) - 1
    }
}

/// The `i64` value of a wide result, `None` when it does not fit.
fn narrow(v: i128) -> Option<i64> {
    i64::try_from(v).ok()
}

/// The `i64` nearest to a wide result.
fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, offset) = match *self {
            Granularity::FiveMinutes => ("fiveminutes", 0),
            Granularity::Hourly => ("hourly", 0),
            Granularity::Daily { offset_hours } => ("daily", offset_hours),
            Granularity::Monthly { offset_hours } => ("monthly", offset_hours),
        };
        match offset {
            0 => f.write_str(name),
            o => write!(f, "{name}{o:+}"),
        }
    }
}

impl FromStr for Granularity {
    type Err = InvalidGranularity;

    /// `fiveminutes`, `hourly`, `daily[±H]`, `monthly[±H]` with H in 0..=14 (−12 at most west).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let split = s.find(['+', '-']).unwrap_or(s.len());
        let (name, offset) = s.split_at(split);
        let offset_hours = if offset.is_empty() {
            0
        } else {
            let digits = &offset[1..];
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return Err(InvalidGranularity);
            }
            let v: i8 = digits.parse().map_err(|_| InvalidGranularity)?;
            let v = if offset.starts_with('-') { -v } else { v };
            if !(-12..=14).contains(&v) {
                return Err(InvalidGranularity);
            }
            v
        };
        match name {
            "fiveminutes" if offset.is_empty() => Ok(Granularity::FiveMinutes),
            "hourly" if offset.is_empty() => Ok(Granularity::Hourly),
            "daily" => Ok(Granularity::Daily { offset_hours }),
            "monthly" => Ok(Granularity::Monthly { offset_hours }),
            _ => Err(InvalidGranularity),
        }
    }
}

impl Serialize for Granularity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Granularity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_rfc3339, ms_from_civil};

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, 0).expect("valid test date")
    }

    #[test]
    fn parses_and_prints() {
        for text in [
            "fiveminutes",
            "hourly",
            "daily",
            "daily+8",
            "daily-5",
            "monthly",
            "monthly+14",
            "monthly-12",
        ] {
            let g: Granularity = text.parse().expect(text);
            assert_eq!(g.to_string(), text);
        }
        for bad in [
            "",
            "daily+",
            "daily+15",
            "daily-13",
            "hourly+8",
            "weekly",
            "daily+8x",
            "Daily",
            "daily+008",
        ] {
            assert_eq!(bad.parse::<Granularity>(), Err(InvalidGranularity), "{bad}");
        }
        assert_eq!(
            "daily+0".parse(),
            Ok(Granularity::Daily { offset_hours: 0 })
        );
    }

    #[test]
    fn floors_and_ceils_five_minutes_and_hours() {
        let g = Granularity::FiveMinutes;
        assert_eq!(
            g.checked_floor(at(2026, 1, 1, 10, 7) + 999),
            Some(at(2026, 1, 1, 10, 5))
        );
        assert_eq!(
            g.checked_ceil(at(2026, 1, 1, 10, 7)),
            Some(at(2026, 1, 1, 10, 10))
        );
        assert_eq!(
            g.checked_ceil(at(2026, 1, 1, 10, 10)),
            Some(at(2026, 1, 1, 10, 10))
        );
        let h = Granularity::Hourly;
        assert_eq!(
            h.checked_floor(at(2026, 1, 1, 10, 59)),
            Some(at(2026, 1, 1, 10, 0))
        );
        assert_eq!(
            h.checked_ceil(at(2026, 1, 1, 10, 1)),
            Some(at(2026, 1, 1, 11, 0))
        );
        // before the epoch floors downwards too
        assert_eq!(h.checked_floor(-1), Some(-HOUR_MS));
    }

    #[test]
    fn daily_respects_offset() {
        let g = Granularity::Daily { offset_hours: 8 };
        // 2026-11-24T20:00Z is 2026-11-25T04:00+08:00: the day starts 2026-11-24T16:00Z
        assert_eq!(
            g.checked_floor(at(2026, 11, 24, 20, 0)),
            Some(at(2026, 11, 24, 16, 0))
        );
        assert_eq!(
            g.checked_ceil(at(2026, 11, 24, 20, 0)),
            Some(at(2026, 11, 25, 16, 0))
        );
        assert_eq!(
            format_rfc3339(
                g.checked_floor(at(2026, 11, 24, 20, 0)).expect("in range"),
                g.offset_secs()
            ),
            "2026-11-25T00:00:00+08:00"
        );
        let w = Granularity::Daily { offset_hours: -5 };
        assert_eq!(
            w.checked_floor(at(2026, 11, 24, 3, 0)),
            Some(at(2026, 11, 23, 5, 0))
        );
    }

    #[test]
    fn monthly_handles_month_ends_and_years() {
        let g = Granularity::Monthly { offset_hours: 0 };
        assert_eq!(
            g.checked_floor(at(2024, 2, 29, 23, 59)),
            Some(at(2024, 2, 1, 0, 0))
        );
        assert_eq!(
            g.checked_next(at(2024, 1, 1, 0, 0)),
            Some(at(2024, 2, 1, 0, 0))
        );
        assert_eq!(
            g.checked_next(at(2024, 2, 1, 0, 0)),
            Some(at(2024, 3, 1, 0, 0))
        );
        assert_eq!(
            g.checked_next(at(2026, 12, 1, 0, 0)),
            Some(at(2027, 1, 1, 0, 0))
        );
        assert_eq!(
            g.checked_ceil(at(2026, 1, 31, 0, 0)),
            Some(at(2026, 2, 1, 0, 0))
        );
        let starts: Vec<_> = g
            .bucket_starts(at(2025, 11, 1, 0, 0), at(2026, 3, 1, 0, 0))
            .collect();
        assert_eq!(starts.len(), 4);
        assert_eq!(
            g.bucket_count(at(2025, 11, 1, 0, 0), at(2026, 3, 1, 0, 0)),
            4
        );
        let east = Granularity::Monthly { offset_hours: 8 };
        // 2026-02-28T17:00Z is already March 1st in UTC+8
        assert_eq!(
            east.checked_floor(at(2026, 2, 28, 17, 0)),
            Some(at(2026, 2, 28, 16, 0))
        );
        assert_eq!(
            east.checked_next(at(2026, 2, 28, 16, 0)),
            Some(at(2026, 3, 31, 16, 0))
        );
    }

    #[test]
    fn interval_seconds() {
        assert_eq!(
            Granularity::from_interval_secs(300),
            Some(Granularity::FiveMinutes)
        );
        assert_eq!(
            Granularity::from_interval_secs(86_400),
            Some(Granularity::Daily { offset_hours: 0 })
        );
        assert_eq!(Granularity::from_interval_secs(60), None);
    }

    #[test]
    fn bucket_counts_agree_with_iteration() {
        let start = at(2026, 1, 1, 0, 0);
        let end = at(2026, 1, 2, 0, 0);
        for g in [
            Granularity::FiveMinutes,
            Granularity::Hourly,
            Granularity::Daily { offset_hours: 0 },
        ] {
            assert_eq!(
                g.bucket_count(start, end),
                g.bucket_starts(start, end).count()
            );
        }
        assert_eq!(Granularity::FiveMinutes.bucket_count(start, end), 288);
    }
}

/// Property tests over the whole `i64` range: no input may overflow (debug builds panic on
/// overflow, so an overflow fails the test) and the bucketing invariants hold wherever the
/// results are representable.
#[cfg(test)]
mod properties {
    use super::*;

    /// The accepted request range's bounds, repeated here so this test does not depend on
    /// `condition` (1970-01-01 and 2100-01-01 UTC).
    const ACCEPTED: [i64; 2] = [0, 4_102_444_800_000];

    const ALL: [Granularity; 11] = [
        Granularity::FiveMinutes,
        Granularity::Hourly,
        Granularity::Daily { offset_hours: -12 },
        Granularity::Daily { offset_hours: -5 },
        Granularity::Daily { offset_hours: 0 },
        Granularity::Daily { offset_hours: 8 },
        Granularity::Daily { offset_hours: 14 },
        Granularity::Monthly { offset_hours: -12 },
        Granularity::Monthly { offset_hours: 0 },
        Granularity::Monthly { offset_hours: 8 },
        Granularity::Monthly { offset_hours: 14 },
    ];

    /// SplitMix64: a tiny seeded generator, so every run checks the same values.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Extreme values, the accepted bounds with their neighbours, then seeded values over the
    /// whole range, inside the accepted range and near both ends of `i64`.
    fn values() -> Vec<i64> {
        let mut v = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for b in ACCEPTED {
            v.extend([b - 1, b, b + 1]);
        }
        let mut rng = Rng(0x5747_5054_0005);
        for _ in 0..3000 {
            v.push(rng.next() as i64);
            v.push(ACCEPTED[0] + rng.below(ACCEPTED[1] as u64) as i64);
            let near = rng.below(100 * DAY_MS as u64) as i64;
            v.push(i64::MIN + near);
            v.push(i64::MAX - near);
        }
        v
    }

    fn bucket_len_max(g: Granularity) -> i64 {
        g.step_ms().unwrap_or(31 * DAY_MS)
    }

    #[test]
    fn floor_ceil_next_hold_their_invariants_for_every_i64() {
        let values = values();
        for g in ALL {
            for &x in &values {
                let floor = g.checked_floor(x);
                let ceil = g.checked_ceil(x);
                if let Some(f) = floor {
                    assert!(f <= x, "{g} floor({x}) = {f}");
                    assert!(x - f < bucket_len_max(g), "{g} floor({x}) = {f}");
                    assert_eq!(
                        g.checked_floor(f),
                        Some(f),
                        "{g} floor is idempotent at {x}"
                    );
                    if let Some(n) = g.checked_next(f) {
                        assert!(x < n, "{g} {x} not before next(floor) = {n}");
                        assert_eq!(
                            g.checked_floor(n),
                            Some(n),
                            "{g} next({f}) is a bucket start"
                        );
                    }
                } else {
                    assert!(x < i64::MIN + bucket_len_max(g) + DAY_MS, "{g} floor({x})");
                }
                if let Some(c) = ceil {
                    assert!(c >= x, "{g} ceil({x}) = {c}");
                    assert!(c - x < bucket_len_max(g), "{g} ceil({x}) = {c}");
                    assert_eq!(
                        g.checked_floor(c),
                        Some(c),
                        "{g} ceil({x}) is a bucket start"
                    );
                    if let Some(f) = floor {
                        assert!(c == x || g.checked_next(f) == Some(c), "{g} ceil({x})");
                    }
                } else {
                    assert!(x > i64::MAX - bucket_len_max(g) - DAY_MS, "{g} ceil({x})");
                }
                if let Some(n) = g.checked_next(x) {
                    assert!(n > x, "{g} next({x}) = {n}");
                }
                assert_eq!(
                    g.floor(x),
                    floor.unwrap_or(i64::MIN),
                    "{g} saturating floor"
                );
                assert_eq!(g.ceil(x), ceil.unwrap_or(i64::MAX), "{g} saturating ceil");
                assert_eq!(g.next(x), g.checked_next(x).unwrap_or(i64::MAX), "{g}");
                if (ACCEPTED[0]..ACCEPTED[1]).contains(&x) {
                    assert!(
                        floor.is_some() && ceil.is_some() && g.checked_next(x).is_some(),
                        "{g} {x}"
                    );
                }
            }
        }
    }

    #[test]
    fn bucket_count_agrees_with_iteration_for_every_i64() {
        let mut rng = Rng(0x5747_5054_0006);
        let values = values();
        for g in ALL {
            let max_span = 60 * bucket_len_max(g);
            for (i, &x) in values.iter().enumerate().step_by(7) {
                let start = if i % 2 == 0 {
                    g.checked_floor(x).unwrap_or(x)
                } else {
                    x
                };
                let span = rng.below(max_span as u64) as i64;
                for end in [
                    start.saturating_add(span),
                    start.saturating_sub(span),
                    i64::MAX,
                ] {
                    let count = g.bucket_count(start, end);
                    if count > 100 {
                        // Only the end near i64::MAX is that far; iterate no more than needed.
                        assert_eq!(end, i64::MAX, "{g} [{start}, {end})");
                        continue;
                    }
                    let starts: Vec<i64> = g.bucket_starts(start, end).collect();
                    assert_eq!(count, starts.len(), "{g} [{start}, {end})");
                    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{g} increasing");
                    assert!(starts.iter().all(|&b| b >= start && b < end), "{g} inside");
                }
            }
            // The widest ranges only count: no iteration, no overflow.
            let whole = g.bucket_count(i64::MIN, i64::MAX);
            assert!(whole > 0, "{g}");
            assert_eq!(g.bucket_count(i64::MAX, i64::MIN), 0);
            assert_eq!(g.bucket_count(i64::MAX - 1, i64::MAX), 1);
            assert_eq!(g.bucket_starts(i64::MAX - 1, i64::MAX).count(), 1);
        }
    }
}
