-- Overwrite one product's counter with a value computed under the product lock
-- (restock, release, repair of a node that missed writes, reconcile), and forget
-- the markers of orders that the database does not hold.
--
-- KEYS[1]    stock hash of the product: fields avail, token, epoch
-- KEYS[2]    the product's sold-out lease (see peek.lua)
-- KEYS[3]    the product's rising flag: while it exists, peek.lua grants no lease (it
--            expires a second after the lease it waits for)
-- KEYS[3+i]  markers to delete
-- ARGV[1]    fencing token of the caller
-- ARGV[2]    the new avail, a non-negative integer
-- ARGV[3]    a new epoch for the counter: a process's copy of the seen-keys filter
--            is of one epoch and count of applied orders (see seen.lua)
--
-- Returns {status, avail, last_token[, lease_ms]}; status is one of
--   ok       the counter is ARGV[2] now
--   leased   ARGV[2] is above zero, but a process may be answering "sold out" from
--            what it read here until the lease ends (lease_ms from now): nothing
--            changed, the rising flag is up; call again once it has passed
--   stale    ARGV[1] is older than the newest token this node applied (then nothing
--            changes)
local last = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
local token = tonumber(ARGV[1])
local avail = tonumber(ARGV[2])
if token < last then
  return {'stale', tonumber(redis.call('HGET', KEYS[1], 'avail') or '-1'), last}
end
if avail > 0 then
  local lease = redis.call('PTTL', KEYS[2])
  if lease > 0 then
    redis.call('SET', KEYS[3], 1, 'PX', lease + 1000)
    return {'leased', tonumber(redis.call('HGET', KEYS[1], 'avail') or '-1'), last, lease}
  end
end
redis.call('HSET', KEYS[1], 'avail', avail, 'token', token, 'epoch', ARGV[3])
for i = 4, #KEYS do
  redis.call('DEL', KEYS[i])
end
return {'ok', avail, token}
