-- resolve.lua: resolve and fold one batch of one tenant's events, atomically
-- (after lib.lua, which documents the keys and the common arguments).
--
-- ARGV[4]  the batch as JSON:
--   {"first": {"<src>": offset},     first offset of each source in the batch
--    "events": [{"s": "<src>",       source: "<topic>/<partition>"
--                "o": offset,
--                "e": event id,
--                "t": event time, unix ms,
--                "ids": ["type:value", ...],     usable, strongest first
--                "u": [field, value, ...]}]}     profile field updates
--
-- Returns JSON:
--   {"r": [[status, profile_id], ...]  one per event, in order; status is
--          "ok" (applied), "dup" (event id already folded), "replay" (offset
--          already applied: the recorded outcome is returned again so the
--          caller can republish it), "old" (applied and committed long
--          ago: nothing to do) or "suppressed" (its strongest identifier
--          belongs to a forgotten person: nothing folded, profile id "")
--
-- Suppression (forget.lua): an identifier whose hash is in P.."sup" is
-- dropped from the event; if it was the strongest (the anchor), the whole
-- event is about the forgotten person and is skipped.
--    "id": [identity records],  {k, p, f, i, r, ids, a, e, t, v}
--    "p": {profile_id: [field, value, ...]},  state of every touched profile
--    "x": number of components re-derived}

