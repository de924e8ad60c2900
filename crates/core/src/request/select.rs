//! The geography step of selection: in front of a sink, looks each record's client up (once
//! per address per scan), applies the condition's `service_area`, `country`, `province` and
//! `isp`, and hands what passes to the sink with its [`GeoInfo`].

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Action, ExportCondition};
use crate::log::geo::filter::GeoField;
use crate::log::geo::{record_area, GeoInfo, GeoLookup};
use crate::log::LogRecord;
use crate::log::RecordSink;
use crate::log::ServiceArea;

/// Addresses remembered per scan before the cache starts over (about 100 bytes each).
pub const CACHE_ENTRIES: usize = 65_536;

/// A sink behind the geography filters of a condition. Build it only when
/// [`ExportCondition::geo_needed`] says so.
pub struct GeoSink<'a, S> {
    inner: S,
    geo: &'a dyn GeoLookup,
    condition: &'a ExportCondition,
    /// Whether every record needs its client looked up (a `country` / `province` / `isp` list,
    /// or `isp_detail`); otherwise only records whose log states no area, for `service_area`.
    always: bool,
    cache: HashMap<Box<str>, GeoInfo>,
    /// Records the geography filters turned away.
    pub rejected: u64,
}

impl<'a, S: RecordSink> GeoSink<'a, S> {
    /// `inner` behind `condition`'s geography filters, looking clients up in `geo`.
    pub fn new(inner: S, geo: &'a dyn GeoLookup, condition: &'a ExportCondition) -> Self {
        let always = condition.action == Action::IspDetail
            || !condition.country.is_all()
            || !condition.province.is_all()
            || !condition.isp.is_all();
        GeoSink {
            inner,
            geo,
            condition,
            always,
            cache: HashMap::new(),
            rejected: 0,
        }
    }

    /// The sink behind the filters.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// `ip`'s entry in `cache`, looked up in `geo` on a miss (an unparsable address is unknown).
fn cached<'c>(
    cache: &'c mut HashMap<Box<str>, GeoInfo>,
    geo: &dyn GeoLookup,
    ip: &str,
) -> &'c GeoInfo {
    if !cache.contains_key(ip) {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        let info = ip
            .parse::<IpAddr>()
            .map(|a| geo.lookup(a))
            .unwrap_or_default();
        cache.insert(ip.into(), info);
    }
    &cache[ip]
}

static NOWHERE: GeoInfo = GeoInfo {
    country: None,
    province_code: None,
    province_name: None,
    isp: None,
};

impl<S: RecordSink> RecordSink for GeoSink<'_, S> {
    fn add(&mut self, record: &LogRecord<'_>) {
        let c = self.condition;
        let info = if self.always
            || (c.service_area != ServiceArea::Global && record.service_area.is_none())
        {
            cached(&mut self.cache, self.geo, record.client_ip)
        } else {
            &NOWHERE
        };
        let selected = (c.service_area == ServiceArea::Global
            || record_area(record, Some(info)) == Some(c.service_area))
            && c.country.matches(GeoField::Country, info)
            && c.province.matches(GeoField::Province, info)
            && c.isp.matches(GeoField::Isp, info);
        if selected {
            self.inner.add_located(record, info);
        } else {
            self.rejected += 1;
        }
    }
}

#[cfg(test)]
mod tests;
