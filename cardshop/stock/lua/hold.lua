-- Hold one phone number for one owner (a browser's random token) on this node.
--
-- KEYS[1]  the number's hold key (value: the owner; expires by itself)
-- KEYS[2]  the product's hold index: a sorted set of held numbers scored by expiry (ms)
-- KEYS[3]  the owner's key (value: "<sku> <msisdn>" of the number it holds)
-- ARGV[1]  owner token
-- ARGV[2]  msisdn
-- ARGV[3]  hold lifetime in milliseconds
-- ARGV[4]  sku
--
-- Returns {status, ttl_ms, other}; status is one of
--   ok     held now for ARGV[3] ms
--   mine   the owner held it already: nothing changes, ttl_ms is what is left
--   taken  another owner holds it: nothing changes, ttl_ms is what is left of theirs
-- For ok and mine, other is the "<sku> <msisdn>" the owner held before on this node
-- (the caller releases it once the new hold is won on a majority), or "". For taken,
-- other is the owner holding it (the caller tells a lost race from a split vote).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner, msisdn, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local this = ARGV[4] .. ' ' .. msisdn
local current = redis.call('GET', KEYS[1])
if current and current ~= owner then
  return {'taken', redis.call('PTTL', KEYS[1]), current}
end
local previous = redis.call('GET', KEYS[3]) or ''
if previous == this then
  previous = ''
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if current == owner then
  local left = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[3], this, 'PX', left)
  return {'mine', left, previous}
end
redis.call('SET', KEYS[1], owner, 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, msisdn)
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('SET', KEYS[3], this, 'PX', ttl)
return {'ok', ttl, previous}
