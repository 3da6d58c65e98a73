-- Read what a sold-out check needs; where nothing is left, grant a sold-out lease.
--
-- KEYS[1]  stock hash of the product: fields avail, applied, epoch
-- KEYS[2]  marker of the order key asking (present when it was applied before)
-- KEYS[3]  the product's sold-out lease
-- KEYS[4]  the product's rising flag (set by a sync.lua or unreserve.lua that waits)
-- ARGV[1]  lease in milliseconds (0: none)
--
-- Returns {avail or -1 when the counter is missing, 1 if the marker exists else 0,
-- applied, epoch, 1 if a lease was granted else 0}. A lease is granted when the
-- counter is 0 and no rising flag is up: until it ends, sync.lua and unreserve.lua
-- raise nothing here, so the process that asked may answer "sold out" from this
-- reply for that long (cardshop/stock/soldout.py).
local state = redis.call('HMGET', KEYS[1], 'avail', 'applied', 'epoch')
local avail = tonumber(state[1] or '-1')
local granted = 0
local lease = tonumber(ARGV[1] or '0')
if avail == 0 and lease > 0 and redis.call('EXISTS', KEYS[4]) == 0 then
  if redis.call('PTTL', KEYS[3]) < lease then  -- never shortens another process's lease
    redis.call('SET', KEYS[3], 1, 'PX', lease)
  end
  granted = 1
end
return {avail, redis.call('EXISTS', KEYS[2]), tonumber(state[2] or '0'), state[3] or '', granted}
