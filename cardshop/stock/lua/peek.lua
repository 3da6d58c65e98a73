-- Read what a sold-out check needs, without changing anything.
--
-- KEYS[1]  stock hash of the product: fields avail, token
-- KEYS[2]  marker of the order key asking (present when it was applied before)
--
-- Returns {avail or -1 when the counter is missing, 1 if the marker exists else 0}.
local avail = redis.call('HGET', KEYS[1], 'avail')
return {tonumber(avail or '-1'), redis.call('EXISTS', KEYS[2])}
