//! Top lists (`top_url_detail`, `top_path_detail`, `top_referer_detail`, `top_ua_detail`,
//! `top_ip_detail`): the keys with the most bytes or requests, per domain when grouped.
//!
//! Memory is bounded by a counter budget per task ([`SketchLimits::top_keys`]): while the task
//! has seen no more distinct keys (domain and key pairs when grouped) than the budget, every
//! count is exact. Past it the summary becomes Space-Saving (Metwally, Agrawal, El Abbadi 2005):
//! a key not held replaces the held key with the smallest ranked count `m` and starts at
//! `m + weight`, with `m` recorded as its possible over-count. Its guarantees, which the docs
//! repeat:
//! - every reported ranked value `v` (bytes or requests, per `stat_type`) is an upper bound, and
//!   the true value lies in `[v - e, v]`, where `e` is the row's error (at most
//!   [`TopList::floor`]);
//! - a key that is not held had at most [`TopList::floor`] in total, and after one pass over an
//!   input of total ranked weight `N` with `c` counters `floor <= N / c`, so every key above
//!   `N / c` is held;
//! - the other column (requests when ranked by bytes, and the reverse) counts only what was seen
//!   since the key was last taken in: a lower bound.
//!
//! Summaries over disjoint inputs merge (Agarwal et al., "Mergeable summaries", 2012): counts of
//! a key add, a key missing from one side is charged that side's floor as both count and error,
//! and the union is cut back to the budget. While nothing was evicted anywhere this is the exact
//! sum, so merging any split of an input equals one pass.
//!
//! Ranking: by the ranked value (descending), then the other value (descending), then the key
//! (ascending, by bytes): a total order, so equal inputs always give the same file.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;
use hashbrown::{HashMap, HashTable};
use serde::{Deserialize, Serialize};

use crate::log::LogRecord;
use crate::request::{Action, ExportCondition, StatType};
use crate::stats::aggregate::ShapeMismatch;
use crate::stats::sketch::SketchLimits;
use crate::table::{Cell, Column};

/// What a top list ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopKey {
    /// Decoded path plus `?` and the decoded query when there is one.
    Url,
    /// Decoded path without the query.
    Path,
    /// Decoded referer; requests without one are not ranked.
    Referer,
    /// Decoded user agent; requests without one are not ranked.
    Ua,
    /// Client IP as logged.
    Ip,
}

impl TopKey {
    /// The key a top-list action ranks; `None` for the other actions.
    pub fn of(action: Action) -> Option<TopKey> {
        match action {
            Action::TopUrlDetail => Some(TopKey::Url),
            Action::TopPathDetail => Some(TopKey::Path),
            Action::TopRefererDetail => Some(TopKey::Referer),
            Action::TopUaDetail => Some(TopKey::Ua),
            Action::TopIpDetail => Some(TopKey::Ip),
            _ => None,
        }
    }

    /// The column the key is written under.
    pub fn column(self) -> Column {
        match self {
            TopKey::Url => Column::Url,
            TopKey::Path => Column::Path,
            TopKey::Referer => Column::Referer,
            TopKey::Ua => Column::Ua,
            TopKey::Ip => Column::Ip,
        }
    }

    /// Writes `record`'s key into `buf` (cleared first); false when the record has none (no
    /// referer, no user agent, an empty path or IP), and the record is then not ranked.
    fn write(self, record: &LogRecord<'_>, buf: &mut String) -> bool {
        buf.clear();
        match self {
            TopKey::Url => {
                buf.push_str(&record.path());
                if let Some(q) = record.query() {
                    buf.push('?');
                    buf.push_str(&q);
                }
            }
            TopKey::Path => buf.push_str(&record.path()),
            TopKey::Referer => match record.referer() {
                Some(r) => buf.push_str(&r),
                None => return false,
            },
            TopKey::Ua => match record.user_agent() {
                Some(u) => buf.push_str(&u),
                None => return false,
            },
            TopKey::Ip => buf.push_str(record.client_ip),
        }
        !buf.is_empty()
    }
}

/// One held key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    /// Index into [`TopList::domains`] (0, unnamed, when not grouped).
    series: u32,
    key: Box<str>,
    /// The ranked value: exact, or an upper bound once the summary evicted.
    ranked: u64,
    /// The other value: exact, or a lower bound once the summary evicted.
    other: u64,
    /// How much of `ranked` may be over-count.
    error: u64,
}

