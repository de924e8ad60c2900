//! One record in one Redis hash, as the task store and the schedule store both keep theirs: the
//! hash's field names (one set, used by the Rust side and spliced into every Lua script), the
//! versioned read, the compare-and-set write both stores' scripts start with, and the decoding
//! that checks a record is the one its key names.
//!
//! Every record hash holds [`FIELD_RECORD`] (the record as JSON, the source of truth) and
//! [`FIELD_REV`] (a fresh random token on every write, the compare-and-set guard); a store adds
//! its own fields for inspection or for its scripts (see `layout`).

use redis::aio::ConnectionManager;
use redis::{Script, ScriptInvocation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use statport_core::schedule::ScheduleRecord;
use statport_core::task::TaskRecord;

use crate::error::StoreError;

/// Hash field: the record as JSON (the source of truth; never edited in Lua, so `u64` counters
/// keep their exact values).
pub(crate) const FIELD_RECORD: &str = "record";
/// Hash field: a fresh random token on every write, compared by the compare-and-set.
pub(crate) const FIELD_REV: &str = "rev";
/// Task hash field: the status (wire name), so an operator can read it without parsing JSON.
pub(crate) const FIELD_STATUS: &str = "status";
/// Task hash field: the owning run, `""` when none, for inspection.
pub(crate) const FIELD_RUN_ID: &str = "run_id";
/// Task hash field: the task's current member in its tenant's index, so a write can remove the
/// old member without reading the record.
pub(crate) const FIELD_IDX: &str = "idx";
/// Schedule hash field: `"1"` or `"0"`, so the claim script can refuse a paused schedule
/// without parsing JSON.
pub(crate) const FIELD_PAUSED: &str = "paused";

/// The Lua that makes a script a compare-and-set of the record hash `KEYS[1]`: it returns 0
/// (nothing written) unless `ARGV[1]`, the expected rev, is `''` (an unconditional write) or
/// still the hash's rev. A hash that is gone has no rev, so a compare-and-set on it fails.
const CAS_GUARD: &str = "\
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], $REV) ~= ARGV[1] then
  return 0
end
";

/// The Lua that writes the record JSON `ARGV[2]` and the new rev `ARGV[3]` into `KEYS[1]`.
const SET_RECORD: &str = "redis.call('HSET', KEYS[1], $RECORD, ARGV[2], $REV, ARGV[3])\n";

/// A script from `template`, with `$CAS_GUARD` and `$SET_RECORD` replaced by the shared
/// fragments above and `$RECORD`, `$REV`, `$STATUS`, `$RUN_ID`, `$IDX`, `$PAUSED` by the quoted
/// field names, so the Lua and the Rust side cannot disagree on a name.
pub(crate) fn script(template: &str) -> Script {
    Script::new(&expand(template))
}

/// The Lua text of [`script`].
fn expand(template: &str) -> String {
    let lua = template
        .replace("$CAS_GUARD", CAS_GUARD)
        .replace("$SET_RECORD", SET_RECORD)
        .replace("$RECORD", &quoted(FIELD_RECORD))
        .replace("$REV", &quoted(FIELD_REV))
        .replace("$STATUS", &quoted(FIELD_STATUS))
        .replace("$RUN_ID", &quoted(FIELD_RUN_ID))
        .replace("$IDX", &quoted(FIELD_IDX))
        .replace("$PAUSED", &quoted(FIELD_PAUSED));
    debug_assert!(!lua.contains('$'), "unknown placeholder in {lua}");
    lua
}

/// A field name as a Lua string literal.
fn quoted(field: &str) -> String {
    format!("'{field}'")
}

/// The start of a compare-and-set call of `script` (one built on `$CAS_GUARD` and
/// `$SET_RECORD`): `KEYS[1]` the record hash `key`, `ARGV[1]` the expected rev (`None`: write
/// unconditionally), `ARGV[2]` the record JSON, `ARGV[3]` the new rev. The caller appends the
/// script's own keys and arguments after these.
pub(crate) fn cas_write<'s>(
    script: &'s Script,
    key: &str,
    expected_rev: Option<&str>,
    json: String,
    new_rev: &str,
) -> ScriptInvocation<'s> {
    let mut call = script.prepare_invoke();
    call.key(key)
        .arg(expected_rev.unwrap_or(""))
        .arg(json)
        .arg(new_rev);
    call
}

