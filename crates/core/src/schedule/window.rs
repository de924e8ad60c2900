//! A [`RelativeWindow`] checked and turned into the range one run exports.
//!
//! The range is the `count` whole units that end where the unit holding the fire time begins,
//! read in the window's zone: fired at 01:00 on the 2nd, "the previous day" is the 1st, 00:00 to
//! 00:00; fired exactly at 00:00 on the 2nd, it is still the 1st. Hours are real hours (a
//! "previous 24 hours" is always 24 h long); days, weeks (Monday-based) and months are calendar
//! units of the zone, so across a daylight-saving change in an IANA zone a day can be 23 or 25 h.

use std::str::FromStr;

use chrono::{FixedOffset, TimeZone};
use chrono_tz::Tz;

use super::wall::{offset_ms, resolve, wall_of};
use super::{RelativeWindow, WindowUnit};
use crate::error::ApiError;
use crate::time::{civil_from_days, days_from_civil, DAY_MS, HOUR_MS};

/// The zone a window is read in: an IANA zone or a fixed offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowZone {
    /// An IANA zone (`Asia/Shanghai`), with its daylight-saving rules.
    Named(Tz),
    /// A fixed offset (`+08:00`, `UTC-5`).
    Fixed(FixedOffset),
}

impl WindowZone {
    /// Parses `+08:00`, `-05:30`, `+0800`, `UTC+8`, `GMT-05:30` (at most ±14:00), `UTC`, or an
    /// IANA name. `None`: none of those.
    pub fn parse(text: &str) -> Option<WindowZone> {
        let text = text.trim();
        let signed = ["UTC", "GMT"]
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .filter(|rest| rest.starts_with(['+', '-']))
            .unwrap_or(text);
        if signed.starts_with(['+', '-']) {
            return parse_offset(signed).map(WindowZone::Fixed);
        }
        Tz::from_str(text).ok().map(WindowZone::Named)
    }
}

/// `±H`, `±HH`, `±HH:MM` or `±HHMM`, at most 14:00 either way.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let negative = text.starts_with('-');
    let digits = &text[1..];
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "00"),
    };
    if hours.is_empty()
        || hours.len() > 2
        || !hours
            .bytes()
            .chain(minutes.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (hours, minutes) = (hours.parse::<i32>().ok()?, minutes.parse::<i32>().ok()?);
    let seconds = hours * 3600 + minutes * 60;
    if minutes >= 60 || seconds > 14 * 3600 {
        return None;
    }
    FixedOffset::east_opt(if negative { -seconds } else { seconds })
}

impl RelativeWindow {
    /// The largest `count` per unit: a leap year of days or hours, a year of weeks or months.
    pub fn max_count(unit: WindowUnit) -> u32 {
        match unit {
            WindowUnit::Hour => 8784,
            WindowUnit::Day => 366,
            WindowUnit::Week => 53,
            WindowUnit::Month => 12,
        }
    }

    /// Checks `count` (1..=[`RelativeWindow::max_count`]) and `time_zone` (parameters
    /// `window.count`, `window.time_zone`).
    pub fn validate(&self) -> Result<(), ApiError> {
        let max = Self::max_count(self.unit);
        if !(1..=max).contains(&self.count) {
            return Err(ApiError::invalid(format!(
                "the parameter 'window.count' must be between 1 and {max} for the unit '{}'",
                unit_name(self.unit)
            )));
        }
        if let Some(zone) = &self.time_zone {
            if WindowZone::parse(zone).is_none() {
                return Err(ApiError::invalid(format!(
                    "the parameter 'window.time_zone' must be an IANA time zone name \
                     ('Asia/Shanghai'), 'UTC' or an offset such as '+08:00' or 'UTC+8', not '{}'",
                    zone.chars().take(64).collect::<String>()
                )));
            }
        }
        Ok(())
    }

    /// The zone the window is read in: its own, or the schedule's when it names none.
    pub fn zone(&self, schedule_zone: Tz) -> Result<WindowZone, ApiError> {
        self.validate()?;
        Ok(match &self.time_zone {
            None => WindowZone::Named(schedule_zone),
            Some(text) => WindowZone::parse(text).unwrap_or(WindowZone::Named(schedule_zone)),
        })
    }

    /// The range `[start, end)` (ms since epoch) a run fired at `fire_ms` exports.
    pub fn range(&self, fire_ms: i64, schedule_zone: Tz) -> Result<(i64, i64), ApiError> {
        let range = match self.zone(schedule_zone)? {
            WindowZone::Named(tz) => range_in(&tz, self.unit, self.count, fire_ms),
            WindowZone::Fixed(offset) => range_in(&offset, self.unit, self.count, fire_ms),
        };
        range.ok_or_else(|| {
            ApiError::invalid("the window of this fire time falls outside the supported dates")
        })
    }
}

