//! Server groups (Wangsu `serverGroups`): which edge locations a report counts.
//!
//! A log record names its edge location by code (`LogRecord::edge_location`, e.g. `SFO5-C1`); a
//! server group matches those codes by prefix. [`ServerGroups`] is the operator's map from a group
//! name (the seed's `standard`, `premium`, … or any other) to the edge-code prefixes it covers;
//! a name that is not a configured group but is written like an edge code (`SFO`, `SFO5`,
//! `NRT57-P`) is itself a prefix. [`ServerGroups::resolve`] turns the names a client sent into an
//! [`EdgeFilter`], and [`EdgeFiltered`] applies it in front of any [`RecordSink`].

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ApiError, ErrorCode};
use crate::log::LogRecord;
use crate::log::RecordSink;

/// The longest edge-code prefix or group name accepted, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// The operator's server groups: group name → edge-code prefixes (the `[reports.server_groups]`
/// config table). Names are case-sensitive, as the seed writes them (`nearChina`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerGroups {
    groups: BTreeMap<String, Vec<String>>,
}

/// Why a configured server group was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server group '{group}': {reason}")]
pub struct InvalidServerGroup {
    /// The group at fault.
    pub group: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ServerGroups {
    /// Checks and keeps `groups`: every name non-empty, every group with at least one prefix,
    /// every prefix written like an edge code ([`is_edge_prefix`]).
    pub fn new(groups: BTreeMap<String, Vec<String>>) -> Result<Self, InvalidServerGroup> {
        for (name, prefixes) in &groups {
            let invalid = |reason: String| InvalidServerGroup {
                group: name.clone(),
                reason,
            };
            if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
                return Err(invalid(format!(
                    "a group name must have 1 to {MAX_NAME_LEN} characters"
                )));
            }
            if prefixes.is_empty() {
                return Err(invalid("the group lists no edge-location prefix".into()));
            }
            if let Some(bad) = prefixes.iter().find(|p| !is_edge_prefix(p)) {
                return Err(invalid(format!(
                    "'{bad}' is not an edge-location prefix (upper-case letters, digits and '-', starting with a letter, like 'SFO' or 'NRT57')"
                )));
            }
        }
        Ok(ServerGroups { groups })
    }

    /// The configured group names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// The edge filter for the names a client sent: each name is a configured group (its
    /// prefixes) or, when no group has that name, an edge-code prefix itself. No names: every
    /// edge. An empty, unknown or malformed name is refused with `InvalidServerGroups`, naming
    /// every bad entry.
    pub fn resolve(&self, names: &[String]) -> Result<EdgeFilter, ApiError> {
        if names.is_empty() {
            return Ok(EdgeFilter::All);
        }
        let mut prefixes = BTreeSet::new();
        let mut bad = Vec::new();
        for name in names {
            let name = name.trim();
            match self.groups.get(name) {
                Some(group) => prefixes.extend(group.iter().cloned()),
                None if is_edge_prefix(name) => {
                    prefixes.insert(name.to_owned());
                }
                None => bad.push(format!(
                    "'{}'",
                    name.chars().take(MAX_NAME_LEN).collect::<String>()
                )),
            }
        }
        if !bad.is_empty() {
            let known = self.names().collect::<Vec<_>>().join(", ");
            return Err(ApiError::new(
                ErrorCode::InvalidServerGroups,
                format!(
                    "Invalid server group(s): {}. A server group is a configured group name ({}) or an edge-location prefix such as 'SFO' (upper-case letters, digits and '-').",
                    bad.join(", "),
                    if known.is_empty() { "none configured" } else { &known }
                ),
            ));
        }
        Ok(EdgeFilter::Prefixes(prefixes.into_iter().collect()))
    }
}

/// True for text written like the start of an edge-location code: 1 to [`MAX_NAME_LEN`]
/// upper-case ASCII letters, digits and `-`, starting with a letter (`SFO`, `SFO5`, `SFO5-C1`).
/// Lower-case names are not prefixes, so a mistyped group name (`standart`) is refused instead
/// of silently matching nothing.
pub fn is_edge_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-')
}

