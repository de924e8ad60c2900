//! Civil-date arithmetic over epoch milliseconds, and RFC 3339 text.
//!
//! Our own small code (Howard Hinnant's `days_from_civil`), because bucketing needs only this and
//! a date crate would be a heavy dependency for it.
//!
//! # Layout
//! - here: civil-date arithmetic and RFC 3339 formatting and parsing.
//! - [`granularity`]: statistics intervals (5 min, hour, day, month with a UTC offset) and
//!   bucketing; total over every `i64` (results that do not fit are `None`, never an overflow).
//! - [`clock`]: the current time behind a trait, so tests pass a fixed clock.

pub mod clock;
pub mod granularity;

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of the civil date `y-m-d` (proleptic Gregorian); `None` when the count
/// does not fit an `i64` (years beyond about ±2.5·10¹⁶).
///
/// Months outside 1..=12 and days past the month's end are not refused here (they count on
/// from the month's start); [`ms_from_civil`] checks the fields.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    i64::try_from(days_from_civil_wide(y, m, d)).ok()
}

/// [`days_from_civil`] in `i128`, where no `i64` year can overflow: bucketing computes in this
/// width and narrows once at the end.
pub(crate) fn days_from_civil_wide(y: i64, m: u32, d: u32) -> i128 {
    let y = i128::from(y) - i128::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i128::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i128::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
///
/// Total over every `i64`: the arithmetic runs in `i128` and the year (about `z / 365`) always
/// fits an `i64`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = i128::from(z) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // doe is in 0..146_097, so doy, mp, d and m are small and non-negative.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    // |y| <= |z| / 365 + 1 < i64::MAX: the narrowing cannot fail, saturate rather than panic.
    let y = i64::try_from(y).unwrap_or(if y < 0 { i64::MIN } else { i64::MAX });
    (y, m, d)
}

/// Epoch ms of a UTC civil date-time; `None` when a field is out of range.
pub fn ms_from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d)?;
    days.checked_mul(DAY_MS)?
        .checked_add(i64::from(h) * HOUR_MS + i64::from(mi) * MINUTE_MS + i64::from(s) * 1000)
}

/// Number of days in month `m` of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// `ms` as RFC 3339 in a fixed UTC offset: `2026-11-24T08:00:00+08:00`, or `…Z` for offset 0.
/// Sub-second parts are dropped (bucket starts are whole seconds).
///
/// Total over every `i64` and offset: `ms / 1000` leaves room for any `i32` offset, and years
/// past 9999 print with more digits (RFC 3339 has no form for them, but nothing panics).
pub fn format_rfc3339(ms: i64, offset_secs: i32) -> String {
    // |ms / 1000| <= 9.3e15, far from the i64 bounds: the sum cannot overflow.
    let local = ms.div_euclid(1000) + i64::from(offset_secs);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let zone = if offset_secs == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_secs < 0 { '-' } else { '+' };
        let a = offset_secs.unsigned_abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
    };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
}

/// Parses RFC 3339 (`2026-11-24T08:00:00Z`, `…+08:00`, optional fraction) into epoch ms.
///
/// Any text is safe: the year has four digits and the offset two-digit hours and minutes, so the
/// sums below stay far inside `i64`; they are checked all the same.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let y = i64::from(num(0..4)?);
    let (mo, d, h, mi, s) = (
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut ms = ms_from_civil(y, mo, d, h, mi, s.min(59))?;
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut millis = 0i64;
        for (i, c) in frac.bytes().take(3).take(digits).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        ms = ms.checked_add(millis)?;
        rest = &frac[digits..];
    }
    let offset_ms = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return None;
            }
            let digits = |r: std::ops::Range<usize>| -> Option<i64> {
                let s = rest.get(r)?;
                s.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| s.parse().ok())?
            };
            let (oh, om) = (digits(1..3)?, digits(4..6)?);
            let v = (oh * 60 + om) * MINUTE_MS;
            if ob[0] == b'-' {
                -v
            } else {
                v
            }
        }
    };
    ms.checked_sub(offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for z in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), Some(z));
        }
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }

    #[test]
    fn formats_with_offsets() {
        let ms = ms_from_civil(2026, 11, 24, 0, 0, 0).expect("valid date");
        assert_eq!(format_rfc3339(ms, 0), "2026-11-24T00:00:00Z");
        assert_eq!(format_rfc3339(ms, 8 * 3600), "2026-11-24T08:00:00+08:00");
        assert_eq!(format_rfc3339(ms, -5 * 3600), "2026-11-23T19:00:00-05:00");
    }

    #[test]
    fn parses_rfc3339() {
        let ms = ms_from_civil(2019, 10, 30, 0, 0, 0).expect("valid date");
        assert_eq!(parse_rfc3339("2019-10-30T00:00:00Z"), Some(ms));
        assert_eq!(parse_rfc3339("2019-10-30T08:00:00+08:00"), Some(ms));
        assert_eq!(parse_rfc3339("2019-10-30T00:00:00.250Z"), Some(ms + 250));
        assert_eq!(parse_rfc3339("2019-10-30"), None);
        assert_eq!(parse_rfc3339("2019-13-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2019-02-30T00:00:00Z"), None);
    }

    #[test]
    fn extreme_inputs_neither_overflow_nor_panic() {
        // Each of these overflowed i64 (a panic in debug builds) before the arithmetic widened.
        assert_eq!(days_from_civil(i64::MAX, 12, 31), None);
        assert_eq!(days_from_civil(i64::MIN, 1, 1), None);
        assert_eq!(ms_from_civil(i64::MAX, 1, 1, 0, 0, 0), None);
        assert_eq!(ms_from_civil(i64::MIN, 1, 1, 0, 0, 0), None);
        // The largest year whose day count fits, but whose milliseconds do not.
        assert!(days_from_civil(25_000_000_000_000_000, 1, 1).is_some());
        assert_eq!(ms_from_civil(25_000_000_000_000_000, 1, 1, 0, 0, 0), None);
        for z in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let (y, m, d) = civil_from_days(z);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{z}");
            if let Some(back) = days_from_civil(y, m, d) {
                assert_eq!(back, z);
            }
        }
        for ms in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            for offset in [i32::MIN, -12 * 3600, 0, 14 * 3600, i32::MAX] {
                let text = format_rfc3339(ms, offset);
                assert!(text.contains('T'), "{text}");
            }
        }
        assert_eq!(format_rfc3339(i64::MAX, 0), "292278994-08-17T07:12:55Z");
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.999-99:99"),
            Some(253_402_300_799_999 + 99 * 3_600_000 + 99 * 60_000)
        );
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
    }
}
