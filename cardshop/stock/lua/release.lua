-- Let go of a lock and wake one process that waits for it: pottery's release script
-- (delete the key only while it still holds our value) and handoff.lua in one call.
--
-- KEYS[1]  the lock (pottery Redlock's key)
-- KEYS[2]  the lock's wake list (a waiter blocks on it with BLPOP)
-- KEYS[3]  how many processes wait for the lock (a counter that expires)
-- ARGV[1]  the holder's value (pottery's uuid)
-- ARGV[2]  milliseconds a wake-up is kept for a waiter about to block
--
-- Returns {released, waiting}: released is 1 when the key held our value and is gone
-- (pottery's release returns what DEL did), waiting how many processes wait. Waiters
-- count themselves on one node (LockManager.hint_node), so elsewhere waiting is 0.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0, 0}
end
redis.call('DEL', KEYS[1])
local waiting = tonumber(redis.call('GET', KEYS[3]) or '0')
if waiting > 0 then
  redis.call('LPUSH', KEYS[2], 1)
  redis.call('LTRIM', KEYS[2], 0, 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {1, waiting}
