-- One node's seen-keys filter of a product, with the version it is of.
--
-- KEYS[1]  stock hash of the product: fields applied, epoch
-- KEYS[2]  the product's seen-keys filter (see reserve.lua)
--
-- Returns {applied, epoch, bitmap}; the bitmap is empty when no key was applied.
local state = redis.call('HMGET', KEYS[1], 'applied', 'epoch')
return {tonumber(state[1] or '0'), state[2] or '', redis.call('GET', KEYS[2]) or ''}