local batch = cjson.decode(ARGV[4])
-- The batch's suppressed identifiers (forget.lua), looked up once: one
-- HMGET for every distinct identifier of the batch, and only when the
-- tenant has forgotten anybody.
local gone = {}
local HAS_SUP = redis.call('EXISTS', P .. 'sup') == 1
if HAS_SUP then
  local ids, hs, seen = {}, {}, {}
  for _, ev in ipairs(batch.events) do
    for _, id in ipairs(ev.ids) do
      if not seen[id] then
        seen[id] = true
        ids[#ids + 1] = id
        hs[#hs + 1] = redis.sha1hex('cxstream-suppress/' .. id)
      end
    end
  end
  -- unpack is bounded by Lua's stack: look the hashes up in slices.
  for from = 1, #hs, 1000 do
    local to = math.min(from + 999, #hs)
    local got = redis.call('HMGET', P .. 'sup', unpack(hs, from, to))
    for i = from, to do
      if got[i - from + 1] then gone[ids[i]] = true end
    end
  end
end

-- suppressed drops the forgotten identifiers from ev.ids and says whether
-- the anchor (the strongest) was one of them.
local function suppressed(ev)
  if gone[ev.ids[1]] then return true end
  local keep = {}
  for _, id in ipairs(ev.ids) do
    if not gone[id] then keep[#keep + 1] = id end
  end
  ev.ids = keep
  return false
end

-- ------------------------------------------------------------ the batch

-- The outbox of a source holds one entry per call: {"b": [outcome, ...]}
-- with outcomes {o = offset, p = profile id, id = records} in offset
-- order, scored with the last offset. (An entry {o, p, id} scored o, one
-- per offset, is the earlier form, still read.) Entries of one source
-- never share an offset, so the one holding offset o is the first scored
-- o or more, if it holds o.
local obcache = {} -- member -> offset -> outcome
local function outcomes(m)
  local byo = obcache[m]
  if not byo then
    byo = {}
    local e = cjson.decode(m)
    if e.b then
      for _, rec in ipairs(e.b) do byo[rec.o] = rec end
    else
      byo[e.o] = e
    end
    obcache[m] = byo
  end
  return byo
end

local wm = {}
for src, first in pairs(batch.first) do
  -- Outcomes below the batch's first offset were committed: forget them.
  -- An entry that also holds later offsets (this batch redelivers part of
  -- an earlier one) loses the committed ones.
  local ob = P .. 'ob:' .. src
  redis.call('ZREMRANGEBYSCORE', ob, '-inf', '(' .. first)
  local straddle = redis.call('ZRANGEBYSCORE', ob, first, '+inf', 'LIMIT', 0, 1)
  if #straddle > 0 then
    local e = cjson.decode(straddle[1])
    if e.b and e.b[1].o < first then
      local keep = {}
      for _, rec in ipairs(e.b) do
        if rec.o >= first then keep[#keep + 1] = rec end
      end
      redis.call('ZREM', ob, straddle[1])
      redis.call('ZADD', ob, keep[#keep].o, cjson.encode({ b = keep }))
    end
  end
  wm[src] = tonumber(redis.call('HGET', P .. 'wm', src) or '-1')
end
local advanced = {}
-- Outcomes are stored once the call's version is known (touchedstates), so
-- that a replay returns the records with the version they first had.
local outbox = {}

for n, ev in ipairs(batch.events) do
  local src = ev.s
  if ev.o <= wm[src] then
    -- Redelivered after a crash or rebalance: the state already holds this
    -- event. Return what was recorded so the caller can publish it again.
    local stored = redis.call('ZRANGEBYSCORE', P .. 'ob:' .. src, ev.o, '+inf', 'LIMIT', 0, 1)
    local rec = #stored > 0 and outcomes(stored[1])[ev.o]
    if rec and rec.p == '' then
      results[n] = { 'suppressed', '' }
    elseif rec then
      local id = live(rec.p)
      results[n] = { 'replay', id }
      shown[id] = true
      for _, r in ipairs(rec.id) do
        r.v = r.v or 0 -- stored before records had versions: not this call's
        records[#records + 1] = r
      end
    else
      results[n] = { 'old', '' }
    end
  elseif HAS_SUP and suppressed(ev) then
    wm[src] = ev.o
    advanced[src] = true
    results[n] = { 'suppressed', '' }
    local ob = outbox[src]
    if not ob then
      ob = {}
      outbox[src] = ob
    end
    ob[#ob + 1] = { o = ev.o, p = '', id = {} }
  else
    wm[src] = ev.o
    advanced[src] = true
    local first = #records
    local anchor = ev.ids[1]
    local key = ekey(ev.t, ev.e)
    local sk = P .. 's:' .. anchor
    local ef = 'e:' .. table.concat(ev.ids, '\n')
    local seen = redis.call('HGET', sk, ef)
    local pid
    if seen and seen <= key then
      -- This identifier set was observed before: nothing changes.
      pid = redis.call('HGET', P .. 'idx', anchor)
    end
    if not pid or string.sub(pid, 1, 1) == '~' then
      redis.call('HSET', sk, ef, key)
      pid = resolve(ev, key)
    end
    -- Fold, unless a client retry already brought this event id (ZADD NX
    -- adds it only if it is not there).
    local ek = P .. 'pe:' .. anchor
    local status = 'dup'
    if redis.call('ZADD', ek, 'NX', ev.t, ev.e) == 1 then
      status = 'ok'
      redis.call('ZREMRANGEBYSCORE', ek, '-inf', '(' .. (ev.t - R.win))
      if redis.call('ZCARD', ek) > R.keep then
        redis.call('ZREMRANGEBYRANK', ek, 0, -(R.keep + 1))
      end
      foldinto(sk, ev.u)
      foldinto(P .. 'p:' .. pid, ev.u)
    end
    touched[pid] = true
    results[n] = { status, pid }
    local recs = {}
    for j = first + 1, #records do recs[#recs + 1] = records[j] end
    -- Empty lists encode as {} in cjson; "id" is read back leniently.
    local ob = outbox[src]
    if not ob then
      ob = {}
      outbox[src] = ob
    end
    ob[#ob + 1] = { o = ev.o, p = pid, id = recs }
  end
end

local states = touchedstates()
for src, ob in pairs(outbox) do
  redis.call('ZADD', P .. 'ob:' .. src, ob[#ob].o, cjson.encode({ b = ob }))
end

for src in pairs(advanced) do
  redis.call('HSET', P .. 'wm', src, wm[src])
end

return cjson.encode({ r = results, id = records, p = states, x = rederived })
