//! The external sort against an in-memory sort of the same rows: both orders, `count` cuts,
//! many runs per file, several merge passes, the query applied.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use statport_core::log::query::Query;
use statport_core::log::row::PackedRow;
use statport_core::log::RecordSink;
use statport_core::log::{LogRecord, Scheme};
use statport_core::request::LogOrder;

use super::*;
use crate::temp_disk::{Exhausted, TempDiskBudget};

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "statport-sort-test-{}-{name}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic pseudo-random sequence (xorshift), so the test is the same every time.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `files` files of `per_file` rows each; times fall anywhere in one hour, with many equal
/// milliseconds, so ties across files are frequent.
fn files(files: usize, per_file: usize) -> Vec<Vec<(i64, u16, String)>> {
    let mut state = 0x9E37_79B9_7F4A_7C15;
    (0..files)
        .map(|_| {
            (0..per_file)
                .map(|_| {
                    let t = 1_795_000_000_000 + (next(&mut state) % 500) as i64 * 7;
                    let status = [200, 206, 304, 404, 500][(next(&mut state) % 5) as usize];
                    let path = format!("/p/{}", next(&mut state) % 1000);
                    (t, status, path)
                })
                .collect()
        })
        .collect()
}

fn record<'a>(t: i64, status: u16, path: &'a str) -> LogRecord<'a> {
    LogRecord {
        timestamp_ms: t,
        host: Cow::Borrowed("a.example.com"),
        bytes: 100,
        scheme: Scheme::Http,
        client_ip: "192.0.2.1",
        edge_location: "SFO5-C1",
        method: "GET",
        raw_path: path,
        raw_query: None,
        status,
        raw_referer: None,
        raw_user_agent: None,
        origin_fetch: false,
        service_area: None,
    }
}

/// Runs the external sort; returns (time, sequence) of every row out. Every byte it writes is
/// reserved in a budget, all given back once the merge is done.
fn external(
    input: &[Vec<(i64, u16, String)>],
    query: &str,
    order: LogOrder,
    count: u64,
    buffer_bytes: usize,
    fan_in: usize,
) -> Vec<(i64, u64, String)> {
    let dir = TempDir::new("external");
    let disk = TempDiskBudget::new(u64::MAX);
    let settings = RunSettings {
        query: Arc::new(Query::parse(query).expect("query")),
        order,
        count,
        buffer_bytes,
        dir: dir.0.clone(),
        disk: disk.clone(),
    };
    let mut runs = Vec::new();
    for (i, file) in input.iter().enumerate() {
        let mut builder = RunBuilder::new(settings.clone(), i);
        for (t, status, path) in file {
            builder.add(&record(*t, *status, path));
        }
        runs.extend(builder.finish().expect("runs written"));
    }
    assert_eq!(
        disk.in_use(),
        dir_bytes(&dir.0),
        "the runs' reservations are their files' sizes"
    );
    let mut merger = Merger::new(runs, order, count, fan_in, &dir.0, &disk).expect("merger");
    let mut out = Vec::new();
    while let Some(row) = merger.next_row().expect("row") {
        let row = PackedRow::parse(row).expect("packed row");
        out.push((row.timestamp_ms, row.seq, row.path.to_string()));
    }
    drop(merger);
    let left: Vec<_> = std::fs::read_dir(&dir.0).expect("dir").collect();
    assert!(left.is_empty(), "run files left behind: {left:?}");
    assert_eq!(disk.in_use(), 0, "every reservation given back");
    out
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum()
}

/// The same by an in-memory sort of every selected row.
fn in_memory(
    input: &[Vec<(i64, u16, String)>],
    status: Option<u16>,
    order: LogOrder,
    count: u64,
) -> Vec<(i64, u64, String)> {
    let mut all = Vec::new();
    for (i, file) in input.iter().enumerate() {
        let mut n = 0u64;
        for (t, s, path) in file {
            if status.is_none_or(|want| want == *s) {
                all.push((*t, ((i as u64) << 32) | n, path.clone()));
                n += 1;
            }
        }
    }
    all.sort();
    if order == LogOrder::Desc {
        all.reverse();
    }
    all.truncate(count as usize);
    all
}

#[test]
fn many_runs_and_merge_passes_give_the_in_memory_order() {
    let input = files(13, 700);
    for order in [LogOrder::Asc, LogOrder::Desc] {
        for count in [1, 250, 5_000, 50_000_000] {
            // ~4 KiB buffers: several runs per file; fan-in 3: three merge passes.
            let got = external(&input, "", order, count, 4096, 3);
            assert_eq!(
                got,
                in_memory(&input, None, order, count),
                "{order:?} {count}"
            );
        }
    }
}

#[test]
fn the_query_selects_before_the_cut() {
    let input = files(5, 400);
    for order in [LogOrder::Asc, LogOrder::Desc] {
        let got = external(&input, "status:404", order, 100, 1 << 20, 64);
        assert_eq!(got, in_memory(&input, Some(404), order, 100));
        assert_eq!(got.len(), 100);
    }
}

#[test]
fn desc_is_asc_reversed() {
    let input = files(4, 300);
    let mut asc = external(&input, "", LogOrder::Asc, u64::MAX, 2048, 4);
    let desc = external(&input, "", LogOrder::Desc, u64::MAX, 2048, 4);
    asc.reverse();
    assert_eq!(asc, desc);
}

