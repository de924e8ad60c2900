//! End-to-end: `isp_detail` and the geography filters over a real Redis and S3 server, with an
//! IP database built by the test for the generated client addresses. Expected values come from
//! the generated records and the test's own address table, matched here (longest prefix) without
//! statport's parser or its lookup.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::common::Harness;
use serde_json::{json, Value};
use statport::genlogs::{GenSpec, GeneratedRecord};
use statport::launch::LaunchOptions;
use statport_core::log::geo::write::{MmdbWriter, Value as DbValue};
use statport_core::log::geo::GeoInfo;
use statport_core::time::{ms_from_civil, parse_rfc3339, DAY_MS, HOUR_MS};

fn day_start() -> i64 {
    ms_from_civil(2026, 11, 24, 0, 0, 0).expect("valid date")
}

/// The test's address table: network, prefix, (country, province code, province name, isp).
/// The generator draws IPv4 first octets from a fixed list and IPv6 from four /32s; some are
/// left out (unknown addresses), some have no ISP, one network nests inside another.
/// Network, prefix length, country, province (code, English name), ISP.
type Entry = (
    &'static str,
    u8,
    Option<&'static str>,
    Option<(&'static str, &'static str)>,
    Option<&'static str>,
);

const TABLE: &[Entry] = &[
    (
        "101.0.0.0",
        8,
        Some("CN"),
        Some(("GD", "Guangdong")),
        Some("China Telecom"),
    ),
    (
        "101.128.0.0",
        9,
        Some("CN"),
        Some(("BJ", "Beijing")),
        Some("China Unicom"),
    ),
    (
        "112.0.0.0",
        8,
        Some("CN"),
        Some(("SH", "Shanghai")),
        Some("China Mobile"),
    ),
    ("121.0.0.0", 8, Some("CN"), None, None),
    ("203.0.0.0", 9, Some("HK"), None, Some("PCCW")),
    ("203.128.0.0", 9, Some("TW"), None, Some("Chunghwa Telecom")),
    (
        "23.0.0.0",
        8,
        Some("US"),
        Some(("CA", "California")),
        Some("Comcast"),
    ),
    (
        "52.0.0.0",
        8,
        Some("US"),
        Some(("VA", "Virginia")),
        Some("Amazon"),
    ),
    (
        "54.0.0.0",
        8,
        Some("US"),
        Some(("VA", "Virginia")),
        Some("Amazon"),
    ),
    ("31.0.0.0", 8, Some("DE"), None, Some("Deutsche Telekom")),
    ("81.0.0.0", 8, Some("GB"), None, Some("BT")),
    ("45.0.0.0", 8, Some("JP"), None, Some("NTT")),
    ("2600:1f18::", 32, Some("US"), None, Some("Amazon")),
    (
        "2406:da14::",
        32,
        Some("CN"),
        Some(("GD", "Guangdong")),
        Some("China Telecom"),
    ),
    ("2a02:26f0::", 32, Some("DE"), None, None),
];

fn info_of(entry: &Entry) -> GeoInfo {
    GeoInfo {
        country: entry.2.map(str::to_string),
        province_code: entry.3.map(|p| p.0.to_string()),
        province_name: entry.3.map(|p| p.1.to_string()),
        isp: entry.4.map(str::to_string),
    }
}

fn database() -> Vec<u8> {
    let mut w = MmdbWriter::new("statport-e2e");
    for entry in TABLE {
        w.insert(
            entry.0.parse().expect("network"),
            entry.1,
            DbValue::from_info(&info_of(entry)),
        )
        .expect("insert");
    }
    w.finish(1_795_000_000).expect("database")
}

/// `(address bits in the IPv6 space, prefix length there)`.
fn bits(ip: IpAddr, prefix: u8) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), prefix + 96),
        IpAddr::V6(a) => (u128::from(a), prefix),
    }
}

/// The table's most specific entry containing `ip` (independent of statport's lookup).
fn place(ip: &str) -> GeoInfo {
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return GeoInfo::default();
    };
    let (a, _) = bits(addr, 32);
    TABLE
        .iter()
        .filter_map(|e| {
            let (n, len) = bits(e.0.parse().expect("network"), e.1);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            (a & mask == n & mask).then_some((len, e))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, e)| info_of(e))
        .unwrap_or_default()
}

