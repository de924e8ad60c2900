use std::collections::BTreeMap;

use super::*;
use crate::request::{Action, SchemeFilter};
use crate::time::{ms_from_civil, DAY_MS, HOUR_MS};

fn groups() -> ServerGroups {
    ServerGroups::new(BTreeMap::from([(
        "standard".to_owned(),
        vec!["SFO".to_owned(), "IAD".to_owned()],
    )]))
    .expect("groups")
}

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(query: &[(&str, &str)], body: &str) -> Result<OriginVolumeRequest, ApiError> {
    OriginVolumeRequest::parse(
        &pairs(query),
        body.as_bytes(),
        &groups(),
        &RequestLimits::default(),
    )
}

const DAY: [(&str, &str); 3] = [
    ("startdate", "2019-09-05T03:14:01Z"),
    ("enddate", "2019-09-06T03:14:01Z"),
    ("type", "hourly"),
];

fn code(r: Result<OriginVolumeRequest, ApiError>) -> ErrorCode {
    r.expect_err("refused").code
}

#[test]
fn a_full_request_becomes_an_origin_detail_condition() {
    let r = parse(
        &[
            ("startdate", "2019-09-05T03:14:01Z"),
            ("enddate", "2019-09-07T03:14:01+00:00"),
            ("type", "daily+8"),
            ("scheme", "https"),
        ],
        r#"{"filters": {"hostnames": ["*.Example.com", "a.example.org"], "serverGroups": ["standard", "NRT"]}}"#,
    )
    .expect("valid");
    let c = &r.condition;
    assert_eq!(c.action, Action::OriginDetail);
    assert_eq!(c.granularity, Granularity::Daily { offset_hours: 8 });
    assert_eq!(c.scheme, SchemeFilter::Https);
    assert!(!c.group_by_domain);
    assert_eq!(c.domains.to_text(), "a.example.org,*.example.com");
    // Floored and ceiled to midnight in UTC+8 (16:00 UTC).
    assert_eq!(
        c.range_start,
        ms_from_civil(2019, 9, 4, 16, 0, 0).expect("date")
    );
    assert_eq!(
        c.range_end,
        ms_from_civil(2019, 9, 7, 16, 0, 0).expect("date")
    );
    assert_eq!(
        r.edges,
        EdgeFilter::Prefixes(vec!["IAD".into(), "NRT".into(), "SFO".into()])
    );
}

#[test]
fn the_seed_examples_floor_and_ceil_hourly() {
    let r = parse(
        &[
            ("startdate", "2019-09-05T03:14:01Z"),
            ("enddate", "2019-09-05T03:14:01Z"),
            ("type", "hourly"),
        ],
        "",
    );
    // start == end is an empty range, refused as the exports refuse it.
    assert_eq!(code(r), ErrorCode::InvalidTimeSpan);
    let r = parse(&DAY, "").expect("valid");
    assert_eq!(
        r.condition.range_start,
        ms_from_civil(2019, 9, 5, 3, 0, 0).expect("date")
    );
    assert_eq!(
        r.condition.range_end,
        ms_from_civil(2019, 9, 6, 4, 0, 0).expect("date")
    );
    assert_eq!(r.condition.domains, DomainFilter::All);
    assert_eq!(r.edges, EdgeFilter::All);
    assert_eq!(r.condition.scheme, SchemeFilter::All);
}

#[test]
fn empty_bodies_and_null_filters_mean_everything() {
    for body in [
        "",
        "  \n",
        "{}",
        r#"{"filters": null}"#,
        r#"{"filters": {}}"#,
        r#"{"filters": {"hostnames": [], "serverGroups": null}}"#,
    ] {
        let r = parse(&DAY, body).expect(body);
        assert_eq!(r.condition.domains, DomainFilter::All, "{body}");
        assert_eq!(r.edges, EdgeFilter::All, "{body}");
    }
}

#[test]
fn an_unencoded_plus_reads_as_plus() {
    // `type=daily+8` and `+00:00` in a raw query string decode to spaces.
    let r = parse(
        &[
            ("startdate", "2019-09-05T00:00:00 00:00"),
            ("enddate", "2019-09-06T00:00:00Z"),
            ("type", "daily 8"),
        ],
        "",
    )
    .expect("valid");
    assert_eq!(
        r.condition.granularity,
        Granularity::Daily { offset_hours: 8 }
    );
    let r = parse(
        &[
            ("startdate", "2019-09-05T00:00:00Z"),
            ("enddate", "2019-12-06T00:00:00Z"),
            ("type", "monthly-5"),
        ],
        "",
    )
    .expect("valid");
    assert_eq!(
        r.condition.granularity,
        Granularity::Monthly { offset_hours: -5 }
    );
}