#[test]
fn no_rows_merge_to_nothing() {
    let input = files(3, 50);
    assert!(external(&input, "status:999", LogOrder::Desc, 10, 4096, 2).is_empty());
    assert!(external(&[], "", LogOrder::Asc, 10, 4096, 2).is_empty());
}

#[test]
fn a_damaged_run_is_an_error_not_a_wrong_row() {
    let dir = TempDir::new("torn");
    let path = dir.0.join("torn.run");
    std::fs::write(&path, [200, 0, 0, 0, 1, 2, 3]).expect("write");
    let disk = TempDiskBudget::new(u64::MAX);
    let runs = vec![Run {
        path,
        rows: 1,
        disk: disk.empty(),
    }];
    let err = Merger::new(runs, LogOrder::Asc, 10, 8, &dir.0, &disk).expect_err("refused");
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[test]
fn a_run_that_cannot_be_written_fails_the_builder() {
    let dir = TempDir::new("gone");
    let settings = RunSettings {
        query: Arc::new(Query::parse("").expect("query")),
        order: LogOrder::Asc,
        count: 10,
        buffer_bytes: 1,
        dir: dir.0.join("missing"),
        disk: TempDiskBudget::new(u64::MAX),
    };
    let mut builder = RunBuilder::new(settings, 0);
    builder.add(&record(1, 200, "/a"));
    builder.add(&record(2, 200, "/b"));
    assert!(builder.finish().is_err());
}

/// Sorted runs of `input` under `disk`, written to `dir` (4 KiB buffers: several per file).
fn runs_under(input: &[Vec<(i64, u16, String)>], dir: &TempDir, disk: &TempDiskBudget) -> Vec<Run> {
    let settings = RunSettings {
        query: Arc::new(Query::parse("").expect("query")),
        order: LogOrder::Asc,
        count: u64::MAX,
        buffer_bytes: 4096,
        dir: dir.0.clone(),
        disk: disk.clone(),
    };
    let mut runs = Vec::new();
    for (i, file) in input.iter().enumerate() {
        let mut builder = RunBuilder::new(settings.clone(), i);
        for (t, status, path) in file {
            builder.add(&record(*t, *status, path));
        }
        runs.extend(builder.finish().expect("runs written"));
    }
    runs
}

#[test]
fn a_run_past_the_temp_disk_bound_is_refused_before_it_is_written() {
    let input = files(3, 300);
    let dir = TempDir::new("bound");
    let unbounded = TempDiskBudget::new(u64::MAX);
    let all = runs_under(&input, &dir, &unbounded);
    let needed = unbounded.in_use();
    drop(all);
    assert_eq!(unbounded.in_use(), 0);
    for f in std::fs::read_dir(&dir.0).expect("dir") {
        std::fs::remove_file(f.expect("entry").path()).expect("remove");
    }

    let disk = TempDiskBudget::new(needed / 2);
    let settings = RunSettings {
        query: Arc::new(Query::parse("").expect("query")),
        order: LogOrder::Asc,
        count: u64::MAX,
        buffer_bytes: 4096,
        dir: dir.0.clone(),
        disk: disk.clone(),
    };
    let mut builder = RunBuilder::new(settings, 0);
    for file in &input {
        for (t, status, path) in file {
            builder.add(&record(*t, *status, path));
        }
    }
    let err = builder.finish().expect_err("past the bound");
    let refused = Exhausted::find_in(&err).expect("a refused reservation");
    assert_eq!(refused.limit, needed / 2);
    assert!(refused.in_use.saturating_add(refused.requested) > refused.limit);
    assert!(
        dir_bytes(&dir.0) <= needed / 2,
        "nothing past the bound was written"
    );
    assert_eq!(disk.in_use(), 0, "the failed builder's runs are given back");
}

#[test]
fn a_merge_pass_past_the_temp_disk_bound_fails_and_leaves_no_file() {
    let input = files(13, 300);
    let dir = TempDir::new("pass");
    // Room for the runs and a tenth of them again: a pass's output is on disk with its inputs
    // until it is done, and at fan-in 3 the third pass merges 27 of the first runs at once.
    let probe = TempDiskBudget::new(u64::MAX);
    let needed = {
        let runs = runs_under(&input, &dir, &probe);
        let needed = probe.in_use();
        drop(runs);
        needed
    };
    for f in std::fs::read_dir(&dir.0).expect("dir") {
        std::fs::remove_file(f.expect("entry").path()).expect("remove");
    }
    let disk = TempDiskBudget::new(needed + needed / 10);
    let runs = runs_under(&input, &dir, &disk);
    assert!(
        runs.len() > 27,
        "at least four merge passes: {}",
        runs.len()
    );
    let err = Merger::new(runs, LogOrder::Asc, u64::MAX, 3, &dir.0, &disk).expect_err("refused");
    assert!(Exhausted::find_in(&err).is_some(), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the refused pass's file, the longer runs before it and the runs not merged yet are removed: {left:?}"
    );
    assert_eq!(disk.in_use(), 0, "every reservation given back");
}
