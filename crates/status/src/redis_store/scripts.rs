//! The Lua scripts that make each write atomic. Redis runs a script without interleaving any
//! other command, so the check and the writes inside one cannot race another client.

use std::sync::LazyLock;

use redis::Script;

/// Writes a task: record, guard fields, and its index entry (the old member removed).
///
/// `KEYS[1]` task hash, `KEYS[2]` tenant index. `ARGV`: mode (`put` writes unconditionally,
/// `cas` only when the hash's `rev` still equals the expected one, which also fails when the
/// hash is gone), expected rev, record JSON, status, run id, new rev, index member, score.
/// Returns 1 when written, 0 when the CAS check failed.
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
return 1
",
    )
});

/// Removes a task and its index entry; returns the record JSON it held, or nil.
///
/// `KEYS[1]` task hash, `KEYS[2]` tenant index.
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
return record
",
    )
});
