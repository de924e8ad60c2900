use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;
use statport_core::log::format::cloudfront::CloudFrontParser;
use statport_core::log::format::huawei::HuaweiParser;
use statport_core::log::format::{LineParser, ParsedLine};
use statport_storage::LocalStore;

use statport_core::log::format::BadLine;

use super::*;

fn spec(hours: u32, lines_per_hour: u64, bad_line_every: u64) -> GenSpec {
    GenSpec {
        seed: 42,
        // 2026-11-23T22:17:05Z: rounded down to 22:00, so the run crosses midnight.
        start_ms: ms_from_civil(2026, 11, 23, 22, 17, 5).expect("valid date"),
        hours,
        lines_per_hour,
        distribution_id: "E2EXAMPLE1ABCD".to_string(),
        hosts: 25,
        bad_line_every,
        format: LogFormat::Cloudfront,
    }
}

/// All files plus the records reported for each (by file index).
fn run(spec: &GenSpec) -> (Vec<LogFile>, Vec<Vec<GeneratedRecord>>, GenStats) {
    let mut generator = Generator::new(spec);
    let (mut files, mut records) = (Vec::new(), Vec::new());
    let mut current = Vec::new();
    while let Some(file) = generator.next_file(&mut |r| current.push(r.clone())) {
        files.push(file);
        records.push(std::mem::take(&mut current));
    }
    (files, records, generator.stats())
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    MultiGzDecoder::new(gz)
        .read_to_end(&mut raw)
        .expect("valid gzip");
    raw
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statport-genlogs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn same_seed_same_bytes() {
    let a = run(&spec(4, 300, 50));
    let b = run(&spec(4, 300, 50));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    let other = run(&GenSpec {
        seed: 43,
        ..spec(4, 300, 50)
    });
    assert_ne!(a.0[0].gz, other.0[0].gz);
}

#[test]
fn one_file_per_utc_hour() {
    let mut files = Vec::new();
    let mut records = 0;
    let stats = generate(
        &spec(4, 10, 0),
        |_| records += 1,
        |f| {
            files.push(f);
            Ok::<(), ()>(())
        },
    )
    .expect("infallible");
    assert_eq!(records, stats.records);
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let expected = [
        "E2EXAMPLE1ABCD.2026-11-23-22.",
        "E2EXAMPLE1ABCD.2026-11-23-23.",
        "E2EXAMPLE1ABCD.2026-11-24-00.",
        "E2EXAMPLE1ABCD.2026-11-24-01.",
    ];
    for (name, prefix) in names.iter().zip(expected) {
        let unique = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".gz"))
            .unwrap_or_else(|| panic!("{name} should start with {prefix}"));
        assert_eq!(unique.len(), 8, "{name}");
        assert!(unique.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    assert_eq!(stats.files, 4);
    assert_eq!(stats.records, 40);
    assert_eq!(
        stats.gz_bytes,
        files.iter().map(|f| f.gz.len() as u64).sum::<u64>()
    );
}

#[test]
fn headers_layouts_and_gzip_members() {
    let (files, _, stats) = run(&spec(6, 100, 0));
    let mut raw_total = 0;
    for (hour, file) in files.iter().enumerate() {
        let raw = gunzip(&file.gz);
        raw_total += raw.len() as u64;
        let text = String::from_utf8(raw).expect("utf-8");
        assert!(
            text.starts_with("#Version: 1.0\n#Fields: date time "),
            "{hour}"
        );
        let fields: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix("#Fields: "))
            .map(|f| f.split(' ').count())
            .collect();
        let first = if hour % 2 == 0 { 33 } else { 26 };
        if hour % 3 == 2 {
            assert_eq!(
                fields,
                [first, 59 - first],
                "hour {hour}: two members, other layout"
            );
            // Two gzip members: the 10-byte member header occurs again after the first member.
            let header = &file.gz[..10];
            let again = file.gz[10..].windows(10).filter(|w| *w == header).count();
            assert_eq!(again, 1, "hour {hour}");
        } else {
            assert_eq!(fields, [first], "hour {hour}");
        }
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.split('\t').count() == 26 || l.split('\t').count() == 33);
        }
    }
    assert_eq!(stats.raw_bytes, raw_total);
}

