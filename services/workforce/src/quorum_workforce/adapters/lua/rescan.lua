-- workers_per_object changed: put these objects in or out of the open set by their taker count
-- (mirror of core.dispatch.JobBook.set_required); an object with its own count (`req`) keeps it.
-- ARGV: prefix, job, n, object ids...
local P, j, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local J = P .. 'j:' .. j
for i = 4, #ARGV do
  local o = ARGV[i]
  if redis.call('SISMEMBER', J .. ':closed', o) == 1 then
    redis.call('ZREM', J .. ':open', o)
    redis.call('ZREM', J .. ':reopen', o)
  elseif redis.call('SCARD', J .. ':o:' .. o .. ':w') < (tonumber(redis.call('HGET', J .. ':req', o) or '') or n) then
    if not redis.call('ZSCORE', J .. ':open', o) then
      redis.call('ZADD', J .. ':open', o, o)
      redis.call('ZADD', J .. ':reopen', o, o)
    end
  else
    redis.call('ZREM', J .. ':open', o)
    redis.call('ZREM', J .. ':reopen', o)
  end
end
return 1
