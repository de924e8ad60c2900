//! Which log objects can hold lines of a time range.
//!
//! Each log format names its files by the UTC hour they hold ([`LogFormat::file_hour`]). A file
//! holds lines of its hour and, since lines arrive late, of earlier hours too; so a range
//! `[start, end)` needs the files from `start`'s hour up to `late_hours` after `end`.

use statport_core::format::LogFormat;
use statport_core::time::HOUR_MS;
use statport_storage::ObjectMeta;

/// The objects whose file hour lies in `[floor_hour(start), end + late_hours)`, in key order.
pub fn select_objects(
    format: LogFormat,
    objects: Vec<ObjectMeta>,
    start_ms: i64,
    end_ms: i64,
    late_hours: u32,
) -> Vec<ObjectMeta> {
    let first = start_ms - start_ms.rem_euclid(HOUR_MS);
    let last = end_ms + i64::from(late_hours) * HOUR_MS;
    let mut picked: Vec<ObjectMeta> = objects
        .into_iter()
        .filter(|o| {
            format
                .file_hour(&o.key)
                .is_some_and(|h| h >= first && h < last)
        })
        .collect();
    picked.sort_by(|a, b| a.key.cmp(&b.key));
    picked
}

#[cfg(test)]
mod tests {
    use statport_core::time::ms_from_civil;

    use super::*;

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: 1,
        }
    }

    fn hour(d: u32, h: u32) -> i64 {
        ms_from_civil(2026, 11, d, h, 0, 0).expect("valid date")
    }

    #[test]
    fn selects_the_range_plus_late_hours() {
        let objects = vec![
            meta("p/E.2026-11-01-09.a.gz"),
            meta("p/E.2026-11-01-10.a.gz"),
            meta("p/E.2026-11-01-11.b.gz"),
            meta("p/E.2026-11-01-12.a.gz"),
            meta("p/E.2026-11-01-13.a.gz"),
            meta("p/E.2026-11-01-14.a.gz"),
            meta("p/notes.txt"),
        ];
        // [10:30, 12:00) with 2 late hours: files of hours 10, 11, 12, 13
        let picked = select_objects(
            LogFormat::Cloudfront,
            objects,
            hour(1, 10) + 1_800_000,
            hour(1, 12),
            2,
        );
        let keys: Vec<_> = picked.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "p/E.2026-11-01-10.a.gz",
                "p/E.2026-11-01-11.b.gz",
                "p/E.2026-11-01-12.a.gz",
                "p/E.2026-11-01-13.a.gz"
            ]
        );
    }
}
