-- A process stopped waiting for a lock (it won it, or gave up).
--
-- KEYS[1]  how many processes wait for the lock
if redis.call('DECR', KEYS[1]) <= 0 then
  redis.call('DEL', KEYS[1])
end
return 1
