-- Overwrite one product's counter with a value computed under the product lock
-- (restock, release, repair of a node that missed writes, reconcile), and forget
-- the markers of orders that the database does not hold.
--
-- KEYS[1]    stock hash of the product: fields avail, token
-- KEYS[1+i]  markers to delete
-- ARGV[1]    fencing token of the caller
-- ARGV[2]    the new avail, a non-negative integer
--
-- Returns {status, avail, last_token}; status is ok, or stale when ARGV[1] is
-- older than the newest token this node applied (then nothing changes).
local last = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
local token = tonumber(ARGV[1])
if token < last then
  return {'stale', tonumber(redis.call('HGET', KEYS[1], 'avail') or '-1'), last}
end
redis.call('HSET', KEYS[1], 'avail', tonumber(ARGV[2]), 'token', token)
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
end
return {'ok', tonumber(ARGV[2]), token}
