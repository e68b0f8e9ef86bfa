-- Give a leased object back to the pool: an expired lease (sweeper), a decline, or a closed job
-- (mirror of core.dispatch.sweep_action and JobBook.release). The lease stays a while as a tombstone so a
-- late submit learns why its task is gone.
-- ARGV: prefix, lease_id, kind ('expired' | 'declined' | 'cancelled'), worker ('' = any), now_ms, tombstone_ms
-- Returns {status, job, object_id}: status is 'released', 'missing', 'foreign', 'not_due', 'submitting', or a
-- tombstone's state letter ('x' expired, 'd' declined, 'c' cancelled).
local P, lid, kind, w = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, tomb = tonumber(ARGV[5]), tonumber(ARGV[6])
local L = P .. 'l:' .. lid
local f = redis.call('HMGET', L, 'j', 'o', 'w', 'exp', 'st')
if not f[1] then return {'missing'} end
if w ~= '' and f[3] ~= w then return {'foreign'} end
local st = f[5]
local J = P .. 'j:' .. f[1]
local o = f[2]
if st == 'x' and kind == 'declined' then
  -- Declining a task that already went back to the pool: just never offer it to this worker again.
  redis.call('SADD', J .. ':o:' .. o .. ':d', f[3])
  redis.call('HSET', L, 'st', 'd')
  return {'released', f[1], o}
end
if st ~= 'a' and st ~= 's' then return {st, f[1], o} end
if kind == 'expired' then
  if st == 'a' and tonumber(f[4]) > now then return {'not_due', f[1], o} end
  if st == 's' then
    local due = redis.call('ZSCORE', P .. 'leases', lid)
    if not due or tonumber(due) > now then return {'not_due', f[1], o} end
  end
elseif st == 's' then
  return {'submitting', f[1], o}
end
local wk = J .. ':o:' .. o .. ':w'
redis.call('SREM', wk, f[3])
if kind == 'declined' then redis.call('SADD', J .. ':o:' .. o .. ':d', f[3]) end
local n = tonumber(redis.call('HGET', J .. ':req', o) or '') or tonumber(redis.call('HGET', J .. ':m', 'n') or '0')
if redis.call('HDEL', L, 'g') == 1 then  -- a gated lease of an adaptive job (see next_task.lua)
  if redis.call('HINCRBY', J .. ':fly', o, -1) <= 0 then redis.call('HDEL', J .. ':fly', o) end
end
if redis.call('SISMEMBER', J .. ':closed', o) == 1 then
  -- labeled meanwhile (adaptive job): stays out of the pool
elseif redis.call('SCARD', wk) < n then
  redis.call('ZADD', J .. ':open', o, o)
  redis.call('ZADD', J .. ':reopen', o, o)
end
redis.call('ZREM', P .. 'leases', lid)
redis.call('SREM', J .. ':leases', lid)
local letter = ({expired = 'x', declined = 'd', cancelled = 'c'})[kind]
redis.call('HSET', L, 'st', letter)
redis.call('PEXPIRE', L, tomb)
return {'released', f[1], o}
