use std::borrow::Cow;

use super::*;
use crate::error::{ApiError, ErrorCode};
use crate::log::Scheme;
use crate::time::ms_from_civil;

/// 2026-11-24T10:30:00Z.
fn ten_thirty() -> i64 {
    ms_from_civil(2026, 11, 24, 10, 30, 0).expect("valid test time")
}

fn record() -> LogRecord<'static> {
    LogRecord {
        timestamp_ms: ten_thirty(),
        host: Cow::Borrowed("a.example.com"),
        bytes: 2_000_000,
        scheme: Scheme::Https,
        client_ip: "192.0.2.7",
        edge_location: "SFO5-C1",
        method: "GET",
        raw_path: "/video/caf%C3%A9.mp4",
        raw_query: Some("a=1&b=%20x"),
        status: 404,
        raw_referer: None,
        raw_user_agent: Some("Mozilla/5.0%20(X11)%20Chrome/120"),
        origin_fetch: true,
        service_area: None,
    }
}

fn bot() -> LogRecord<'static> {
    LogRecord {
        host: Cow::Borrowed("b.example.com"),
        bytes: 512,
        scheme: Scheme::Http,
        method: "HEAD",
        raw_path: "/index.html",
        raw_query: None,
        status: 200,
        raw_referer: Some("https://www.example.com/a%20b"),
        raw_user_agent: Some("Googlebot/2.1"),
        origin_fetch: false,
        ..record()
    }
}

