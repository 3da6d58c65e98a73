-- Give back reservations made by reserve.lua: the compensation when the database
-- write after them fails. Each order key is given back at most once.
--
-- KEYS[1]    stock hash of the product: fields avail, token
-- KEYS[1+i]  marker of an order key being given back
-- ARGV[1]    fencing token of the caller
--
-- Returns {status, avail, last_token}; status is one of
--   ok       whatever was still marked was given back (possibly nothing)
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
for i = 2, #KEYS do
  local qty = redis.call('GET', KEYS[i])
  if qty then
    avail = avail + tonumber(qty)
    redis.call('DEL', KEYS[i])
  end
end
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
return {'ok', avail, token}
