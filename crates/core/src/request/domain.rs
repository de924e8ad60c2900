//! The `domain_name` filter: `all`, or a list of exact hosts and `*.` wildcards, parsed once
//! into its normal form and matched against each record's host.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};
use crate::log::is_hostname;

/// One entry of `domain_name`: an exact host or a `*.` wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DomainPattern {
    /// Matches this host exactly.
    Exact(String),
    /// `*.suffix`: matches any host ending in `.suffix` (not `suffix` itself).
    Wildcard {
        /// The part after `*.`, e.g. `example.com`.
        suffix: String,
    },
}

/// Which domains a task selects. Stored and shown as the client wrote it in normal form:
/// `all`, or the comma list, exact hosts first, each part sorted (`www.example.net,*.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainFilter {
    /// Every domain in the tenant's logs.
    All,
    /// These hosts and wildcards.
    List(Vec<DomainPattern>),
}

impl DomainFilter {
    /// Parses `domain_name` (`all`, or a comma list of hosts and `*.` wildcards).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(DomainFilter::All);
        }
        let mut patterns = BTreeSet::new();
        let mut bad = Vec::new();
        for item in text.split(',').map(str::trim) {
            let lower = item.to_ascii_lowercase();
            match lower.strip_prefix("*.") {
                Some(suffix) if is_hostname(suffix) => {
                    patterns.insert(DomainPattern::Wildcard {
                        suffix: suffix.to_string(),
                    });
                }
                None if is_hostname(&lower) => {
                    patterns.insert(DomainPattern::Exact(lower));
                }
                _ => bad.push(item.to_string()),
            }
        }
        if !bad.is_empty() {
            let list = bad
                .iter()
                .map(|b| format!("'{b}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::new(
                ErrorCode::InvalidHostnames,
                format!("Invalid hostname(s): {list}."),
            ));
        }
        Ok(DomainFilter::List(patterns.into_iter().collect()))
    }

    /// The normal text form: `all` or the comma list.
    pub fn to_text(&self) -> String {
        match self {
            DomainFilter::All => "all".to_string(),
            DomainFilter::List(patterns) => patterns
                .iter()
                .map(|p| match p {
                    DomainPattern::Exact(h) => h.clone(),
                    DomainPattern::Wildcard { suffix } => format!("*.{suffix}"),
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// True when `host` (lowercase) is selected.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            DomainFilter::All => true,
            DomainFilter::List(patterns) => patterns.iter().any(|p| match p {
                DomainPattern::Exact(h) => h == host,
                DomainPattern::Wildcard { suffix } => {
                    host.len() > suffix.len() + 1
                        && host.ends_with(suffix.as_str())
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
            }),
        }
    }

    /// How many exact hosts are named (the length of [`exact_hosts`](Self::exact_hosts)).
    pub fn exact_host_count(&self) -> usize {
        match self {
            DomainFilter::All => 0,
            DomainFilter::List(p) => p
                .iter()
                .filter(|p| matches!(p, DomainPattern::Exact(_)))
                .count(),
        }
    }

    /// The number of patterns listed (`all` counts as one).
    pub fn len(&self) -> usize {
        match self {
            DomainFilter::All => 1,
            DomainFilter::List(p) => p.len(),
        }
    }

    /// True for an empty list (which [`parse`](Self::parse) never returns).
    pub fn is_empty(&self) -> bool {
        matches!(self, DomainFilter::List(p) if p.is_empty())
    }

    /// The exact hosts named: they get rows (zeros when idle) even without traffic.
    pub fn exact_hosts(&self) -> Vec<String> {
        match self {
            DomainFilter::All => Vec::new(),
            DomainFilter::List(p) => p
                .iter()
                .filter_map(|p| match p {
                    DomainPattern::Exact(h) => Some(h.clone()),
                    DomainPattern::Wildcard { .. } => None,
                })
                .collect(),
        }
    }
}

impl Serialize for DomainFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for DomainFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DomainFilter::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}
