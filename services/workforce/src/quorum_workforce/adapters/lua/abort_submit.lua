-- The answer was not stored (invalid, or the database failed): the lease is ACTIVE again.
-- ARGV: prefix, lease_id
local P, lid = ARGV[1], ARGV[2]
local L = P .. 'l:' .. lid
if redis.call('HGET', L, 'st') ~= 's' then return 0 end
if redis.call('HINCRBY', L, 'subs', -1) <= 0 then
  redis.call('HSET', L, 'st', 'a', 'subs', 0)
  redis.call('ZADD', P .. 'leases', redis.call('HGET', L, 'exp'), lid)
end
return 1