/// A fresh write token for [`FIELD_REV`].
pub(crate) fn new_rev() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A record kept in a Redis hash under a key naming its tenant and id, so a read can check
/// that the JSON is the record the key names.
pub(crate) trait Stored: Serialize + DeserializeOwned {
    /// What the record is, for the error that names a wrong one ("task", "schedule").
    const NOUN: &'static str;
    /// The tenant the record belongs to.
    fn tenant(&self) -> &str;
    /// The record's id within its tenant.
    fn id(&self) -> &str;
}

impl Stored for TaskRecord {
    const NOUN: &'static str = "task";
    fn tenant(&self) -> &str {
        &self.tenant_id
    }
    fn id(&self) -> &str {
        &self.task_id
    }
}

impl Stored for ScheduleRecord {
    const NOUN: &'static str = "schedule";
    fn tenant(&self) -> &str {
        &self.tenant_id
    }
    fn id(&self) -> &str {
        &self.schedule_id
    }
}

/// The JSON of `value`, as [`FIELD_RECORD`] (or a run) holds it.
pub(crate) fn encode(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::Encode)
}

/// Parses stored JSON, naming the key when it is not ours.
pub(crate) fn decode_json<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Parses a stored record and checks that it is the one the key names.
pub(crate) fn decode<R: Stored>(
    key: &str,
    json: &str,
    tenant: &str,
    id: &str,
) -> Result<R, StoreError> {
    let record: R = decode_json(key, json)?;
    if record.tenant() != tenant || record.id() != id {
        return Err(StoreError::Corrupt {
            key: key.to_owned(),
            reason: format!(
                "holds {} {} of tenant {}",
                R::NOUN,
                record.id(),
                record.tenant()
            ),
        });
    }
    Ok(record)
}

/// The tenant's record `id` in hash `key` and the rev it was read at; `None` when there is
/// none.
pub(crate) async fn read<R: Stored>(
    conn: &ConnectionManager,
    key: &str,
    tenant: &str,
    id: &str,
) -> Result<Option<(R, String)>, StoreError> {
    let (json, rev): (Option<String>, Option<String>) = redis::cmd("HMGET")
        .arg(key)
        .arg(FIELD_RECORD)
        .arg(FIELD_REV)
        .query_async(&mut conn.clone())
        .await?;
    match (json, rev) {
        (None, _) => Ok(None),
        (Some(json), Some(rev)) => Ok(Some((decode(key, &json, tenant, id)?, rev))),
        (Some(_), None) => Err(StoreError::Corrupt {
            key: key.to_owned(),
            reason: format!("the hash has no {FIELD_REV} field"),
        }),
    }
}

/// The tenant's records for `ids` (their hashes are `keys`, in the same order), in that order,
/// skipping any deleted meanwhile; one round trip.
pub(crate) async fn load<R: Stored>(
    conn: &ConnectionManager,
    tenant: &str,
    keys: &[String],
    ids: &[impl AsRef<str>],
) -> Result<Vec<R>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("HGET").arg(key).arg(FIELD_RECORD);
    }
    let jsons: Vec<Option<String>> = pipe.query_async(&mut conn.clone()).await?;
    let mut records = Vec::with_capacity(ids.len());
    for ((key, id), json) in keys.iter().zip(ids).zip(jsons) {
        if let Some(json) = json {
            records.push(decode(key, &json, tenant, id.as_ref())?);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_the_field_names() {
        let lua = expand(
            "$CAS_GUARD$SET_RECORD\nredis.call('HSET', KEYS[1], $STATUS, $RUN_ID, $IDX, $PAUSED)",
        );
        assert_eq!(
            lua,
            "if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then\n  return 0\nend\n\
             redis.call('HSET', KEYS[1], 'record', ARGV[2], 'rev', ARGV[3])\n\n\
             redis.call('HSET', KEYS[1], 'status', 'run_id', 'idx', 'paused')"
        );
    }
}
