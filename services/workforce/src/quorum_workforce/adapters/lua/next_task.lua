-- Claim the next object for a worker and lease it, atomically (mirror of core.dispatch.JobBook.pick).
-- Keys are built from the prefix (the key layout is documented in adapters/dispatch.py).
-- ARGV: prefix, worker, now_ms, lease_id, max_scan, max_reopen, only_job ('' = any job of the teams), team ids...
-- Returns false (nothing to do), {'not_in_team'}, or
--   {'ok', job, object_id, expires_at_ms, accepted_at_ms, time_limit_s, src, name, task_type, categories, instr}
local P, w = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
local lid = ARGV[4]
local max_scan = tonumber(ARGV[5])
local max_reopen = tonumber(ARGV[6])
local only = ARGV[7]
local teams = {}
for i = 8, #ARGV do teams[ARGV[i]] = true end

local jobs = {}
if only ~= '' then
  local team = redis.call('HGET', P .. 'j:' .. only .. ':m', 'team')
  if team and not teams[team] then return {'not_in_team'} end
  jobs = {only}
else
  -- Oldest opened job first (core.dispatch.order_jobs).
  local scored = {}
  for i = 8, #ARGV do
    local zs = redis.call('ZRANGE', P .. 't:' .. ARGV[i] .. ':jobs', 0, -1, 'WITHSCORES')
    for k = 1, #zs, 2 do scored[#scored + 1] = {zs[k], tonumber(zs[k + 1])} end
  end
  table.sort(scored, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for k = 1, #scored do jobs[k] = scored[k][1] end
end

for _, j in ipairs(jobs) do
  local J = P .. 'j:' .. j
  local m = redis.call('HMGET', J .. ':m', 'status', 'built', 'n', 'team', 'ttl', 'min', 'ad')
  if m[1] == 'open' and m[2] == '1' and teams[m[4]] then
    local n = tonumber(m[3])
    local open = J .. ':open'
    -- Adaptive jobs ('ad' = 1): labeled objects are closed; beyond `min` takers an object gets one more
    -- taker at a time (its `fly` count of gated leases must be 0) and, after each answer, only once its
    -- `hold` (a short wait for consolidation's verdict, set by finalize.lua) is over: a label closes it.
    -- Objects in `req` get their own number of takers instead of n, ungated (consolidation waits for all),
    -- unless `rmin` gives them their own minimum, in any job: every lease on them counts in `fly`, so beyond
    -- the minimum a further taker waits until all earlier ones answered (and the hold): the extra answers
    -- are asked for only once the first ones disagreed. A label closes them as above.
    local adaptive = m[7] == '1'
    local mn = tonumber(m[6] or '') or n
    if mn > n then mn = n end
    local gated = adaptive and mn < n
    local function own(o) return tonumber(redis.call('HGET', J .. ':req', o) or '') end
    local function own_min(o) return tonumber(redis.call('HGET', J .. ':rmin', o) or '') end
    -- Whether the object's next taker must wait its turn (one gated lease out, no hold) at `c` takers.
    local function beyond(o, c, req)
      if req then
        local omin = own_min(o)
        return omin ~= nil and c >= omin
      end
      return gated and c >= mn
    end
    local function eligible(o)  -- core.dispatch.is_eligible
      local wk = J .. ':o:' .. o .. ':w'
      if redis.call('SISMEMBER', wk, w) == 1 then return false end
      if redis.call('SISMEMBER', J .. ':o:' .. o .. ':d', w) == 1 then return false end
      local c = redis.call('SCARD', wk)
      local req = own(o)
      if c >= (req or n) then return false end
      if redis.call('SISMEMBER', J .. ':closed', o) == 1 then return false end
      if beyond(o, c, req) then
        if tonumber(redis.call('HGET', J .. ':fly', o) or '0') > 0 then return false end
        if tonumber(redis.call('HGET', J .. ':hold', o) or '0') > now then return false end
      end
      return true
    end

    -- Objects that came back into the pool (they may lie below this worker's cursor).
    local reo = nil
    local rs = redis.call('ZRANGE', J .. ':reopen', 0, max_reopen - 1)
    for _, o in ipairs(rs) do
      if not redis.call('ZSCORE', open, o) then
        redis.call('ZREM', J .. ':reopen', o)
      elseif eligible(o) then
        reo = o
        break
      end
    end

    -- Forward from the cursor, in manifest order; everything passed is ineligible for this worker for good
    -- (answered, held or declined; a released hold comes back through `reopen`).
    local cur = redis.call('HGET', J .. ':cur', w)
    local min = cur and ('(' .. cur) or '-inf'
    local fwd, passed = nil, nil
    local scanned = 0
    while not fwd and scanned < max_scan do
      local batch = redis.call('ZRANGEBYSCORE', open, min, '+inf', 'LIMIT', 0, 100)
      if #batch == 0 then break end
      for _, o in ipairs(batch) do
        scanned = scanned + 1
        if eligible(o) then
          fwd = o
          break
        end
        passed = o
        if scanned >= max_scan then break end
      end
      if passed then min = '(' .. passed end
    end

    local chosen = nil
    if fwd and (not reo or tonumber(fwd) < tonumber(reo)) then
      chosen = fwd
      redis.call('HSET', J .. ':cur', w, fwd)
    else
      if passed then redis.call('HSET', J .. ':cur', w, passed) end
      chosen = reo
    end

    if chosen then
      local wk = J .. ':o:' .. chosen .. ':w'
      local req = own(chosen)
      -- Every lease of an object with its own minimum gates it; else only those beyond the job's minimum.
      local beyond_min = (req and own_min(chosen) ~= nil) or (not req and beyond(chosen, redis.call('SCARD', wk)))
      redis.call('SADD', wk, w)
      if redis.call('SCARD', wk) >= (req or n) then
        redis.call('ZREM', open, chosen)
        redis.call('ZREM', J .. ':reopen', chosen)
      end
      local ttl = tonumber(m[5])
      local exp = now + ttl * 1000
      redis.call('HSET', P .. 'l:' .. lid, 'j', j, 'o', chosen, 'w', w, 'exp', exp, 'acc', now, 'st', 'a', 'subs', 0)
      if beyond_min then
        redis.call('HINCRBY', J .. ':fly', chosen, 1)
        redis.call('HSET', P .. 'l:' .. lid, 'g', 1)
      end
      redis.call('ZADD', P .. 'leases', exp, lid)
      redis.call('SADD', J .. ':leases', lid)
      local src = redis.call('HGET', J .. ':src', chosen) or ''
      local d = redis.call('HMGET', J .. ':m', 'name', 'type', 'cats', 'instr')
      return {'ok', j, chosen, exp, now, ttl, src, d[1] or '', d[2] or '', d[3] or '[]', d[4] or ''}
    end
  end
end
return false
