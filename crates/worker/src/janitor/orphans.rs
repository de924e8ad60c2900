//! The sweep of orphaned result files: every object under the results prefix is wanted by a
//! live record ([`wants_file`]) or is deleted once it has been an orphan for the grace period.
//!
//! Deleting at the source (DELETE, eviction, retention, a superseded run) misses a file when
//! the delete fails, when the record could not be read, or when no record names the file (a
//! same-condition resubmission whose new run failed leaves the previous file under the task's
//! key). This sweep is what makes the invariant hold anyway.
//!
//! An object is deleted only when all of these hold:
//! - its key does not read as a result key (`<tenant>/<task_id>.<ext>` under the prefix), or
//!   the tenant's records were read and none wants it (no such task; `fail`; a `success` that
//!   names another file or whose file expired);
//! - this janitor saw it as an orphan at every sweep for at least the grace period (a sweep
//!   that finds it wanted, cannot read its records, or no longer lists it starts over), so a
//!   record that disappears for a moment (the submitter undoing an admission while the queue is
//!   away) never costs a file;
//! - it was last written at least the grace period ago, when the store says (a file just
//!   rewritten by a run is kept);
//! - the record read again just before the delete still does not want it.
//!
//! A store that cannot be read keeps everything: the sweep never deletes on doubt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use statport_core::result_file::{wants_file, ResultKey};
use statport_core::task::TaskRecord;
use statport_records::ListQuery;
use statport_storage::ObjectMeta;
use tracing::{debug, info, warn};

use super::Janitor;

/// Where result files are swept for orphans and how long an orphan is given.
#[derive(Debug, Clone)]
pub struct OrphanSweep {
    /// `results.prefix`: every object under it in the results bucket is a result file.
    pub results_prefix: String,
    /// How long an object must have been an orphan (and unwritten) before it is deleted.
    pub grace: Duration,
    /// Key → when this janitor first saw it orphaned, at every sweep since.
    seen: Arc<Mutex<HashMap<String, i64>>>,
}

impl OrphanSweep {
    /// A sweep of `results_prefix` with no orphan seen yet.
    pub fn new(results_prefix: impl Into<String>, grace: Duration) -> Self {
        OrphanSweep {
            results_prefix: results_prefix.into(),
            grace,
            seen: Arc::default(),
        }
    }
}

/// What the sweep makes of one object.
enum Verdict {
    /// A record wants it, or whether one does cannot be told.
    Keep,
    /// No record wants it.
    Orphan,
}

/// One tenant's records by task id; `None` when they could not be read.
type Records = Option<HashMap<String, TaskRecord>>;

/// One sweep of `orphans` at `now`; returns how many objects it deleted.
pub(super) async fn sweep(janitor: &Janitor, orphans: &OrphanSweep, now: i64) -> u64 {
    let prefix = orphans.results_prefix.as_str();
    let previously = std::mem::take(&mut *lock(&orphans.seen));
    let listed = match janitor.objects.list(&janitor.results_bucket, prefix).await {
        Ok(listed) => listed,
        Err(e) => {
            warn!(bucket = %janitor.results_bucket, prefix, error = %e, "listing result files for the orphan sweep failed");
            return 0;
        }
    };
    let grace = i64::try_from(orphans.grace.as_millis()).unwrap_or(i64::MAX);
    let mut tenants: HashMap<String, Records> = HashMap::new();
    let mut seen = HashMap::new();
    let mut deleted = 0;
    for object in listed {
        if let Verdict::Keep = verdict(janitor, prefix, &object.key, &mut tenants).await {
            continue;
        }
        let since = previously.get(&object.key).copied().unwrap_or(now);
        if !due(&object, since, now, grace) {
            seen.insert(object.key, since);
            continue;
        }
        match delete_orphan(janitor, prefix, &object.key).await {
            Some(true) => deleted += 1,
            // The delete failed: still an orphan, tried again at the next sweep.
            Some(false) => {
                seen.insert(object.key, since);
            }
            None => {}
        }
    }
    *lock(&orphans.seen) = seen;
    if deleted > 0 {
        info!(deleted, prefix, "orphaned result files deleted");
    }
    deleted
}

/// True when an orphan seen since `since` may go at `now`: orphaned for the grace, and not
/// written within it (an unknown write time counts as long ago: `since` then measures it).
fn due(object: &ObjectMeta, since: i64, now: i64, grace: i64) -> bool {
    now.saturating_sub(since) >= grace
        && object
            .last_modified_ms
            .is_none_or(|written| now.saturating_sub(written) >= grace)
}

/// Whether `key` is wanted, reading each tenant's records once per sweep.
async fn verdict(
    janitor: &Janitor,
    prefix: &str,
    key: &str,
    tenants: &mut HashMap<String, Records>,
) -> Verdict {
    let Some(parsed) = ResultKey::parse(prefix, key) else {
        // No task writes such a key: whatever put it under the prefix, it belongs to none.
        return Verdict::Orphan;
    };
    if !tenants.contains_key(parsed.tenant) {
        let records = match janitor
            .tasks
            .list(parsed.tenant, &ListQuery::everything())
            .await
        {
            Ok(page) => Some(
                page.data
                    .into_iter()
                    .map(|r| (r.task_id.clone(), r))
                    .collect(),
            ),
            Err(e) => {
                warn!(tenant = %parsed.tenant, error = %e, "listing tasks for the orphan sweep failed; the tenant's files are kept");
                None
            }
        };
        tenants.insert(parsed.tenant.to_owned(), records);
    }
    match tenants.get(parsed.tenant) {
        Some(Some(records)) => match records.get(parsed.task_id) {
            Some(record) if wants_file(prefix, record, key) => Verdict::Keep,
            _ => Verdict::Orphan,
        },
        _ => Verdict::Keep,
    }
}

/// Deletes the orphan at `key` after reading its record once more: `Some(true)` when deleted,
/// `Some(false)` when the delete failed, `None` when it is wanted after all or the record could
/// not be read (kept, and its time as an orphan starts over).
async fn delete_orphan(janitor: &Janitor, prefix: &str, key: &str) -> Option<bool> {
    if let Some(parsed) = ResultKey::parse(prefix, key) {
        match janitor.tasks.get(parsed.tenant, parsed.task_id).await {
            Ok(Some(record)) if wants_file(prefix, &record, key) => return None,
            Ok(_) => {}
            Err(e) => {
                warn!(key, error = %e, "reading the task of an orphaned result file failed; it is kept");
                return None;
            }
        }
    }
    match janitor.objects.delete(&janitor.results_bucket, key).await {
        Ok(()) => {
            debug!(key, "orphaned result file deleted");
            Some(true)
        }
        Err(e) => {
            warn!(key, error = %e, "deleting an orphaned result file failed");
            Some(false)
        }
    }
}

/// The map of orphans seen, even after a panic elsewhere poisoned its lock (it holds no
/// invariant a panic could break).
fn lock(seen: &Mutex<HashMap<String, i64>>) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
