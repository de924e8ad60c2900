//! Feeds arbitrary bytes to the Huawei parser line by line, after a file name taken from the
//! input's first line, and checks every data line is either a record or counted as bad.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statport_core::log::format::huawei::{file_name, HuaweiParser};
use statport_core::log::format::{LineParser, ParsedLine};
fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    // The first line as a file name: the name rule must not panic either.
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let _ = file_name(&name);
    let mut parser = HuaweiParser::new();
    parser.start_file(&name);
    let mut data_lines = 0u64;
    for line in lines {
        match parser.parse_line(line) {
            ParsedLine::Record(r) => {
                data_lines += 1;
                // Every accessor decodes without panicking; the host is lowercase.
                let _ = (r.path(), r.query(), r.referer(), r.user_agent(), r.url());
                assert!(!r.host.bytes().any(|b| b.is_ascii_uppercase()));
            }
            ParsedLine::Bad(_) => data_lines += 1,
            ParsedLine::Header => {}
        }
    }
    assert_eq!(parser.records() + parser.bad_lines(), data_lines);
});