/// The wire name of a unit.
fn unit_name(unit: WindowUnit) -> &'static str {
    match unit {
        WindowUnit::Hour => "hour",
        WindowUnit::Day => "day",
        WindowUnit::Week => "week",
        WindowUnit::Month => "month",
    }
}

fn range_in<Z: TimeZone>(
    zone: &Z,
    unit: WindowUnit,
    count: u32,
    fire_ms: i64,
) -> Option<(i64, i64)> {
    let count = i64::from(count);
    if unit == WindowUnit::Hour {
        // Real hours: the hour holding the fire time under the offset in force at it.
        let offset = offset_ms(zone, fire_ms)?;
        let wall = fire_ms.checked_add(offset)?;
        let end = wall
            .div_euclid(HOUR_MS)
            .checked_mul(HOUR_MS)?
            .checked_sub(offset)?;
        return Some((end.checked_sub(count * HOUR_MS)?, end));
    }
    let day = wall_of(zone, fire_ms)?.div_euclid(DAY_MS);
    let (end_day, start_day) = match unit {
        WindowUnit::Day => (day, day.checked_sub(count)?),
        WindowUnit::Week => {
            // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
            let monday = day.checked_sub((day + 3).rem_euclid(7))?;
            (monday, monday.checked_sub(7 * count)?)
        }
        WindowUnit::Month | WindowUnit::Hour => {
            let (year, month, _) = civil_from_days(day);
            let months = year.checked_mul(12)?.checked_add(i64::from(month) - 1)?;
            let first = months.checked_sub(count)?;
            let (start_year, start_month) = (first.div_euclid(12), first.rem_euclid(12) + 1);
            (
                days_from_civil(year, month, 1)?,
                days_from_civil(start_year, u32::try_from(start_month).ok()?, 1)?,
            )
        }
    };
    let start = resolve(zone, start_day.checked_mul(DAY_MS)?)?.earliest();
    let end = resolve(zone, end_day.checked_mul(DAY_MS)?)?.earliest();
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ms_from_civil;

    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms_from_civil(y, mo, d, h, mi, 0).expect("test value")
    }

    fn window(unit: WindowUnit, count: u32, zone: Option<&str>) -> RelativeWindow {
        RelativeWindow {
            unit,
            count,
            time_zone: zone.map(str::to_string),
        }
    }

    const SHANGHAI: Tz = Tz::Asia__Shanghai;
    const NEW_YORK: Tz = Tz::America__New_York;

    #[test]
    fn parses_zones() {
        let fixed = |s| FixedOffset::east_opt(s).map(WindowZone::Fixed);
        assert_eq!(WindowZone::parse("+08:00"), fixed(8 * 3600));
        assert_eq!(WindowZone::parse("-05:30"), fixed(-(5 * 3600 + 1800)));
        assert_eq!(WindowZone::parse("+0545"), fixed(5 * 3600 + 2700));
        assert_eq!(WindowZone::parse("UTC+8"), fixed(8 * 3600));
        assert_eq!(WindowZone::parse("GMT-05:30"), fixed(-(5 * 3600 + 1800)));
        assert_eq!(WindowZone::parse("UTC"), Some(WindowZone::Named(Tz::UTC)));
        assert_eq!(
            WindowZone::parse("Asia/Shanghai"),
            Some(WindowZone::Named(SHANGHAI))
        );
        for bad in [
            "+15:00",
            "+08:60",
            "+8:0",
            "UTC+",
            "+",
            "08:00",
            "UTC 8",
            "+123",
            "Nowhere/City",
            "",
        ] {
            assert_eq!(WindowZone::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn validates_count_and_zone() {
        assert!(window(WindowUnit::Day, 1, None).validate().is_ok());
        assert!(window(WindowUnit::Hour, 8784, Some("+08:00"))
            .validate()
            .is_ok());
        for (unit, count) in [
            (WindowUnit::Day, 0),
            (WindowUnit::Day, 367),
            (WindowUnit::Hour, 8785),
            (WindowUnit::Week, 54),
            (WindowUnit::Month, 13),
        ] {
            let e = window(unit, count, None).validate().expect_err("refused");
            assert!(e.message.contains("'window.count'"), "{}", e.message);
        }
        let e = window(WindowUnit::Day, 1, Some("Mars"))
            .validate()
            .expect_err("refused");
        assert!(e.message.contains("'window.time_zone'"));
    }

    #[test]
    fn previous_day_in_utc_plus_8_fired_at_01_shanghai() {
        // 2026-03-02 01:00 Shanghai = 2026-03-01 17:00Z → 2026-03-01 00:00..24:00 +08:00.
        let range = window(WindowUnit::Day, 1, Some("+08:00"))
            .range(utc(2026, 3, 1, 17, 0), SHANGHAI)
            .expect("test value");
        assert_eq!(range, (utc(2026, 2, 28, 16, 0), utc(2026, 3, 1, 16, 0)));
        // The same with the schedule's zone.
        let same = window(WindowUnit::Day, 1, None).range(utc(2026, 3, 1, 17, 0), SHANGHAI);
        assert_eq!(same.expect("test value"), range);
    }

    #[test]
    fn previous_hour_and_last_7_days() {
        let fire = utc(2026, 5, 10, 13, 5);
        assert_eq!(
            window(WindowUnit::Hour, 1, Some("UTC"))
                .range(fire, SHANGHAI)
                .expect("test value"),
            (utc(2026, 5, 10, 12, 0), utc(2026, 5, 10, 13, 0))
        );
        // A +05:45 zone: hours start at :15 UTC.
        assert_eq!(
            window(WindowUnit::Hour, 2, Some("+05:45"))
                .range(fire, SHANGHAI)
                .expect("test value"),
            (utc(2026, 5, 10, 10, 15), utc(2026, 5, 10, 12, 15))
        );
        assert_eq!(
            window(WindowUnit::Day, 7, Some("UTC"))
                .range(fire, SHANGHAI)
                .expect("test value"),
            (utc(2026, 5, 3, 0, 0), utc(2026, 5, 10, 0, 0))
        );
    }

    #[test]
    fn previous_month_across_a_year_boundary_and_weeks_from_monday() {
        let fire = utc(2026, 1, 1, 1, 0);
        assert_eq!(
            window(WindowUnit::Month, 1, Some("UTC"))
                .range(fire, SHANGHAI)
                .expect("test value"),
            (utc(2025, 12, 1, 0, 0), utc(2026, 1, 1, 0, 0))
        );
        assert_eq!(
            window(WindowUnit::Month, 12, Some("UTC"))
                .range(utc(2026, 3, 15, 0, 0), SHANGHAI)
                .expect("test value"),
            (utc(2025, 3, 1, 0, 0), utc(2026, 3, 1, 0, 0))
        );
        // 2026-01-01 is a Thursday: the previous week is Mon 2025-12-22 .. Mon 2025-12-29.
        assert_eq!(
            window(WindowUnit::Week, 1, Some("UTC"))
                .range(fire, SHANGHAI)
                .expect("test value"),
            (utc(2025, 12, 22, 0, 0), utc(2025, 12, 29, 0, 0))
        );
        // Fired on a Monday at 00:00: the week before.
        assert_eq!(
            window(WindowUnit::Week, 1, Some("UTC"))
                .range(utc(2025, 12, 29, 0, 0), SHANGHAI)
                .expect("test value"),
            (utc(2025, 12, 22, 0, 0), utc(2025, 12, 29, 0, 0))
        );
    }

    #[test]
    fn fire_exactly_at_a_boundary_takes_the_unit_before() {
        let midnight = utc(2026, 6, 2, 0, 0);
        assert_eq!(
            window(WindowUnit::Day, 1, Some("UTC"))
                .range(midnight, SHANGHAI)
                .expect("test value"),
            (utc(2026, 6, 1, 0, 0), midnight)
        );
        assert_eq!(
            window(WindowUnit::Hour, 1, Some("UTC"))
                .range(midnight, SHANGHAI)
                .expect("test value"),
            (utc(2026, 6, 1, 23, 0), midnight)
        );
    }

    #[test]
    fn days_across_dst_in_new_york() {
        // The day after spring forward: Mar 8 (00:00 EST .. 00:00 EDT) is 23 h.
        let (start, end) = window(WindowUnit::Day, 1, None)
            .range(utc(2026, 3, 9, 5, 0), NEW_YORK)
            .expect("test value");
        assert_eq!((start, end), (utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)));
        assert_eq!(end - start, 23 * HOUR_MS);
        // The day after fall back: Nov 1 is 25 h.
        let (start, end) = window(WindowUnit::Day, 1, Some("America/New_York"))
            .range(utc(2026, 11, 2, 6, 0), SHANGHAI)
            .expect("test value");
        assert_eq!(end - start, 25 * HOUR_MS);
        // The previous hour during the repeated 01:xx: the first 01:00 EDT .. 01:00 EST.
        let (start, end) = window(WindowUnit::Hour, 1, None)
            .range(utc(2026, 11, 1, 6, 30), NEW_YORK)
            .expect("test value");
        assert_eq!(
            (start, end),
            (utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 6, 0))
        );
    }

    #[test]
    fn a_midnight_skipped_by_dst_starts_the_day_at_the_gap_end() {
        // America/Santiago springs forward at 00:00 → 01:00 (2026-09-06).
        let santiago = Tz::America__Santiago;
        let (start, end) = window(WindowUnit::Day, 1, None)
            .range(utc(2026, 9, 7, 12, 0), santiago)
            .expect("test value");
        assert_eq!(start, utc(2026, 9, 6, 4, 0)); // 01:00 -03 = 00:00 -04
        assert_eq!(end - start, 23 * HOUR_MS);
    }
}
