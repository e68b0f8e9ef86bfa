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
  if redis.call('SCARD', wk) >= n then
    redis.call('ZREM', J .. ':open', f[2])
    redis.call('ZREM', J .. ':reopen', f[2])
  end
end
redis.call('ZREM', P .. 'leases', lid)
redis.call('SREM', J .. ':leases', lid)
redis.call('DEL', L)
return 1
