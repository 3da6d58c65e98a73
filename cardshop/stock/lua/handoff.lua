-- A lock was released: wake one process waiting for it, if any waits.
--
-- KEYS[1]  the lock's wake list (a waiter blocks on it with BLPOP)
-- KEYS[2]  how many processes wait for the lock (a counter that expires)
-- ARGV[1]  milliseconds a wake-up is kept for a waiter about to block
--
-- Returns how many wait. The list holds at most one wake-up: waking is a hint to try
-- the lock now, and one is enough for the one waiter that can win it.
local waiting = tonumber(redis.call('GET', KEYS[2]) or '0')
if waiting > 0 then
  redis.call('LPUSH', KEYS[1], 1)
  redis.call('LTRIM', KEYS[1], 0, 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return waiting
