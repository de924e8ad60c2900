//! Feeds arbitrary bytes as a JSON export request to `ExportRequest::from_json` and `validate`;
//! whatever validates must have a sane range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statport_core::request::{END_TIME_MS, MIN_TIME_MS};
use statport_core::ExportRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(request) = ExportRequest::from_json(&body) else {
        return;
    };
    let Ok(c) = request.validate() else {
        return;
    };
    assert!(c.range_start <= c.start_time, "{c:?}");
    assert!(c.range_end >= c.end_time, "{c:?}");
    assert!(c.range_end > c.range_start, "{c:?}");
    assert!((MIN_TIME_MS..END_TIME_MS).contains(&c.start_time), "{c:?}");
    assert!((MIN_TIME_MS..END_TIME_MS).contains(&c.end_time), "{c:?}");
    let estimate = c.row_estimate();
    assert!(estimate.rows <= 1_000_000, "{c:?}");
    // The condition round-trips through its stored form.
    let stored = serde_json::to_string(&c).expect("serialize");
    let back: statport_core::ExportCondition = serde_json::from_str(&stored).expect("deserialize");
    assert_eq!(back, c);
    let _ = c.granularity.bucket_starts(c.range_start, c.range_end).count();
});
