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
local state = redis.call('HMGET', KEYS[1], 'avail', 'token', 'applied')
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
local bits = {}  -- one BITFIELD for the batch: SET u1 <bit> 1, four per applied key
for i = 3, #KEYS do
  local qty = tonumber(ARGV[i])
  if avail < qty then
    reply[#reply + 1] = redis.call('EXISTS', KEYS[i]) == 1 and 'dup' or 'short'
  elseif not redis.call('SET', KEYS[i], qty, 'EX', ttl, 'NX') then
    reply[#reply + 1] = 'dup'
  else
    avail = avail - qty
    local digest = redis.sha1hex(KEYS[i])
    for part = 0, 3 do
      local bit = tonumber(string.sub(digest, part * 5 + 1, part * 5 + 5), 16) % SEEN_BITS
      local n = #bits
      bits[n + 1], bits[n + 2], bits[n + 3], bits[n + 4] = 'SET', 'u1', bit, 1
    end
    applied = applied + 1
    reply[#reply + 1] = 'ok'
  end
end
if applied > 0 then
  redis.call('BITFIELD', KEYS[2], unpack(bits))
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('HSET', KEYS[1], 'avail', avail, 'token', token, 'applied', tonumber(state[3] or '0') + applied)
else
  redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
end
reply[2] = avail
return reply
