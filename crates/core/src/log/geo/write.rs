//! A small MaxMind DB writer: enough of the format (binary search tree of 32-bit records over the
//! IPv6 space, data section of maps, arrays, UTF-8 strings and unsigned integers, metadata after
//! the `\xAB\xCD\xEFMaxMind.com` marker) to build the databases the tests and `statport
//! gen-ipdb` need, in the schema [`super::mmdb`] reads.
//!
//! Written here rather than taken from a crate: the Rust MMDB writers published today are young
//! single-maintainer crates (one pulls a proc-macro builder); the part of the format we need is
//! about two hundred lines, checked by reading every database back with the `maxminddb` reader.
//!
//! IPv4 networks are stored at `::a.b.c.d/96+n`, where readers of an IPv6 database look IPv4
//! addresses up. When networks overlap the more specific one wins, whatever the insertion order.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::GeoInfo;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// UTF-8 string (type 2).
    Str(String),
    /// Unsigned 32-bit integer (type 6).
    U32(u32),
    /// Unsigned 64-bit integer (type 9).
    U64(u64),
    /// Unsigned 16-bit integer (type 5).
    U16(u16),
    /// Map with string keys (type 7), written in key order.
    Map(BTreeMap<String, Value>),
    /// Array (type 11).
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// The record statport reads for `info` (see the schema in [`super::mmdb`]): `country`,
    /// `subdivisions` and `isp` each present only when known.
    pub fn from_info(info: &GeoInfo) -> Value {
        let mut top = BTreeMap::new();
        if let Some(c) = &info.country {
            top.insert(
                "country".to_string(),
                Value::map([("iso_code", Value::Str(c.clone()))]),
            );
        }
        if info.province_code.is_some() || info.province_name.is_some() {
            let mut sub = BTreeMap::new();
            if let Some(code) = &info.province_code {
                sub.insert("iso_code".to_string(), Value::Str(code.clone()));
            }
            if let Some(name) = &info.province_name {
                sub.insert(
                    "names".to_string(),
                    Value::map([("en", Value::Str(name.clone()))]),
                );
            }
            top.insert(
                "subdivisions".to_string(),
                Value::Array(vec![Value::Map(sub)]),
            );
        }
        if let Some(isp) = &info.isp {
            top.insert("isp".to_string(), Value::Str(isp.clone()));
        }
        Value::Map(top)
    }
}

/// Why a network could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The prefix length is longer than the address (over 32 for IPv4, 128 for IPv6).
    #[error("prefix /{0} is too long for the address")]
    BadPrefix(u8),
    /// The database would need more than 2^32 records.
    #[error("the database is too large for 32-bit records")]
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database in memory: [`insert`](Self::insert) networks, then [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    /// `(address bits in the IPv6 space, prefix length there, value)`.
    networks: Vec<(u128, u8, Value)>,
}

impl MmdbWriter {
    /// An empty database whose metadata says `database_type`.
    pub fn new(database_type: &str) -> Self {
        MmdbWriter {
            database_type: database_type.to_string(),
            networks: Vec::new(),
        }
    }

    /// Maps the network `addr/prefix` to `value`.
    pub fn insert(&mut self, addr: IpAddr, prefix: u8, value: Value) -> Result<(), WriteError> {
        let (bits, len) = match addr {
            IpAddr::V4(a) if prefix <= 32 => (u128::from(u32::from(a)), prefix + 96),
            IpAddr::V6(a) if prefix <= 128 => (u128::from(a), prefix),
            _ => return Err(WriteError::BadPrefix(prefix)),
        };
        self.networks.push((bits, len, value));
        Ok(())
    }

    /// The database file's bytes.
    pub fn finish(&self, build_epoch: u64) -> Result<Vec<u8>, WriteError> {
        // Less specific first, so a more specific network splits the record it falls in.
        let mut order: Vec<usize> = (0..self.networks.len()).collect();
        order.sort_by_key(|&i| self.networks[i].1);
        let mut nodes: Vec<[Child; 2]> = vec![[Child::Empty; 2]];
        for &i in &order {
            let (bits, len, _) = &self.networks[i];
            let mut node = 0;
            for depth in 0..*len {
                let side = usize::from((bits >> (127 - depth)) & 1 == 1);
                if depth + 1 == *len {
                    nodes[node][side] = Child::Data(i);
                    break;
                }
                node = match nodes[node][side] {
                    Child::Node(n) => n,
                    other => {
                        // Empty, or a less specific network's data: both halves keep it.
                        let fill = match other {
                            Child::Data(d) => Child::Data(d),
                            _ => Child::Empty,
                        };
                        nodes.push([fill; 2]);
                        let n = nodes.len() - 1;
                        nodes[node][side] = Child::Node(n);
                        n
                    }
                };
            }
        }
        let mut data = Vec::new();
        let mut offsets = vec![0usize; self.networks.len()];
        for (i, (_, _, value)) in self.networks.iter().enumerate() {
            offsets[i] = data.len();
            encode(value, &mut data);
        }
        let node_count = nodes.len();
        let record = |c: Child| -> Result<u32, WriteError> {
            let v = match c {
                Child::Empty => node_count,
                Child::Node(n) => n,
                Child::Data(d) => node_count + 16 + offsets[d],
            };
            u32::try_from(v).map_err(|_| WriteError::TooLarge)
        };
        let mut out = Vec::with_capacity(node_count * 8 + 16 + data.len() + 256);
        for [left, right] in &nodes {
            out.extend_from_slice(&record(*left)?.to_be_bytes());
            out.extend_from_slice(&record(*right)?.to_be_bytes());
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(build_epoch)),
            ("database_type", Value::Str(self.database_type.clone())),
            (
                "description",
                Value::map([("en", Value::Str("statport test database".to_string()))]),
            ),
            ("ip_version", Value::U16(6)),
            (
                "languages",
                Value::Array(vec![Value::Str("en".to_string())]),
            ),
            (
                "node_count",
                Value::U32(u32::try_from(node_count).map_err(|_| WriteError::TooLarge)?),
            ),
            ("record_size", Value::U16(32)),
        ]);
        encode(&metadata, &mut out);
        Ok(out)
    }
}

/// Appends the control byte(s) of a field of `kind` (1..=15) and `size`.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (tag, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, Vec::new()),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push(kind << 5 | tag);
    } else {
        out.push(tag);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn encode_uint(kind: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            control(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::U16(v) => encode_uint(5, u64::from(*v), out),
        Value::U32(v) => encode_uint(6, u64::from(*v), out),
        Value::U64(v) => encode_uint(9, *v, out),
        Value::Map(m) => {
            control(7, m.len(), out);
            for (k, v) in m {
                control(2, k.len(), out);
                out.extend_from_slice(k.as_bytes());
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            for v in items {
                encode(v, out);
            }
        }
    }
}
