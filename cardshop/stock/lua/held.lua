-- The numbers of one product held on this node right now, and what one owner holds.
--
-- KEYS[1]  the product's hold index (sorted set of held numbers scored by expiry, ms)
-- KEYS[2]  the owner's key (value: "<sku> <msisdn>")
--
-- Returns {held, mine}: held is the list of numbers whose hold has not expired
-- (expired entries are dropped on the way), mine is the owner's "<sku> <msisdn>" or "".
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('GET', KEYS[2]) or ''}
