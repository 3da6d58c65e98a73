-- Read what a sold-out check needs, without changing anything: for the checks of one
-- product that are waiting in one process at once, in one call.
--
-- KEYS[1]    stock hash of the product: fields avail, token
-- KEYS[1+i]  marker of the order key of check i (present when it was applied before)
--
-- Returns {avail or -1 when the counter is missing, then for each check 1 if its
-- marker exists else 0}.
local avail = redis.call('HGET', KEYS[1], 'avail')
local reply = {tonumber(avail or '-1')}
for i = 2, #KEYS do
  reply[i] = redis.call('EXISTS', KEYS[i])
end
return reply
