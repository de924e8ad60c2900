//! Where a task lives in Redis: key names, hash fields and the members of the listing index.
//!
//! ```text
//! {ns}:task:{tenant}:{task_id}   hash   record  the TaskRecord as JSON (the source of truth)
//!                                       status  its status (wire name), for inspection
//!                                       run_id  the owning run, "" when none, for inspection
//!                                       rev     a fresh random token on every write (the CAS guard)
//!                                       idx     its current member in the tenant's index
//! {ns}:tasks:{tenant}            zset   score update_time,
//!                                       member "{update:016x}:{create:016x}:{task_id}"
//! {ns}:callbacks-due             zset   score the due time of a task's pending completion
//!                                       callback (ms), member the JSON array [tenant, task_id]
//!                                       (kept by the task write script; stale members are
//!                                       dropped by the claim that finds nothing due)
//! {ns}:tenant-rev:{tenant}       string a fresh random token whenever a task of the tenant is
//!                                       created, replaced or deleted (the admission guard;
//!                                       removed with the tenant's last task)
//! ```
//!
//! Schedules (see `schedule_store::redis_store`):
//!
//! ```text
//! {ns}:schedule:{tenant}:{id}       hash   record  the ScheduleRecord as JSON (the source of truth)
//!                                          paused  "1" or "0", for the claim script
//!                                          rev     a fresh random token on every write (the CAS guard)
//! {ns}:schedules:{tenant}           zset   score create_time, member schedule id (equal scores
//!                                          order by member, so ZREVRANGE gives the listing order)
//! {ns}:schedule-runs:{tenant}:{id}  hash   fire time (decimal ms) → the ScheduleRun as JSON
//! {ns}:schedule-tenants             set    tenants with at least one schedule
//! ```
//!
//! The index member carries the tie-breakers: Redis orders equal scores by member bytes, so
//! `ZREVRANGE` returns newest `update_time`, then newest `create_time`, then `task_id` descending,
//! the same total order as the in-memory store, and pages can be cut in Redis. Times are mapped to
//! `u64` with the sign bit flipped so the hex digits sort like the signed values.
//!
//! The hash field names are the constants of `record` (`FIELD_*`), which the scripts use too.
//!
//! Tenant and task id are escaped (`%` → `%25`, `:` → `%3A`) inside key names, so no pair of
//! them can spell another tenant's key.

use std::borrow::Cow;

use statport_core::task::TaskRecord;

/// Length of the fixed-width prefix of an index member: two 16-digit hex times and two colons.
const MEMBER_PREFIX_LEN: usize = 34;

/// Key names under one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    namespace: String,
}

impl Layout {
    /// Keys under `namespace` (e.g. `statport`).
    pub(crate) fn new(namespace: &str) -> Self {
        Layout {
            namespace: namespace.to_owned(),
        }
    }

    /// The zset of tasks whose completion callback is pending, by due time.
    pub(crate) fn callbacks_due_key(&self) -> String {
        format!("{}:callbacks-due", self.namespace)
    }

    /// The namespace prefix, which the stores report in their `Debug` output.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The hash of one task.
    pub(crate) fn task_key(&self, tenant: &str, task_id: &str) -> String {
        format!(
            "{}:task:{}:{}",
            self.namespace,
            escape(tenant),
            escape(task_id)
        )
    }

    /// The admission guard of a tenant: changes whenever its set of tasks changes.
    pub(crate) fn tenant_rev_key(&self, tenant: &str) -> String {
        format!("{}:tenant-rev:{}", self.namespace, escape(tenant))
    }

    /// The hash of one schedule.
    pub(crate) fn schedule_key(&self, tenant: &str, schedule_id: &str) -> String {
        format!(
            "{}:schedule:{}:{}",
            self.namespace,
            escape(tenant),
            escape(schedule_id)
        )
    }

