//! Statistics intervals and time bucketing.
//!
//! A [`Granularity`] is five minutes, an hour, a day or a month; days and months start at
//! midnight in a whole-hour UTC offset (`daily+8`, the Wangsu form). Bucket starts are epoch ms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{civil_from_days, days_from_civil, DAY_MS, HOUR_MS, MINUTE_MS};

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

    fn offset_ms(self) -> i64 {
        i64::from(self.offset_secs()) * 1000
    }

    /// The start of the bucket that holds `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        match self {
            Granularity::FiveMinutes => ms - ms.rem_euclid(5 * MINUTE_MS),
            Granularity::Hourly => ms - ms.rem_euclid(HOUR_MS),
            Granularity::Daily { .. } => {
                let local = ms + self.offset_ms();
                local - local.rem_euclid(DAY_MS) - self.offset_ms()
            }
            Granularity::Monthly { .. } => {
                let local = ms + self.offset_ms();
                let (y, m, _) = civil_from_days(local.div_euclid(DAY_MS));
                days_from_civil(y, m, 1) * DAY_MS - self.offset_ms()
            }
        }
    }

    /// The smallest bucket start that is `>= ms`.
    pub fn ceil(self, ms: i64) -> i64 {
        let f = self.floor(ms);
        if f == ms {
            ms
        } else {
            self.next(f)
        }
    }

    /// The start of the bucket after the one starting at `bucket_start`.
    pub fn next(self, bucket_start: i64) -> i64 {
        match self {
            Granularity::FiveMinutes => bucket_start + 5 * MINUTE_MS,
            Granularity::Hourly => bucket_start + HOUR_MS,
            Granularity::Daily { .. } => bucket_start + DAY_MS,
            Granularity::Monthly { .. } => {
                let local = bucket_start + self.offset_ms();
                let (y, m, _) = civil_from_days(local.div_euclid(DAY_MS));
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(ny, nm, 1) * DAY_MS - self.offset_ms()
            }
        }
    }

    /// Every bucket start in `[start, end)`, where `start` is already a bucket start.
    pub fn bucket_starts(self, start: i64, end: i64) -> impl Iterator<Item = i64> {
        std::iter::successors(Some(start), move |&b| Some(self.next(b)))
            .take_while(move |&b| b < end)
    }

    /// Number of buckets in `[start, end)`.
    pub fn bucket_count(self, start: i64, end: i64) -> usize {
        match self {
            Granularity::FiveMinutes => ((end - start).max(0) / (5 * MINUTE_MS)) as usize,
            Granularity::Hourly => ((end - start).max(0) / HOUR_MS) as usize,
            Granularity::Daily { .. } => ((end - start).max(0) / DAY_MS) as usize,
            Granularity::Monthly { .. } => self.bucket_starts(start, end).count(),
        }
    }
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
        assert_eq!(g.floor(at(2026, 1, 1, 10, 7) + 999), at(2026, 1, 1, 10, 5));
        assert_eq!(g.ceil(at(2026, 1, 1, 10, 7)), at(2026, 1, 1, 10, 10));
        assert_eq!(g.ceil(at(2026, 1, 1, 10, 10)), at(2026, 1, 1, 10, 10));
        let h = Granularity::Hourly;
        assert_eq!(h.floor(at(2026, 1, 1, 10, 59)), at(2026, 1, 1, 10, 0));
        assert_eq!(h.ceil(at(2026, 1, 1, 10, 1)), at(2026, 1, 1, 11, 0));
        // before the epoch floors downwards too
        assert_eq!(h.floor(-1), -HOUR_MS);
    }

    #[test]
    fn daily_respects_offset() {
        let g = Granularity::Daily { offset_hours: 8 };
        // 2026-11-24T20:00Z is 2026-11-25T04:00+08:00: the day starts 2026-11-24T16:00Z
        assert_eq!(g.floor(at(2026, 11, 24, 20, 0)), at(2026, 11, 24, 16, 0));
        assert_eq!(g.ceil(at(2026, 11, 24, 20, 0)), at(2026, 11, 25, 16, 0));
        assert_eq!(
            format_rfc3339(g.floor(at(2026, 11, 24, 20, 0)), g.offset_secs()),
            "2026-11-25T00:00:00+08:00"
        );
        let w = Granularity::Daily { offset_hours: -5 };
        assert_eq!(w.floor(at(2026, 11, 24, 3, 0)), at(2026, 11, 23, 5, 0));
    }

    #[test]
    fn monthly_handles_month_ends_and_years() {
        let g = Granularity::Monthly { offset_hours: 0 };
        assert_eq!(g.floor(at(2024, 2, 29, 23, 59)), at(2024, 2, 1, 0, 0));
        assert_eq!(g.next(at(2024, 1, 1, 0, 0)), at(2024, 2, 1, 0, 0));
        assert_eq!(g.next(at(2024, 2, 1, 0, 0)), at(2024, 3, 1, 0, 0));
        assert_eq!(g.next(at(2026, 12, 1, 0, 0)), at(2027, 1, 1, 0, 0));
        assert_eq!(g.ceil(at(2026, 1, 31, 0, 0)), at(2026, 2, 1, 0, 0));
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
        assert_eq!(east.floor(at(2026, 2, 28, 17, 0)), at(2026, 2, 28, 16, 0));
        assert_eq!(east.next(at(2026, 2, 28, 16, 0)), at(2026, 3, 31, 16, 0));
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
