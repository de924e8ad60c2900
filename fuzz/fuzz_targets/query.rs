//! Feeds arbitrary UTF-8 to the `logs` query parser: parsing never panics, parsing the same text
//! again gives the same result, and a query that parses tests fixed records without panicking.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use statport_core::log::{LogRecord, Scheme};
use statport_core::log::query::Query;

/// A record with every field present (some URL-encoded) and one with the optional ones absent.
fn records() -> [LogRecord<'static>; 2] {
    let full = LogRecord {
        timestamp_ms: 1_795_514_400_000,
        host: Cow::Borrowed("a.example.com"),
        bytes: 2_000_000,
        scheme: Scheme::Https,
        client_ip: "192.0.2.7",
        edge_location: "SFO5-C1",
        method: "GET",
        raw_path: "/video/caf%C3%A9.mp4",
        raw_query: Some("a=1&b=%20x%FF"),
        status: 404,
        raw_referer: Some("https://www.example.com/a%20b"),
        raw_user_agent: Some("Mozilla/5.0%20Chrome/120 Googlebot"),
        origin_fetch: true,
        service_area: None,
    };
    let sparse = LogRecord {
        timestamp_ms: i64::MIN,
        bytes: u64::MAX,
        scheme: Scheme::Http,
        raw_path: "",
        raw_query: None,
        status: 0,
        raw_referer: None,
        raw_user_agent: None,
        origin_fetch: false,
        ..full.clone()
    };
    [full, sparse]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = Query::parse(text);
    assert_eq!(first, Query::parse(text), "parsing {text:?} twice");
    match first {
        Ok(query) => {
            for record in records() {
                let _ = query.matches(&record);
            }
        }
        // The position lies within the text (or just past its end).
        Err(e) => assert!(e.position <= text.chars().count(), "{e} for {text:?}"),
    }
});
