-- Give back a reservation made by reserve.lua with the same order key: the
-- compensation when the database write after it fails.
--
-- KEYS[1]  stock hash of the product: fields avail, token
-- KEYS[2]  marker of the order key being given back
-- ARGV[1]  fencing token of the caller
--
-- Returns {status, avail, last_token}; status is one of
--   ok       given back: avail is the new count
--   noop     nothing to give back (never applied here, or already given back)
--   stale    ARGV[1] is older than the newest token this node applied: refused
--   missing  the node has no counter for the product
local state = redis.call('HMGET', KEYS[1], 'avail', 'token')
if not state[1] then
  return {'missing', -1, 0}
end
local avail = tonumber(state[1])
local last = tonumber(state[2] or '0')
local token = tonumber(ARGV[1])
if token < last then
  return {'stale', avail, last}
end
local qty = redis.call('GET', KEYS[2])
if not qty then
  return {'noop', avail, last}
end
avail = avail + tonumber(qty)
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
redis.call('DEL', KEYS[2])
return {'ok', avail, token}