#[test]
fn invalid_type_has_the_seed_message() {
    for bad in [
        "invalidReportType",
        "",
        "hourly+8",
        "daily+15",
        "DAILY",
        "daily 8 9",
    ] {
        let mut q = DAY;
        q[2].1 = bad;
        let err = parse(&q, "").expect_err(bad);
        assert_eq!(err.code, ErrorCode::InvalidType, "{bad}");
        assert_eq!(
            err.message,
            format!("Invalid parameter 'type': '{bad}'. The report type must be 'fiveminutes', 'hourly', 'daily'(with optional timezone) or 'monthly'(with optional timezone).")
        );
    }
    assert_eq!(
        code(parse(&DAY[..2], "")),
        ErrorCode::MissingParameter,
        "type is required"
    );
}

#[test]
fn time_spans_follow_the_export_limits() {
    let start = ms_from_civil(2024, 1, 1, 0, 0, 0).expect("date");
    let text = |ms| crate::time::format_rfc3339(ms, 0);
    let span = |days: i64, t: &str| {
        let (s, e) = (text(start), text(start + days * DAY_MS));
        parse(&[("startdate", &s), ("enddate", &e), ("type", t)], "")
    };
    assert!(span(366, "daily").is_ok());
    let err = span(367, "daily").expect_err("too long");
    assert_eq!(err.code, ErrorCode::InvalidTimeSpan);
    assert_eq!(
        err.message,
        "The max time span of 'daily' report must be no more than 366 days."
    );
    assert!(span(31, "fiveminutes").is_ok());
    assert_eq!(code(span(32, "fiveminutes")), ErrorCode::InvalidTimeSpan);
    assert_eq!(code(span(187, "hourly")), ErrorCode::InvalidTimeSpan);
    // Reversed.
    let r = parse(
        &[
            ("startdate", &text(start + HOUR_MS)),
            ("enddate", &text(start)),
            ("type", "hourly"),
        ],
        "",
    );
    let err = r.expect_err("reversed");
    assert_eq!(err.code, ErrorCode::InvalidTimeSpan);
    assert!(err.message.contains("'enddate'"), "{}", err.message);
}

#[test]
fn dates_must_be_rfc3339_in_utc() {
    for bad in [
        "2019-09-05T03:14:01+08:00",
        "2019-09-05T03:14:01-00:30",
        "2019-09-05",
        "1567653241000",
        "2019-02-30T00:00:00Z",
        "2100-01-01T00:00:00Z",
        "",
    ] {
        let mut q = DAY;
        q[0].1 = bad;
        let err = parse(&q, "").expect_err(bad);
        assert_eq!(err.code, ErrorCode::InvalidParameter, "{bad}");
        assert!(
            err.message.contains("'startdate'"),
            "{bad}: {}",
            err.message
        );
    }
    assert_eq!(code(parse(&DAY[1..], "")), ErrorCode::MissingParameter);
    let mut q = DAY;
    q[0].1 = "2019-09-05T03:14:01.5z";
    assert!(
        parse(&q, "").is_ok(),
        "a fraction and a lower-case z are RFC 3339"
    );
}

#[test]
fn query_parameters_are_checked() {
    let mut q = DAY.to_vec();
    q.push(("scheme", "ftp"));
    let err = parse(&q, "").expect_err("bad scheme");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("'scheme'"), "{}", err.message);
    let mut q = DAY.to_vec();
    q.push(("domain", "x"));
    let err = parse(&q, "").expect_err("unknown");
    assert!(
        err.message.contains("unknown query parameter 'domain'"),
        "{}",
        err.message
    );
    let mut q = DAY.to_vec();
    q.push(("type", "daily"));
    let err = parse(&q, "").expect_err("twice");
    assert!(err.message.contains("more than once"), "{}", err.message);
}

