use serde_json::json;

use serde_json::Value;

use super::*;
use crate::error::{thousands, ApiError, ErrorCode};
use crate::log::geo::GeoSupport;
use crate::log::ServiceArea;
use crate::table::Language;
use crate::time::granularity::Granularity;
use crate::time::ms_from_civil;

fn day(y: i64, m: u32, d: u32) -> i64 {
    ms_from_civil(y, m, d, 0, 0, 0).expect("valid test date")
}

fn base() -> Value {
    json!({
        "domain_name": "www.example.com,*.img.example.com",
        "start_time": day(2026, 11, 1),
        "end_time": day(2026, 11, 2),
        "interval": 300,
    })
}

fn validate(v: Value) -> Result<ExportCondition, ApiError> {
    ExportRequest::from_json(&v)?.validate()
}

fn code_of(v: Value) -> ErrorCode {
    match validate(v) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.code,
    }
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[test]
fn defaults_fill_in() {
    let c = validate(base()).expect("valid");
    assert_eq!(c.action, Action::ReportsDetail);
    assert_eq!(c.stat_type, StatType::Flux);
    assert_eq!(c.scheme, SchemeFilter::All);
    assert_eq!(c.export_format, ExportFormat::Csv);
    assert_eq!(c.language, Language::Zh);
    assert_eq!(c.granularity, Granularity::FiveMinutes);
    assert!(!c.group_by_domain);
    assert_eq!(
        c.domains,
        DomainFilter::List(vec![
            DomainPattern::Exact("www.example.com".into()),
            DomainPattern::Wildcard {
                suffix: "img.example.com".into()
            }
        ])
    );
}

#[test]
fn missing_fields_are_named() {
    for field in ["domain_name", "start_time", "end_time"] {
        let mut v = base();
        v.as_object_mut().expect("object").remove(field);
        let err = validate(v).expect_err("missing");
        assert_eq!(err.code, ErrorCode::MissingParameter);
        assert!(err.message.contains(field), "{}", err.message);
    }
    let mut v = base();
    v.as_object_mut().expect("object").remove("interval");
    assert_eq!(code_of(v), ErrorCode::MissingParameter);
}

