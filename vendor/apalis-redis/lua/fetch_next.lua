-- KEYS[1]: the active workers sorted set
-- KEYS[2]: the active job list
-- KEYS[3]: this workers inflight set
-- KEYS[4]: the task data hash
-- KEYS[5]: the signal list
-- KEYS[6]: the task metadata prefix
-- KEYS[7]: the scheduled jobs sorted set

-- ARGV[1]: current timestamp
-- ARGV[2]: maximum number of jobs to fetch
-- ARGV[3]: worker name

-- Returns: {results, meta}

local worker_inflight_set = KEYS[3]
local worker_name = ARGV[3]


-- Ensure the worker is registered
local registered = redis.call("zscore", KEYS[1], worker_name)
if not registered then
    error("Cant fetch next: worker not registered")
end

-- statport patch: the ids handed to one `unpack` are bounded. Lua's `unpack`
-- fails above ~8000 values ("too many results to unpack"), so promoting every
-- due id with one RPUSH/ZREM made this script (and so every worker) fail as soon
-- as more than ~8000 jobs were due at once. A backlog is now promoted at most
-- `promote_limit` ids per fetch, in chunks of `CHUNK`, oldest first; ids not
-- promoted here stay due in the scheduled set and are promoted by the next
-- fetches (a fetch only parks the worker once it returns no job, and it always
-- promotes before it reads, so a due backlog always yields a job).
local CHUNK = 1000
local batch_size = tonumber(ARGV[2])
-- statport patch: at least one full batch per fetch, so a backlog still fills whole batches
local promote_limit = math.max(CHUNK, batch_size)

-- 1. Promote due scheduled jobs (bounded, see above)
local promoted = 0
while promoted < promote_limit do
    local want = math.min(CHUNK, promote_limit - promoted)
    local scheduled_ids = redis.call(
        "zrangebyscore",
        KEYS[7],
        0,
        ARGV[1],
        "LIMIT",
        0,
        want
    )
    local n = #scheduled_ids
    if n == 0 then
        break
    end

    -- Push scheduled jobs onto the active queue
    redis.call("rpush", KEYS[2], unpack(scheduled_ids))

    -- Remove promoted jobs from the scheduled set
    redis.call("zrem", KEYS[7], unpack(scheduled_ids))

    promoted = promoted + n
    if n < want then
        break
    end
end

if promoted > 0 then
    -- Signal that jobs are available
    redis.call("del", KEYS[5])
    redis.call("lpush", KEYS[5], 1)
end

-- 2. Fetch jobs from the active queue
local task_ids = redis.call(
    "lrange",
    KEYS[2],
    0,
    tonumber(ARGV[2]) - 1
)

local count = #task_ids
local results = {}
local meta = {}

if count > 0 then
    -- statport patch: `count` is the configured batch size at most, which is
    -- not bounded either: SADD and HMGET take the ids in chunks of CHUNK.
    for first = 1, count, CHUNK do
        local last = math.min(first + CHUNK - 1, count)

        -- Mark jobs as inflight
        redis.call("sadd", worker_inflight_set, unpack(task_ids, first, last))

        -- Fetch job data (in the order of task_ids)
        local data = redis.call("hmget", KEYS[4], unpack(task_ids, first, last))
        for i = 1, #data do
            results[#results + 1] = data[i]
        end
    end

    -- Remove fetched jobs from the active queue
    redis.call("ltrim", KEYS[2], count, -1)

    -- Fetch metadata
    for _, task_id in ipairs(task_ids) do
        local meta_key = KEYS[6] .. ":" .. task_id
        local fields = redis.call("hgetall", meta_key)

        -- Insert task ID as the first element
        table.insert(fields, 1, task_id)
        table.insert(meta, fields)
    end
end

-- 3. Clear the signal if fewer jobs were fetched
-- than requested
if count < tonumber(ARGV[2]) then
    redis.call("del", KEYS[5])
end

return {results, meta}
