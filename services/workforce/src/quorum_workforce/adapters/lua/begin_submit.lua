-- Check a lease for a submit and mark it SUBMITTING so the sweeper leaves it alone while the answer is
-- written to PostgreSQL (mirror of core.dispatch.check_submit / submit_due_at_ms).
-- ARGV: prefix, lease_id, worker, now_ms, grace_ms
-- Returns {check} or {check, job, object_id, accepted_at_ms, expires_at_ms, task_type, categories, n, min, tc,
--          team}
local P, lid, w = ARGV[1], ARGV[2], ARGV[3]
local now, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
local L = P .. 'l:' .. lid
local f = redis.call('HMGET', L, 'j', 'o', 'w', 'exp', 'st', 'acc')
if not f[1] then return {'missing'} end
if f[3] ~= w then return {'foreign'} end
local st = f[5]
local m = redis.call('HMGET', P .. 'j:' .. f[1] .. ':m', 'status', 'type', 'cats', 'n', 'min', 'tc', 'team')
local function reply(check)
  return {check, f[1], f[2], f[6], f[4], m[2] or '', m[3] or '', m[4] or '', m[5] or '', m[6] or '',
          m[7] or ''}
end
if st == 'c' then return reply('cancelled') end
if st == 'x' then return reply('expired') end
if st == 'd' then return reply('declined') end
if st == 'a' then
  if m[1] ~= 'open' then return reply('cancelled') end
  if tonumber(f[4]) <= now then return reply('expired') end
end
redis.call('HSET', L, 'st', 's')
redis.call('HINCRBY', L, 'subs', 1)
redis.call('ZADD', P .. 'leases', math.max(tonumber(f[4]), now + grace), lid)
return reply('ok')
