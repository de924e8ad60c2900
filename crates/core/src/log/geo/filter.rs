//! The `country`, `province` and `isp` filters: `all`, or a comma list matched against what the
//! IP database says of a record's client.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::GeoInfo;
use crate::error::ApiError;

/// Most entries one filter may list.
pub const MAX_NAMES: usize = 100;

/// Longest entry accepted, in characters.
const MAX_NAME_CHARS: usize = 128;

/// Which of the three geography fields a [`NameFilter`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoField {
    /// `country`: ISO 3166-1 alpha-2 codes, compared uppercase.
    Country,
    /// `province`: a subdivision's ISO code or English name, ASCII case ignored.
    Province,
    /// `isp`: the ISP's name (`unknown` for addresses without one), ASCII case ignored.
    Isp,
}

impl GeoField {
    /// The request field's name.
    pub fn name(self) -> &'static str {
        match self {
            GeoField::Country => "country",
            GeoField::Province => "province",
            GeoField::Isp => "isp",
        }
    }
}

/// `all`, or the names listed: countries uppercase, provinces and ISPs with ASCII letters
/// lowercase, sorted and without duplicates. Shown as `all` or the comma list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NameFilter {
    /// No filtering.
    #[default]
    All,
    /// Only these.
    List(Vec<String>),
}

impl NameFilter {
    /// Parses the value of `field`; absent or blank is `all`.
    pub fn parse(field: GeoField, text: Option<&str>) -> Result<Self, ApiError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(NameFilter::All);
        };
        if text.eq_ignore_ascii_case("all") {
            return Ok(NameFilter::All);
        }
        let name = field.name();
        let mut names = BTreeSet::new();
        for item in text.split(',').map(str::trim) {
            let ok = match field {
                GeoField::Country => {
                    item.len() == 2 && item.bytes().all(|b| b.is_ascii_alphabetic())
                }
                GeoField::Province | GeoField::Isp => {
                    !item.is_empty()
                        && item.chars().count() <= MAX_NAME_CHARS
                        && !item.chars().any(char::is_control)
                        && !item.eq_ignore_ascii_case("all")
                }
            };
            if !ok {
                let rule = match field {
                    GeoField::Country => "ISO 3166-1 alpha-2 country codes (e.g. 'CN,US')",
                    GeoField::Province => "province codes or English names (e.g. 'GD,Beijing')",
                    GeoField::Isp => "ISP names (e.g. 'China Telecom,unknown')",
                };
                return Err(ApiError::invalid(format!(
                    "'{name}' must be 'all' or a comma list of {rule} of at most {MAX_NAME_CHARS} characters each; '{item}' is not one"
                )));
            }
            names.insert(match field {
                GeoField::Country => item.to_ascii_uppercase(),
                _ => item.to_ascii_lowercase(),
            });
        }
        if names.len() > MAX_NAMES {
            return Err(ApiError::invalid(format!(
                "'{name}' may list at most {MAX_NAMES} entries, got {}",
                names.len()
            )));
        }
        Ok(NameFilter::List(names.into_iter().collect()))
    }

    /// True for `all`.
    pub fn is_all(&self) -> bool {
        matches!(self, NameFilter::All)
    }

    /// The normal text form: `all` or the comma list.
    pub fn to_text(&self) -> String {
        match self {
            NameFilter::All => "all".to_string(),
            NameFilter::List(names) => names.join(","),
        }
    }

    /// True when `value` (what the database says, `None` when it says nothing) is selected.
    fn accepts(&self, value: Option<&str>) -> bool {
        match self {
            NameFilter::All => true,
            NameFilter::List(names) => {
                value.is_some_and(|v| names.iter().any(|n| n.eq_ignore_ascii_case(v)))
            }
        }
    }

    /// True when `info` passes this filter over `field`. An address the database does not
    /// place passes no `country` or `province` list; for `isp` it counts as `unknown`.
    pub fn matches(&self, field: GeoField, info: &GeoInfo) -> bool {
        match field {
            GeoField::Country => self.accepts(info.country.as_deref()),
            GeoField::Province => {
                self.accepts(info.province_code.as_deref())
                    || self.accepts(info.province_name.as_deref())
            }
            GeoField::Isp => self.accepts(Some(info.isp_name())),
        }
    }
}

