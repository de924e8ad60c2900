//! `statport gen-ipdb`: a small MaxMind DB that places every client address `statport gen-logs`
//! makes, so the demo and the benchmark can run the `country` / `province` / `isp` /
//! `service_area` filters and `isp_detail` without a commercial database.
//!
//! The generated clients come from a few networks ([`IPV4_FIRST_OCTETS`]: /8s with random
//! lower octets; [`IPV6_PREFIXES`]: /32s). Each /8 is cut into four /10s and each IPv6 /32 into
//! four /34s; every block goes to one [`Place`] of [`PLACES`], in a fixed order, so the same
//! binary always writes the same bytes. Mainland China (several provinces and its three big
//! ISPs) gets a bit under half of the blocks; the rest is spread over the US, Germany, Japan,
//! Hong Kong, the UK, Singapore and France, one place without an ISP (counted as `unknown`).
//! The addresses are made up: the database says nothing true about the real Internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use anyhow::Context;
use statport_core::log::geo::write::{MmdbWriter, Value, WriteError};
use statport_core::log::geo::GeoInfo;

use crate::genlogs::{IPV4_FIRST_OCTETS, IPV6_PREFIXES};

/// Where a block of generated clients is: country, optional subdivision, optional ISP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 code.
    pub country: &'static str,
    /// ISO 3166-2 subdivision code without the country part, and its English name.
    pub province: Option<(&'static str, &'static str)>,
    /// The ISP's name.
    pub isp: Option<&'static str>,
}

impl Place {
    /// What a lookup of an address of this place gives.
    pub fn info(&self) -> GeoInfo {
        GeoInfo {
            country: Some(self.country.to_string()),
            province_code: self.province.map(|(code, _)| code.to_string()),
            province_name: self.province.map(|(_, name)| name.to_string()),
            isp: self.isp.map(str::to_string),
        }
    }
}

const fn place(
    country: &'static str,
    province: Option<(&'static str, &'static str)>,
    isp: Option<&'static str>,
) -> Place {
    Place {
        country,
        province,
        isp,
    }
}

/// The places blocks are dealt to, in turn (China every other one).
pub const PLACES: &[Place] = &[
    place("CN", Some(("GD", "Guangdong")), Some("China Telecom")),
    place("US", Some(("CA", "California")), Some("Comcast")),
    place("CN", Some(("BJ", "Beijing")), Some("China Unicom")),
    place("DE", Some(("BE", "Berlin")), Some("Deutsche Telekom")),
    place("CN", Some(("SH", "Shanghai")), Some("China Telecom")),
    place("JP", Some(("13", "Tokyo")), Some("NTT")),
    place("CN", Some(("ZJ", "Zhejiang")), Some("China Mobile")),
    place("HK", None, Some("HKT")),
    place("CN", Some(("JS", "Jiangsu")), Some("China Mobile")),
    place("US", Some(("NY", "New York")), Some("Verizon")),
    place("CN", Some(("SC", "Sichuan")), Some("China Telecom")),
    place("GB", Some(("ENG", "England")), Some("BT")),
    place("CN", Some(("SD", "Shandong")), Some("China Unicom")),
    place("SG", None, Some("Singtel")),
    place("CN", Some(("GD", "Guangdong")), Some("China Mobile")),
    place("US", Some(("TX", "Texas")), Some("AT&T")),
    place("CN", Some(("BJ", "Beijing")), Some("China Telecom")),
    place("DE", Some(("BY", "Bavaria")), Some("Vodafone")),
    place("FR", Some(("IDF", "Île-de-France")), None),
];

/// Blocks per generated network: 4 (2 more prefix bits).
const SPLIT_BITS: u8 = 2;

/// Every network of the database with its place: the IPv4 /10s, then the IPv6 /34s.
pub fn networks() -> anyhow::Result<Vec<(IpAddr, u8, &'static Place)>> {
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut deal = || {
        let p = &PLACES[next % PLACES.len()];
        next += 1;
        p
    };
    for &first in IPV4_FIRST_OCTETS {
        for part in 0..1u8 << SPLIT_BITS {
            let addr = Ipv4Addr::new(first, part << (8 - SPLIT_BITS), 0, 0);
            out.push((IpAddr::V4(addr), 8 + SPLIT_BITS, deal()));
        }
    }
    for prefix in IPV6_PREFIXES {
        let base: Ipv6Addr = format!("{prefix}::")
            .parse()
            .with_context(|| format!("IPv6 prefix '{prefix}'"))?;
        for part in 0..1u128 << SPLIT_BITS {
            let addr = Ipv6Addr::from(u128::from(base) | part << (128 - 32 - SPLIT_BITS));
            out.push((IpAddr::V6(addr), 32 + SPLIT_BITS, deal()));
        }
    }
    Ok(out)
}

