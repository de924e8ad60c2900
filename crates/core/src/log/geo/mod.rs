//! Geography of client IPs: what a lookup gives ([`GeoInfo`]), the [`GeoLookup`] seam the scan
//! calls per selected record, and the rules that turn a record into a service area.
//!
//! Lookups happen only for a condition that needs them ([`ExportCondition::geo_needed`]): the
//! worker then wraps its sink in a [`GeoSink`](crate::request::GeoSink), which looks each client IP up once per
//! scan (a bounded cache), applies the `country` / `province` / `isp` / `service_area` filters
//! and hands the record with its [`GeoInfo`] to the sink. A condition without geography never
//! builds the wrapper and pays nothing.
//!
//! # Layout
//! - here: [`GeoInfo`], [`GeoLookup`], [`GeoSupport`] (what validation may rely on) and the
//!   service-area rule ([`record_area`]).
//! - [`filter`]: the `country` / `province` / `isp` filters ([`filter::NameFilter`]).
//! - [`mmdb`]: the MaxMind DB implementation (`maxminddb`), loaded from bytes; its schema.
//! - [`write`]: a small MaxMind DB writer for tests and `statport gen-ipdb`.
//!
//! [`ExportCondition::geo_needed`]: crate::ExportCondition::geo_needed

pub mod filter;
pub mod mmdb;
pub mod write;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::log::format::LogFormat;
use crate::log::LogRecord;
use crate::log::ServiceArea;

/// What the IP database knows of one address; every field `None` when it does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code, uppercase (`CN`, `US`).
    pub country: Option<String>,
    /// The first subdivision's ISO 3166-2 code without the country part (`GD`, `CA`).
    pub province_code: Option<String>,
    /// The first subdivision's English name (`Guangdong`, `California`).
    pub province_name: Option<String>,
    /// The ISP's name (`China Telecom`).
    pub isp: Option<String>,
}

/// The name an address without an ISP in the database is counted under (`isp_detail` rows and
/// the `isp` filter).
pub const UNKNOWN_ISP: &str = "unknown";

impl GeoInfo {
    /// The ISP as exported: the database's name, or [`UNKNOWN_ISP`].
    pub fn isp_name(&self) -> &str {
        self.isp.as_deref().unwrap_or(UNKNOWN_ISP)
    }
}

/// An IP database: the seam between the scan and a concrete database.
pub trait GeoLookup: Send + Sync + fmt::Debug {
    /// What the database knows of `ip` ([`GeoInfo::default`] when nothing).
    fn lookup(&self, ip: IpAddr) -> GeoInfo;
}

/// The lookup when no database is configured: it places no address. Used for logs that state
/// their service area, whose records never need a lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDatabase;

impl GeoLookup for NoDatabase {
    fn lookup(&self, _ip: IpAddr) -> GeoInfo {
        GeoInfo::default()
    }
}

/// What a tenant's requests may rely on for geography, known to the API when it validates and
/// to the worker when it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoSupport {
    /// An IP database is configured.
    pub ip_database: bool,
    /// The tenant's log format states each record's service area (Huawei: the `-cn` / `-ov`
    /// file suffix), so `service_area` needs no database.
    pub area_in_logs: bool,
}

impl GeoSupport {
    /// The support of a tenant whose logs are in `format`, with or without a database.
    pub fn new(ip_database: bool, format: LogFormat) -> Self {
        GeoSupport {
            ip_database,
            area_in_logs: area_in_logs(format),
        }
    }
}

/// True when every record of `format` states its service area.
pub fn area_in_logs(format: LogFormat) -> bool {
    matches!(format, LogFormat::Huawei)
}

/// The service area of `record`: the one its log states (Huawei), else the one its client's
/// country gives (`CN` is mainland China; Hong Kong, Macao, Taiwan and every other country are
/// outside). `None` when neither says: an address the database does not place counts only
/// under `global`.
pub fn record_area(record: &LogRecord<'_>, info: Option<&GeoInfo>) -> Option<ServiceArea> {
    if let Some(area) = record.service_area {
        return Some(area);
    }
    match info?.country.as_deref()? {
        c if c.eq_ignore_ascii_case("CN") => Some(ServiceArea::MainlandChina),
        _ => Some(ServiceArea::OutsideMainlandChina),
    }
}