/// The round trip that ties the parser to the generator: parsing every file gives back exactly
/// the records reported, and the garbage lines are the bad lines.
#[test]
fn parser_returns_exactly_the_generated_records() {
    let spec = spec(6, 2_000, 97);
    let (files, expected, stats) = run(&spec);
    let mut parsed_total = 0;
    let mut bad_total = 0;
    for (hour, (file, expected)) in files.iter().zip(&expected).enumerate() {
        let raw = gunzip(&file.gz);
        let mut parser = CloudFrontParser::new();
        let mut parsed = Vec::new();
        for l in raw.split(|b| *b == b'\n') {
            if let ParsedLine::Record(r) = parser.parse_line(l) {
                parsed.push(GeneratedRecord::from(&r));
            }
        }
        let mut expected = expected.clone();
        parsed.sort();
        expected.sort();
        assert_eq!(parsed.len(), expected.len(), "hour {hour}");
        for (p, e) in parsed.iter().zip(&expected) {
            assert_eq!(p, e, "hour {hour}");
        }
        assert_eq!(parser.records(), expected.len() as u64);
        parsed_total += parser.records();
        bad_total += parser.bad_lines();
    }
    assert_eq!(parsed_total, stats.records);
    assert_eq!(bad_total, stats.bad_lines);
    assert_eq!(stats.bad_lines, 6 * 2_000 / 97);
    assert_eq!(stats.records + stats.bad_lines, 6 * 2_000);
}

#[test]
fn traffic_looks_real() {
    let spec = spec(3, 5_000, 0);
    let first_hour = spec.start_ms.div_euclid(HOUR_MS) * HOUR_MS;
    let (_, per_file, stats) = run(&spec);
    let all: Vec<&GeneratedRecord> = per_file.iter().flatten().collect();
    let n = all.len() as u64;
    assert_eq!(n, stats.records);
    let share = |pred: &dyn Fn(&GeneratedRecord) -> bool| {
        all.iter().filter(|r| pred(r)).count() as u64 * 1000 / n
    };
    // Per mille.
    let miss = share(&|r| r.origin_fetch);
    assert!((170..=240).contains(&miss), "miss {miss}");
    let ipv6 = share(&|r| r.client_ip.contains(':'));
    assert!((50..=300).contains(&ipv6), "ipv6 {ipv6}");
    let ok = share(&|r| r.status == 200);
    assert!(ok > 700, "200 {ok}");
    for status in [0, 206, 304, 403, 404, 502, 503] {
        assert!(all.iter().any(|r| r.status == status), "status {status}");
    }
    assert!(share(&|r| !r.https) > 100);
    assert!(share(&|r| r.query.is_some()) > 100);
    assert!(share(&|r| r.referer.is_some()) > 100);
    assert!(all.iter().any(|r| r.path.contains(' ')));
    assert!(all.iter().any(|r| !r.path.is_ascii()));
    assert!(all.iter().any(|r| r.user_agent.contains("%20")));
    assert!(all.iter().any(|r| r.host.ends_with(".cloudfront.net")));
    assert!(all.iter().any(|r| r.bytes < 1_000));
    assert!(all.iter().any(|r| r.bytes > 10_000_000));

    // Skewed popularity: the top domain and URL carry far more than an even share.
    let mut hosts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut urls: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &all {
        *hosts.entry(&r.host).or_default() += 1;
        *urls.entry(&r.path).or_default() += 1;
    }
    assert!(hosts.len() >= 20, "{}", hosts.len());
    assert!(hosts.values().max().copied().unwrap_or_default() > 3 * n / hosts.len() as u64);
    assert!(urls.len() > 1_000, "{}", urls.len());
    assert!(urls.values().max().copied().unwrap_or_default() > 50);
    let edges: std::collections::BTreeSet<&str> =
        all.iter().map(|r| r.edge_location.as_str()).collect();
    assert!(edges.len() >= 8);

    // Late lines: none in the first hour, ~2% in the others, all in the previous hour.
    for (hour, records) in per_file.iter().enumerate() {
        let start = first_hour + hour as i64 * HOUR_MS;
        let late = records.iter().filter(|r| r.timestamp_ms < start).count();
        assert!(records
            .iter()
            .all(|r| r.timestamp_ms >= start - HOUR_MS && r.timestamp_ms < start + HOUR_MS));
        if hour == 0 {
            assert_eq!(late, 0);
        } else {
            assert!((50..=160).contains(&late), "hour {hour}: {late} late");
        }
    }
}

#[test]
fn writes_into_a_folder() {
    let dir = temp_dir("dir");
    let stats = write_to_dir(&dir, &spec(3, 50, 0)).expect("write");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3);
    assert!(names[0].starts_with("E2EXAMPLE1ABCD.2026-11-23-22."));
    let size: u64 = names
        .iter()
        .map(|n| std::fs::metadata(dir.join(n)).expect("meta").len())
        .sum();
    assert_eq!(size, stats.gz_bytes);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test]
async fn uploads_into_a_store() {
    let dir = temp_dir("store");
    let store = LocalStore::new(&dir);
    let spec = spec(2, 50, 10);
    let stats = upload(&store, "logs", "cloudfront/", &spec)
        .await
        .expect("upload");
    let listed = store.list("logs", "cloudfront/").await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed[0]
        .key
        .starts_with("cloudfront/E2EXAMPLE1ABCD.2026-11-23-22."));
    assert_eq!(listed.iter().map(|o| o.size).sum::<u64>(), stats.gz_bytes);
    assert_eq!(stats, run(&spec).2);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

