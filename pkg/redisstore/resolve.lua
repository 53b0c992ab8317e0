-- resolve.lua: resolve and fold one batch of one tenant's events, atomically.
--
-- KEYS[1]  the tenant's meta hash "cx:{tenant}:meta" (counters: profiles,
--          merges). It declares the tenant's hash slot; every key below
--          carries the same {tenant} hash tag, so the script stays in one
--          slot on Redis Cluster too.
-- ARGV[1]  the tenant's key prefix "cx:{tenant}:"
-- ARGV[2]  the batch as JSON:
--   {"keep": N,                      recent event ids kept per profile
--    "first": {"<src>": offset},     first offset of each source in the batch
--    "events": [{"s": "<src>",       source: "<topic>/<partition>"
--                "o": offset,
--                "e": event id,
--                "c": candidate profile id (used if the event creates one),
--                "t": event time, unix ms,
--                "ids": ["type:value", ...],     strongest first
--                "u": [field, value, ...]}]}     profile field updates
--
-- Returns JSON:
--   {"r": [[status, profile_id], ...]  one per event, in order; status is
--          "ok" (applied), "dup" (event id already folded into the profile),
--          "replay" (offset already applied: the recorded outcome is returned
--          again so the caller can republish it) or "old" (applied and
--          committed long ago: nothing to do)
--    "id": [identity records],         {k, p, f, i, a, e, t}
--    "p": {profile_id: [field, value, ...]}}  state of every touched live profile
--
-- Keys (P = ARGV[1]):
--   P.."idx"       hash  "type:value" -> profile id (always a live profile)
--   P.."fwd"       hash  merged-away profile id -> surviving profile id
--   P.."p:"..id    hash  profile state; field prefixes give the fold rule:
--                        a: sum, n: min, x: max, w: stamped last-writer-wins,
--                        i: identifier (min link ms), m: merged-from (min ms)
--   P.."pe:"..id   zset  recent event ids of the profile (score: event ms)
--   P.."wm"        hash  "<src>" -> highest applied offset (the watermark)
--   P.."ob:"..src  zset  outbox: recorded outcome per offset not yet known
--                        to be committed (score: offset)

local P = ARGV[1]
local batch = cjson.decode(ARGV[2])
local keep = batch.keep
local STAMP = 31

local results, records, touched, gone = {}, {}, {}, {}

-- fold applies one field update with the rule of the field's prefix.
local function fold(key, f, v)
  local op = string.byte(f, 1)
  if op == 97 then -- a: sum
    redis.call('HINCRBY', key, f, v)
    return
  end
  local cur = redis.call('HGET', key, f)
  if not cur then
    redis.call('HSET', key, f, v)
  elseif op == 119 then -- w: greatest stamp wins
    if string.sub(v, 1, STAMP) > string.sub(cur, 1, STAMP) then
      redis.call('HSET', key, f, v)
    end
  elseif op == 120 then -- x: maximum
    if tonumber(v) > tonumber(cur) then redis.call('HSET', key, f, v) end
  else -- n, i, m: minimum
    if tonumber(v) < tonumber(cur) then redis.call('HSET', key, f, v) end
  end
end

-- live follows forwarding pointers from a merged-away profile id.
local function live(id)
  for _ = 1, 64 do
    local nxt = redis.call('HGET', P .. 'fwd', id)
    if not nxt then return id end
    id = nxt
  end
  return id
end

-- older reports whether profile a survives a merge with b: the one first seen
-- earliest, ties broken by id, so every resolver picks the same survivor.
local function older(a, b)
  local fa = tonumber(redis.call('HGET', P .. 'p:' .. a, 'n:first_seen') or '9007199254740991')
  local fb = tonumber(redis.call('HGET', P .. 'p:' .. b, 'n:first_seen') or '9007199254740991')
  if fa ~= fb then return fa < fb end
  return a < b
end

local function trim(ek)
  if redis.call('ZCARD', ek) > keep then
    redis.call('ZREMRANGEBYRANK', ek, 0, -(keep + 1))
  end
end