    /// The sorted set listing a tenant's schedules.
    pub(crate) fn schedule_index_key(&self, tenant: &str) -> String {
        format!("{}:schedules:{}", self.namespace, escape(tenant))
    }

    /// The hash of one schedule's runs, by fire time.
    pub(crate) fn schedule_runs_key(&self, tenant: &str, schedule_id: &str) -> String {
        format!(
            "{}:schedule-runs:{}:{}",
            self.namespace,
            escape(tenant),
            escape(schedule_id)
        )
    }

    /// The set of tenants that have schedules.
    pub(crate) fn schedule_tenants_key(&self) -> String {
        format!("{}:schedule-tenants", self.namespace)
    }

    /// The sorted set listing a tenant's tasks.
    pub(crate) fn index_key(&self, tenant: &str) -> String {
        format!("{}:tasks:{}", self.namespace, escape(tenant))
    }
}

/// Escapes the key separator so a key part cannot contain it.
fn escape(part: &str) -> Cow<'_, str> {
    if part.contains([':', '%']) {
        Cow::Owned(part.replace('%', "%25").replace(':', "%3A"))
    } else {
        Cow::Borrowed(part)
    }
}

/// Maps a signed time to an unsigned one with the same order.
fn sortable(ms: i64) -> u64 {
    (ms as u64) ^ (1 << 63)
}

/// The record's member in its tenant's index.
pub(crate) fn index_member(record: &TaskRecord) -> String {
    format!(
        "{:016x}:{:016x}:{}",
        sortable(record.update_time),
        sortable(record.create_time),
        record.task_id
    )
}

/// The task id inside an index member, `None` when the member is not one of ours.
pub(crate) fn member_task_id(member: &str) -> Option<&str> {
    let bytes = member.as_bytes();
    let well_formed = bytes.len() > MEMBER_PREFIX_LEN
        && bytes[16] == b':'
        && bytes[33] == b':'
        && bytes[..16]
            .iter()
            .chain(&bytes[17..33])
            .all(u8::is_ascii_hexdigit);
    if well_formed {
        member.get(MEMBER_PREFIX_LEN..)
    } else {
        None
    }
}

/// A task's member in the due-callbacks zset: `[tenant, task_id]` as JSON, unambiguous for any
/// ids.
pub(crate) fn due_member(tenant: &str, task_id: &str) -> String {
    serde_json::json!([tenant, task_id]).to_string()
}

/// The task a due-callbacks member names.
pub(crate) fn parse_due_member(member: &str) -> Option<crate::outbox::TaskRef> {
    let (tenant_id, task_id): (String, String) = serde_json::from_str(member).ok()?;
    Some(crate::outbox::TaskRef { tenant_id, task_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_are_escaped_so_tenants_cannot_collide() {
        let layout = Layout::new("ns");
        assert_eq!(layout.task_key("t1", "abc"), "ns:task:t1:abc");
        assert_ne!(layout.task_key("a:b", "c"), layout.task_key("a", "b:c"));
        assert_ne!(layout.task_key("a%3Ab", "c"), layout.task_key("a:b", "c"));
        assert_eq!(layout.index_key("a:b"), "ns:tasks:a%3Ab");
    }

    #[test]
    fn sortable_preserves_order_across_zero() {
        let times = [i64::MIN, -1, 0, 1, 1_767_225_600_000, i64::MAX];
        for pair in times.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(sortable(a) < sortable(b));
            assert!(format!("{:016x}", sortable(a)) < format!("{:016x}", sortable(b)));
        }
    }

    #[test]
    fn member_round_trips_the_task_id() {
        let member = format!(
            "{:016x}:{:016x}:{}",
            sortable(5),
            sortable(3),
            "id:with:colons"
        );
        assert_eq!(member_task_id(&member), Some("id:with:colons"));
        assert_eq!(member_task_id("plain-id"), None);
        assert_eq!(member_task_id(&member[..MEMBER_PREFIX_LEN]), None);
    }
}
