//! A cron expression read in an IANA time zone, parsed once at the API into a [`CronSpec`].
//!
//! Accepted: the usual 5 fields (`minute hour day-of-month month day-of-week`), 6 fields with
//! seconds first, and the aliases `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
//! (`@midnight`), `@hourly`.
//! Day-of-week numbers follow Unix cron in both forms: `0` and `7` are Sunday, `1` Monday …
//! `6` Saturday (names `SUN` … `SAT` work too); the `cron` crate underneath counts from
//! `1` = Sunday, so the field is translated before it reaches the crate. Refused: schedules that
//! fire more often than once a minute (the seconds field must be one value), a year field, and
//! restricting both day-of-month and day-of-week (cron implementations disagree on whether that
//! means "either" or "both"; restrict one, leave the other `*`).

use std::str::FromStr;

use ::cron::{Schedule, TimeUnitSpec};
use chrono_tz::Tz;

use crate::error::ApiError;

/// A validated cron expression and the zone its wall-clock times are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    /// The expression as parsed by the `cron` crate (6 fields, day-of-week translated).
    pub(super) schedule: Schedule,
    /// The zone.
    pub(super) zone: Tz,
    /// True when the hour field covers all 24 hours: such a schedule fires at both instants of
    /// a repeated wall-clock time (one run per real hour), see [`CronSpec::fire_times_after`].
    pub(super) every_hour: bool,
}

impl CronSpec {
    /// Parses `cron` (parameter `cron`) read in the zone named `time_zone` (parameter
    /// `time_zone`: an IANA name such as `Asia/Shanghai`, or `UTC`).
    pub fn parse(cron: &str, time_zone: &str) -> Result<CronSpec, ApiError> {
        let zone = parse_schedule_zone(time_zone)?;
        let schedule = parse_expression(cron)?;
        let every_hour = schedule.hours().count() == 24;
        Ok(CronSpec {
            schedule,
            zone,
            every_hour,
        })
    }

    /// `instant_ms` in RFC 3339 with the zone's offset at that instant (for people reading
    /// fire times).
    pub fn local_rfc3339(&self, instant_ms: i64) -> String {
        let offset_ms = super::wall::offset_ms(&self.zone(), instant_ms).unwrap_or(0);
        let offset_secs = i32::try_from(offset_ms / 1000).unwrap_or(0);
        crate::time::format_rfc3339(instant_ms, offset_secs)
    }

    /// The zone the expression is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }
}

/// Parses the zone of a schedule: an IANA name (`Asia/Shanghai`, `Etc/UTC`) or `UTC`.
pub fn parse_schedule_zone(time_zone: &str) -> Result<Tz, ApiError> {
    Tz::from_str(time_zone.trim()).map_err(|_| {
        ApiError::invalid(format!(
            "the parameter 'time_zone' must be an IANA time zone name such as 'Asia/Shanghai' \
             or 'UTC', not '{}'",
            clip(time_zone)
        ))
    })
}

fn invalid_cron(what: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("the parameter 'cron' {what}"))
}

/// At most this many characters of client text are echoed in a message.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

fn parse_expression(cron: &str) -> Result<Schedule, ApiError> {
    let text = cron.trim();
    if text.is_empty() {
        return Err(invalid_cron("must not be empty"));
    }
    if text.len() > 256 {
        return Err(invalid_cron("must be at most 256 characters"));
    }
    let six_fields = if text.starts_with('@') {
        alias(text).ok_or_else(|| {
            invalid_cron(format!(
                "uses the unknown alias '{}'; known: @yearly, @monthly, @weekly, @daily, @hourly",
                clip(text)
            ))
        })?
    } else {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(invalid_cron(format!(
                    "must have 5 fields (minute hour day-of-month month day-of-week) or 6 with \
                     seconds first, not {n}"
                )))
            }
        };
        let (day_of_month, day_of_week) = (rest[2], rest[4]);
        if !is_unrestricted(day_of_month) && !is_unrestricted(day_of_week) {
            return Err(invalid_cron(
                "restricts both day-of-month and day-of-week; restrict one and set the other to '*'",
            ));
        }
        let day_of_week = translate_day_of_week(day_of_week).ok_or_else(|| {
            invalid_cron(format!(
                "has an invalid day-of-week field '{}' (0-7 or SUN-SAT, with ranges, lists and \
                 steps)",
                clip(day_of_week)
            ))
        })?;
        format!(
            "{seconds} {} {} {day_of_month} {} {day_of_week}",
            rest[0], rest[1], rest[3]
        )
    };
    let schedule = Schedule::from_str(&six_fields)
        .map_err(|e| invalid_cron(format!("is not a valid cron expression: {e}")))?;
    if schedule.seconds().count() != 1 {
        return Err(invalid_cron(
            "must not fire more often than once a minute (the seconds field must be one value)",
        ));
    }
    Ok(schedule)
}

