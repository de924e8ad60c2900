//! Which log objects can hold lines of a time range.
//!
//! CloudFront names its files `<prefix><distribution-id>.YYYY-MM-DD-HH.<unique>.gz`, the hour in
//! UTC. A file holds lines of its hour and, since lines arrive late, of earlier hours too; so a
//! range `[start, end)` needs the files from `start`'s hour up to `late_hours` after `end`.

use statport_core::time::{ms_from_civil, HOUR_MS};
use statport_storage::ObjectMeta;

/// The UTC hour (epoch ms) in a CloudFront log file name, or `None` when the name does not
/// follow the convention (such objects are ignored, never guessed at).
pub fn cloudfront_file_hour(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    let name = name.strip_suffix(".gz")?;
    // <distribution-id>.YYYY-MM-DD-HH.<unique>
    let mut parts = name.rsplitn(3, '.');
    let _unique = parts.next()?;
    let stamp = parts.next()?;
    let _distribution = parts.next()?;
    let b = stamp.as_bytes();
    if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u32>().ok();
    let y = i64::from(num(0..4)?);
    ms_from_civil(y, num(5..7)?, num(8..10)?, num(11..13)?, 0, 0)
}

/// The objects whose file hour lies in `[floor_hour(start), end + late_hours)`, in key order.
pub fn select_cloudfront_objects(
    objects: Vec<ObjectMeta>,
    start_ms: i64,
    end_ms: i64,
    late_hours: u32,
) -> Vec<ObjectMeta> {
    let first = start_ms - start_ms.rem_euclid(HOUR_MS);
    let last = end_ms + i64::from(late_hours) * HOUR_MS;
    let mut picked: Vec<ObjectMeta> = objects
        .into_iter()
        .filter(|o| cloudfront_file_hour(&o.key).is_some_and(|h| h >= first && h < last))
        .collect();
    picked.sort_by(|a, b| a.key.cmp(&b.key));
    picked
}

#[cfg(test)]
mod tests {
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
    fn reads_the_hour_from_the_name() {
        assert_eq!(
            cloudfront_file_hour("logs/E2ABC.2026-11-01-05.a1b2c3d4.gz"),
            Some(hour(1, 5))
        );
        assert_eq!(
            cloudfront_file_hour("E2ABC.2026-11-01-23.x.gz"),
            Some(hour(1, 23))
        );
        assert_eq!(cloudfront_file_hour("logs/E2ABC.2026-11-01-24.a.gz"), None);
        assert_eq!(cloudfront_file_hour("logs/readme.txt"), None);
        assert_eq!(cloudfront_file_hour("logs/E2ABC.2026-11-01.a.gz"), None);
        assert_eq!(cloudfront_file_hour("x.2026-1x-01-05.a.gz"), None);
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
        let picked = select_cloudfront_objects(objects, hour(1, 10) + 1_800_000, hour(1, 12), 2);
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
