//! Feeds arbitrary bytes to the CloudFront parser, as lines with no header, under the standard
//! 33-field `#Fields` header, and under a `#Fields` header taken from the input itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statport_core::log::format::cloudfront::{CloudFrontParser, FIELDS_33};
use statport_core::log::format::ParsedLine;

fuzz_target!(|data: &[u8]| {
    // Without a header: the layout is chosen by field count.
    let mut bare = CloudFrontParser::new();
    for line in data.split(|&b| b == b'\n') {
        check(bare.parse_line(line));
    }
    // Under the standard header.
    let mut standard = CloudFrontParser::new();
    let header = format!("#Fields: {}", FIELDS_33.join(" "));
    check(standard.parse_line(header.as_bytes()));
    for line in data.split(|&b| b == b'\n') {
        check(standard.parse_line(line));
    }
    // The first line as a `#Fields` header of its own, then the rest under it.
    let mut custom = CloudFrontParser::new();
    let mut lines = data.split(|&b| b == b'\n');
    if let Some(first) = lines.next() {
        let mut header = b"#Fields: ".to_vec();
        header.extend_from_slice(first);
        check(custom.parse_line(&header));
    }
    for line in lines {
        check(custom.parse_line(line));
    }
    assert_eq!(
        bare.records() + bare.bad_lines(),
        data.split(|&b| b == b'\n')
            .filter(|l| {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
                !l.is_empty() && l[0] != b'#'
            })
            .count() as u64
    );
});

fn check(line: ParsedLine<'_>) {
    if let ParsedLine::Record(r) = line {
        // Every accessor decodes without panicking; the host is lowercase.
        let _ = (r.path(), r.query(), r.referer(), r.user_agent(), r.url());
        assert!(!r.host.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(!r.host.is_empty());
    }
}
