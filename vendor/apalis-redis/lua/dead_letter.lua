-- statport patch: a script of our own (not in apalis-redis 1.0.0).
-- Moves one fetched task whose payload was rejected to the dead set.
-- KEYS[1]: this worker's inflight set
-- KEYS[2]: the dead jobs set
-- KEYS[3]: the task metadata prefix
-- ARGV[1]: task id
-- ARGV[2]: current timestamp
-- ARGV[3]: the result to record (a JSON `{"Err": reason}`, as handle_results.lua records)
-- ARGV[4]: emit events ("1" or "0")
redis.call("srem", KEYS[1], ARGV[1])
redis.call("sadd", KEYS[2], ARGV[1])
redis.call("hset", KEYS[3] .. ":" .. ARGV[1], "status", "Killed", "result", ARGV[3], "done_at", ARGV[2])
if ARGV[4] == "1" then
    redis.call("publish", "tasks:" .. KEYS[2], ARGV[1])
end
return 1