#[test]
fn wrong_types_and_unknown_fields() {
    let err = validate(with(base(), "start_time", json!("yesterday"))).expect_err("bad type");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("start_time"));
    assert_eq!(
        code_of(with(base(), "domain_name", json!(["a.com"]))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "colour", json!("red"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(code_of(json!([1, 2])), ErrorCode::InvalidParameter);
    // numbers as strings and nulls are tolerated
    let c = validate(with(
        with(base(), "start_time", json!(day(2026, 11, 1).to_string())),
        "group_by",
        Value::Null,
    ))
    .expect("valid");
    assert_eq!(c.start_time, day(2026, 11, 1));
}

#[test]
fn time_spans() {
    assert_eq!(
        code_of(with(base(), "end_time", json!(day(2026, 11, 1)))),
        ErrorCode::InvalidTimeSpan
    );
    assert_eq!(
        code_of(with(base(), "end_time", json!(day(2026, 10, 1)))),
        ErrorCode::InvalidTimeSpan
    );
    let long = with(
        with(base(), "interval", json!(86_400)),
        "end_time",
        json!(day(2027, 11, 3)),
    );
    let err = validate(long).expect_err("too long");
    assert_eq!(err.code, ErrorCode::InvalidTimeSpan);
    assert!(err.message.contains("366 days"), "{}", err.message);
    let ok = with(
        with(base(), "interval", json!(86_400)),
        "end_time",
        json!(day(2027, 11, 2)),
    );
    assert!(validate(ok).is_ok());
    assert_eq!(
        code_of(with(base(), "start_time", json!(-5))),
        ErrorCode::InvalidParameter
    );
}

#[test]
fn start_is_floored_and_end_ceiled() {
    let v = with(
        with(
            with(base(), "start_time", json!(day(2026, 11, 1) + 61_000)),
            "end_time",
            json!(day(2026, 11, 1) + 3_600_001),
        ),
        "interval",
        json!(3600),
    );
    let c = validate(v).expect("valid");
    assert_eq!(c.range_start, day(2026, 11, 1));
    assert_eq!(c.range_end, day(2026, 11, 1) + 2 * 3_600_000);
}

#[test]
fn granularity_forms() {
    let mut v = base();
    v.as_object_mut().expect("object").remove("interval");
    let c = validate(with(v.clone(), "granularity", json!("daily+8"))).expect("valid");
    assert_eq!(c.granularity, Granularity::Daily { offset_hours: 8 });
    assert_eq!(c.range_start, day(2026, 10, 31) + 16 * 3_600_000);
    assert_eq!(
        code_of(with(v.clone(), "granularity", json!("weekly"))),
        ErrorCode::InvalidType
    );
    assert_eq!(
        code_of(with(base(), "granularity", json!("hourly"))),
        ErrorCode::InvalidParameter
    );
    assert!(validate(with(base(), "granularity", json!("fiveminutes"))).is_ok());
    assert_eq!(
        code_of(with(base(), "interval", json!(60))),
        ErrorCode::InvalidParameter
    );
}

#[test]
fn hostnames() {
    let err = validate(with(
        base(),
        "domain_name",
        json!("ok.example.com,bad host,-x.com"),
    ))
    .expect_err("bad");
    assert_eq!(err.code, ErrorCode::InvalidHostnames);
    assert_eq!(err.message, "Invalid hostname(s): 'bad host', '-x.com'.");
    assert_eq!(
        code_of(with(base(), "domain_name", json!("*.*.com"))),
        ErrorCode::InvalidHostnames
    );
    assert_eq!(
        code_of(with(base(), "domain_name", json!("localhost"))),
        ErrorCode::InvalidHostnames
    );
    assert_eq!(
        validate(with(base(), "domain_name", json!("ALL")))
            .expect("valid")
            .domains,
        DomainFilter::All
    );
    let c = validate(with(
        base(),
        "domain_name",
        json!(" WWW.Example.com , www.example.com"),
    ))
    .expect("valid");
    assert_eq!(
        c.domains,
        DomainFilter::List(vec![DomainPattern::Exact("www.example.com".into())])
    );
}

#[test]
fn wildcard_matching() {
    let f = DomainFilter::parse("*.example.com,static.cdn.net").expect("valid");
    assert!(f.matches("a.example.com"));
    assert!(f.matches("b.a.example.com"));
    assert!(!f.matches("example.com"));
    assert!(!f.matches("badexample.com"));
    assert!(f.matches("static.cdn.net"));
    assert!(!f.matches("x.static.cdn.net"));
    assert_eq!(f.exact_hosts(), vec!["static.cdn.net".to_string()]);
}

#[test]
fn enumerations() {
    assert_eq!(
        validate(with(base(), "export_format", json!("xls")))
            .expect("valid")
            .export_format,
        ExportFormat::Xlsx
    );
    assert_eq!(
        code_of(with(base(), "export_format", json!("pdf"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "stat_type", json!("bandwidth"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "scheme", json!("ftp"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "language", json!("fr"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "group_by", json!("isp"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "action", json!("dance"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "action", json!("logs"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "top_n", json!(1001))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "query", json!("status:200"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "service_area", json!("mainland"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        code_of(with(base(), "country", json!("china"))),
        ErrorCode::InvalidParameter
    );
    assert!(validate(with(base(), "country", json!("all"))).is_ok());
    // Without a tenant callback secret (the default limits) a callback is refused outright;
    // the URL rules are tested in `callback`.
    assert_eq!(
        code_of(with(
            base(),
            "callback_url",
            json!("https://hooks.example.com/x")
        )),
        ErrorCode::CallbackNotConfigured
    );
    let c = validate(with(
        with(base(), "scheme", json!("https")),
        "stat_type",
        json!("req_num"),
    ))
    .expect("valid");
    assert_eq!(
        (c.scheme, c.stat_type),
        (SchemeFilter::Https, StatType::ReqNum)
    );
}

#[test]
fn domains_are_shown_as_written_in_normal_form() {
    let c = validate(with(
        base(),
        "domain_name",
        json!("WWW.example.com, *.img.example.com"),
    ))
    .expect("valid");
    let shown = serde_json::to_value(&c).expect("serialize");
    assert_eq!(shown["domains"], "www.example.com,*.img.example.com");
    let all = validate(with(base(), "domain_name", json!("all"))).expect("valid");
    assert_eq!(
        serde_json::to_value(&all).expect("serialize")["domains"],
        "all"
    );
}

#[test]
fn condition_round_trips_through_json() {
    let c = validate(with(base(), "granularity", json!("fiveminutes"))).expect("valid");
    let text = serde_json::to_string(&c).expect("serialize");
    let back: ExportCondition = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, c);
}

fn err_of(v: Value) -> ApiError {
    match validate(v) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn times_near_i64_max_are_refused_naming_the_field() {
    // Accepted before: the ceiled range end wrapped negative and the task "succeeded" empty.
    let v = with(
        with(base(), "start_time", json!(9_223_372_036_854_775_806_i64)),
        "end_time",
        json!(i64::MAX),
    );
    let err = err_of(v);
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("'start_time'"), "{}", err.message);
    assert!(err.message.contains("4102444800000"), "{}", err.message);
    let err = err_of(with(base(), "end_time", json!(END_TIME_MS)));
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("'end_time'"), "{}", err.message);
    let err = err_of(with(base(), "start_time", json!(i64::MIN)));
    assert!(err.message.contains("'start_time'"), "{}", err.message);
}

#[test]
fn the_edges_of_the_accepted_range_validate_with_a_sane_range() {
    for g in [
        "fiveminutes",
        "hourly",
        "daily-12",
        "daily+14",
        "monthly-12",
        "monthly+14",
    ] {
        for (start, end) in [
            (MIN_TIME_MS, MIN_TIME_MS + 1),
            (END_TIME_MS - 2, END_TIME_MS - 1),
        ] {
            let mut v = with(base(), "start_time", json!(start));
            v = with(v, "end_time", json!(end));
            v = with(v, "interval", Value::Null);
            v = with(v, "granularity", json!(g));
            let c = validate(v).expect(g);
            assert!(c.range_start <= c.start_time, "{g}");
            assert!(c.range_end >= c.end_time, "{g}");
            assert!(c.range_end > c.range_start, "{g}");
        }
    }
}

fn domains(n: usize) -> String {
    (0..n)
        .map(|i| format!("d{i}.example.com"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_number_of_domains_is_capped() {
    let ok = with(base(), "domain_name", json!(domains(100)));
    assert!(validate(ok).is_ok());
    let err = err_of(with(base(), "domain_name", json!(domains(101))));
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(
        err.message.contains("at most 100 domains, got 101"),
        "{}",
        err.message
    );
    let tight = RequestLimits {
        max_domains: 2,
        ..RequestLimits::default()
    };
    let req = ExportRequest::from_json(&base()).expect("json");
    assert!(req.validate_with(&tight).is_ok());
    let req =
        ExportRequest::from_json(&with(base(), "domain_name", json!(domains(3)))).expect("json");
    let err = req.validate_with(&tight).expect_err("three domains");
    assert!(
        err.message.contains("at most 2 domains, got 3"),
        "{}",
        err.message
    );
}

fn month_of_five_minutes(domain_name: &str) -> Value {
    json!({
        "domain_name": domain_name,
        "start_time": day(2026, 1, 1),
        "end_time": day(2026, 2, 1),
        "interval": 300,
        "group_by": "domain",
    })
}

#[test]
fn rows_knowable_up_front_are_capped() {
    // 100 domains × 31 days × 288 = 892,800 rows: the largest default request fits.
    let c = validate(month_of_five_minutes(&domains(100))).expect("fits the default");
    assert_eq!(
        c.row_estimate(),
        RowEstimate {
            rows: 892_800,
            exact: true
        }
    );
    let many = RequestLimits {
        max_domains: 1000,
        ..RequestLimits::default()
    };
    let req = ExportRequest::from_json(&month_of_five_minutes(&domains(1000))).expect("json");
    let err = req.validate_with(&many).expect_err("too many rows");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert_eq!(
        err.message,
        "this export would make 8,928,000 rows; the limit is 1,000,000 rows per export: shorten the range, use a coarser granularity or fewer domains"
    );
    // Without grouping, one series whatever the domains.
    let mut flat = month_of_five_minutes(&domains(1000));
    flat["group_by"] = Value::Null;
    let c = ExportRequest::from_json(&flat)
        .and_then(|r| r.validate_with(&many))
        .expect("one series");
    assert_eq!(c.row_estimate().rows, 8_928);
    let few_rows = RequestLimits {
        max_rows: 8_927,
        ..many
    };
    let err = ExportRequest::from_json(&flat)
        .and_then(|r| r.validate_with(&few_rows))
        .expect_err("one row too many");
    assert!(
        err.message.contains("8,928 rows; the limit is 8,927"),
        "{}",
        err.message
    );
}

#[test]
fn wildcards_and_all_grouped_give_a_lower_bound() {
    let c = validate(month_of_five_minutes("all")).expect("valid");
    assert_eq!(
        c.row_estimate(),
        RowEstimate {
            rows: 0,
            exact: false
        }
    );
    let c = validate(month_of_five_minutes("a.example.com,*.example.net")).expect("valid");
    assert_eq!(
        c.row_estimate(),
        RowEstimate {
            rows: 8_928,
            exact: false
        }
    );
    let tight = RequestLimits {
        max_rows: 8_000,
        ..RequestLimits::default()
    };
    let err = ExportRequest::from_json(&month_of_five_minutes("a.example.com,*.example.net"))
        .and_then(|r| r.validate_with(&tight))
        .expect_err("named host alone is too many");
    assert!(
        err.message.contains("at least 8,928 rows"),
        "{}",
        err.message
    );
}

#[test]
fn thousands_separators() {
    for (n, text) in [
        (0, "0"),
        (999, "999"),
        (1_000, "1,000"),
        (8_928_000, "8,928,000"),
        (u64::MAX, "18,446,744,073,709,551,615"),
    ] {
        assert_eq!(thousands(n), text);
    }
}

fn with_database(ip_database: bool, area_in_logs: bool) -> RequestLimits {
    RequestLimits {
        geo: GeoSupport {
            ip_database,
            area_in_logs,
        },
        ..RequestLimits::default()
    }
}

#[test]
fn geography_without_a_database_is_refused_naming_the_field() {
    let none = with_database(false, false);
    for (key, value, field) in [
        ("country", "cn", "'country'"),
        ("province", "GD", "'province'"),
        ("isp", "China Telecom", "'isp'"),
        ("service_area", "mainland_china", "'service_area'"),
        ("service_area", "outside_mainland_china", "'service_area'"),
        ("action", "isp_detail", "'isp_detail'"),
    ] {
        let err = ExportRequest::from_json(&with(base(), key, json!(value)))
            .and_then(|r| r.validate_with(&none))
            .expect_err(key);
        assert_eq!(err.code, ErrorCode::IpDatabaseNotConfigured, "{key}");
        assert_eq!(err.code.http_status(), 400);
        assert!(err.message.contains(field), "{key}: {}", err.message);
    }
    // `all` and `global` need nothing.
    for (key, value) in [
        ("country", "all"),
        ("isp", "ALL"),
        ("service_area", "global"),
    ] {
        let c = ExportRequest::from_json(&with(base(), key, json!(value)))
            .and_then(|r| r.validate_with(&none))
            .expect(key);
        assert!(!c.geo_needed(), "{key}");
    }
    // Logs that state their area need no database for `service_area`, but still do for the
    // rest.
    let huawei = with_database(false, true);
    let c = ExportRequest::from_json(&with(base(), "service_area", json!("mainland_china")))
        .and_then(|r| r.validate_with(&huawei))
        .expect("area stated by the logs");
    assert_eq!(c.service_area, ServiceArea::MainlandChina);
    assert!(c.geo_needed());
    let err = ExportRequest::from_json(&with(base(), "country", json!("CN")))
        .and_then(|r| r.validate_with(&huawei))
        .expect_err("country needs the database");
    assert_eq!(err.code, ErrorCode::IpDatabaseNotConfigured);
}

#[test]
fn geography_filters_with_a_database() {
    let db = with_database(true, false);
    let body = with(
        with(
            with(
                with(base(), "country", json!("us, cn")),
                "province",
                json!("Guangdong"),
            ),
            "isp",
            json!("China Telecom"),
        ),
        "service_area",
        json!("outside_mainland_china"),
    );
    let c = ExportRequest::from_json(&body)
        .and_then(|r| r.validate_with(&db))
        .expect("valid");
    assert_eq!(c.country.to_text(), "CN,US");
    assert_eq!(c.province.to_text(), "guangdong");
    assert_eq!(c.isp.to_text(), "china telecom");
    assert_eq!(c.service_area, ServiceArea::OutsideMainlandChina);
    assert!(c.geo_needed());
    // Stored and read back unchanged; a condition without filters stores none of them.
    let stored = serde_json::to_value(&c).expect("serialize");
    assert_eq!(stored["country"], "CN,US");
    let back: ExportCondition = serde_json::from_value(stored).expect("parse");
    assert_eq!(back, c);
    let plain = serde_json::to_value(validate(base()).expect("valid")).expect("serialize");
    assert!(plain.get("country").is_none() && plain.get("isp").is_none());

    let err = ExportRequest::from_json(&with(base(), "country", json!("CHN")))
        .and_then(|r| r.validate_with(&db))
        .expect_err("three letters");
    assert_eq!(err.code, ErrorCode::InvalidParameter);
    assert!(err.message.contains("'country'"), "{}", err.message);

    let isp = ExportRequest::from_json(&with(base(), "action", json!("isp_detail")))
        .and_then(|r| r.validate_with(&db))
        .expect("isp_detail");
    assert_eq!(
        isp.row_estimate(),
        RowEstimate {
            rows: 0,
            exact: false
        }
    );
    let err = ExportRequest::from_json(&with(
        with(base(), "action", json!("isp_detail")),
        "group_by",
        json!("domain"),
    ))
    .and_then(|r| r.validate_with(&db))
    .expect_err("grouped isp_detail");
    assert!(err.message.contains("group_by"), "{}", err.message);
}

fn logs_base() -> Value {
    json!({
        "action": "logs",
        "domain_name": "all",
        "start_time": day(2026, 11, 1) + 1234,
        "end_time": day(2026, 11, 2) + 5678,
    })
}

#[test]
fn logs_keep_the_range_to_the_millisecond_with_defaults() {
    let c = validate(logs_base()).expect("valid");
    assert_eq!(c.action, Action::Logs);
    assert_eq!(
        (c.range_start, c.range_end),
        (day(2026, 11, 1) + 1234, day(2026, 11, 2) + 5678)
    );
    assert_eq!(
        c.logs,
        Some(LogsSpec {
            query: String::new(),
            count: MAX_LOG_ROWS,
            order: LogOrder::Desc,
        })
    );
    let c = validate(with(
        with(
            with(
                logs_base(),
                "query",
                json!("  status:404 AND host:a.example.com "),
            ),
            "count",
            json!(10),
        ),
        "order",
        json!("asc"),
    ))
    .expect("valid");
    let spec = c.logs.expect("a logs spec");
    assert_eq!(spec.query, "status:404 AND host:a.example.com");
    assert_eq!((spec.count, spec.order), (10, LogOrder::Asc));
    // Not bounded by the statistics rows limit: a count far above it is fine.
    let limits = RequestLimits {
        max_rows: 10,
        ..RequestLimits::default()
    };
    ExportRequest::from_json(&with(logs_base(), "count", json!(1_000_000)))
        .and_then(|r| r.validate_with(&limits))
        .expect("a logs export is bounded by its count");
}

#[test]
fn logs_refuse_what_does_not_apply_and_bad_values() {
    for (key, value, says) in [
        ("query", json!("status:"), "at position 7"),
        ("query", json!("colour:red"), "unknown field 'colour'"),
        ("count", json!(0), "between 1 and 50,000,000"),
        ("count", json!(-5), "between 1 and 50,000,000"),
        ("count", json!(50_000_001), "between 1 and 50,000,000"),
        ("order", json!("newest"), "'order' must be 'asc' or 'desc'"),
        ("interval", json!(300), "'interval' does not apply"),
        (
            "granularity",
            json!("hourly"),
            "'granularity' does not apply",
        ),
        ("group_by", json!("domain"), "'group_by' does not apply"),
        ("top_n", json!(10), "'top_n' does not apply"),
    ] {
        let err = validate(with(logs_base(), key, value.clone())).expect_err("refused");
        assert_eq!(err.code, ErrorCode::InvalidParameter, "{key}={value}");
        assert!(err.message.contains(says), "{key}={value}: {}", err.message);
    }
    let long = with(logs_base(), "end_time", json!(day(2026, 12, 3)));
    assert_eq!(code_of(long), ErrorCode::InvalidTimeSpan);
    assert!(validate(with(logs_base(), "end_time", json!(day(2026, 12, 2)))).is_ok());
}
