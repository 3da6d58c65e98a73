-- Raise a fencing sequence to at least a floor, never lower it. Used when the
-- sequence went backwards because a majority of nodes restarted empty, so that
-- the next token is newer than any a node or the database has seen.
--
-- KEYS[1]  the NextID key of the sequence (pottery keeps a plain integer there)
-- ARGV[1]  the floor
--
-- Returns the sequence's value after the call.
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if current < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return current
