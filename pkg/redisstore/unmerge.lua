-- unmerge.lua: take an identifier out of its profile, for good (after
-- lib.lua, which documents the keys and the common arguments).
--
-- The identifier is cut from every other identifier of its profile: no
-- profile may ever hold it together with any of them. The component is then
-- re-derived from its edges in canonical order under the cuts, which is
-- exactly what resolution would have produced had the rules always said so;
-- profile states are re-folded from the anchors and old ids forward. Later
-- events respect the cuts, and a rebuild restores them from the identity
-- log (the identifier_cut record).
--
-- ARGV[4]  {"id": "type:value", "p": profile id it must belong to,
--           "e": operation id, "t": time, unix ms}
--
-- Returns JSON: {"p": the identifier's new profile, "id": [records],
--   "pr": {profile_id: [field, value, ...]}, "err": reason if nothing done}

local op = cjson.decode(ARGV[4])
local x = op.id
local pid = redis.call('HGET', P .. 'idx', x)
if not pid or string.sub(pid, 1, 1) == '~' then
  return cjson.encode({ err = 'identifier_not_found' })
end
if op.p ~= '' and live(op.p) ~= pid then
  return cjson.encode({ err = 'identifier_not_in_profile' })
end
local f = redis.call('HGETALL', P .. 'p:' .. pid)
local partners = {}
for j = 1, #f, 2 do
  if string.byte(f[j], 1) == 105 then
    local y = string.sub(f[j], 3)
    if y ~= x then partners[#partners + 1] = y end
  end
end
if #partners == 0 then
  return cjson.encode({ err = 'identifier_alone' })
end
table.sort(partners)

-- Cuts are symmetric, so that the check finds them from either side. They
-- are stored only once the re-derivation has succeeded.
local changed = {}
local function addcut(a, b)
  local cur = cutsOf(a) or {}
  for _, c in ipairs(cur) do
    if c == b then return end
  end
  cur[#cur + 1] = b
  cutcache[a] = cur
  changed[a] = true
end
for _, y in ipairs(partners) do
  addcut(x, y)
  addcut(y, x)
end
HAS_CUTS = true
record({ k = 'identifier_cut', p = pid, f = pid, i = x, ids = partners, r = 'unmerge', e = op.e, t = op.t })

local ev = { e = op.e, t = op.t, ids = { x } }
local now = rederive(ev, { pid }, 'unmerge')
if not now then
  return cjson.encode({ err = 'component_too_large' })
end
for a in pairs(changed) do
  redis.call('HSET', P .. 'cut', a, cjson.encode(cutcache[a]))
end
local states = touchedstates()
return cjson.encode({ p = now, id = records, pr = states })
