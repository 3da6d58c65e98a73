-- Take stock for a batch of orders of one product on this node, fenced and
-- idempotent per order key. The orders are tried in the given order; each either
-- takes its quantity, is found applied before, or is refused as short.
--
-- KEYS[1]    stock hash of the product: fields avail, token
-- KEYS[1+i]  marker of order i (holds its qty once applied; expires after ARGV[2] s)
-- ARGV[1]    fencing token of the caller (pottery NextID, taken under the product lock)
-- ARGV[2]    marker lifetime in seconds
-- ARGV[2+i]  qty of order i, a positive integer
--
-- Returns {status, avail, last_token, outcome_1, ..., outcome_n}; status is one of
--   ok       the batch was tried: outcome_i is ok (taken), dup (applied before) or
--            short (refused: fewer left than its qty); avail is what is left
--   stale    ARGV[1] is older than the newest token this node applied: nothing changed
--   missing  the node has no counter for the product (it restarted empty)
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
local ttl = tonumber(ARGV[2])
local reply = {'ok', 0, token}
for i = 2, #KEYS do
  local qty = tonumber(ARGV[i + 1])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    reply[#reply + 1] = 'dup'
  elseif avail >= qty then
    avail = avail - qty
    redis.call('SET', KEYS[i], qty, 'EX', ttl)
    reply[#reply + 1] = 'ok'
  else
    reply[#reply + 1] = 'short'
  end
end
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
reply[2] = avail
return reply
