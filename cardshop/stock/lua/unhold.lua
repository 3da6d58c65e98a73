-- Release a number held by hold.lua, only if this owner holds it.
--
-- KEYS[1]  the number's hold key
-- KEYS[2]  the product's hold index (sorted set of held numbers)
-- KEYS[3]  the owner's key
-- ARGV[1]  owner token
-- ARGV[2]  msisdn
-- ARGV[3]  sku
--
-- Returns 'ok' when the hold was released, 'noop' when this owner did not hold it
-- here (expired, never won on this node, or someone else's).
local status = 'noop'
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  status = 'ok'
end
if redis.call('GET', KEYS[3]) == ARGV[3] .. ' ' .. ARGV[2] then
  redis.call('DEL', KEYS[3])
end
return status