/// How far a top list is from exact, for the task view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopApproximation {
    /// Counters the task kept.
    pub counters: u64,
    /// A key not held had at most this ranked value.
    pub floor: u64,
    /// The largest possible over-count of a reported row.
    pub max_error: u64,
}

/// The partial result of a top-list export: a bounded summary of key counts, per domain when
/// grouped. See the module documentation for the algorithm and its guarantees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopList {
    key: TopKey,
    rank_by: StatType,
    group_by_domain: bool,
    range_start: i64,
    range_end: i64,
    top_n: u32,
    /// Most keys held at once.
    capacity: u32,
    /// Most rows the file may have (the tenant's limit).
    max_rows: u64,
    /// Series names (domains); one unnamed series when not grouped.
    domains: Vec<String>,
    held: Vec<Held>,
    /// True once a key was evicted here or in a merged part: the counts are then bounds.
    evicted: bool,
    /// Upper bound on the ranked value of any key not held (0 while exact).
    floor: u64,
    #[serde(skip)]
    domain_index: HashMap<String, u32>,
    #[serde(skip)]
    table: HashTable<u32>,
    /// Min-heap of (ranked, slot), one entry per slot; an entry may be stale (lower than the
    /// slot's count, which only grows) and is refreshed when it surfaces.
    #[serde(skip)]
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    #[serde(skip)]
    hasher: DefaultHashBuilder,
    #[serde(skip)]
    scratch: String,
}

impl PartialEq for TopList {
    fn eq(&self, other: &Self) -> bool {
        fn sorted(t: &TopList) -> Vec<(&str, &str, u64, u64, u64)> {
            let mut v: Vec<(&str, &str, u64, u64, u64)> = t
                .held
                .iter()
                .map(|h| (t.domain(h.series), &*h.key, h.ranked, h.other, h.error))
                .collect();
            v.sort_unstable();
            v
        }
        self.key == other.key
            && self.rank_by == other.rank_by
            && self.group_by_domain == other.group_by_domain
            && self.top_n == other.top_n
            && self.evicted == other.evicted
            && self.floor == other.floor
            && sorted(self) == sorted(other)
    }
}

impl Eq for TopList {}

impl TopList {
    /// An empty top list for `condition` (a top-list action), keeping at most `limits.top_keys`
    /// keys and making at most `max_rows` rows.
    pub fn new(condition: &ExportCondition, limits: &SketchLimits, max_rows: u64) -> Self {
        let mut list = TopList {
            key: TopKey::of(condition.action).unwrap_or(TopKey::Url),
            rank_by: condition.stat_type,
            group_by_domain: condition.group_by_domain,
            range_start: condition.range_start,
            range_end: condition.range_end,
            top_n: condition.top_n.max(1),
            capacity: limits.top_keys.max(condition.top_n).max(1),
            max_rows,
            domains: Vec::new(),
            held: Vec::new(),
            evicted: false,
            floor: 0,
            domain_index: HashMap::new(),
            table: HashTable::new(),
            heap: BinaryHeap::new(),
            hasher: DefaultHashBuilder::default(),
            scratch: String::new(),
        };
        if !list.group_by_domain {
            list.domains.push(String::new());
        }
        list
    }

    fn domain(&self, series: u32) -> &str {
        self.domains.get(series as usize).map_or("", String::as_str)
    }

    fn hash(&self, series: u32, key: &str) -> u64 {
        self.hasher.hash_one((series, key))
    }

    fn series_of(&mut self, host: &str) -> u32 {
        if !self.group_by_domain {
            return 0;
        }
        if let Some(&i) = self.domain_index.get(host) {
            return i;
        }
        let i = u32::try_from(self.domains.len()).unwrap_or(u32::MAX);
        self.domains.push(host.to_string());
        self.domain_index.insert(host.to_string(), i);
        i
    }

