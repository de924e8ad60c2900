//! Field-value parsing shared by every log format: the numbers of a log line (date and time
//! parts, byte counts, statuses) and the `-` that stands for "no value logged".

use super::BadLine;

/// What a log writes for a field without a value.
pub(super) const DASH: &[u8] = b"-";

/// A short run of ASCII digits (date and time parts).
pub(super) fn digits(b: &[u8]) -> Result<u32, BadLine> {
    b.iter().try_fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(BadLine::BadTimestamp)
        }
    })
}

/// A decimal count; `-` is 0 (no value logged).
pub(super) fn number(b: &[u8]) -> Result<u64, BadLine> {
    if b == DASH {
        return Ok(0);
    }
    if b.is_empty() {
        return Err(BadLine::BadNumber);
    }
    b.iter().try_fold(0u64, |acc, c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or(BadLine::BadNumber)
        } else {
            Err(BadLine::BadNumber)
        }
    })
}
