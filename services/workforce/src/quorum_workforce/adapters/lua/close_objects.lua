-- Adaptive redundancy: objects that got their label are never dispatched again (leases already out may still
-- submit). Idempotent; a job whose state is gone is left alone (a rebuild reads closed objects from
-- PostgreSQL). ARGV: prefix, job, object ids...  Returns how many objects were newly closed.
local P, j = ARGV[1], ARGV[2]
local J = P .. 'j:' .. j
if redis.call('EXISTS', J .. ':m') == 0 then return 0 end
local closed = 0
for i = 3, #ARGV do
  local o = ARGV[i]
  closed = closed + redis.call('SADD', J .. ':closed', o)
  redis.call('ZREM', J .. ':open', o)
  redis.call('ZREM', J .. ':reopen', o)
  redis.call('HDEL', J .. ':hold', o)
end
return closed