#[test]
fn invalid_hostnames_have_the_seed_message() {
    let err = parse(
        &DAY,
        r#"{"filters": {"hostnames": ["sfasdfsdfasdfasdf", "ok.example.com", "a,b.example.com", "all", "*.", ""]}}"#,
    )
    .expect_err("bad hosts");
    assert_eq!(err.code, ErrorCode::InvalidHostnames);
    assert_eq!(
        err.message,
        "Invalid hostname(s): 'sfasdfsdfasdfasdf', 'a,b.example.com', 'all', '*.', ''."
    );
    let many: Vec<String> = (0..101).map(|i| format!("\"h{i}.example.com\"")).collect();
    let err = parse(
        &DAY,
        &format!(r#"{{"filters": {{"hostnames": [{}]}}}}"#, many.join(",")),
    )
    .expect_err("too many");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("at most 100"), "{}", err.message);
}

#[test]
fn bodies_are_checked() {
    assert_eq!(code(parse(&DAY, "{")), ErrorCode::MalformedBody);
    for (body, needle) in [
        ("[]", "must be a JSON object"),
        (r#"{"filter": {}}"#, "unknown parameter 'filter'"),
        (r#"{"filters": []}"#, "'filters' must be a JSON object"),
        (r#"{"filters": {"hosts": []}}"#, "unknown parameter 'hosts'"),
        (
            r#"{"filters": {"hostnames": "a.example.com"}}"#,
            "'filters.hostnames' must be a list of strings",
        ),
        (
            r#"{"filters": {"serverGroups": [1]}}"#,
            "'filters.serverGroups' must be a list of strings",
        ),
    ] {
        let err = parse(&DAY, body).expect_err(body);
        assert_eq!(err.code, ErrorCode::InvalidParameter, "{body}");
        assert!(err.message.contains(needle), "{body}: {}", err.message);
    }
    let err = parse(&DAY, r#"{"filters": {"serverGroups": ["premium"]}}"#).expect_err("unknown");
    assert_eq!(err.code, ErrorCode::InvalidServerGroups);
    assert!(err.message.contains("'premium'"), "{}", err.message);
}

#[test]
fn megabytes_are_exact_decimals() {
    assert_eq!(megabytes(0).to_string(), "0");
    assert_eq!(megabytes(5_000_000).to_string(), "5");
    assert_eq!(megabytes(1_234_567).to_string(), "1.234567");
    assert_eq!(megabytes(1_500).to_string(), "0.0015");
    // JSON's exponent form for the very smallest values: still exactly 10^-6.
    assert_eq!(megabytes(1).to_string(), "1e-6");
    assert_eq!(
        megabytes(999_999_999_999_999).to_string(),
        "999999999.999999"
    );
    // Any byte count below 10^15: the number is exactly bytes / 10^6.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..20_000u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Spread over every magnitude from 1 byte to 10^15.
        let bytes = (x >> 11) % 10u64.pow(u32::try_from(1 + i % 15).expect("small"));
        let text = megabytes(bytes).to_string();
        assert_eq!(decimal_millionths(&text), bytes, "{text}");
    }
}

/// The exact value of a JSON number, in millionths (test oracle: digits and an exponent).
fn decimal_millionths(text: &str) -> u64 {
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().expect("exponent")),
        None => (text, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u64 = format!("{whole}{frac}").parse().expect("digits");
    let scale = 6 + exp - i32::try_from(frac.len()).expect("short");
    assert!(scale >= 0, "{text} has more than 6 decimal places");
    digits * 10u64.pow(scale.unsigned_abs())
}

#[test]
fn failures_point_to_export_tasks() {
    let e = ReportFailure::TooLarge {
        bytes: 300_000_000,
        files: 24,
        limit: 268_435_456,
    }
    .api_error();
    assert_eq!(e.code, ErrorCode::ReportTooLarge);
    assert!(e.message.contains("300,000,000") && e.message.contains("origin_detail"));
    let e = ReportFailure::TimedOut { limit_ms: 30_000 }.api_error();
    assert_eq!(
        (e.code, e.code.http_status()),
        (ErrorCode::ReportTimedOut, 503)
    );
    assert!(e.message.contains("30,000 ms") && e.message.contains("export task"));
    let e = ReportFailure::Busy { limit: 4 }.api_error();
    assert_eq!(e.code.http_status(), 429);
    let e = ReportFailure::Unavailable {
        cause: "secret detail".into(),
    }
    .api_error();
    assert!(!e.message.contains("secret"));
}