fn huawei(hours: u32, lines_per_hour: u64, bad_line_every: u64) -> GenSpec {
    GenSpec {
        format: LogFormat::Huawei,
        ..spec(hours, lines_per_hour, bad_line_every)
    }
}

#[test]
fn huawei_files_per_beijing_hour_domain_and_area() {
    let (files, per_file, stats) = run(&huawei(3, 2_000, 0));
    assert_eq!(stats.files, files.len() as u64);
    let first_hour = ms_from_civil(2026, 11, 23, 22, 0, 0).expect("date");
    let mut areas = std::collections::BTreeSet::new();
    for (file, records) in files.iter().zip(&per_file) {
        let name = LogFormat::Huawei
            .file_name(&file.name)
            .expect("a Huawei name");
        // Beijing 06:00..08:00 on the 24th are UTC 22:00..00:00.
        assert!(file.name.starts_with("20261124"), "{}", file.name);
        let hour = name.hour_ms;
        assert!(
            (0..3).any(|h| hour == first_hour + h * HOUR_MS),
            "{}",
            file.name
        );
        assert!(!records.is_empty(), "{}", file.name);
        for r in records {
            assert_eq!(
                Some(r.host.as_str()),
                name.domain.as_deref(),
                "{}",
                file.name
            );
            assert_eq!(r.service_area, name.service_area.map(area_name));
            assert!(r.timestamp_ms >= hour - HOUR_MS && r.timestamp_ms < hour + HOUR_MS);
        }
        areas.insert(file.name.rsplit('-').next().map(str::to_string));
    }
    assert_eq!(areas.len(), 2, "both service areas");
    let all: Vec<&GeneratedRecord> = per_file.iter().flatten().collect();
    let n = all.len() as u64;
    let share = |pred: &dyn Fn(&GeneratedRecord) -> bool| {
        all.iter().filter(|r| pred(r)).count() as u64 * 1000 / n
    };
    let ov = share(&|r| r.service_area == Some("outside_mainland_china"));
    assert!((250..=350).contains(&ov), "ov {ov}");
    let miss = share(&|r| r.origin_fetch);
    assert!((170..=240).contains(&miss), "miss {miss}");
    let https = share(&|r| r.https);
    assert!((300..=500).contains(&https), "https {https}");
    assert!(all.iter().all(|r| r.edge_location.is_empty()));
    let raw = gunzip(&files[0].gz);
    let text = String::from_utf8_lossy(&raw);
    for zone in ["+0800]", "+0000]", "-0500]"] {
        assert!(
            files
                .iter()
                .any(|f| String::from_utf8_lossy(&gunzip(&f.gz)).contains(zone)),
            "{zone}"
        );
    }
    assert!(text.starts_with('['), "{text}");
}

/// The Huawei round trip: parsing every file (told its name) gives back exactly the records
/// reported for it, and the garbage lines are the bad lines.
#[test]
fn huawei_parser_returns_exactly_the_generated_records() {
    let spec = huawei(4, 2_000, 37);
    let (files, expected, stats) = run(&spec);
    let mut parser = HuaweiParser::new();
    for (file, expected) in files.iter().zip(&expected) {
        parser.start_file(&file.name);
        let raw = gunzip(&file.gz);
        let mut parsed = Vec::new();
        for l in raw.split(|b| *b == b'\n') {
            if let ParsedLine::Record(r) = parser.parse_line(l) {
                parsed.push(GeneratedRecord::from(&r));
            }
        }
        let mut expected = expected.clone();
        parsed.sort();
        expected.sort();
        assert_eq!(parsed, expected, "{}", file.name);
    }
    assert_eq!(parser.records(), stats.records);
    assert_eq!(parser.bad_lines(), stats.bad_lines);
    assert_eq!(stats.bad_lines, 4 * 2_000 / 37);
    assert_eq!(stats.records + stats.bad_lines, 4 * 2_000);
    // Every kind of garbage shows up.
    for kind in [
        BadLine::WrongFieldCount,
        BadLine::BadNumber,
        BadLine::BadTimestamp,
        BadLine::BadQuoting,
        BadLine::NotUtf8,
        BadLine::MissingHost,
    ] {
        assert!(parser.bad_lines_of(kind) > 0, "{kind:?}");
    }
}

#[test]
fn huawei_same_seed_same_bytes() {
    let a = run(&huawei(2, 300, 50));
    let b = run(&huawei(2, 300, 50));
    assert_eq!(a, b);
}
