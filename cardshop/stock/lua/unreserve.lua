-- Give back reservations made by reserve.lua: the compensation when the database
-- write after them fails. Each order key is given back at most once.
--
-- KEYS[1]    stock hash of the product: fields avail, token
-- KEYS[2]    the product's sold-out lease (see peek.lua)
-- KEYS[3]    the product's rising flag: while it exists, peek.lua grants no lease (it
--            expires a second after the lease it waits for)
-- KEYS[3+i]  marker of an order key being given back
-- ARGV[1]    fencing token of the caller
--
-- Returns {status, avail, last_token[, lease_ms]}; status is one of
--   ok       whatever was still marked was given back (possibly nothing)
--   leased   something would be given back, but a process may be answering "sold
--            out" from what it read here until the lease ends (lease_ms from now):
--            nothing changed, the rising flag is up; call again once it has passed
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
local back = {}
for i = 4, #KEYS do
  local qty = redis.call('GET', KEYS[i])
  if qty then
    back[#back + 1] = {KEYS[i], tonumber(qty)}
  end
end
if #back > 0 then
  local lease = redis.call('PTTL', KEYS[2])
  if lease > 0 then
    redis.call('SET', KEYS[3], 1, 'PX', lease + 1000)
    return {'leased', avail, last, lease}
  end
end
for _, entry in ipairs(back) do
  avail = avail + entry[2]
  redis.call('DEL', entry[1])
end
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token)
return {'ok', avail, token}
