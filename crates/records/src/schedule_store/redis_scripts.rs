//! The Lua scripts that make each schedule write atomic. Redis runs a script without
//! interleaving any other command, so the check and the writes inside one cannot race another
//! scheduler or API process. The JSON is decided in Rust (by `rules`) and never edited in Lua;
//! each script checks that what Rust read is still there before it writes. Field names and the
//! compare-and-set head come from `redis_store::record` (`$…` placeholders), shared with the
//! task scripts.

use std::sync::LazyLock;

use redis::Script;

use crate::redis_store::record::script;

/// Creates (or replaces) a schedule under the tenant's limit.
///
/// `KEYS[1]` schedule hash, `KEYS[2]` tenant index, `KEYS[3]` tenants set. `ARGV`: limit,
/// record JSON, paused (`1`/`0`), new rev, create time (score), schedule id, tenant. Returns 1
/// when written, 0 when the tenant is at its limit (a replacement is not counted twice).
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], $RECORD, ARGV[2], $PAUSED, ARGV[3], $REV, ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
redis.call('SADD', KEYS[3], ARGV[7])
return 1
",
    )
});

/// Writes a schedule only if its `rev` is still the one read (fails when it is gone).
///
/// Built with `record::cas_write`: `KEYS[1]` schedule hash, `ARGV[1]` expected rev, `ARGV[2]`
/// record JSON, `ARGV[3]` new rev; then `ARGV[4]` paused (`1`/`0`). Returns 1 when written, 0
/// when the schedule changed or went since it was read.
pub(crate) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
$CAS_GUARD
$SET_RECORD
redis.call('HSET', KEYS[1], $PAUSED, ARGV[4])
return 1
",
    )
});

/// Claims a fire time: writes the run only if the schedule exists and is not paused and the
/// run of that fire time is still what was read; removes the trimmed runs.
///
/// `KEYS[1]` schedule hash, `KEYS[2]` runs hash. `ARGV`: fire time, expected run JSON (`""`
/// when there was none), new run JSON, then pairs of (fire time to trim, its run JSON as read):
/// a trimmed run is removed only if it is still the one read. Returns 1 when claimed, 0 when
/// the run changed since it was read, -1 when the schedule is gone or paused.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('HGET', KEYS[1], $PAUSED) ~= '0' then
  return -1
end
local current = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if current ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for i = 4, #ARGV - 1, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return 1
",
    )
});

/// Completes a run and updates its schedule together, only if neither changed since read.
///
/// Built with `record::cas_write`: `KEYS[1]` schedule hash, `ARGV[1]` expected schedule rev,
/// `ARGV[2]` new schedule JSON, `ARGV[3]` new rev; then `KEYS[2]` runs hash, `ARGV[4]` fire
/// time, `ARGV[5]` expected run JSON, `ARGV[6]` new run JSON. Returns 1 when written, 0 when
/// either changed.
pub(crate) static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
$CAS_GUARD
if redis.call('HGET', KEYS[2], ARGV[4]) ~= ARGV[5] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[6])
$SET_RECORD
return 1
",
    )
});

/// Removes a schedule, its runs and its index entry (and the tenant from the tenants set with
/// its last schedule); returns the record JSON it held, or nil.
///
/// `KEYS[1]` schedule hash, `KEYS[2]` runs hash, `KEYS[3]` tenant index, `KEYS[4]` tenants
/// set. `ARGV`: schedule id, tenant.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local record = redis.call('HGET', KEYS[1], $RECORD)
if not record then
  return false
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
end
return record
",
    )
});
