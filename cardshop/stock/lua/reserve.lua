-- Take stock for a batch of orders of one product on this node, fenced and
-- idempotent per order key. The orders are tried in the given order; each either
-- takes its quantity, is found applied before, or is refused as short.
--
-- KEYS[1]    stock hash of the product: fields avail, token, applied (orders applied
--            here), epoch (set by sync.lua)
-- KEYS[2]    the product's seen-keys filter: a bitmap of SEEN_BITS bits in which each
--            applied marker key sets four bits (see cardshop/stock/soldout.py); it
--            lives as long as the newest marker
-- KEYS[2+i]  marker of order i (holds its qty once applied; expires after ARGV[2] s)
-- ARGV[1]    fencing token of the caller (pottery NextID, taken under the product lock)
-- ARGV[2]    marker lifetime in seconds
-- ARGV[2+i]  qty of order i, a positive integer
--
-- Returns {status, avail, last_token, outcome_1, ..., outcome_n}; status is one of
--   ok       the batch was tried: outcome_i is ok (taken), dup (applied before) or
--            short (refused: fewer left than its qty); avail is what is left
--   stale    ARGV[1] is older than the newest token this node applied: nothing changed
--   missing  the node has no counter for the product (it restarted empty)
local SEEN_BITS = 262144
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
local applied = 0
for i = 3, #KEYS do
  local qty = tonumber(ARGV[i])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    reply[#reply + 1] = 'dup'
  elseif avail >= qty then
    avail = avail - qty
    redis.call('SET', KEYS[i], qty, 'EX', ttl)
    local digest = redis.sha1hex(KEYS[i])
    for part = 0, 3 do
      redis.call('SETBIT', KEYS[2], tonumber(string.sub(digest, part * 5 + 1, part * 5 + 5), 16) % SEEN_BITS, 1)
    end
    applied = applied + 1
    reply[#reply + 1] = 'ok'
  else
    reply[#reply + 1] = 'short'
  end
end
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
if applied > 0 then
  redis.call('HINCRBY', KEYS[1], 'applied', applied)
  redis.call('EXPIRE', KEYS[2], ttl)
end
reply[2] = avail
return reply