    /// Counts `ranked` and `other` for `key` of `series`: Space-Saving's update.
    fn count(&mut self, series: u32, key: &str, ranked: u64, other: u64, error: u64) {
        let hash = self.hash(series, key);
        let held = &self.held;
        if let Some(&slot) = self.table.find(hash, |&s| {
            let h = &held[s as usize];
            h.series == series && &*h.key == key
        }) {
            let h = &mut self.held[slot as usize];
            h.ranked = h.ranked.saturating_add(ranked);
            h.other = h.other.saturating_add(other);
            h.error = h.error.saturating_add(error);
            return;
        }
        if self.held.len() < self.capacity as usize {
            let slot = u32::try_from(self.held.len()).unwrap_or(u32::MAX);
            self.held.push(Held {
                series,
                key: key.into(),
                ranked,
                other,
                error,
            });
            self.insert_slot(hash, slot);
            self.heap.push(Reverse((ranked, slot)));
            return;
        }
        // Full: the new key takes the place of the smallest held key.
        let Some(slot) = self.pop_min() else { return };
        let old = &self.held[slot as usize];
        let min = old.ranked;
        let old_hash = self.hash(old.series, &old.key);
        if let Ok(entry) = self.table.find_entry(old_hash, |&s| s == slot) {
            entry.remove();
        }
        self.evicted = true;
        self.floor = self.floor.max(min);
        let ranked = min.saturating_add(ranked);
        self.held[slot as usize] = Held {
            series,
            key: key.into(),
            ranked,
            other,
            error: min.saturating_add(error),
        };
        self.insert_slot(hash, slot);
        self.heap.push(Reverse((ranked, slot)));
    }

    fn insert_slot(&mut self, hash: u64, slot: u32) {
        let held = &self.held;
        let hasher = &self.hasher;
        self.table.insert_unique(hash, slot, |&s| {
            let h = &held[s as usize];
            hasher.hash_one((h.series, &*h.key))
        });
    }

    /// The slot holding the smallest ranked count, taken off the heap.
    fn pop_min(&mut self) -> Option<u32> {
        while let Some(Reverse((count, slot))) = self.heap.pop() {
            let current = self.held.get(slot as usize)?.ranked;
            if current == count {
                return Some(slot);
            }
            self.heap.push(Reverse((current, slot)));
        }
        None
    }

