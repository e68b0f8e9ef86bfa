-- The lease was answered (committed in PostgreSQL): the worker stays counted for the object, the lease goes
-- (mirror of core.dispatch.JobBook.finalize). Also repairs a lease the sweeper released although answered.
-- ARGV: prefix, lease_id
local P, lid = ARGV[1], ARGV[2]
local L = P .. 'l:' .. lid
local f = redis.call('HMGET', L, 'j', 'o', 'w')
if not f[1] then return 0 end
local J = P .. 'j:' .. f[1]
local n = tonumber(redis.call('HGET', J .. ':m', 'n') or '0')
if n > 0 then  -- else the job's state is gone: a rebuild counts the answer from PostgreSQL
  local wk = J .. ':o:' .. f[2] .. ':w'
  redis.call('SADD', wk, f[3])
  local c = redis.call('SCARD', wk)
  local req = tonumber(redis.call('HGET', J .. ':req', f[2]) or '')  -- the object's own count
  local omin = req and tonumber(redis.call('HGET', J .. ':rmin', f[2]) or '')  -- and its own early stop
  if c >= (req or n) or redis.call('SISMEMBER', J .. ':closed', f[2]) == 1 then
    redis.call('ZREM', J .. ':open', f[2])
    redis.call('ZREM', J .. ':reopen', f[2])
  else
    local a = redis.call('HMGET', J .. ':m', 'ad', 'min', 'vw', 'dw')
    local mn = tonumber(a[2] or '') or n
    if (a[1] == '1' and mn < n and c >= mn and not req) or (omin and c >= omin) then
      -- Adaptive job, an answer at or beyond the minimum: consolidation may label (close) the object now;
      -- give it `vw` ms (`dw` for an object with its own minimum) before the next worker is sent (through
      -- `reopen`: it may lie below cursors).
      local vw = tonumber((omin and a[4]) or a[3] or '0')
      if vw > 0 then
        local t = redis.call('TIME')
        redis.call('HSET', J .. ':hold', f[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + vw)
      end
      redis.call('ZADD', J .. ':open', f[2], f[2])
      redis.call('ZADD', J .. ':reopen', f[2], f[2])
    end
  end
end
if redis.call('HDEL', L, 'g') == 1 then  -- a lease beyond an adaptive object's minimum (next_task.lua)
  if redis.call('HINCRBY', J .. ':fly', f[2], -1) <= 0 then redis.call('HDEL', J .. ':fly', f[2]) end
end
redis.call('ZREM', P .. 'leases', lid)
redis.call('SREM', J .. ':leases', lid)
redis.call('DEL', L)
return 1