/// Fixed build time in the metadata (2026-01-01T00:00:00Z): same binary, same bytes.
const BUILD_EPOCH: u64 = 1_767_225_600;

/// The database's bytes.
pub fn database() -> anyhow::Result<Vec<u8>> {
    let mut writer = MmdbWriter::new("statport-demo");
    for (addr, prefix, place) in networks()? {
        writer.insert(addr, prefix, Value::from_info(&place.info()))?;
    }
    writer
        .finish(BUILD_EPOCH)
        .map_err(|e: WriteError| anyhow::anyhow!("{e}"))
}

/// Writes the database to `path` (its folder made when missing); the bytes written.
pub fn write(path: &Path) -> anyhow::Result<usize> {
    let bytes = database()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use statport_core::log::format::LogFormat;
    use statport_core::log::geo::mmdb::MmdbGeo;
    use statport_core::log::geo::GeoLookup;

    use super::*;
    use crate::genlogs::{GenSpec, GeneratedRecord, Generator};

    fn day_of_clients(format: LogFormat) -> Vec<String> {
        let spec = GenSpec {
            seed: 7,
            lines_per_hour: 500,
            format,
            ..GenSpec::default()
        };
        let mut ips = Vec::new();
        let mut generator = Generator::new(&spec);
        while generator
            .next_file(&mut |r: &GeneratedRecord| ips.push(r.client_ip.clone()))
            .is_some()
        {}
        ips
    }

    #[test]
    fn every_generated_client_resolves_and_the_mix_is_varied() {
        let bytes = database().expect("database");
        assert!(bytes.len() < 1_000_000, "{} bytes", bytes.len());
        let db = MmdbGeo::from_bytes(bytes).expect("a valid MaxMind DB");
        let mut countries: BTreeMap<String, usize> = BTreeMap::new();
        let mut isps = BTreeSet::new();
        let mut cn_provinces = BTreeSet::new();
        let mut v6 = 0;
        for format in [LogFormat::Cloudfront, LogFormat::Huawei] {
            let ips = day_of_clients(format);
            assert!(ips.len() > 1000, "{} records", ips.len());
            for text in ips {
                let ip: IpAddr = text.parse().expect("generated addresses parse");
                v6 += usize::from(ip.is_ipv6());
                let info = db.lookup(ip);
                let country = info
                    .country
                    .clone()
                    .unwrap_or_else(|| panic!("{ip} unplaced"));
                if country == "CN" {
                    cn_provinces.insert(info.province_code.clone().expect("CN province"));
                }
                isps.insert(info.isp_name().to_string());
                *countries.entry(country).or_default() += 1;
            }
        }
        assert!(v6 > 0, "no IPv6 client was generated");
        for c in ["CN", "US", "DE", "JP", "HK"] {
            assert!(countries.contains_key(c), "no {c} client: {countries:?}");
        }
        assert!(cn_provinces.len() >= 5, "{cn_provinces:?}");
        for isp in [
            "China Telecom",
            "China Unicom",
            "China Mobile",
            "Comcast",
            "unknown",
        ] {
            assert!(isps.contains(isp), "no {isp}: {isps:?}");
        }
        // Mainland China is a sizeable part of the traffic, not all of it.
        let total: usize = countries.values().sum();
        let cn = countries["CN"];
        assert!(cn * 5 > total && cn * 5 < total * 4, "{cn} of {total}");
    }

    #[test]
    fn each_network_reads_back_as_its_place_and_the_bytes_are_stable() {
        let bytes = database().expect("database");
        assert_eq!(bytes, database().expect("database again"));
        let db = MmdbGeo::from_bytes(bytes).expect("valid");
        for (addr, _, place) in networks().expect("networks") {
            assert_eq!(db.lookup(addr), place.info(), "{addr}");
        }
        // The last address of a /10 belongs to that block, the next one to the following.
        let last: IpAddr = "23.63.255.255".parse().expect("ip");
        let next: IpAddr = "23.64.0.0".parse().expect("ip");
        assert_eq!(db.lookup(last), PLACES[0].info());
        assert_eq!(db.lookup(next), PLACES[1].info());
        assert_eq!(
            db.lookup("24.0.0.1".parse().expect("ip")),
            GeoInfo::default()
        );
    }

    #[test]
    fn write_makes_the_folder() {
        let dir = std::env::temp_dir().join(format!("statport-genipdb-{}", uuid::Uuid::new_v4()));
        let path = dir.join("state/demo.mmdb");
        let n = write(&path).expect("write");
        let read = std::fs::read(&path).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.len(), n);
        assert_eq!(read, database().expect("database"));
    }
}
