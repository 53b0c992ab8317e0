-- timers.lua: a tenant's durable timers, which are also the outbox of its
-- activation triggers. Go prepends it to activate.lua, and to one line
-- calling claim or ack for the other two entry points (timers.go).
--
-- KEYS[1]  the tenant's meta hash "cx:{tenant}:meta"; its field "tseq"
--          numbers timer occurrences. It declares the tenant's hash slot;
--          every key below carries the same {tenant} hash tag.
-- ARGV[1]  the tenant's key prefix "cx:{tenant}:"
--
-- Keys (P = ARGV[1]). A timer id has two slots, pending and leased, so that
-- an id scheduled again while its previous occurrence is being published
-- (a cart timer pushed later by a new cart event) keeps both:
--   P.."tm"    zset  pending: id -> due, unix ms
--   P.."tmp"   hash  pending: id -> "<seq> <due> <payload>"
--   P.."tml"   zset  leased: id -> lease expiry, unix ms
--   P.."tmlp"  hash  leased: id -> "<seq> <due> <payload>"
-- seq names one occurrence. Claiming moves an occurrence from the pending
-- to the leased slot unchanged; only an ack naming its seq removes it, so a
-- late ack never touches the pending slot or a newer lease. A pending id
-- whose leased slot is taken is not claimed until that lease is acked or
-- expires and is redelivered and acked.

local P = ARGV[1]
local META = KEYS[1]
local TM, TMP, TML, TMLP = P .. 'tm', P .. 'tmp', P .. 'tml', P .. 'tmlp'

-- occurrence reads seq and due from a slot's value.
local function occurrence(v)
  local i = string.find(v, ' ', 1, true)
  local j = string.find(v, ' ', i + 1, true)
  return tonumber(string.sub(v, 1, i - 1)), tonumber(string.sub(v, i + 1, j - 1))
end

-- slot builds a new occurrence's value.
local function slot(due, payload)
  local seq = redis.call('HINCRBY', META, 'tseq', 1)
  return string.format('%d %d ', seq, due) .. payload
end

-- schedule puts an occurrence of id due at due (ms) in its pending slot.
-- mode "set" replaces a pending occurrence (one with the same due and
-- payload stays as it is); "max" keeps the later due of
-- the new one, the pending one and the leased one (a late or replayed
-- event cannot fire a timer again for a moment already being published);
-- "nx" schedules only if id is neither pending nor leased.
local function schedule(id, due, payload, mode)
  local pending = redis.call('HGET', TMP, id)
  if pending and mode ~= 'nx' then
    -- The same occurrence pending already (an eval timer set again to the
    -- same moment, as most batches do): keep it rather than renumber it.
    local seq, d = occurrence(pending)
    if d == due and string.sub(pending, #string.format('%d %d ', seq, d) + 1) == payload then return end
  end
  if mode == 'nx' then
    if pending or redis.call('HEXISTS', TMLP, id) == 1 then return end
  elseif mode == 'max' then
    local leased = redis.call('HGET', TMLP, id)
    for _, v in ipairs({ pending or false, leased or false }) do
      if v then
        local _, d = occurrence(v)
        if d >= due then return end
      end
    end
  elseif mode ~= 'set' then
    error('unknown timer mode ' .. tostring(mode)) -- Go checks modes first
  end
  redis.call('HSET', TMP, id, slot(due, payload))
  redis.call('ZADD', TM, due, id)
end

-- unschedule drops id's pending occurrence (a leased one stays).
local function unschedule(id)
  redis.call('ZREM', TM, id)
  redis.call('HDEL', TMP, id)
end

-- cancel is mode "cancel": it drops id's pending occurrence if that one is
-- due at or before due (ms), a bound rather than a due time. A leased
-- occurrence stays: it is being published already, and its ack ends it. So
-- an order at T, cancelling "cart:<pid>" with due T + window, drops a cart
-- timer set by activity at or before T but not one pushed out by activity
-- after it; an "unless" event cancels a pending follow-up alike.
local function cancel(id, due)
  local pending = redis.call('HGET', TMP, id)
  if not pending then return end
  local _, d = occurrence(pending)
  if d <= tonumber(due) then unschedule(id) end
end

-- enqueue puts a new occurrence of id straight into the leased slot, leased
-- to the caller until exp, and returns its value; nil if id is pending or
-- leased already (its first enqueue stands).
local function enqueue(id, due, exp, payload)
  if redis.call('HEXISTS', TMLP, id) == 1 or redis.call('HEXISTS', TMP, id) == 1 then
    return nil
  end
  local v = slot(due, payload)
  redis.call('HSET', TMLP, id, v)
  redis.call('ZADD', TML, exp, id)
  return v
end

-- earliest returns the earliest score of the pending and leased zsets, as
-- Redis wrote it, or "" if both are empty.
local function earliest()
  local a = redis.call('ZRANGE', TM, 0, 0, 'WITHSCORES')
  local b = redis.call('ZRANGE', TML, 0, 0, 'WITHSCORES')
  if #a == 0 then return b[2] or '' end
  if #b == 0 or tonumber(a[2]) <= tonumber(b[2]) then return a[2] end
  return b[2]
end

-- claim leases up to ARGV[3] occurrences to the caller until ARGV[4] (ms):
-- first leased ones whose lease expired by ARGV[2] (their claimer died
-- before acking), then pending ones due by ARGV[2]. Returns
-- {earliest(), id, value, id, value, ...}.
local function claim()
  local now, limit, exp = ARGV[2], tonumber(ARGV[3]), ARGV[4]
  local out, n = { '' }, 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', TML, '-inf', now, 'LIMIT', 0, limit)) do
    local v = redis.call('HGET', TMLP, id)
    if v then
      redis.call('ZADD', TML, exp, id)
      out[#out + 1] = id
      out[#out + 1] = v
      n = n + 1
    else
      redis.call('ZREM', TML, id)
    end
  end
  -- Due ids whose leased slot is taken stay pending; they are the first
  -- `blocked` members due, as every other member read so far was claimed.
  local blocked = 0
  while n < limit do
    local due = redis.call('ZRANGEBYSCORE', TM, '-inf', now, 'LIMIT', blocked, limit - n)
    if #due == 0 then break end
    for _, id in ipairs(due) do
      if redis.call('HEXISTS', TMLP, id) == 1 then
        blocked = blocked + 1
      else
        local v = redis.call('HGET', TMP, id)
        unschedule(id)
        if v then
          redis.call('HSET', TMLP, id, v)
          redis.call('ZADD', TML, exp, id)
          out[#out + 1] = id
          out[#out + 1] = v
          n = n + 1
        end
      end
    end
  end
  out[1] = earliest()
  return out
end

-- ack removes the leased occurrences named by ARGV[2..] (pairs id, seq)
-- whose seq still matches, and returns how many it removed.
local function ack()
  local n = 0
  for i = 2, #ARGV - 1, 2 do
    local id = ARGV[i]
    local v = redis.call('HGET', TMLP, id)
    if v and occurrence(v) == tonumber(ARGV[i + 1]) then
      redis.call('HDEL', TMLP, id)
      redis.call('ZREM', TML, id)
      n = n + 1
    end
  end
  return n
end
