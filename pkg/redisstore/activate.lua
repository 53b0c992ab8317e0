-- activate.lua: record one batch's segment membership and lifecycle of a
-- tenant's profiles, enqueue the transitions into the timer outbox (leased
-- to the caller, who publishes and acks them), and schedule timers, all
-- atomically (after timers.lua, which documents the timer keys).
--
-- ARGV[2]  the call as JSON:
--   {"now": unix ms, "exp": lease expiry of the enqueued transitions, ms,
--    "in": [{"p": profile id, "v": state version,
--            "s": [segment, ...] sorted, "l": lifecycle stage,
--            "r": true for a time-driven re-evaluation,
--            "n": next re-evaluation, ms (0: none),
--            "t": when the transitions happened, ms,
--            "m": the profile it was merged into (left out if none)}],
--    "tm": [{"id": timer id, "d": due ms (for "cancel" the latest due
--            cancelled), "m": "set"|"max"|"nx"|"cancel"}]}
-- ARGV[3..] the payloads of "tm", in order ("" for "cancel")
--
-- Keys (P = ARGV[1]), besides the timers:
--   P.."act"  hash  profile id -> {"v": version, "s": [segments], "l":
--                   lifecycle, "r": re-evaluations at v that changed
--                   something (left out when 0)}: the membership whose
--                   transitions were last enqueued
--
-- An input applies if nothing is stored for its profile, or its version is
-- newer, or (r) it is a re-evaluation at the stored version or newer;
-- otherwise it is stale or a replay and changes nothing. An applied input
-- enqueues "tr:<pid>:<ver>:<kind>:<segment or stage>" for each segment
-- left (sorted), each segment entered (sorted), and a changed lifecycle
-- stage, where <ver> is the version, followed by ".<r>" for the r-th
-- re-evaluation at that version that changed something. A profile seen for
-- the first time enters all its segments and changes stage from "" (if it
-- has one). Its "eval:<pid>" timer is set to n, or dropped if n is 0. A
-- transition's payload carries "rev": r when r > 0, so that downstream ids
-- built from (version, rev) tell two re-evaluations at one version apart.
--
-- An input with "m" says the profile was merged into m at version v; its
-- "s", "l", "r" and "n" are ignored. It applies if nothing is stored for
-- the profile or v is newer. It then enqueues
-- "tr:<pid>:<v>:segment.exited:<segment>" for each stored segment (sorted),
-- whose payload has "merged_into": m, and no lifecycle transition; stores
-- the tombstone {"v": v, "s": [], "l": ""}; and drops "eval:<pid>". With
-- nothing stored it only stores the tombstone. The tombstone makes a stale
-- input for the merged-away id (an older version from a slower resolver)
-- be ignored instead of looking like a new profile, while a newer one (the
-- profile revived by an unmerge) enters its segments and changes stage
-- from "" as a new profile does.
--
-- Then the timers "tm" are applied in order: "cancel" drops the id's
-- pending occurrence if it is due at or before d (timers.lua), so a
-- schedule then a cancel of one id cancels, a cancel then a schedule keeps
-- the new occurrence.
--
-- Returns {id, value, id, value, ...}: the enqueued transitions.

local A = cjson.decode(ARGV[2])
local ACT = P .. 'act'
local out = {}

