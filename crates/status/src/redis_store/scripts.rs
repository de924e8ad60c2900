//! The Lua scripts that make each write atomic. Redis runs a script without interleaving any
//! other command, so the check and the writes inside one cannot race another client.

use std::sync::LazyLock;

use redis::Script;

/// Writes a task: record, guard fields, and its index entry (the old member removed).
///
/// `KEYS[1]` task hash, `KEYS[2]` tenant index, `KEYS[3]` tenant admission guard. `ARGV`: mode
/// (`put` writes unconditionally and changes the tenant guard, `cas` only when the hash's `rev`
/// still equals the expected one, which also fails when the hash is gone), expected rev, record
/// JSON, status, run id, new rev, index member, score. Returns 1 when written, 0 when the CAS
/// check failed.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[1] == 'cas' and redis.call('HGET', KEYS[1], 'rev') ~= ARGV[2] then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'idx')
if old then
  redis.call('ZREM', KEYS[2], old)
end
redis.call('HSET', KEYS[1], 'record', ARGV[3], 'status', ARGV[4], 'run_id', ARGV[5],
  'rev', ARGV[6], 'idx', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
if ARGV[1] == 'put' then
  redis.call('SET', KEYS[3], ARGV[6])
end
return 1
",
    )
});

/// Admits a task: only when the tenant's admission guard still holds the token the decision was
/// made at, writes the record (as `WRITE` in `put` mode), removes the evicted tasks and changes
/// the guard.
///
/// `KEYS[1]` tenant guard, `KEYS[2]` tenant index, `KEYS[3]` task hash, `KEYS[4..]` hashes of
/// evicted tasks. `ARGV`: expected guard (`""` when it was absent), new guard, record JSON,
/// status, run id, new rev, index member, score. Returns 1 when written, 0 when the tenant's
/// tasks changed since the decision.
pub(crate) static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local guard = redis.call('GET', KEYS[1]) or ''
if guard ~= ARGV[1] then
  return 0
end
for i = 4, #KEYS do
  local idx = redis.call('HGET', KEYS[i], 'idx')
  if idx then
    redis.call('ZREM', KEYS[2], idx)
  end
  redis.call('DEL', KEYS[i])
end
local old = redis.call('HGET', KEYS[3], 'idx')
if old then
  redis.call('ZREM', KEYS[2], old)
end
redis.call('HSET', KEYS[3], 'record', ARGV[3], 'status', ARGV[4], 'run_id', ARGV[5],
  'rev', ARGV[6], 'idx', ARGV[7])
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
    Script::new(
        r"
local record = redis.call('HGET', KEYS[1], 'record')
if not record then
  return false
end
local idx = redis.call('HGET', KEYS[1], 'idx')
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