/// The crate's aliases in 6-field form with Unix day-of-week already translated.
fn alias(text: &str) -> Option<String> {
    let fields = match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 1",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        _ => return None,
    };
    Some(fields.to_string())
}

fn is_unrestricted(field: &str) -> bool {
    field == "*" || field == "?"
}

/// Turns a Unix day-of-week field (0/7 = Sunday) into the crate's (1 = Sunday) as an explicit
/// list; `*` and `?` stay as they are. `None`: not a valid field.
fn translate_day_of_week(field: &str) -> Option<String> {
    if is_unrestricted(field) {
        return Some(field.to_string());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        let (base, step) = match part.split_once('/') {
            Some((base, step)) => (base, Some(step.parse::<u32>().ok().filter(|s| *s >= 1)?)),
            None => (part, None),
        };
        let (first, last) = if base == "*" {
            (0, 6)
        } else if let Some((a, b)) = base.split_once('-') {
            (day_number(a)?, day_number(b)?)
        } else {
            let day = day_number(base)?;
            (day, if step.is_some() { 6 } else { day })
        };
        if first > last {
            return None;
        }
        let step = step.unwrap_or(1) as usize;
        for day in (first..=last).step_by(step) {
            days[day as usize % 7] = true;
        }
    }
    let list: Vec<String> = (0..7)
        .filter(|d| days[*d])
        .map(|d| (d + 1).to_string())
        .collect();
    Some(list.join(","))
}

/// A Unix day-of-week: `0`..=`7` or a name; Sunday is 0 (and 7).
fn day_number(text: &str) -> Option<u32> {
    if let Ok(n) = text.parse::<u32>() {
        return (n <= 7).then_some(n);
    }
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let lower = text.to_ascii_lowercase();
    NAMES.iter().position(|n| *n == lower).map(|p| p as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn err(cron: &str, zone: &str) -> String {
        let e = CronSpec::parse(cron, zone).expect_err("refused");
        assert_eq!(e.code, ErrorCode::InvalidParameter);
        e.message
    }

    #[test]
    fn accepts_five_six_fields_and_aliases() {
        for cron in [
            "0 1 * * *",
            "*/5 * * * *",
            "30 0 1 * * *",
            "0 0 1 1 *",
            "@daily",
            "@hourly",
            "@weekly",
            "@monthly",
            "@yearly",
            "0 9 * * MON-FRI",
            "0 9 ? * 1-5",
        ] {
            CronSpec::parse(cron, "UTC").unwrap_or_else(|e| panic!("{cron}: {e}"));
        }
        assert!(
            CronSpec::parse("@hourly", "UTC")
                .expect("test value")
                .every_hour
        );
        assert!(
            CronSpec::parse("0 */1 * * *", "UTC")
                .expect("test value")
                .every_hour
        );
        assert!(
            !CronSpec::parse("0 */2 * * *", "UTC")
                .expect("test value")
                .every_hour
        );
    }

    #[test]
    fn refuses_bad_expressions_naming_the_parameter() {
        assert!(err("* * * * * *", "UTC").contains("once a minute"));
        assert!(err("*/10 * * * * *", "UTC").contains("once a minute"));
        assert!(err("0 1 * *", "UTC").contains("5 fields"));
        assert!(err("0 0 1 * * * 2030", "UTC").contains("5 fields"));
        assert!(err("0 1 1 * 1", "UTC").contains("both day-of-month and day-of-week"));
        assert!(err("61 1 * * *", "UTC").starts_with("the parameter 'cron'"));
        assert!(err("0 1 * * 8", "UTC").contains("day-of-week"));
        assert!(err("@reboot", "UTC").contains("alias"));
        assert!(err("", "UTC").contains("empty"));
    }

    #[test]
    fn refuses_unknown_zones() {
        let message = err("0 1 * * *", "Mars/Olympus");
        assert!(message.contains("'time_zone'"), "{message}");
        assert!(CronSpec::parse("0 1 * * *", "UTC").is_ok());
        assert!(CronSpec::parse("0 1 * * *", "Asia/Shanghai").is_ok());
    }

    #[test]
    fn day_of_week_follows_unix_numbering() {
        assert_eq!(translate_day_of_week("0").as_deref(), Some("1"));
        assert_eq!(translate_day_of_week("7").as_deref(), Some("1"));
        assert_eq!(translate_day_of_week("1-5").as_deref(), Some("2,3,4,5,6"));
        assert_eq!(translate_day_of_week("5-7").as_deref(), Some("1,6,7"));
        assert_eq!(translate_day_of_week("*/2").as_deref(), Some("1,3,5,7"));
        assert_eq!(translate_day_of_week("sat,SUN").as_deref(), Some("1,7"));
        assert_eq!(translate_day_of_week("mon/2").as_deref(), Some("2,4,6"));
        assert_eq!(translate_day_of_week("?").as_deref(), Some("?"));
        for bad in ["8", "5-1", "x", "1/0", "", "1,"] {
            assert_eq!(translate_day_of_week(bad), None, "{bad}");
        }
    }
}
