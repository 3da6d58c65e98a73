-- Take a lock and read its resource's token sequence in one call: pottery Redlock's
-- acquire on one node (SET key value PX lifetime NX) and the read half of pottery
-- NextID (GET of the sequence).
--
-- KEYS[1]  the lock (pottery Redlock's key)
-- KEYS[2]  the resource's token sequence (pottery NextID's key)
-- ARGV[1]  the holder's value (pottery's uuid)
-- ARGV[2]  the lock's lifetime in milliseconds
--
-- Returns {taken, sequence}: taken is 1 when the key was free and is now ours, 0 when
-- it is held; sequence is the sequence's value as text ('0' when it has none).
local taken = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') and 1 or 0
return {taken, redis.call('GET', KEYS[2]) or '0'}
