-- forget.lua: erase a person, for good (after lib.lua, which documents the
-- keys and the common arguments).
--
-- Deletes the live profile and everything that came from its events: the
-- profile hash, the anchor states, event-id sets and index entries of its
-- identifiers, the forwarding pointers of the profiles merged into it, its
-- cuts, its activation state and its pending and leased timers. Identifiers
-- that only its events carried but a rule kept out of every profile lose
-- their index entry too. Other profiles' anchors forget the forgotten
-- identifiers: an edge anchored elsewhere that one of them was dropped from
-- is rewritten without it, so no key or field name keeps it.
--
-- Then it suppresses the profile's identifiers: P.."sup" maps the SHA-1 of
-- "cxstream-suppress/<type:value>" (never the identifier itself) to the
-- forgotten profile id. resolve.lua drops a suppressed identifier from every later
-- event, and skips an event whose strongest identifier is suppressed, so
-- neither a replay nor a new event brings the person back.
--
-- Keys (P = ARGV[1]), besides lib.lua's:
--   P.."sup"   hash  sha1("cxstream-suppress/<identifier>") -> forgotten
--                    profile id
--   P.."gone"  hash  forgotten profile id -> {"m": [merged-from ids],
--                    "t": unix ms, "v": version}
--
-- ARGV[4]  {"p": profile id (or an alias of it), "t": unix ms}
--
-- Returns JSON: {"p": profile id, "m": [merged-from ids], "ids":
--   [identifiers], "v": the tombstone's version, "err": reason if nothing
--   was done ("profile_not_found")}

local op = cjson.decode(ARGV[4])
local pid = live(op.p)
local pk = P .. 'p:' .. pid
local f = redis.call('HGETALL', pk)
if #f == 0 then
  return cjson.encode({ err = 'profile_not_found' })
end

local mine, ids, merged = {}, {}, {}
for j = 1, #f, 2 do
  local pre = string.sub(f[j], 1, 2)
  if pre == 'i:' then
    local id = string.sub(f[j], 3)
    mine[id] = true
    ids[#ids + 1] = id
  elseif pre == 'm:' then
    merged[#merged + 1] = string.sub(f[j], 3)
  end
end
table.sort(ids)
table.sort(merged)

-- without returns an edge's identifier list without the forgotten ones.
local function without(list)
  local keep = {}
  for _, x in ipairs(list) do
    if not mine[x] then keep[#keep + 1] = x end
  end
  return keep
end

for _, id in ipairs(ids) do
  local sk = P .. 's:' .. id
  local a = redis.call('HGETALL', sk)
  for j = 1, #a, 2 do
    local pre = string.sub(a[j], 1, 2)
    if pre == 'e:' then
      -- An edge anchored here: the identifiers a rule dropped from it
      -- (not the profile's) point back here with b:<id>.
      for _, x in ipairs(split(string.sub(a[j], 3), '\n')) do
        if not mine[x] then
          local xk = P .. 's:' .. x
          redis.call('HDEL', xk, 'b:' .. id)
          if redis.call('EXISTS', xk) == 0 then
            local v = redis.call('HGET', P .. 'idx', x)
            if v and string.sub(v, 1, 1) == '~' then redis.call('HDEL', P .. 'idx', x) end
          end
        end
      end
    elseif pre == 'b:' then
      -- id was dropped from edges anchored at another profile's identifier:
      -- rewrite them without it (keeping the earliest edge key).
      local ak = P .. 's:' .. string.sub(a[j], 3)
      local b = redis.call('HGETALL', ak)
      for k = 1, #b, 2 do
        if string.sub(b[k], 1, 2) == 'e:' then
          local list = split(string.sub(b[k], 3), '\n')
          local keep = without(list)
          if #keep < #list then
            redis.call('HDEL', ak, b[k])
            local nf = 'e:' .. table.concat(keep, '\n')
            local old = redis.call('HGET', ak, nf)
            if not old or b[k + 1] < old then redis.call('HSET', ak, nf, b[k + 1]) end
          end
        end
      end
    end
  end
  redis.call('DEL', sk, P .. 'pe:' .. id)
  redis.call('HDEL', P .. 'idx', id)
  redis.call('HDEL', P .. 'cut', id)
end

-- Forwarding pointers and activation state of the profile and its aliases;
-- timers name the profile id ("cart:<pid>", "eval:<pid>", "fu:<rule>:<pid>",
-- "tr:<pid>:...").
local all = { pid }
for _, m in ipairs(merged) do
  redis.call('HDEL', P .. 'fwd', m)
  all[#all + 1] = m
end
for _, id in ipairs(all) do
  redis.call('HDEL', P .. 'act', id)
  for _, z in ipairs({ P .. 'tm', P .. 'tml' }) do
    local cursor = '0'
    repeat
      local r = redis.call('ZSCAN', z, cursor, 'MATCH', '*' .. id .. '*', 'COUNT', 1000)
      cursor = r[1]
      for k = 1, #r[2], 2 do
        local tid = r[2][k]
        redis.call('ZREM', z, tid)
        redis.call('HDEL', z .. 'p', tid)
      end
    until cursor == '0'
  end
end
-- The outboxes (resolve.lua) keep the outcomes of recent batches until
-- they are known to be committed: a redelivery republishes them. The
-- person's outcomes become suppressed ones and records that name them go.
local ours = {}
for _, id in ipairs(all) do ours[id] = true end
local function names(r)
  if ours[r.p] or ours[r.f] or mine[r.i] then return true end
  for _, l in ipairs({ r.ids or {}, r.a or {} }) do
    if type(l) == 'table' then
      for _, x in ipairs(l) do
        if mine[x] or ours[x] then return true end
      end
    end
  end
  return false
end
for _, src in ipairs(redis.call('HKEYS', P .. 'wm')) do
  local ob = P .. 'ob:' .. src
  local entries = redis.call('ZRANGE', ob, 0, -1, 'WITHSCORES')
  for j = 1, #entries, 2 do
    local e = cjson.decode(entries[j])
    local outs = e.b or { e }
    local changed = false
    for _, rec in ipairs(outs) do
      if ours[rec.p] then
        rec.p = ''
        changed = true
      end
      if type(rec.id) == 'table' then
        local keep = {}
        for _, r in ipairs(rec.id) do
          if names(r) then changed = true else keep[#keep + 1] = r end
        end
        rec.id = keep
      end
    end
    if changed then
      redis.call('ZREM', ob, entries[j])
      redis.call('ZADD', ob, entries[j + 1], cjson.encode(e.b and { b = outs } or outs[1]))
    end
  end
end

redis.call('DEL', pk)
redis.call('HINCRBY', META, 'profiles', -1)
local version = redis.call('HINCRBY', META, 'version', 1)

for _, id in ipairs(ids) do
  redis.call('HSET', P .. 'sup', redis.sha1hex('cxstream-suppress/' .. id), pid)
end
redis.call('HSET', P .. 'gone', pid, cjson.encode({ m = merged, t = op.t, v = version }))

return cjson.encode({ p = pid, m = merged, ids = ids, v = version })
