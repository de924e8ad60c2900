//! Which log objects can hold lines of an export.
//!
//! Each log format names its files by the hour they hold ([`LogFormat::file_name`], converted
//! to UTC: Huawei names them in Beijing time). A file holds lines of its hour and, since lines
//! arrive late, of earlier hours too; so a range `[start, end)` needs the files whose hour
//! overlaps the range (`hour + 1 h > start`, which also holds for names in a zone whose offset
//! is not whole hours) up to `late_hours` after `end`. Lines logged in the file of a later hour
//! are read through the same `late_hours`.
//!
//! When the name also says the one domain or the service area of every line in the file
//! (Huawei), a file the condition cannot select is skipped unread: a domain the condition does
//! not name, or an area other than the one asked for.

use statport_core::log::format::{FileName, LogFormat};
use statport_core::log::ServiceArea;
use statport_core::time::HOUR_MS;
use statport_core::ExportCondition;
use statport_storage::ObjectMeta;

/// The objects that may hold lines `condition` selects, read within `late_hours` after its
/// range, in key order.
pub fn select_objects(
    format: LogFormat,
    objects: Vec<ObjectMeta>,
    condition: &ExportCondition,
    late_hours: u32,
) -> Vec<ObjectMeta> {
    let mut picked: Vec<ObjectMeta> = objects
        .into_iter()
        .filter(|o| {
            format
                .file_name(&o.key)
                .is_some_and(|name| may_hold(&name, condition, late_hours))
        })
        .collect();
    picked.sort_by(|a, b| a.key.cmp(&b.key));
    picked
}

/// True when the file `name` may hold a line `condition` selects.
fn may_hold(name: &FileName, condition: &ExportCondition, late_hours: u32) -> bool {
    let last = condition
        .range_end
        .saturating_add(i64::from(late_hours).saturating_mul(HOUR_MS));
    let in_time =
        name.hour_ms.saturating_add(HOUR_MS) > condition.range_start && name.hour_ms < last;
    let domain = name
        .domain
        .as_deref()
        .is_none_or(|d| condition.domains.matches(d));
    let area = match (condition.service_area, name.service_area) {
        (ServiceArea::Global, _) | (_, None) => true,
        (wanted, Some(area)) => wanted == area,
    };
    in_time && domain && area
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use statport_core::time::ms_from_civil;
    use statport_core::ExportRequest;

    use super::*;

    fn condition(domains: &str, start: i64, end: i64) -> ExportCondition {
        ExportRequest::from_json(&json!({
            "domain_name": domains,
            "start_time": start,
            "end_time": end,
            "interval": 300,
        }))
        .and_then(|r| r.validate())
        .expect("valid condition")
    }

    fn keys(picked: &[ObjectMeta]) -> Vec<&str> {
        picked.iter().map(|o| o.key.as_str()).collect()
    }

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: 1,
            last_modified_ms: None,
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
        let c = condition("all", hour(1, 10) + 1_800_000, hour(1, 12));
        let picked = select_objects(LogFormat::Cloudfront, objects, &c, 2);
        assert_eq!(
            keys(&picked),
            [
                "p/E.2026-11-01-10.a.gz",
                "p/E.2026-11-01-11.b.gz",
                "p/E.2026-11-01-12.a.gz",
                "p/E.2026-11-01-13.a.gz"
            ]
        );
    }

    #[test]
    fn huawei_names_are_beijing_hours_and_skip_other_domains() {
        // Beijing 18:00 and 19:00 on the 1st are 10:00 and 11:00 UTC.
        let objects = vec![
            meta("p/2026110117-www.a.com-cn.gz"),
            meta("p/2026110118-www.a.com-cn.gz"),
            meta("p/2026110118-www.a.com-ov.gz"),
            meta("p/2026110118-www.b.com-cn.gz"),
            meta("p/2026110118-img.a.com-ov-1.gz"),
            meta("p/2026110118-*.a.com-cn.gz"),
            meta("p/2026110119-www.a.com-ov.gz"),
            meta("p/2026110120-www.a.com-ov.gz"),
            meta("p/2026110121-www.a.com-ov.gz"),
            meta("p/E.2026-11-01-10.a.gz"),
        ];
        // [10:00, 11:00) UTC with 1 late hour: Beijing files of 18 and 19, www.a.com or a
        // wildcard file (never skipped by domain).
        let c = condition("www.a.com", hour(1, 10), hour(1, 11));
        let picked = select_objects(LogFormat::Huawei, objects.clone(), &c, 1);
        assert_eq!(
            keys(&picked),
            [
                "p/2026110118-*.a.com-cn.gz",
                "p/2026110118-www.a.com-cn.gz",
                "p/2026110118-www.a.com-ov.gz",
                "p/2026110119-www.a.com-ov.gz",
            ]
        );
        let c = condition("*.a.com", hour(1, 10), hour(1, 11));
        let picked = select_objects(LogFormat::Huawei, objects.clone(), &c, 0);
        assert_eq!(
            keys(&picked),
            [
                "p/2026110118-*.a.com-cn.gz",
                "p/2026110118-img.a.com-ov-1.gz",
                "p/2026110118-www.a.com-cn.gz",
                "p/2026110118-www.a.com-ov.gz",
            ]
        );
        // The service area of the name, once a condition asks for one.
        let mut c = condition("all", hour(1, 10), hour(1, 11));
        c.service_area = ServiceArea::OutsideMainlandChina;
        let picked = select_objects(LogFormat::Huawei, objects, &c, 0);
        assert_eq!(
            keys(&picked),
            [
                "p/2026110118-img.a.com-ov-1.gz",
                "p/2026110118-www.a.com-ov.gz"
            ]
        );
    }

    #[test]
    fn a_file_hour_off_the_utc_hour_is_read_when_it_overlaps() {
        // A name at 09:30 UTC holds 09:30-10:30: a range from 10:00 needs it.
        let name = FileName::hour_only(hour(1, 9) + 1_800_000);
        let c = condition("all", hour(1, 10), hour(1, 11));
        assert!(may_hold(&name, &c, 0));
        assert!(!may_hold(&FileName::hour_only(hour(1, 9)), &c, 0));
        assert!(may_hold(
            &FileName::hour_only(hour(1, 10) + 1_800_000),
            &c,
            0
        ));
        assert!(!may_hold(&FileName::hour_only(hour(1, 11)), &c, 0));
        assert!(may_hold(&FileName::hour_only(hour(1, 11)), &c, 1));
    }
}