-- merge folds profile l into w, moves l's identifiers and forwarding
-- pointers to w and deletes l.
local function merge(w, l, ev, recs)
  local wk, lk = P .. 'p:' .. w, P .. 'p:' .. l
  local fields = redis.call('HGETALL', lk)
  local aliases = { l }
  for j = 1, #fields, 2 do
    local f, v = fields[j], fields[j + 1]
    fold(wk, f, v)
    local op = string.byte(f, 1)
    if op == 105 then -- i: the identifier now belongs to w
      redis.call('HSET', P .. 'idx', string.sub(f, 3), w)
    elseif op == 109 then -- m: profiles merged into l now forward to w
      local old = string.sub(f, 3)
      redis.call('HSET', P .. 'fwd', old, w)
      aliases[#aliases + 1] = old
    end
  end
  fold(wk, 'm:' .. l, ev.t)
  redis.call('HSET', P .. 'fwd', l, w)
  local we, le = P .. 'pe:' .. w, P .. 'pe:' .. l
  redis.call('ZUNIONSTORE', we, 2, we, le, 'AGGREGATE', 'MIN')
  trim(we)
  redis.call('DEL', lk, le)
  redis.call('HINCRBY', KEYS[1], 'profiles', -1)
  redis.call('HINCRBY', KEYS[1], 'merges', 1)
  gone[l] = true
  touched[l] = nil
  recs[#recs + 1] = { k = 'profiles_merged', p = w, f = l, a = aliases, e = ev.e, t = ev.t }
end

local wm = {}
for src, first in pairs(batch.first) do
  -- Outcomes below the batch's first offset were committed: forget them.
  redis.call('ZREMRANGEBYSCORE', P .. 'ob:' .. src, '-inf', '(' .. first)
  wm[src] = tonumber(redis.call('HGET', P .. 'wm', src) or '-1')
end
local advanced = {}

for n, ev in ipairs(batch.events) do
  local src = ev.s
  if ev.o <= wm[src] then
    -- Redelivered after a crash or rebalance: the state already holds this
    -- event. Return what was recorded so the caller can publish it again.
    local stored = redis.call('ZRANGEBYSCORE', P .. 'ob:' .. src, ev.o, ev.o)
    if #stored > 0 then
      local rec = cjson.decode(stored[1])
      local id = live(rec.p)
      results[n] = { 'replay', id }
      touched[id] = true
      for _, r in ipairs(rec.id) do records[#records + 1] = r end
    else
      results[n] = { 'old', '' }
    end
  else
    wm[src] = ev.o
    advanced[src] = true
    -- Resolve: the distinct live profiles of the event's identifiers.
    local found, seen, fresh = {}, {}, {}
    for _, id in ipairs(ev.ids) do
      local pid = redis.call('HGET', P .. 'idx', id)
      if pid then
        if not seen[pid] then
          seen[pid] = true
          found[#found + 1] = pid
        end
      else
        fresh[#fresh + 1] = id
      end
    end
    local recs = {}
    local pid
    if #found == 0 then
      -- The candidate id derives from the event id; if it exists already (a
      -- retry of the event with other identifiers) attach to it.
      pid = live(ev.c)
      if redis.call('EXISTS', P .. 'p:' .. pid) == 0 then
        redis.call('HINCRBY', KEYS[1], 'profiles', 1)
        recs[#recs + 1] = { k = 'profile_created', p = pid, e = ev.e, t = ev.t }
      end
    else
      pid = found[1]
      for j = 2, #found do
        if older(found[j], pid) then pid = found[j] end
      end
      for _, other in ipairs(found) do
        if other ~= pid then merge(pid, other, ev, recs) end
      end
    end
    local pk = P .. 'p:' .. pid
    for _, id in ipairs(fresh) do
      redis.call('HSET', P .. 'idx', id, pid)
      recs[#recs + 1] = { k = 'identifier_linked', p = pid, i = id, e = ev.e, t = ev.t }
    end
    for _, id in ipairs(ev.ids) do fold(pk, 'i:' .. id, ev.t) end
    -- Fold, unless a client retry already brought this event id.
    local ek = P .. 'pe:' .. pid
    local status = 'dup'
    if not redis.call('ZSCORE', ek, ev.e) then
      status = 'ok'
      redis.call('ZADD', ek, ev.t, ev.e)
      trim(ek)
      local u = ev.u
      for j = 1, #u, 2 do fold(pk, u[j], u[j + 1]) end
    end
    touched[pid] = true
    results[n] = { status, pid }
    for _, r in ipairs(recs) do records[#records + 1] = r end
    -- Empty lists encode as {} in cjson; "id" is read back leniently.
    redis.call('ZADD', P .. 'ob:' .. src, ev.o, cjson.encode({ o = ev.o, p = pid, id = recs }))
  end
end

for src in pairs(advanced) do
  redis.call('HSET', P .. 'wm', src, wm[src])
end

local profiles = {}
for id in pairs(touched) do
  if not gone[id] then profiles[id] = redis.call('HGETALL', P .. 'p:' .. id) end
end

return cjson.encode({ r = results, id = records, p = profiles })
