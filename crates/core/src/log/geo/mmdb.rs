//! The MaxMind DB implementation of [`GeoLookup`], over the `maxminddb` reader, loaded from
//! bytes (opening the file is the binary's job).
//!
//! # Schema read
//! One record per network, the GeoIP2 / GeoLite2-City layout plus the GeoIP2-ISP field:
//! - `country.iso_code`: the country (ISO 3166-1 alpha-2);
//! - `subdivisions[0].iso_code` and `subdivisions[0].names.en`: the province (either matches the
//!   `province` filter);
//! - `isp`: the ISP's name (top level, as in GeoIP2-ISP).
//!
//! Every field is optional; other fields are ignored. A deployment with GeoLite2-City and a
//! separate GeoIP2-ISP file gives both: the ISP then comes from the second file
//! ([`MmdbGeo::with_isp`]).

use std::net::IpAddr;

use maxminddb::Reader;
use serde::Deserialize;

use super::{GeoInfo, GeoLookup};

/// A loaded MaxMind DB (and optionally a separate ISP database).
pub struct MmdbGeo {
    city: Reader<Vec<u8>>,
    isp: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for MmdbGeo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmdbGeo")
            .field("database_type", &self.city.metadata().database_type)
            .field(
                "isp_database_type",
                &self.isp.as_ref().map(|r| &r.metadata().database_type),
            )
            .finish()
    }
}

/// A database that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a valid MaxMind DB: {0}")]
pub struct LoadError(String);

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Subdivision<'a>>>,
    #[serde(borrow, default)]
    isp: Option<&'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Subdivision<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct IspRecord<'a> {
    #[serde(borrow, default)]
    isp: Option<&'a str>,
}

impl MmdbGeo {
    /// Reads a database from its bytes (`country`, `subdivisions` and `isp` per record).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, LoadError> {
        let city = Reader::from_source(bytes).map_err(|e| LoadError(e.to_string()))?;
        Ok(MmdbGeo { city, isp: None })
    }

    /// Takes the ISP from a second database (GeoIP2-ISP layout: top-level `isp`) instead.
    pub fn with_isp(mut self, bytes: Vec<u8>) -> Result<Self, LoadError> {
        self.isp = Some(Reader::from_source(bytes).map_err(|e| LoadError(e.to_string()))?);
        Ok(self)
    }
}

impl GeoLookup for MmdbGeo {
    fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut info = GeoInfo::default();
        // A lookup error (an IPv6 address in an IPv4-only database, a corrupt record) is an
        // address the database does not place.
        if let Ok(Some(r)) = self.city.lookup(ip).and_then(|l| l.decode::<Record<'_>>()) {
            info.country = r
                .country
                .and_then(|c| c.iso_code)
                .map(str::to_ascii_uppercase);
            if let Some(sub) = r.subdivisions.as_ref().and_then(|s| s.first()) {
                info.province_code = sub.iso_code.map(str::to_string);
                info.province_name = sub.names.as_ref().and_then(|n| n.en).map(str::to_string);
            }
            info.isp = r.isp.map(str::to_string);
        }
        if let Some(isp) = &self.isp {
            info.isp = isp
                .lookup(ip)
                .and_then(|l| l.decode::<IspRecord<'_>>())
                .ok()
                .flatten()
                .and_then(|r| r.isp)
                .map(str::to_string);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::geo::write::{MmdbWriter, Value};
    fn info(country: &str, code: &str, name: &str, isp: &str) -> GeoInfo {
        GeoInfo {
            country: Some(country.to_string()),
            province_code: Some(code.to_string()),
            province_name: Some(name.to_string()),
            isp: Some(isp.to_string()),
        }
    }

    fn database() -> MmdbGeo {
        let mut w = MmdbWriter::new("statport-test");
        let gd = info("CN", "GD", "Guangdong", "China Telecom");
        let ca = info("US", "CA", "California", "Comcast");
        let de = GeoInfo {
            country: Some("DE".to_string()),
            ..GeoInfo::default()
        };
        w.insert("1.2.0.0".parse().expect("ip"), 16, Value::from_info(&gd))
            .expect("insert");
        // A more specific network inside the /16, inserted after it.
        w.insert("1.2.3.0".parse().expect("ip"), 24, Value::from_info(&ca))
            .expect("insert");
        w.insert("2001:db8::".parse().expect("ip"), 32, Value::from_info(&de))
            .expect("insert");
        let bytes = w.finish(1_700_000_000).expect("finish");
        MmdbGeo::from_bytes(bytes).expect("valid database")
    }

    #[test]
    fn ipv4_lookups_take_the_most_specific_network() {
        let db = database();
        let gd = db.lookup("1.2.200.7".parse().expect("ip"));
        assert_eq!(gd, info("CN", "GD", "Guangdong", "China Telecom"));
        let ca = db.lookup("1.2.3.255".parse().expect("ip"));
        assert_eq!(ca, info("US", "CA", "California", "Comcast"));
        assert_eq!(
            db.lookup("1.3.0.0".parse().expect("ip")),
            GeoInfo::default()
        );
        assert_eq!(
            db.lookup("1.1.255.255".parse().expect("ip")),
            GeoInfo::default()
        );
    }

    #[test]
    fn ipv6_lookups_and_missing_fields() {
        let db = database();
        let de = db.lookup("2001:db8:ffff::1".parse().expect("ip"));
        assert_eq!(de.country.as_deref(), Some("DE"));
        assert_eq!(de.isp, None);
        assert_eq!(de.isp_name(), "unknown");
        assert_eq!(de.province_code, None);
        assert_eq!(
            db.lookup("2001:db9::1".parse().expect("ip")),
            GeoInfo::default()
        );
        // The IPv4 network is also reachable through its IPv4-compatible IPv6 form.
        assert_eq!(
            db.lookup("::1.2.3.4".parse().expect("ip"))
                .country
                .as_deref(),
            Some("US")
        );
    }

    #[test]
    fn a_separate_isp_database_gives_the_isp() {
        let mut w = MmdbWriter::new("GeoIP2-ISP");
        w.insert(
            "1.2.0.0".parse().expect("ip"),
            16,
            Value::map([("isp", Value::Str("China Unicom".to_string()))]),
        )
        .expect("insert");
        let db = database()
            .with_isp(w.finish(0).expect("finish"))
            .expect("valid");
        let got = db.lookup("1.2.3.4".parse().expect("ip"));
        assert_eq!(got.isp.as_deref(), Some("China Unicom"));
        assert_eq!(got.country.as_deref(), Some("US"));
        assert_eq!(db.lookup("9.9.9.9".parse().expect("ip")).isp, None);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(MmdbGeo::from_bytes(b"not a database".to_vec()).is_err());
        assert!(MmdbGeo::from_bytes(Vec::new()).is_err());
    }
}
