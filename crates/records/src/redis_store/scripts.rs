//! The Lua scripts that make each task write atomic. Redis runs a script without interleaving
//! any other command, so the check and the writes inside one cannot race another client. Field
//! names and the compare-and-set head come from `record` (`$…` placeholders).

use std::sync::LazyLock;

use redis::Script;

use super::record::script;

/// Writes a task: record, guard fields, and its index entry (the old member removed).
///
/// Built with `record::cas_write`: `KEYS[1]` task hash, `ARGV[1]` expected rev (`""` writes
/// unconditionally and changes the tenant guard; otherwise only when the hash's `rev` still
/// equals it, which also fails when the hash is gone), `ARGV[2]` record JSON, `ARGV[3]` new
/// rev. Then `KEYS[2]` tenant index, `KEYS[3]` tenant admission guard, `KEYS[4]` the due
/// callbacks, `ARGV[4..]` status, run id, index member, score, the callback's due time (`""`
/// when none is pending) and its member there. Returns 1 when written, 0 when the
/// compare-and-set failed.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
$CAS_GUARD
local old = redis.call('HGET', KEYS[1], $IDX)
if old then
  redis.call('ZREM', KEYS[2], old)
end
$SET_RECORD
redis.call('HSET', KEYS[1], $STATUS, ARGV[4], $RUN_ID, ARGV[5], $IDX, ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[6])
if ARGV[1] == '' then
  redis.call('SET', KEYS[3], ARGV[3])
end
if ARGV[8] == '' then
  redis.call('ZREM', KEYS[4], ARGV[9])
else
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[9])
end
return 1
",
    )
});

/// Admits a task: only when the tenant's admission guard still holds the token the decision was
/// made at, writes the record (as `WRITE` unconditionally), removes the evicted tasks and
/// changes the guard.
///
/// `KEYS[1]` tenant guard, `KEYS[2]` tenant index, `KEYS[3]` task hash, `KEYS[4..]` hashes of
/// evicted tasks. `ARGV`: expected guard (`""` when it was absent), new guard, record JSON,
/// status, run id, new rev, index member, score. Returns 1 when written, 0 when the tenant's
/// tasks changed since the decision.
pub(crate) static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local guard = redis.call('GET', KEYS[1]) or ''
if guard ~= ARGV[1] then
  return 0
end
for i = 4, #KEYS do
  local idx = redis.call('HGET', KEYS[i], $IDX)
  if idx then
    redis.call('ZREM', KEYS[2], idx)
  end
  redis.call('DEL', KEYS[i])
end
local old = redis.call('HGET', KEYS[3], $IDX)
if old then
  redis.call('ZREM', KEYS[2], old)
end
redis.call('HSET', KEYS[3], $RECORD, ARGV[3], $STATUS, ARGV[4], $RUN_ID, ARGV[5],
  $REV, ARGV[6], $IDX, ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
redis.call('SET', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Removes a task and its index entry and changes the tenant's admission guard (removed with
/// the tenant's last task: an absent guard always means "no tasks", so a tenant leaves no key
/// behind); returns the record JSON it held, or nil.
///
/// `KEYS[1]` task hash, `KEYS[2]` tenant index, `KEYS[3]` tenant guard; `ARGV[1]` the new guard.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local record = redis.call('HGET', KEYS[1], $RECORD)
if not record then
  return false
end
local idx = redis.call('HGET', KEYS[1], $IDX)
if idx then
  redis.call('ZREM', KEYS[2], idx)
end
redis.call('DEL', KEYS[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3])
else
  redis.call('SET', KEYS[3], ARGV[1])
end
return record
",
    )
});