fn spec() -> GenSpec {
    GenSpec {
        seed: 11,
        start_ms: day_start(),
        hours: 24,
        lines_per_hour: 800,
        hosts: 6,
        bad_line_every: 0,
        ..GenSpec::default()
    }
}

fn in_day(r: &GeneratedRecord) -> bool {
    r.timestamp_ms >= day_start() && r.timestamp_ms < day_start() + DAY_MS
}

async fn start() -> (Harness, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("statport-geo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("test.mmdb");
    std::fs::write(&path, database()).expect("write the database");
    let p = path.to_string_lossy().into_owned();
    let h = Harness::start_with(move |s| s.ip_database.path = p, LaunchOptions::default()).await;
    (h, dir)
}

async fn download(h: &Harness, task_id: &str) -> Vec<u8> {
    let task = h.wait_final(task_id).await;
    assert_eq!(task["status"], "success", "{task}");
    let (status, body) = h
        .download(task["download_link"].as_str().expect("link"))
        .await;
    assert_eq!(status, 200);
    body
}

fn count(v: &Value) -> u64 {
    v.as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isp_detail_and_geography_filters_match_an_independent_computation() {
    let (h, dir) = start().await;
    let (records, _) = h.upload_logs(&spec()).await;
    let day: Vec<&GeneratedRecord> = records.iter().filter(|r| in_day(r)).collect();
    let placed: Vec<GeoInfo> = day.iter().map(|r| place(&r.client_ip)).collect();
    // The generated clients hit known and unknown addresses, with and without ISPs.
    assert!(placed
        .iter()
        .any(|i| i.isp.is_none() && i.country.is_some()));
    assert!(placed.iter().any(|i| i.country.is_none()));
    assert!(placed.iter().any(|i| i.country.as_deref() == Some("CN")));

    let range =
        json!({"domain_name": "all", "start_time": day_start(), "end_time": day_start() + DAY_MS});
    let with = |extra: Value| {
        let mut b = range.clone();
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    let isp_task = h
        .submit(&with(json!({"action": "isp_detail", "interval": 3600, "export_format": "csv", "language": "en"})))
        .await;
    let isp_zh = h
        .submit(&with(json!({"action": "isp_detail", "interval": 86400, "export_format": "json", "isp": "china telecom,unknown"})))
        .await;
    let country_task = h
        .submit(&with(json!({"interval": 3600, "country": "cn,us", "export_format": "json", "stat_type": "flux"})))
        .await;
    let outside_task = h
        .submit(&with(json!({"interval": 86400, "service_area": "outside_mainland_china", "stat_type": "req_num", "export_format": "json"})))
        .await;
    let mainland_task = h
        .submit(&with(json!({"interval": 86400, "service_area": "mainland_china", "province": "guangdong", "stat_type": "req_num", "export_format": "json"})))
        .await;

    // isp_detail: rows by time then ISP, every ISP seen in every hour (zeros when idle).
    let mut want: BTreeMap<(i64, String), (u64, u64)> = BTreeMap::new();
    for (r, info) in day.iter().zip(&placed) {
        let e = want
            .entry((
                r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS),
                info.isp_name().to_string(),
            ))
            .or_default();
        e.0 += r.bytes;
        e.1 += 1;
    }
    let isps: BTreeSet<String> = want.keys().map(|(_, i)| i.clone()).collect();
    assert!(isps.contains("unknown") && isps.len() >= 8, "{isps:?}");
    let body = download(&h, &isp_task).await;
    let mut reader = csv::Reader::from_reader(&body[..]);
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["time", "isp", "flux", "req_num"]
    );
    let mut rows = 0;
    let mut last = (i64::MIN, String::new());
    for row in reader.records() {
        let row = row.expect("csv row");
        rows += 1;
        let ts = parse_rfc3339(&row[0]).expect("time");
        let key = (ts, row[1].to_string());
        assert!(
            key > last,
            "ordered by time then isp: {key:?} after {last:?}"
        );
        last = key.clone();
        let (flux, req) = want.get(&key).copied().unwrap_or_default();
        assert_eq!(row[2].parse::<u64>().expect("flux"), flux, "{key:?}");
        assert_eq!(row[3].parse::<u64>().expect("req_num"), req, "{key:?}");
    }
    assert_eq!(rows, 24 * isps.len());

    // isp_detail filtered by isp, daily, json.
    let rows: Value = serde_json::from_slice(&download(&h, &isp_zh).await).expect("json");
    let rows = rows.as_array().expect("array");
    let mut got = BTreeMap::new();
    for row in rows {
        got.insert(
            row["isp"].as_str().expect("isp").to_string(),
            (count(&row["flux"]), count(&row["req_num"])),
        );
    }
    let mut want_isp = BTreeMap::new();
    for (r, info) in day.iter().zip(&placed) {
        let name = info.isp_name();
        if name == "China Telecom" || name == "unknown" {
            let e = want_isp.entry(name.to_string()).or_insert((0u64, 0u64));
            e.0 += r.bytes;
            e.1 += 1;
        }
    }
    assert_eq!(got, want_isp);

    // reports_detail filtered by country, hourly flux.
    let mut want_country: BTreeMap<i64, u64> = BTreeMap::new();
    for (r, info) in day.iter().zip(&placed) {
        if matches!(info.country.as_deref(), Some("CN") | Some("US")) {
            *want_country
                .entry(r.timestamp_ms - r.timestamp_ms.rem_euclid(HOUR_MS))
                .or_default() += r.bytes;
        }
    }
    let rows: Value = serde_json::from_slice(&download(&h, &country_task).await).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 24);
    for row in rows {
        let ts = parse_rfc3339(row["time"].as_str().expect("time")).expect("time");
        assert_eq!(
            count(&row["flux"]),
            want_country.get(&ts).copied().unwrap_or(0),
            "{row}"
        );
    }

    // Service areas from the client's country: HK and TW are outside; unknown is in neither.
    let outside = day
        .iter()
        .zip(&placed)
        .filter(|(_, i)| i.country.as_deref().is_some_and(|c| c != "CN"))
        .count() as u64;
    let rows: Value = serde_json::from_slice(&download(&h, &outside_task).await).expect("json");
    assert_eq!(count(&rows[0]["req_num"]), outside);
    let mainland_gd = placed
        .iter()
        .filter(|i| i.country.as_deref() == Some("CN") && i.province_code.as_deref() == Some("GD"))
        .count() as u64;
    assert!(mainland_gd > 0);
    let rows: Value = serde_json::from_slice(&download(&h, &mainland_task).await).expect("json");
    assert_eq!(count(&rows[0]["req_num"]), mainland_gd);

    h.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_database_geography_is_refused_over_http() {
    let h = Harness::start().await;
    let (status, body) = h
        .submit_as(
            &h.key,
            &json!({"domain_name": "all", "start_time": day_start(), "end_time": day_start() + DAY_MS,
                    "interval": 3600, "action": "isp_detail"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["error_code"],
        "StatPort.IpDatabaseNotConfigured"
    );
    h.stop().await;
}

#[test]
fn a_configured_database_that_cannot_be_read_stops_the_start() {
    let mut settings = statport::config::Settings::load(None).expect("defaults");
    assert!(statport::services::ip_database(&settings)
        .expect("none")
        .is_none());
    settings.ip_database.path = "/nonexistent/statport-test.mmdb".into();
    let err = statport::services::ip_database(&settings).expect_err("missing file");
    assert!(
        format!("{err:#}").contains("ip_database.path = '/nonexistent/statport-test.mmdb'"),
        "{err:#}"
    );
    let dir = std::env::temp_dir().join(format!("statport-geo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let garbage = dir.join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database").expect("write");
    settings.ip_database.path = garbage.to_string_lossy().into_owned();
    let err = statport::services::ip_database(&settings).expect_err("not a database");
    assert!(
        format!("{err:#}").contains("not a valid MaxMind DB"),
        "{err:#}"
    );
    settings.ip_database.path = String::new();
    settings.ip_database.isp_path = garbage.to_string_lossy().into_owned();
    assert!(
        statport::services::ip_database(&settings).is_err(),
        "isp_path without path"
    );
    let _ = std::fs::remove_dir_all(dir);
}