    /// Counts one selected record.
    pub fn add(&mut self, record: &LogRecord<'_>) {
        if record.timestamp_ms < self.range_start || record.timestamp_ms >= self.range_end {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        if self.key.write(record, &mut scratch) {
            let series = self.series_of(&record.host);
            let (ranked, other) = match self.rank_by {
                StatType::Flux => (record.bytes, 1),
                StatType::ReqNum => (1, record.bytes),
            };
            self.count(series, &scratch, ranked, other, 0);
        }
        self.scratch = scratch;
    }

    /// Adds `other` (a summary over a disjoint input) into `self`; see the module docs.
    pub fn merge(&mut self, other: &TopList) -> Result<(), ShapeMismatch> {
        if self.key != other.key
            || self.rank_by != other.rank_by
            || self.group_by_domain != other.group_by_domain
            || self.range_start != other.range_start
            || self.range_end != other.range_end
        {
            return Err(ShapeMismatch);
        }
        let (mine_floor, their_floor) = (self.floor, other.floor);
        // Every key of `other` is counted in as it is, plus `self`'s floor when `self` does not
        // hold it; keys only `self` holds are charged `other`'s floor afterwards. Growth is
        // unbounded here and cut back below.
        let mut touched = vec![false; self.held.len()];
        let capacity = self.capacity;
        self.capacity = u32::MAX;
        for h in &other.held {
            let series = self.series_of(other.domain(h.series));
            let hash = self.hash(series, &h.key);
            let held = &self.held;
            let found = self.table.find(hash, |&s| {
                let x = &held[s as usize];
                x.series == series && x.key == h.key
            });
            match found {
                Some(&slot) => {
                    let x = &mut self.held[slot as usize];
                    x.ranked = x.ranked.saturating_add(h.ranked);
                    x.other = x.other.saturating_add(h.other);
                    x.error = x.error.saturating_add(h.error);
                    if let Some(t) = touched.get_mut(slot as usize) {
                        *t = true;
                    }
                }
                None => self.count(
                    series,
                    &h.key,
                    h.ranked.saturating_add(mine_floor),
                    h.other,
                    h.error.saturating_add(mine_floor),
                ),
            }
        }
        self.capacity = capacity;
        if their_floor > 0 {
            for (h, t) in self.held.iter_mut().zip(&touched) {
                if !t {
                    h.ranked = h.ranked.saturating_add(their_floor);
                    h.error = h.error.saturating_add(their_floor);
                }
            }
        }
        self.evicted |= other.evicted;
        self.floor = mine_floor.saturating_add(their_floor);
        if self.held.len() > self.capacity as usize {
            self.evicted = true;
            let mut held = std::mem::take(&mut self.held);
            held.sort_unstable_by(rank_order);
            let dropped = held.split_off(self.capacity as usize);
            if let Some(largest) = dropped.first() {
                self.floor = self.floor.max(largest.ranked);
            }
            self.held = held;
        }
        self.reindex();
        Ok(())
    }

    /// Rebuilds the lookup structures after deserializing (and after a merge).
    pub fn reindex(&mut self) {
        self.domain_index = self
            .domains
            .iter()
            .enumerate()
            .filter(|_| self.group_by_domain)
            .map(|(i, d)| (d.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let mut table = HashTable::with_capacity(self.held.len());
        let mut heap = BinaryHeap::with_capacity(self.held.len());
        for (slot, h) in self.held.iter().enumerate() {
            let slot = u32::try_from(slot).unwrap_or(u32::MAX);
            let hash = self.hash(h.series, &h.key);
            let held = &self.held;
            let hasher = &self.hasher;
            table.insert_unique(hash, slot, |&s| {
                let x = &held[s as usize];
                hasher.hash_one((x.series, &*x.key))
            });
            heap.push(Reverse((h.ranked, slot)));
        }
        self.table = table;
        self.heap = heap;
    }

    /// `Some(rows)` when the file would have more rows than the tenant's limit.
    pub fn overflowed(&self) -> Option<u64> {
        let rows = self.row_count();
        (rows > self.max_rows).then_some(rows)
    }

    fn row_count(&self) -> u64 {
        let mut per_series = vec![0u64; self.domains.len()];
        for h in &self.held {
            if let Some(n) = per_series.get_mut(h.series as usize) {
                *n += 1;
            }
        }
        per_series
            .iter()
            .map(|&n| n.min(u64::from(self.top_n)))
            .sum()
    }

    /// `None` while every count is exact; otherwise how far from exact the result may be.
    pub fn approximation(&self) -> Option<TopApproximation> {
        if !self.evicted {
            return None;
        }
        let max_error = self
            .ranked_rows()
            .iter()
            .map(|h| h.error)
            .max()
            .unwrap_or(0);
        Some(TopApproximation {
            counters: u64::from(self.capacity),
            floor: self.floor,
            max_error,
        })
    }

    /// The held keys that make rows, in file order: by domain, then rank.
    fn ranked_rows(&self) -> Vec<&Held> {
        let mut rows: Vec<&Held> = self.held.iter().collect();
        rows.sort_unstable_by(|a, b| {
            self.domain(a.series)
                .cmp(self.domain(b.series))
                .then_with(|| rank_order(a, b))
        });
        let mut out = Vec::with_capacity(rows.len());
        let mut current: Option<u32> = None;
        let mut taken = 0u32;
        for h in rows {
            if current != Some(h.series) {
                current = Some(h.series);
                taken = 0;
            }
            if taken < self.top_n {
                out.push(h);
                taken += 1;
            }
        }
        out
    }

    /// The columns of the file: `domain` when grouped, the key, `flux`, `req_num`.
    pub fn columns(condition: &ExportCondition) -> Vec<Column> {
        let mut cols = Vec::with_capacity(4);
        if condition.group_by_domain {
            cols.push(Column::Domain);
        }
        cols.push(TopKey::of(condition.action).unwrap_or(TopKey::Url).column());
        cols.push(Column::Flux);
        cols.push(Column::ReqNum);
        cols
    }

    /// The rows, per domain (ascending) when grouped, each domain's `top_n` keys in rank order.
    pub fn rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        self.ranked_rows().into_iter().map(move |h| {
            let (flux, req_num) = match self.rank_by {
                StatType::Flux => (h.ranked, h.other),
                StatType::ReqNum => (h.other, h.ranked),
            };
            let mut row = Vec::with_capacity(4);
            if self.group_by_domain {
                row.push(Cell::Text(self.domain(h.series).to_string()));
            }
            row.push(Cell::Text(h.key.to_string()));
            row.push(Cell::Count(flux));
            row.push(Cell::Count(req_num));
            row
        })
    }
}

/// Rank order within one domain: ranked value down, other value down, key up.
fn rank_order(a: &Held, b: &Held) -> Ordering {
    b.ranked
        .cmp(&a.ranked)
        .then_with(|| b.other.cmp(&a.other))
        .then_with(|| a.key.as_bytes().cmp(b.key.as_bytes()))
}

#[cfg(test)]
mod tests;