-- The "act" entries of the inputs' profiles, read with one HMGET and
-- written with one HSET at the end (an input sees an earlier input's entry
-- for its profile).
local acts, dirty, order = {}, {}, {}
do
  local ids, seen = {}, {}
  for _, x in ipairs(A['in']) do
    if not seen[x.p] then
      seen[x.p] = true
      ids[#ids + 1] = x.p
    end
  end
  for from = 1, #ids, 1000 do
    local part = { unpack(ids, from, math.min(from + 999, #ids)) }
    local vals = redis.call('HMGET', ACT, unpack(part))
    for j, id in ipairs(part) do acts[id] = vals[j] end
  end
end
local function putact(id, v)
  if not dirty[id] then
    dirty[id] = true
    order[#order + 1] = id
  end
  acts[id] = v
end

local function jstr(s) return cjson.encode(s) end
local function jnum(n) return string.format('%d', n) end

local function set(list)
  local s = {}
  for _, x in ipairs(list) do s[x] = true end
  return s
end

-- encodeact writes an "act" entry; numbers are formatted here, as cjson
-- rounds them to 14 digits.
local function encodeact(v, segs, l, r)
  local q = {}
  for i, s in ipairs(segs) do q[i] = jstr(s) end
  local t = '{"v":' .. jnum(v) .. ',"s":[' .. table.concat(q, ',') .. '],"l":' .. jstr(l)
  if r > 0 then t = t .. ',"r":' .. jnum(r) end
  return t .. '}'
end

-- emit enqueues a transition and adds it to the result.
local function emit(id, at, payload)
  local v = enqueue(id, at, A.exp, payload)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  end
end

-- merge applies input x, which says its profile was merged into x.m.
local function merge(x, old)
  if old then
    local head = '{"kind":"segment.exited","profile_id":' .. jstr(x.p) .. ',"version":' .. jnum(x.v)
    local tail = ',"merged_into":' .. jstr(x.m) .. ',"at":' .. jnum(x.t) .. '}'
    for _, s in ipairs(old.s) do
      emit('tr:' .. x.p .. ':' .. jnum(x.v) .. ':segment.exited:' .. s, x.t, head .. ',"segment":' .. jstr(s) .. tail)
    end
  end
  putact(x.p, encodeact(x.v, {}, '', 0))
  unschedule('eval:' .. x.p)
end

for _, x in ipairs(A['in']) do
  local raw = acts[x.p]
  local old = raw and cjson.decode(raw)
  if x.m then
    if not old or x.v > old.v then merge(x, old) end
  elseif not old or x.v > old.v or (x.r and x.v >= old.v) then
    local ts = {} -- {kind, segment or stage, payload fields after version}
    local was, is = {}, set(x.s)
    if old then
      was = set(old.s)
      for _, s in ipairs(old.s) do
        if not is[s] then ts[#ts + 1] = { 'segment.exited', s, ',"segment":' .. jstr(s) } end
      end
    end
    for _, s in ipairs(x.s) do
      if not was[s] then ts[#ts + 1] = { 'segment.entered', s, ',"segment":' .. jstr(s) } end
    end
    local from = old and old.l or ''
    if from ~= x.l then
      ts[#ts + 1] = { 'lifecycle.changed', x.l, ',"from":' .. jstr(from) .. ',"to":' .. jstr(x.l) }
    end
    local r = 0
    if old and old.v == x.v then
      r = old.r or 0
      if #ts > 0 then r = r + 1 end
    end
    local ver = jnum(x.v)
    local common = ',"profile_id":' .. jstr(x.p) .. ',"version":' .. jnum(x.v)
    if r > 0 then
      ver = ver .. '.' .. jnum(r)
      common = common .. ',"rev":' .. jnum(r)
    end
    local at = ',"at":' .. jnum(x.t) .. '}'
    for _, t in ipairs(ts) do
      emit('tr:' .. x.p .. ':' .. ver .. ':' .. t[1] .. ':' .. t[2], x.t, '{"kind":' .. jstr(t[1]) .. common .. t[3] .. at)
    end
    putact(x.p, encodeact(x.v, x.s, x.l, r))
    if x.n ~= 0 then
      schedule('eval:' .. x.p, x.n, '{"kind":"eval","profile_id":' .. jstr(x.p) .. '}', 'set')
    else
      unschedule('eval:' .. x.p)
    end
  end
end

local flat = {}
for _, id in ipairs(order) do
  flat[#flat + 1] = id
  flat[#flat + 1] = acts[id]
end
for from = 1, #flat, 2000 do
  redis.call('HSET', ACT, unpack(flat, from, math.min(from + 1999, #flat)))
end

for i, t in ipairs(A.tm) do
  if t.m == 'cancel' then
    cancel(t.id, t.d)
  else
    schedule(t.id, t.d, ARGV[2 + i], t.m)
  end
end

return out
