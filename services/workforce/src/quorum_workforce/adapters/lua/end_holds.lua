-- Consolidation wants another answer for these objects (AnswersWanted): end their verdict hold now, so their
-- next worker need not wait it out. Only where the object still is as consolidation saw it: no gated lease
-- out and exactly `answer_count` takers (all answered); after a later answer, or with a lease out, the hold
-- stays (its own verdict will come). ARGV: prefix, job, then object id and answer count pairs.
-- Returns how many holds ended.
local P, j = ARGV[1], ARGV[2]
local J = P .. 'j:' .. j
local ended = 0
for i = 3, #ARGV - 1, 2 do
  local o, n = ARGV[i], tonumber(ARGV[i + 1])
  if tonumber(redis.call('HGET', J .. ':fly', o) or '0') <= 0
      and redis.call('SCARD', J .. ':o:' .. o .. ':w') == n then
    ended = ended + redis.call('HDEL', J .. ':hold', o)
  end
end
return ended
