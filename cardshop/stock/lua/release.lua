-- Let go of a lock and wake one process that waits for it: pottery's release script
-- (delete the key only while it still holds our value), then the wake-up.
--
-- KEYS[1]  the lock (pottery Redlock's key)
-- KEYS[2]  the lock's wake list (a waiter blocks on it with BLPOP)
-- KEYS[3]  how many processes wait for the lock (a counter that expires)
-- ARGV[1]  the holder's value (pottery's uuid)
-- ARGV[2]  milliseconds a wake-up is kept for a waiter about to block
-- ARGV[3]  '1': wake a waiter even when the key is not ours (a release that did not
--          reach a majority still lets a waiter try); otherwise only after deleting it
--
-- Returns {released, waiting}: released is 1 when the key held our value and is gone
-- (pottery's release returns what DEL did), waiting how many processes wait (0 when
-- nobody was woken). Waiters count themselves on one node (LockManager.hint_node), so
-- elsewhere waiting is 0. The wake list holds at most one wake-up: waking is a hint to
-- try the lock now, and one is enough for the one waiter that can win it.
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
elseif ARGV[3] ~= '1' then
  return {0, 0}
end
local waiting = tonumber(redis.call('GET', KEYS[3]) or '0')
if waiting > 0 then
  redis.call('LPUSH', KEYS[2], 1)
  redis.call('LTRIM', KEYS[2], 0, 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {released, waiting}