/// Which edge locations a report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeFilter {
    /// Every edge location.
    All,
    /// Edge codes starting with one of these prefixes (sorted, deduplicated).
    Prefixes(Vec<String>),
}

impl EdgeFilter {
    /// True when a record served by `edge_location` is counted.
    pub fn matches(&self, edge_location: &str) -> bool {
        match self {
            EdgeFilter::All => true,
            EdgeFilter::Prefixes(prefixes) => prefixes
                .iter()
                .any(|p| edge_location.starts_with(p.as_str())),
        }
    }
}

/// A [`RecordSink`] that passes on only the records of the edge locations `filter` selects.
#[derive(Debug)]
pub struct EdgeFiltered<'a, S> {
    /// The edges counted.
    pub filter: &'a EdgeFilter,
    /// Where selected records go.
    pub inner: &'a mut S,
}

impl<S: RecordSink> RecordSink for EdgeFiltered<'_, S> {
    #[inline]
    fn add(&mut self, record: &LogRecord<'_>) {
        if self.filter.matches(record.edge_location) {
            self.inner.add(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> ServerGroups {
        ServerGroups::new(BTreeMap::from([
            (
                "standard".to_owned(),
                vec!["SFO".to_owned(), "IAD".to_owned()],
            ),
            ("nearChina".to_owned(), vec!["HKG".to_owned()]),
        ]))
        .expect("valid groups")
    }

    #[test]
    fn names_expand_to_prefixes_and_unknown_codes_are_prefixes() {
        let g = groups();
        assert_eq!(g.resolve(&[]).expect("none"), EdgeFilter::All);
        let f = g
            .resolve(&["standard".into(), "NRT57".into(), "SFO".into()])
            .expect("valid");
        assert_eq!(
            f,
            EdgeFilter::Prefixes(vec!["IAD".into(), "NRT57".into(), "SFO".into()])
        );
        assert!(f.matches("SFO5-C1") && f.matches("IAD89-C3") && f.matches("NRT57-P2"));
        assert!(!f.matches("NRT12-C1") && !f.matches("HKG60-C1") && !f.matches(""));
    }

    #[test]
    fn unknown_empty_and_lower_case_names_are_refused_together() {
        let err = groups()
            .resolve(&[
                "standart".into(),
                "".into(),
                "sfo".into(),
                "nearChina".into(),
            ])
            .expect_err("bad names");
        assert_eq!(err.code, ErrorCode::InvalidServerGroups);
        assert!(
            err.message
                .starts_with("Invalid server group(s): 'standart', '', 'sfo'."),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("nearChina, standard"),
            "{}",
            err.message
        );
    }

    #[test]
    fn configuration_is_checked() {
        let bad = |name: &str, prefixes: &[&str]| {
            ServerGroups::new(BTreeMap::from([(
                name.to_owned(),
                prefixes.iter().map(|p| (*p).to_owned()).collect(),
            )]))
            .expect_err("invalid")
        };
        assert!(bad("g", &[]).reason.contains("no edge-location prefix"));
        assert!(bad("g", &["sfo"]).reason.contains("'sfo'"));
        assert!(bad("g", &[""]).reason.contains("''"));
        assert!(bad(" ", &["SFO"]).reason.contains("group name"));
    }

    #[test]
    fn the_filtered_sink_passes_only_selected_edges() {
        #[derive(Default)]
        struct Count(u64);
        impl RecordSink for Count {
            fn add(&mut self, record: &LogRecord<'_>) {
                self.0 += record.bytes;
            }
        }
        let filter = EdgeFilter::Prefixes(vec!["SFO".into()]);
        let mut count = Count::default();
        let mut sink = EdgeFiltered {
            filter: &filter,
            inner: &mut count,
        };
        for (edge, bytes) in [("SFO5-C1", 3), ("IAD89-C3", 100), ("SFO9-P1", 4)] {
            let mut r = crate::stats::aggregate::tests::rec("a.example.com", 0, bytes, false);
            r.edge_location = edge;
            sink.add(&r);
        }
        assert_eq!(count.0, 7);
    }
}
