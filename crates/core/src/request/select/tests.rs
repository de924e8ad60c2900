use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::*;
use crate::stats::aggregate::tests::rec;
use crate::time::ms_from_civil;
use crate::ExportRequest;

/// A table lookup counting its calls (the unit under test is the filter and its cache).
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpAddr, GeoInfo>,
    calls: AtomicU64,
}

impl GeoLookup for Table {
    fn lookup(&self, ip: IpAddr) -> GeoInfo {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.entries.get(&ip).cloned().unwrap_or_default()
    }
}

fn table() -> Table {
    let mut entries = HashMap::new();
    for (ip, country, isp) in [
        ("1.1.1.1", "CN", Some("China Telecom")),
        ("2.2.2.2", "HK", Some("PCCW")),
        ("3.3.3.3", "US", None),
    ] {
        entries.insert(
            ip.parse().expect("ip"),
            GeoInfo {
                country: Some(country.to_string()),
                isp: isp.map(str::to_string),
                ..GeoInfo::default()
            },
        );
    }
    Table {
        entries,
        calls: AtomicU64::new(0),
    }
}

fn condition(extra: serde_json::Value) -> ExportCondition {
    let mut body = json!({"domain_name": "all", "interval": 3600,
        "start_time": ms_from_civil(2026, 11, 1, 0, 0, 0).expect("date"),
        "end_time": ms_from_civil(2026, 11, 1, 1, 0, 0).expect("date")});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let limits = crate::RequestLimits {
        geo: crate::log::geo::GeoSupport {
            ip_database: true,
            area_in_logs: false,
        },
        ..crate::RequestLimits::default()
    };
    ExportRequest::from_json(&body)
        .and_then(|r| r.validate_with(&limits))
        .expect("valid")
}

/// Records what reached the sink: (client ip, isp seen).
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl RecordSink for Seen {
    fn add(&mut self, record: &LogRecord<'_>) {
        self.0.push((record.client_ip.to_string(), "-".to_string()));
    }
    fn add_located(&mut self, record: &LogRecord<'_>, geo: &GeoInfo) {
        self.0
            .push((record.client_ip.to_string(), geo.isp_name().to_string()));
    }
}

fn run(
    c: &ExportCondition,
    db: &Table,
    records: &[(&'static str, Option<ServiceArea>)],
) -> Vec<String> {
    let ts = ms_from_civil(2026, 11, 1, 0, 10, 0).expect("date");
    let mut sink = GeoSink::new(Seen::default(), db, c);
    for (ip, area) in records {
        let mut r = rec("a.example.com", ts, 10, false);
        r.client_ip = ip;
        r.service_area = *area;
        sink.add(&r);
    }
    sink.into_inner().0.into_iter().map(|(ip, _)| ip).collect()
}

const CLIENTS: [(&str, Option<ServiceArea>); 5] = [
    ("1.1.1.1", None),
    ("2.2.2.2", None),
    ("3.3.3.3", None),
    ("9.9.9.9", None),
    ("not-an-ip", None),
];

#[test]
fn service_area_from_the_clients_country() {
    let db = table();
    let mainland = condition(json!({"service_area": "mainland_china"}));
    assert!(mainland.geo_needed());
    assert_eq!(run(&mainland, &db, &CLIENTS), ["1.1.1.1"]);
    // Hong Kong is outside mainland China; an address the database does not place is in
    // neither area.
    let outside = condition(json!({"service_area": "outside_mainland_china"}));
    assert_eq!(run(&outside, &db, &CLIENTS), ["2.2.2.2", "3.3.3.3"]);
}

#[test]
fn a_stated_area_wins_and_needs_no_lookup() {
    let db = table();
    let mainland = condition(json!({"service_area": "mainland_china"}));
    let stated = [
        ("3.3.3.3", Some(ServiceArea::MainlandChina)),
        ("1.1.1.1", Some(ServiceArea::OutsideMainlandChina)),
    ];
    assert_eq!(run(&mainland, &db, &stated), ["3.3.3.3"]);
    assert_eq!(db.calls.load(Ordering::Relaxed), 0);
}

#[test]
fn country_and_isp_lists() {
    let db = table();
    let c = condition(json!({"country": "us,hk"}));
    assert_eq!(run(&c, &db, &CLIENTS), ["2.2.2.2", "3.3.3.3"]);
    let isp = condition(json!({"isp": "china telecom,unknown"}));
    assert_eq!(
        run(&isp, &db, &CLIENTS),
        ["1.1.1.1", "3.3.3.3", "9.9.9.9", "not-an-ip"]
    );
    let both = condition(json!({"isp": "unknown", "country": "US"}));
    assert_eq!(run(&both, &db, &CLIENTS), ["3.3.3.3"]);
}

#[test]
fn each_address_is_looked_up_once_and_the_sink_gets_its_isp() {
    let db = table();
    let c = condition(json!({"action": "isp_detail"}));
    let ts = ms_from_civil(2026, 11, 1, 0, 10, 0).expect("date");
    let mut sink = GeoSink::new(Seen::default(), &db, &c);
    for ip in ["1.1.1.1", "9.9.9.9", "1.1.1.1", "1.1.1.1", "9.9.9.9"] {
        let mut r = rec("a.example.com", ts, 10, false);
        r.client_ip = ip;
        sink.add(&r);
    }
    assert_eq!(db.calls.load(Ordering::Relaxed), 2);
    let seen = sink.into_inner().0;
    assert_eq!(
        seen[0],
        ("1.1.1.1".to_string(), "China Telecom".to_string())
    );
    assert_eq!(seen[1], ("9.9.9.9".to_string(), "unknown".to_string()));
    assert_eq!(seen.len(), 5);
}

#[test]
fn no_geography_no_lookup_needed() {
    let c = condition(json!({}));
    assert!(!c.geo_needed());
    assert_eq!(
        c.needs_ip_database(crate::log::geo::GeoSupport::default()),
        None
    );
}
