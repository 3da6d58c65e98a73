-- Take qty units of one product's stock on this node, fenced and idempotent.
--
-- KEYS[1]  stock hash of the product: fields avail, token
-- KEYS[2]  marker of this order key (holds qty once applied, expires after ARGV[3] s)
-- ARGV[1]  fencing token of the caller (pottery NextID, taken under the product lock)
-- ARGV[2]  qty, a positive integer
-- ARGV[3]  marker lifetime in seconds
--
-- Returns {status, avail, last_token}; status is one of
--   ok       applied: avail is what is left
--   dup      this order key was applied before: nothing changed
--   stale    ARGV[1] is older than the newest token this node applied: refused
--   short    fewer than qty left: refused
--   missing  the node has no counter for the product (it restarted empty)
local state = redis.call('HMGET', KEYS[1], 'avail', 'token')
if not state[1] then
  return {'missing', -1, 0}
end
local avail = tonumber(state[1])
local last = tonumber(state[2] or '0')
local token = tonumber(ARGV[1])
local qty = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'dup', avail, last}
end
if token < last then
  return {'stale', avail, last}
end
if avail < qty then
  return {'short', avail, last}
end
redis.call('HSET', KEYS[1], 'avail', avail - qty, 'token', token)
redis.call('SET', KEYS[2], qty, 'EX', tonumber(ARGV[3]))
return {'ok', avail - qty, token}