fn parse(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Whether `text` selects [`record`] and whether it selects [`bot`].
fn sel(text: &str) -> (bool, bool) {
    let q = parse(text);
    (q.matches(&record()), q.matches(&bot()))
}

fn err(text: &str) -> QueryError {
    match Query::parse(text) {
        Ok(q) => panic!("{text:?} should not parse, got {q:?}"),
        Err(e) => e,
    }
}

fn same(a: &str, b: &str) {
    assert_eq!(parse(a), parse(b), "{a:?} should mean {b:?}");
}

#[test]
fn empty_query_matches_everything() {
    for text in ["", "   ", "\t\n "] {
        let q = parse(text);
        assert!(q.matches_everything());
        assert!(q.matches(&record()) && q.matches(&bot()));
    }
    assert!(!parse("status:404").matches_everything());
}

#[test]
fn field_value() {
    assert_eq!(sel("status:404"), (true, false));
    assert_eq!(sel("host:a.example.com"), (true, false));
    assert_eq!(sel("method:HEAD"), (false, true));
    assert_eq!(sel("ip:192.0.2.7"), (true, true));
    assert_eq!(sel("edge:SFO5-C1"), (true, true));
    assert_eq!(sel("scheme:http"), (false, true));
    assert_eq!(sel("result:miss"), (true, false));
    assert_eq!(sel("result:hit"), (false, true));
    assert_eq!(sel("bytes:512"), (false, true));
    assert_eq!(sel(&format!("time:{}", ten_thirty())), (true, true));
    assert_eq!(sel("time:2026-11-24T10:30:00Z"), (true, true));
    assert_eq!(sel("time:2026-11-24T18:30:00+08:00"), (true, true));
}

#[test]
fn text_fields_are_decoded() {
    assert_eq!(sel("path:/video/café.mp4"), (true, false));
    assert_eq!(sel("path:/video/caf%C3%A9.mp4"), (false, false));
    assert_eq!(sel("query:\"a=1&b= x\""), (true, false));
    assert_eq!(sel("url:\"/video/café.mp4?a=1&b= x\""), (true, false));
    assert_eq!(sel("url:/index.html"), (false, true));
    assert_eq!(sel("ua:\"Mozilla/5.0 (X11) Chrome/120\""), (true, false));
    assert_eq!(
        sel("referer:\"https://www.example.com/a b\""),
        (false, true)
    );
}

#[test]
fn whole_value_not_a_word() {
    assert_eq!(sel("ua:Chrome"), (false, false));
    assert_eq!(sel("ua:*Chrome*"), (true, false));
    assert_eq!(sel("path:/video"), (false, false));
}

#[test]
fn quoted_phrases_and_escapes() {
    let r = LogRecord {
        raw_user_agent: Some(r#"say "hi" \ (ok) AND *"#),
        ..record()
    };
    assert!(parse(r#"ua:"say \"hi\" \\ (ok) AND *""#).matches(&r));
    // In a phrase `*` is a plain character.
    assert!(!parse(r#"ua:"say*""#).matches(&r));
    // A backslash outside quotes makes the next character plain.
    assert!(parse(r#"ua:say\ \"hi\"\ \\\ \(ok\)\ AND\ \*"#).matches(&r));
    let star = LogRecord {
        raw_path: "/a*b",
        ..record()
    };
    assert!(parse(r"path:/a\*b").matches(&star));
    assert!(!parse(r"path:/a\*b").matches(&LogRecord {
        raw_path: "/axxb",
        ..record()
    }));
    assert!(parse("path:/a*b").matches(&LogRecord {
        raw_path: "/axxb",
        ..record()
    }));
    // A quoted value works for numeric fields too.
    assert_eq!(sel("status:\"404\""), (true, false));
}

#[test]
fn wildcards() {
    assert_eq!(sel("path:/video/*"), (true, false));
    assert_eq!(sel("path:*.mp4"), (true, false));
    assert_eq!(sel("path:*.html"), (false, true));
    assert_eq!(sel("path:/*/*"), (true, false));
    assert_eq!(sel("ua:*bot*"), (false, true));
    assert_eq!(sel("ua:Google*/?.?"), (false, true));
    assert_eq!(sel("edge:SFO?-C1"), (true, true));
    assert_eq!(sel("edge:SFO?-C"), (false, false));
    assert_eq!(
        sel("path:/video/caf?.mp4"),
        (true, false),
        "? is one character"
    );
    assert_eq!(sel("host:*.example.com"), (true, true));
    assert_eq!(sel("host:?.example.*"), (true, true));
    assert_eq!(sel("query:*"), (true, false), "present");
    assert_eq!(sel("referer:*"), (false, true), "present");
    assert_eq!(sel("status:*"), (true, true));
}

#[test]
fn ranges() {
    assert_eq!(sel("status:[400 TO 499]"), (true, false));
    assert_eq!(sel("status:[404 TO 404]"), (true, false));
    assert_eq!(sel("status:{404 TO 500]"), (false, false));
    assert_eq!(sel("status:[200 TO 404}"), (false, true));
    assert_eq!(sel("status:{199 TO 404]"), (true, true));
    assert_eq!(sel("bytes:[1000 TO *]"), (true, false));
    assert_eq!(sel("bytes:[* TO 512]"), (false, true));
    assert_eq!(sel("bytes:[* TO 512}"), (false, false));
    assert_eq!(sel("bytes:[* TO *]"), (true, true));
    assert_eq!(sel("status:[ 400  TO  499 ]"), (true, false));
    let t = ten_thirty();
    assert_eq!(sel(&format!("time:[{t} TO {}]", t + 1)), (true, true));
    assert_eq!(sel(&format!("time:{{{t} TO {}]", t + 1)), (false, false));
    assert_eq!(
        sel("time:[2026-11-24T10:00:00Z TO 2026-11-24T11:00:00Z}"),
        (true, true)
    );
    assert_eq!(
        sel("time:[2026-11-24T10:00:00Z TO 2026-11-24T10:30:00Z}"),
        (false, false)
    );
    assert_eq!(
        sel("time:[2026-11-24T10:00:00Z TO 2026-11-24T10:30:00Z]"),
        (true, true)
    );
    // Text ranges are in code-point order.
    assert_eq!(sel("path:[/a TO /b}"), (false, false));
    assert_eq!(sel("path:[/i TO /v]"), (false, true));
    assert_eq!(sel("path:[/video TO /video0}"), (true, false));
    assert_eq!(sel("edge:[\"SFO\" TO \"SFP\"]"), (true, true));
}

#[test]
fn comparisons() {
    assert_eq!(sel("bytes:>1048576"), (true, false));
    assert_eq!(sel("bytes:>512"), (true, false));
    assert_eq!(sel("bytes:>=512"), (true, true));
    assert_eq!(sel("bytes:<512"), (false, false));
    assert_eq!(sel("bytes:<=512"), (false, true));
    assert_eq!(sel("status:<400"), (false, true));
    assert_eq!(sel("time:>=2026-11-24T10:30:00Z"), (true, true));
    assert_eq!(sel("time:<2026-11-24T10:30:00Z"), (false, false));
    assert_eq!(sel("time:>-5"), (true, true));
    assert_eq!(sel("path:>/j"), (true, false));
    assert_eq!(sel("path:<\"/j\""), (false, true));
}

#[test]
fn numbers_compare_as_numbers_text_as_text() {
    // 2000000 > 512 as numbers; as text "2000000" < "512".
    assert_eq!(sel("bytes:>600"), (true, false));
    let r = LogRecord {
        edge_location: "2000000",
        ..record()
    };
    assert!(!parse("edge:>600").matches(&r));
    assert!(parse("edge:<600").matches(&r));
    // Leading zeros are the same number, not the same text.
    assert_eq!(sel("status:0404"), (true, false));
    assert!(!parse("edge:02000000").matches(&r));
}

#[test]
fn case_rules() {
    // host, method, scheme, result ignore case.
    assert_eq!(sel("host:A.Example.COM"), (true, false));
    assert_eq!(sel("host:*.EXAMPLE.com"), (true, true));
    assert_eq!(sel("method:get"), (true, false));
    assert_eq!(sel("method:[A TO HZ]"), (true, true));
    assert_eq!(sel("scheme:HTTPS"), (true, false));
    assert_eq!(sel("result:MISS"), (true, false));
    let upper = LogRecord {
        method: "get",
        ..record()
    };
    assert!(parse("method:GET").matches(&upper));
    assert!(parse("method:G?T").matches(&upper));
    // The rest are case-sensitive.
    assert_eq!(sel("edge:sfo5-c1"), (false, false));
    assert_eq!(sel("ua:*chrome*"), (false, false));
    assert_eq!(sel("path:/VIDEO/*"), (false, false));
}

#[test]
fn absent_fields_match_only_under_not() {
    // `bot` has no query string, `record` no referer.
    assert_eq!(sel("referer:*"), (false, true));
    assert_eq!(sel("NOT referer:*"), (true, false));
    assert_eq!(sel("referer:[* TO *]"), (false, true));
    assert_eq!(sel("referer:>\"\""), (false, true));
    assert_eq!(sel("NOT referer:x"), (true, true));
    assert_eq!(sel("query:<zzz"), (true, false));
    assert_eq!(sel("NOT query:<zzz"), (false, true));
    // Without a query string, `url` is the path alone.
    assert_eq!(sel("url:*\\?*"), (true, false));
}

#[test]
fn operators() {
    assert_eq!(sel("status:404 AND host:a.example.com"), (true, false));
    assert_eq!(sel("status:404 AND host:b.example.com"), (false, false));
    assert_eq!(sel("status:404 OR host:b.example.com"), (true, true));
    assert_eq!(sel("NOT status:404"), (false, true));
    assert_eq!(sel("status:404 && result:miss"), (true, false));
    assert_eq!(sel("status:404 || result:hit"), (true, true));
    assert_eq!(sel("!status:404"), (false, true));
    assert_eq!(sel("! status:404"), (false, true));
    assert_eq!(sel("NOT NOT status:404"), (true, false));
    assert_eq!(sel("!!!status:404"), (false, true));
    assert_eq!(sel("NOT(status:404)"), (false, true));
    assert_eq!(sel("path:/video/* AND NOT ua:*bot*"), (true, false));
    assert_eq!(sel("status:[500 TO 599] OR result:miss"), (true, false));
    same("status:404 AND host:a", "status:404 && host:a");
    same("status:404 OR host:a", "status:404 || host:a");
    same("NOT status:404", "!status:404");
}

#[test]
fn precedence() {
    same(
        "status:1 OR status:2 AND status:3",
        "status:1 OR (status:2 AND status:3)",
    );
    same(
        "status:1 AND status:2 OR status:3",
        "(status:1 AND status:2) OR status:3",
    );
    same("NOT status:1 AND status:2", "(NOT status:1) AND status:2");
    same("NOT status:1 OR status:2", "(NOT status:1) OR status:2");
    same(
        "status:1 OR NOT status:2 AND status:3 OR status:4",
        "status:1 OR ((NOT status:2) AND status:3) OR status:4",
    );
    assert_ne!(
        parse("status:1 OR status:2 AND status:3"),
        parse("(status:1 OR status:2) AND status:3")
    );
    // By behaviour: `record` is 404, `bot` is 200.
    assert_eq!(
        sel("status:404 OR status:200 AND result:miss"),
        (true, false)
    );
    assert_eq!(
        sel("(status:404 OR status:200) AND result:hit"),
        (false, true)
    );
    assert_eq!(sel("NOT status:404 AND result:hit"), (false, true));
}

#[test]
fn implicit_and() {
    same("status:404 host:a", "status:404 AND host:a");
    same(
        "status:404 host:a OR status:1",
        "(status:404 AND host:a) OR status:1",
    );
    same("status:404 NOT host:a", "status:404 AND NOT host:a");
    same("status:404(host:a)", "status:404 AND host:a");
}

#[test]
fn groups() {
    assert_eq!(sel("method:(GET OR HEAD)"), (true, true));
    assert_eq!(sel("method:(GET || POST)"), (true, false));
    assert_eq!(sel("status:(404 500)"), (false, false), "space is AND");
    assert_eq!(sel("path:(/video/* AND NOT *.html)"), (true, false));
    assert_eq!(sel("path:(NOT /video/*)"), (false, true));
    assert_eq!(sel("status:(!404)"), (false, true));
    assert_eq!(sel("status:([400 TO 499] OR >=500)"), (true, false));
    assert_eq!(sel("status:(>=200 AND <300)"), (false, true));
    assert_eq!(sel("ua:(\"Googlebot/2.1\" OR *Chrome*)"), (true, true));
    assert_eq!(sel("status:((404 OR 200) AND NOT 200)"), (true, false));
    assert_eq!(
        sel("(status:404 OR status:200) AND method:(HEAD)"),
        (false, true)
    );
    same("method:(GET OR HEAD)", "method:GET OR method:HEAD");
    same("status:( 404 )", "status:404");
}

#[test]
fn keywords_need_a_boundary() {
    // `ANDROID` is no operator: it is a field name (unknown) here.
    assert!(err("status:404 ANDROID:1")
        .message
        .contains("unknown field 'ANDROID'"));
    // Lowercase operators are not operators: `and` has no field.
    let e = err("status:404 and host:a");
    assert_eq!(e.position, 11);
    assert!(e.message.starts_with("'and' has no field"), "{}", e.message);
    // Quoted, an operator word is a value.
    assert!(parse("method:\"AND\"").matches(&LogRecord {
        method: "AND",
        ..record()
    }));
}

#[test]
fn unicode_positions_count_characters() {
    let e = err("path:/café AND nope");
    assert_eq!(e.position, 15);
    assert!(parse("ua:*é*").matches(&LogRecord {
        raw_user_agent: Some("caf%C3%A9"),
        ..record()
    }));
}

fn assert_error(text: &str, position: usize, message: &str) {
    let e = err(text);
    assert_eq!(
        (e.position, e.message.as_str()),
        (position, message),
        "for {text:?}"
    );
}

#[test]
fn malformed_queries_name_the_position() {
    assert_error("status:", 7, "expected a value after 'status:'");
    assert_error("host:a AND status:", 18, "expected a value after 'status:'");
    assert_error(
        "status: 404",
        7,
        "expected a value after 'status:', found a space",
    );
    assert_error("status:)", 7, "expected a value after 'status:', found ')'");
    assert_error(
        "(status:404",
        11,
        "expected ')' to close the '(' at position 0",
    );
    assert_error(
        "((status:404) OR (host:a)",
        25,
        "expected ')' to close the '(' at position 0",
    );
    assert_error("status:404)", 10, "found ')' without a matching '('");
    assert_error(
        "()",
        1,
        "expected a field:value clause after '(', found ')'",
    );
    assert_error(
        "status:[1 TO",
        12,
        "expected the range's upper end after 'TO'",
    );
    assert_error(
        "status:[1 TO 5",
        14,
        "expected ']' or '}' to close the range",
    );
    assert_error(
        "status:[1 5]",
        10,
        "expected ' TO ' after the range's lower end, found '5]'",
    );
    assert_error(
        "status:[]",
        8,
        "expected the range's lower end after '[', found ']'",
    );
    assert_error(
        "status:[1 TO]",
        12,
        "expected a space after 'TO', found ']'",
    );
    assert_error("bytes:>", 7, "expected a value after '>'");
    assert_error(
        "ua:\"abc",
        7,
        "expected '\"' to close the phrase opened at position 3",
    );
    assert_error("ua:abc\\", 7, "expected a character after '\\'");
    assert_error(
        "AND status:404",
        0,
        "expected a field:value clause at the start of the query, found 'AND'",
    );
    assert_error(
        "status:404 OR",
        13,
        "expected a field:value clause after 'OR'",
    );
    assert_error(
        "status:404 AND",
        14,
        "expected a field:value clause after 'AND'",
    );
    assert_error(
        "status:404 AND OR host:a",
        15,
        "expected a field:value clause after 'AND', found 'OR'",
    );
    assert_error("NOT", 3, "expected a field:value clause after 'NOT'");
    assert_error(
        "status:(404 OR)",
        14,
        "expected a value for 'status' after 'OR', found ')'",
    );
    assert_error(
        "status:()",
        8,
        "expected a value for 'status' after '(', found ')'",
    );
}

#[test]
fn fields_are_checked() {
    let all = KNOWN_FIELDS.join(", ");
    assert_error(
        "status:404 AND colour:red",
        15,
        &format!("unknown field 'colour'; the fields are {all}"),
    );
    assert_error(
        "Status:404",
        0,
        &format!("unknown field 'Status'; the fields are {all}"),
    );
    assert_error(
        "status:404 hello",
        11,
        &format!("'hello' has no field: write field:value, with one of the fields {all}"),
    );
    assert_error(
        "status:404 AND ANDROID",
        15,
        &format!("'ANDROID' has no field: write field:value, with one of the fields {all}"),
    );
    assert_error(
        "\"a phrase\"",
        0,
        &format!("'\"a phrase\"' has no field: write field:value, with one of the fields {all}"),
    );
    assert_error(
        "bytes:abc",
        6,
        "the field 'bytes' takes a number, not 'abc'",
    );
    assert_error(
        "status:(404 OR abc)",
        15,
        "the field 'status' takes a number, not 'abc'",
    );
    assert_error(
        "bytes:[1 TO x]",
        12,
        "the field 'bytes' takes a number, not 'x'",
    );
    assert_error(
        "status:>4x4",
        8,
        "the field 'status' takes a number, not '4x4'",
    );
    assert_error(
        "status:4*",
        7,
        "the field 'status' takes a number: wildcards work on text fields only",
    );
    assert_error(
        "bytes:999999999999999999999999999999999999999999",
        6,
        "the number '999999999999999999999999999999999999999999' is too large",
    );
    assert_error(
        "time:[2026-13-01T00:00:00Z TO *]",
        6,
        "the field 'time' takes milliseconds since the epoch or an RFC 3339 time like \
         2026-11-24T10:00:00Z, not '2026-13-01T00:00:00Z'",
    );
    assert_error(
        "result:mis",
        7,
        "the field 'result' takes hit or miss, not 'mis'",
    );
    assert_error(
        "scheme:\"ftp\"",
        7,
        "the field 'scheme' takes http or https, not 'ftp'",
    );
    // Wildcards and ranges on fixed-value fields are not checked against the set.
    assert_eq!(sel("result:m*"), (true, false));
    assert_eq!(sel("scheme:[a TO z]"), (true, true));
}

#[test]
fn nesting_is_bounded() {
    let nested = |n: usize| format!("{}status:404{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(MAX_NESTING)).matches(&record()));
    assert_error(
        &nested(MAX_NESTING + 1),
        MAX_NESTING,
        "parentheses nest deeper than 32 levels",
    );
    // Value groups count too.
    let values = format!("status:{}404{}", "(".repeat(33), ")".repeat(33));
    assert_eq!(err(&values).position, 7 + 32);
    // Far deeper input fails the same way, without exhausting the stack.
    assert_eq!(err(&"(".repeat(4000)).position, MAX_NESTING);
    // Long runs of NOT and of clauses are loops, not recursion.
    assert_eq!(
        sel(&format!("{}status:404", "NOT ".repeat(1000))),
        (true, false)
    );
    assert_eq!(
        sel(&format!("{}status:404", "!".repeat(1001))),
        (false, true)
    );
    let many = vec!["status:404"; 250].join(" OR ");
    assert_eq!(sel(&many), (true, false));
}

#[test]
fn length_is_bounded() {
    let longest = format!("path:{}", "a".repeat(MAX_QUERY_LENGTH - 5));
    assert_eq!(longest.chars().count(), MAX_QUERY_LENGTH);
    assert!(Query::parse(&longest).is_ok());
    let too_long = format!("{longest}a");
    assert_error(
        &too_long,
        MAX_QUERY_LENGTH,
        "the query is longer than 4096 characters",
    );
    // Characters, not bytes.
    let wide = format!("path:{}", "é".repeat(MAX_QUERY_LENGTH - 5));
    assert!(Query::parse(&wide).is_ok());
}

#[test]
fn converts_to_an_api_error() {
    let api: ApiError = err("status:").into();
    assert_eq!(api.code, ErrorCode::InvalidParameter);
    assert_eq!(
        api.message,
        "the parameter 'query' is invalid at position 7: expected a value after 'status:'"
    );
    assert_eq!(
        err("status:").to_string(),
        "at position 7: expected a value after 'status:'"
    );
}

#[test]
fn known_fields_match_the_enum() {
    for (field, name) in ALL_FIELDS.iter().zip(KNOWN_FIELDS) {
        assert_eq!(field.as_str(), name);
        assert_eq!(Field::from_name(name), Some(*field));
    }
    assert_eq!(Field::from_name("nope"), None);
}

#[test]
fn odd_inputs_do_not_panic() {
    for text in [
        "\\",
        "\"",
        "(",
        ")",
        "[",
        "status:[",
        "status:{*",
        "status:[* TO",
        ":",
        "::",
        "a:",
        "status:\\",
        "status:(",
        "status:((",
        "!",
        "!!",
        "&&",
        "||",
        "NOT NOT",
        "status:>>1",
        "status:<\"",
        "ua:\"\\",
        "ua:(\"a\" \"",
        "\u{0}",
        "ua:\u{0}",
        "ua:\u{3000}x",
        "path:é\u{301}",
        "\u{FEFF}status:404",
        "status:404\u{3000}OR\u{3000}status:1",
    ] {
        let _ = Query::parse(text).map(|q| q.matches(&record()));
    }
}