impl Serialize for NameFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for NameFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Stored conditions were validated: read the normal form back as it is.
        let text = String::deserialize(d)?;
        Ok(if text == "all" {
            NameFilter::All
        } else {
            NameFilter::List(text.split(',').map(str::to_string).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(country: &str, code: &str, name: &str, isp: Option<&str>) -> GeoInfo {
        GeoInfo {
            country: Some(country.to_string()),
            province_code: Some(code.to_string()),
            province_name: Some(name.to_string()),
            isp: isp.map(str::to_string),
        }
    }

    #[test]
    fn parses_lists_in_normal_form() {
        let c = NameFilter::parse(GeoField::Country, Some(" us, cn ,CN")).expect("valid");
        assert_eq!(c.to_text(), "CN,US");
        assert_eq!(
            NameFilter::parse(GeoField::Country, Some("ALL")),
            Ok(NameFilter::All)
        );
        assert_eq!(NameFilter::parse(GeoField::Isp, None), Ok(NameFilter::All));
        assert_eq!(
            NameFilter::parse(GeoField::Isp, Some("  ")),
            Ok(NameFilter::All)
        );
        let i = NameFilter::parse(GeoField::Isp, Some("China Telecom,中国联通")).expect("valid");
        assert_eq!(i.to_text(), "china telecom,中国联通");
    }

    #[test]
    fn errors_name_the_field() {
        for (field, text, needle) in [
            (GeoField::Country, "CHN", "'country'"),
            (GeoField::Country, "C1", "'C1'"),
            (GeoField::Country, "CN,,US", "'country'"),
            (GeoField::Province, "GD,\u{7}", "'province'"),
            (GeoField::Isp, "x,all", "'isp'"),
        ] {
            let err = NameFilter::parse(field, Some(text)).expect_err(text);
            assert_eq!(err.code, crate::ErrorCode::InvalidParameter);
            assert!(err.message.contains(needle), "{text}: {}", err.message);
        }
        let many = (0..101)
            .map(|i| format!("isp{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let err = NameFilter::parse(GeoField::Isp, Some(&many)).expect_err("too many");
        assert!(err.message.contains("at most 100"), "{}", err.message);
    }

    #[test]
    fn matching_rules() {
        let gd = info("CN", "GD", "Guangdong", Some("China Telecom"));
        let p = NameFilter::parse(GeoField::Province, Some("guangdong")).expect("valid");
        assert!(p.matches(GeoField::Province, &gd));
        let p = NameFilter::parse(GeoField::Province, Some("gd")).expect("valid");
        assert!(p.matches(GeoField::Province, &gd));
        let c = NameFilter::parse(GeoField::Country, Some("us")).expect("valid");
        assert!(!c.matches(GeoField::Country, &gd));
        assert!(!c.matches(GeoField::Country, &GeoInfo::default()));
        let i = NameFilter::parse(GeoField::Isp, Some("CHINA TELECOM")).expect("valid");
        assert!(i.matches(GeoField::Isp, &gd));
        let unknown = NameFilter::parse(GeoField::Isp, Some("unknown")).expect("valid");
        assert!(unknown.matches(GeoField::Isp, &GeoInfo::default()));
        assert!(!unknown.matches(GeoField::Isp, &gd));
        assert!(NameFilter::All.matches(GeoField::Country, &GeoInfo::default()));
    }

    #[test]
    fn serde_round_trip() {
        let c = NameFilter::parse(GeoField::Country, Some("us,cn")).expect("valid");
        let text = serde_json::to_string(&c).expect("serialize");
        assert_eq!(text, "\"CN,US\"");
        let back: NameFilter = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, c);
        let all: NameFilter = serde_json::from_str("\"all\"").expect("parse");
        assert_eq!(all, NameFilter::All);
    }
}
