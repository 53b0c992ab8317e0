-- lib.lua: identity resolution on the tenant's Redis state, shared by the
-- entry points resolve.lua (a batch of events) and unmerge.lua (an operator's
-- split). Go prepends it to each of them. The semantics are described in
-- docs/ARCHITECTURE.md ("Identity rules", "Identity resolution in Redis");
-- pkg/identity/identitytest is the reference this code is tested against.
--
-- Every entry point passes:
-- KEYS[1]  the tenant's meta hash "cx:{tenant}:meta" (counters: profiles,
--          merges, rederived, version). It declares the tenant's hash slot; every key
--          below carries the same {tenant} hash tag, so the scripts stay in
--          one slot on Redis Cluster too.
-- ARGV[1]  the tenant's key prefix "cx:{tenant}:"
-- ARGV[2]  the rules as JSON: {"lim": {type: limit}, "dl": default limit,
--          "pri": {type: priority}, "dp": default priority,
--          "cap": identifiers per profile, "win": dedup window in ms,
--          "keep": most event ids remembered per anchor,
--          "edges": most edges a component may have to be re-derived}
-- ARGV[3]  the tenant (profile ids are UUID v5 of "<tenant>/<event id>")
-- ARGV[4]  the entry point's own argument (JSON)
--
-- Keys (P = ARGV[1]):
--   P.."idx"       hash  "type:value" -> live profile id, or "~"..cluster id
--                        for an identifier every event had dropped
--   P.."fwd"       hash  merged-away profile id -> newer profile id
--   P.."p:"..id    hash  profile state. Fold fields (prefix gives the rule):
--                        a: sum, n: min, x: max, w: stamped last-writer-wins,
--                        o: stamped first-writer-wins, c: increments newer
--                        than the set (see cmerge), i: identifier (min link
--                        ms), m: merged-from (min ms);
--                        structure: _t type counts (JSON), _n identifiers,
--                        _hk greatest edge key, _c cluster id if conflicted,
--                        _x if it holds an identifier with cuts, _v the
--                        state version of its last change
--   P.."s:"..id    hash  anchor state: the fold of the events whose strongest
--                        identifier is id, and e:<signature> -> edge key for
--                        each distinct identifier set anchored there (the
--                        identity log the graph is re-derived from), and
--                        b:<anchor> for each edge anchored elsewhere that id
--                        was dropped from
--   P.."pe:"..id   zset  event ids anchored at id (score: event ms), trimmed
--                        to the dedup window
--   P.."cl:"..cid  hash  a conflicted cluster (profiles kept apart by rules):
--                        hk greatest edge key, f parent cluster after a union
--   P.."cut"       hash  identifier -> JSON list of identifiers it must never
--                        share a profile with (written by unmerge); profiles
--                        holding such an identifier carry _x
--   P.."wm"        hash  "<src>" -> highest applied offset (the watermark)
--   P.."ob:"..src  zset  outbox: the recorded outcomes of the offsets not
--                        yet known to be committed, one member per call
--                        (score: its last offset; resolve.lua)
--
-- An edge key is "<15-digit event ms> <event id>": the canonical order.

local P = ARGV[1]
local R = cjson.decode(ARGV[2])
local TENANT = ARGV[3]
local STAMP = 31
local META = KEYS[1]

local results, records, touched = {}, {}, {}
local rederived = 0
local HAS_CUTS = redis.call('EXISTS', P .. 'cut') == 1

-- ---------------------------------------------------------------- helpers

local function ekey(t, e) return string.format('%015d', t) .. ' ' .. e end
local function ktime(k) return tonumber(string.sub(k, 1, 15)) end
local function kevent(k) return string.sub(k, 17) end
local function typeof(id) return string.match(id, '^([^:]*)') end
local function limit(ty) return R.lim[ty] or R.dl end
local function priority(ty) return R.pri[ty] or R.dp end

-- stronger orders identifiers as identity.Policy.Less does.
local function stronger(a, b)
  local ta, tb = typeof(a), typeof(b)
  local pa, pb = priority(ta), priority(tb)
  if pa ~= pb then return pa > pb end
  return a < b
end

local function split(s, sep)
  local out, from = {}, 1
  while true do
    local at = string.find(s, sep, from, true)
    if not at then
      out[#out + 1] = string.sub(s, from)
      return out
    end
    out[#out + 1] = string.sub(s, from, at - 1)
    from = at + 1
  end
end

-- uuid5 computes identity.CandidateID: UUID v5 of "<tenant>/<name>".
local NS = string.gsub('6f1c3c8e2b7a5d1e9a430c5d2f7e8b10', '%x%x',
  function(h) return string.char(tonumber(h, 16)) end)
local function uuid5(name)
  local h = redis.sha1hex(NS .. TENANT .. '/' .. name)
  local v = '5' .. string.sub(h, 14, 16)
  local var = string.format('%x', bit.bor(bit.band(tonumber(string.sub(h, 17, 17), 16), 3), 8))
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-' .. v .. '-' ..
      var .. string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
end

-- Counters ("c:t:<trait>", increments newer than the trait's latest set):
-- the text is lines "~<min stamp><max stamp><sum>" (the floor, first if
-- present) and "<stamp><delta>", ascending; pkg/profile/counter.go
-- documents it and is the reference this port must match byte for byte.
local COUNTER_ENTRIES = 64

local function cparse(v)
  local c = { fl = false, es = {} }
  for line in string.gmatch(v, '[^\n]+') do
    if string.byte(line, 1) == 126 then
      c.fl = true
      c.fmin = string.sub(line, 2, 1 + STAMP)
      c.fmax = string.sub(line, 2 + STAMP, 1 + 2 * STAMP)
      c.fsum = tonumber(string.sub(line, 2 + 2 * STAMP))
    else
      c.es[#c.es + 1] = { string.sub(line, 1, STAMP), tonumber(string.sub(line, STAMP + 1)) }
    end
  end
  return c
end

local function cabsorb(c, e)
  if not c.fl then
    c.fl, c.fmin, c.fmax, c.fsum = true, e[1], e[1], 0
  end
  if e[1] < c.fmin then c.fmin = e[1] end
  if e[1] > c.fmax then c.fmax = e[1] end
  c.fsum = c.fsum + e[2]
end

local function int(n) return string.format('%.0f', n) end

-- cmerge combines two counter texts of a trait whose latest set has stamp
-- set ('' if none), as profile.mergeCounters does; '' if nothing is left.
local function cmerge(a, b, set)
  local x, y = cparse(a), cparse(b)
  local out = { fl = false, es = {} }
  for _, c in ipairs({ x, y }) do
    if c.fl then
      if not out.fl then
        out.fl, out.fmin, out.fmax, out.fsum = true, c.fmin, c.fmax, c.fsum
      else
        if c.fmin < out.fmin then out.fmin = c.fmin end
        if c.fmax > out.fmax then out.fmax = c.fmax end
        out.fsum = out.fsum + c.fsum
      end
    end
  end
  local all, i, j = {}, 1, 1
  while i <= #x.es or j <= #y.es do
    if j > #y.es or (i <= #x.es and x.es[i][1] < y.es[j][1]) then
      all[#all + 1] = x.es[i]
      i = i + 1
    elseif i > #x.es or y.es[j][1] < x.es[i][1] then
      all[#all + 1] = y.es[j]
      j = j + 1
    else
      all[#all + 1] = x.es[i]
      i, j = i + 1, j + 1
    end
  end
  if out.fl and set ~= '' and out.fmax < set then out = { fl = false, es = {} } end
  for _, e in ipairs(all) do
    if set ~= '' and e[1] < set then
      -- overridden by the set
    elseif out.fl and (e[1] == out.fmin or e[1] == out.fmax) then
      -- already summed in the floor
    elseif out.fl and e[1] < out.fmax then
      cabsorb(out, e)
    else
      out.es[#out.es + 1] = e
    end
  end
  local from = 1
  while #out.es - from + 1 > COUNTER_ENTRIES do
    cabsorb(out, out.es[from])
    from = from + 1
  end
  local lines = {}
  if out.fl then lines[1] = '~' .. out.fmin .. out.fmax .. int(out.fsum) end
  for k = from, #out.es do lines[#lines + 1] = out.es[k][1] .. int(out.es[k][2]) end
  return table.concat(lines, '\n')
end

-- foldin applies one field update to a state read and written through get
-- and put (put(f, false) deletes), with the rule of the field's prefix.
local function foldin(get, put, f, v)
  local op = string.byte(f, 1)
  if op == 99 then -- c: increments newer than the trait's set
    local w = get('w:t:' .. string.sub(f, 5))
    local nv = cmerge(get(f) or '', v, w and string.sub(w, 1, STAMP) or '')
    put(f, nv ~= '' and nv)
    return
  end
  local cur = get(f)
  local changed = false
  if not cur then
    changed = true
  elseif op == 97 then -- a: sum
    put(f, int(tonumber(cur) + tonumber(v)))
  elseif op == 119 then -- w: greatest stamp wins
    changed = string.sub(v, 1, STAMP) > string.sub(cur, 1, STAMP)
  elseif op == 111 then -- o: smallest stamp wins
    changed = string.sub(v, 1, STAMP) < string.sub(cur, 1, STAMP)
  elseif op == 120 then -- x: maximum
    changed = tonumber(v) > tonumber(cur)
  else -- n, i, m: minimum
    changed = tonumber(v) < tonumber(cur)
  end
  if not changed then return end
  put(f, v)
  if op == 119 and string.sub(f, 1, 4) == 'w:t:' then
    -- A newer set or unset overrides the older increments of its trait.
    local cf = 'c:t:' .. string.sub(f, 5)
    local c = get(cf)
    if c then
      local nv = cmerge(c, '', string.sub(v, 1, STAMP))
      put(cf, nv ~= '' and nv)
    end
  end
end

-- foldinto applies field updates (a flat list f1, v1, f2, v2, ...) to the
-- hash at key with one HMGET, at most one HSET and one HDEL per thousand
-- fields: a few commands per event instead of two per field.
local function foldinto(key, u)
  local need, seen = {}, {}
  local function want(f)
    if not seen[f] then
      seen[f] = true
      need[#need + 1] = f
    end
  end
  for j = 1, #u, 2 do
    local f = u[j]
    want(f)
    local p4 = string.sub(f, 1, 4)
    if p4 == 'w:t:' then
      want('c:t:' .. string.sub(f, 5))
    elseif p4 == 'c:t:' then
      want('w:t:' .. string.sub(f, 5))
    end
  end
  local st = {}
  for from = 1, #need, 1000 do
    local part = { unpack(need, from, math.min(from + 999, #need)) }
    local vals = redis.call('HMGET', key, unpack(part))
    for j, f in ipairs(part) do
      if vals[j] then st[f] = vals[j] end
    end
  end
  local dirty = {}
  local function get(g) return st[g] end
  local function put(g, x)
    st[g] = x or nil
    dirty[g] = true
  end
  for j = 1, #u, 2 do foldin(get, put, u[j], u[j + 1]) end
  local set, del = {}, {}
  for g in pairs(dirty) do
    if st[g] then
      set[#set + 1] = g
      set[#set + 1] = st[g]
    else
      del[#del + 1] = g
    end
  end
  for from = 1, #set, 2000 do
    redis.call('HSET', key, unpack(set, from, math.min(from + 1999, #set)))
  end
  for from = 1, #del, 1000 do
    redis.call('HDEL', key, unpack(del, from, math.min(from + 999, #del)))
  end
end

-- foldmem is fold on a Lua table.
local function foldmem(st, f, v)
  foldin(function(g) return st[g] end, function(g, x) st[g] = x or nil end, f, v)
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

-- croot follows cluster union pointers to the root cluster.
local function croot(cid)
  for _ = 1, 64 do
    local nxt = redis.call('HGET', P .. 'cl:' .. cid, 'f')
    if not nxt then return cid end
    cid = nxt
  end
  return cid
end

-- older reports whether profile a survives a merge with b: the one first seen
-- earliest, ties broken by id, so every resolver picks the same survivor.
local function older(a, b)
  local fa = tonumber(redis.call('HGET', P .. 'p:' .. a, 'n:first_seen') or '9007199254740991')
  local fb = tonumber(redis.call('HGET', P .. 'p:' .. b, 'n:first_seen') or '9007199254740991')
  if fa ~= fb then return fa < fb end
  return a < b
end

-- cutsOf returns the identifiers id must never share a profile with, or
-- false.
local cutcache = {}
local function cutsOf(id)
  local c = cutcache[id]
  if c == nil then
    c = false
    if HAS_CUTS then
      local v = redis.call('HGET', P .. 'cut', id)
      if v then c = cjson.decode(v) end
    end
    cutcache[id] = c
  end
  return c
end

-- admit decides which identifiers of an edge (strongest first) join: each
-- joins if the union of what joined so far and its profile (or itself, if
-- it has none) keeps every type within its limit and the total within the
-- cap; the strongest always joins. profOf(id) returns the identifier's
-- profile handle or false; infoOf(handle) returns {t = counts, n = total}.
-- With idsOf (handle -> set of identifiers), cuts are checked too: no two
-- identifiers an unmerge cut apart may end up together. It returns the
-- joined profile handles, the joined new identifiers and the drops
-- {identifier, rule, profile handle or false}.
local function admit(ids, profOf, infoOf, idsOf)
  local counts, total = {}, 0
  local joined, jset, fresh, drops = {}, {}, {}, {}
  local uset = {}
  for j, id in ipairs(ids) do
    local q = profOf(id)
    if not (q and jset[q]) then
      local add, n
      if q then
        local inf = infoOf(q)
        add, n = inf.t, inf.n
      else
        add, n = { [typeof(id)] = 1 }, 1
      end
      local rule = false
      if j > 1 then
        local tys = {}
        for ty in pairs(add) do tys[#tys + 1] = ty end
        table.sort(tys)
        for _, ty in ipairs(tys) do
          if (counts[ty] or 0) + add[ty] > limit(ty) then
            rule = 'limit:' .. ty
            break
          end
        end
        if not rule and total + n > R.cap then rule = 'max_identifiers' end
      end
      local cand = false
      if idsOf then cand = q and idsOf(q) or { [id] = true } end
      if cand and not rule and j > 1 then
        for z in pairs(cand) do
          local cs = cutsOf(z)
          if cs then
            for _, y in ipairs(cs) do
              if uset[y] then
                rule = 'cut'
                break
              end
            end
          end
          if rule then break end
        end
      end
      if rule then
        drops[#drops + 1] = { id, rule, q }
      else
        if cand then
          for z in pairs(cand) do uset[z] = true end
        end
        for ty, c in pairs(add) do counts[ty] = (counts[ty] or 0) + c end
        total = total + n
        if q then
          jset[q] = true
          joined[#joined + 1] = q
        else
          fresh[#fresh + 1] = id
        end
      end
    end
  end
  return joined, fresh, drops
end

local function addcounts(a, b)
  local out = {}
  for ty, c in pairs(a) do out[ty] = c end
  for ty, c in pairs(b) do out[ty] = (out[ty] or 0) + c end
  return out
end

local function encodecounts(t)
  if next(t) == nil then return '{}' end
  return cjson.encode(t)
end

local function record(r) records[#records + 1] = r end

-- touchedstates numbers the changes of this call from the tenant's version
-- counter and returns the states of the touched profiles that still exist,
-- and those of the profiles in shown (unchanged, with the version they
-- have), as HGETALL lists. The records this call made (those without a
-- version yet) take the next versions (v) in the order they were made; the
-- touched profiles are all stamped with the one after (_v). So of two
-- records, or two states of a profile, the one with the higher version was
-- made later, whatever their event times and whichever resolver made them;
-- and a call's profile states are newer than the records that explain them.
local shown = {}
local function touchedstates()
  local out, live = {}, {}
  for id in pairs(touched) do
    local f = redis.call('HGETALL', P .. 'p:' .. id)
    if #f > 0 then
      out[id] = f
      live[#live + 1] = id
    end
  end
  local fresh = {}
  for _, r in ipairs(records) do
    if r.v == nil then fresh[#fresh + 1] = r end
  end
  if #fresh > 0 or #live > 0 then
    local version = redis.call('HINCRBY', META, 'version', #fresh + 1)
    for i, r in ipairs(fresh) do r.v = version - #fresh - 1 + i end
    for _, id in ipairs(live) do
      local f = out[id]
      redis.call('HSET', P .. 'p:' .. id, '_v', version)
      local at = false
      for j = 1, #f, 2 do
        if f[j] == '_v' then at = j end
      end
      if at then f[at + 1] = tostring(version) else
        f[#f + 1] = '_v'
        f[#f + 1] = tostring(version)
      end
    end
  end
  for id in pairs(shown) do
    if not out[id] then
      local f = redis.call('HGETALL', P .. 'p:' .. id)
      if #f > 0 then out[id] = f end
    end
  end
  return out
end

-- ------------------------------------------------------ incremental path

-- merge folds profile l into w, moves l's identifiers and forwarding
-- pointers to w and deletes l. Structural fields are the caller's.
local function merge(w, l, ev)
  local wk, lk = P .. 'p:' .. w, P .. 'p:' .. l
  local fields = redis.call('HGETALL', lk)
  local aliases = { l }
  local u = {}
  for j = 1, #fields, 2 do
    local f, v = fields[j], fields[j + 1]
    local op = string.byte(f, 1)
    if op ~= 95 then -- not a structural "_" field
      u[#u + 1] = f
      u[#u + 1] = v
      if op == 105 then -- i: the identifier now belongs to w
        redis.call('HSET', P .. 'idx', string.sub(f, 3), w)
      elseif op == 109 then -- m: profiles merged into l now forward to w
        local old = string.sub(f, 3)
        redis.call('HSET', P .. 'fwd', old, w)
        aliases[#aliases + 1] = old
      end
    end
  end
  u[#u + 1] = 'm:' .. l
  u[#u + 1] = tostring(ev.t)
  foldinto(wk, u)
  redis.call('HSET', P .. 'fwd', l, w)
  redis.call('DEL', lk)
  redis.call('HINCRBY', META, 'profiles', -1)
  redis.call('HINCRBY', META, 'merges', 1)
  touched[l] = nil
  record({ k = 'profiles_merged', p = w, f = l, a = aliases, ids = ev.ids, e = ev.e, t = ev.t })
end

-- apply resolves a new edge against the live graph, in arrival order. It is
-- exact when the edge comes last in canonical order among the edges of the
-- component, or when no rule blocks anything in the component (then the
-- result is the union of the sets, whatever the order).
local function apply(ev, key, prof, info, clusters, joined, fresh, drops)
  local pid
  if #joined == 0 then
    pid = uuid5(ev.e)
    if redis.call('EXISTS', P .. 'p:' .. pid) == 0 then
      redis.call('HINCRBY', META, 'profiles', 1)
      redis.call('HDEL', P .. 'fwd', pid)
      info[pid] = { t = {}, n = 0, hk = '' }
      record({ k = 'profile_created', p = pid, e = ev.e, t = ev.t })
    else
      local h = redis.call('HMGET', P .. 'p:' .. pid, '_t', '_n', '_hk')
      info[pid] = { t = cjson.decode(h[1] or '{}'), n = tonumber(h[2] or '0'), hk = h[3] or '' }
    end
  else
    pid = joined[1]
    for j = 2, #joined do
      if older(joined[j], pid) then pid = joined[j] end
    end
  end
  local counts, n, hk = info[pid].t, info[pid].n, info[pid].hk
  for _, q in ipairs(joined) do
    if q ~= pid then
      merge(pid, q, ev)
      counts = addcounts(counts, info[q].t)
      n = n + info[q].n
      if info[q].hk > hk then hk = info[q].hk end
    end
  end
  local pk = P .. 'p:' .. pid
  for _, id in ipairs(fresh) do
    redis.call('HSET', P .. 'idx', id, pid)
    counts[typeof(id)] = (counts[typeof(id)] or 0) + 1
    n = n + 1
    record({ k = 'identifier_linked', p = pid, i = id, e = ev.e, t = ev.t })
  end
  local dropped = {}
  for _, d in ipairs(drops) do dropped[d[1]] = true end
  local links = {}
  for _, id in ipairs(ev.ids) do
    if not dropped[id] then
      links[#links + 1] = 'i:' .. id
      links[#links + 1] = tostring(ev.t)
    end
  end
  foldinto(pk, links)
  if key > hk then hk = key end
  redis.call('HSET', pk, '_t', encodecounts(counts), '_n', n, '_hk', hk)
  -- Clusters: profiles a rule keeps apart stay in one conflicted cluster,
  -- so that a late event re-derives all of them together.
  local roots = {}
  for cid in pairs(clusters) do roots[croot(cid)] = true end
  if #drops > 0 or next(roots) then
    local root, chk = nil, hk
    for cid in pairs(roots) do
      if not root or cid < root then root = cid end
    end
    if not root then root = string.sub(redis.sha1hex('c/' .. key), 1, 20) end
    for cid in pairs(roots) do
      local h = redis.call('HGET', P .. 'cl:' .. cid, 'hk')
      if h and h > chk then chk = h end
      if cid ~= root then redis.call('HSET', P .. 'cl:' .. cid, 'f', root) end
    end
    redis.call('HSET', pk, '_c', root)
    for _, d in ipairs(drops) do
      local q = d[3]
      if q then
        redis.call('HSET', P .. 'p:' .. q, '_c', root)
        if info[q].hk > chk then chk = info[q].hk end
      elseif not redis.call('HGET', P .. 'idx', d[1]) then
        redis.call('HSET', P .. 'idx', d[1], '~' .. root)
      end
      redis.call('HSET', P .. 's:' .. d[1], 'b:' .. ev.ids[1], '1')
      record({ k = 'merge_blocked', p = pid, f = q or '', i = d[1], r = d[2], ids = ev.ids, e = ev.e, t = ev.t })
    end
    redis.call('HSET', P .. 'cl:' .. root, 'hk', chk)
  end
  return pid
end

-- ------------------------------------------------------- re-derivation

-- rederive recomputes a whole component in canonical order from the edges
-- stored with its anchors: every profile reachable from the seeds through
-- the identifiers of their edges, and the identifiers left in no profile.
-- Profile states are re-folded from the anchor states. Ids of surviving
-- profiles are kept where possible; the others forward. It returns false
-- (and changes nothing) when the component has more than R.edges edges.
local function rederive(ev, seeds, why)
  -- 1. The component: breadth-first over profiles, anchors and edges.
  local members, order = {}, {}
  local fields = {}        -- pid -> its HGETALL
  local anchors = {}       -- identifier -> its anchor hash (HGETALL)
  local edges = {}         -- {key, ids}
  local seenid = {}
  local clusters = {}
  local queue = {}
  local nedges = 0
  local function visit(pid)
    if pid and not members[pid] then
      members[pid] = true
      queue[#queue + 1] = pid
    end
  end
  for _, s in ipairs(seeds) do visit(s) end
  -- scan visits identifiers: their profile (or cluster, if unlinked), the
  -- edges anchored at them and the anchors of edges they were dropped from.
  local ids_todo = {}
  local function want(id)
    if not seenid[id] then
      seenid[id] = true
      ids_todo[#ids_todo + 1] = id
    end
  end
  local function scan()
    while #ids_todo > 0 do
      if nedges > R.edges then return end
      local id = table.remove(ids_todo)
      local v = redis.call('HGET', P .. 'idx', id)
      if v then
        if string.sub(v, 1, 1) == '~' then
          clusters[croot(string.sub(v, 2))] = true
        else
          visit(v)
        end
      end
      local a = redis.call('HGETALL', P .. 's:' .. id)
      if #a > 0 then
        anchors[id] = a
        for j = 1, #a, 2 do
          local pre = string.sub(a[j], 1, 2)
          if pre == 'e:' then
            local ids = split(string.sub(a[j], 3), '\n')
            edges[#edges + 1] = { a[j + 1], ids }
            nedges = nedges + 1
            for _, x in ipairs(ids) do want(x) end
          elseif pre == 'b:' then
            want(string.sub(a[j], 3))
          end
        end
      end
    end
  end
  local head = 1
  for _, id in ipairs(ev.ids) do want(id) end
  scan()
  while head <= #queue do
    if nedges > R.edges then return false end
    local pid = queue[head]
    head = head + 1
    order[#order + 1] = pid
    local f = redis.call('HGETALL', P .. 'p:' .. pid)
    fields[pid] = f
    for j = 1, #f, 2 do
      if string.byte(f[j], 1) == 105 then want(string.sub(f[j], 3)) end
      if f[j] == '_c' then clusters[croot(f[j + 1])] = true end
    end
    scan()
  end
  if nedges > R.edges then return false end
  rederived = rederived + 1

  -- 2. Replay the edges in canonical order on tables, checking cuts if
  -- any identifier of the component has some.
  local hascuts = false
  if HAS_CUTS then
    local all = {}
    for id in pairs(seenid) do all[#all + 1] = id end
    for from = 1, #all, 1000 do
      local part = { unpack(all, from, math.min(from + 999, #all)) }
      local vs = redis.call('HMGET', P .. 'cut', unpack(part))
      for j, id in ipairs(part) do
        if cutcache[id] == nil then cutcache[id] = vs[j] and cjson.decode(vs[j]) or false end
        if cutcache[id] then hascuts = true end
      end
    end
  end
  local idsOf = false
  if hascuts then idsOf = function(d) return d.ids end end
  table.sort(edges, function(a, b) return a[1] < b[1] end)
  local owner = {}   -- identifier -> derived profile (table)
  local linkt = {}   -- identifier -> link ms
  local blocks = {}
  local derived = {}
  local function profOf(id) return owner[id] or false end
  local function infoOf(d) return d end
  for _, ed in ipairs(edges) do
    local k, ids = ed[1], ed[2]
    local joined, fresh, drops = admit(ids, profOf, infoOf, idsOf)
    local d
    if #joined == 0 then
      d = { ids = {}, t = {}, n = 0, ck = k, anchor = ids[1], hk = k }
      derived[#derived + 1] = d
    else
      d = joined[1]
      for j = 2, #joined do
        if joined[j].ck < d.ck then d = joined[j] end
      end
      for _, q in ipairs(joined) do
        if q ~= d then
          for id in pairs(q.ids) do
            d.ids[id] = true
            owner[id] = d
          end
          d.t = addcounts(d.t, q.t)
          d.n = d.n + q.n
          if q.hk > d.hk then d.hk = q.hk end
          q.gone = true
        end
      end
    end
    for _, id in ipairs(fresh) do
      d.ids[id] = true
      owner[id] = d
      d.t[typeof(id)] = (d.t[typeof(id)] or 0) + 1
      d.n = d.n + 1
    end
    if k > d.hk then d.hk = k end
    local dropped = {}
    for _, x in ipairs(drops) do
      dropped[x[1]] = true
      blocks[#blocks + 1] = { k, x[1], x[2], ids }
    end
    local t = ktime(k)
    for _, id in ipairs(ids) do
      if not dropped[id] and (not linkt[id] or t < linkt[id]) then linkt[id] = t end
    end
  end
  local live_derived = {}
  for _, d in ipairs(derived) do
    if not d.gone then live_derived[#live_derived + 1] = d end
  end
  table.sort(live_derived, function(a, b) return a.ck < b.ck end)

  -- 3. Ids: a derived profile keeps the id its creating anchor had, if that
  -- profile is in the component and no earlier derived profile took it;
  -- otherwise it takes the id its creating event would have created.
  local oldof = {}
  for _, pid in ipairs(order) do
    local f = fields[pid]
    for j = 1, #f, 2 do
      if string.byte(f[j], 1) == 105 then oldof[string.sub(f[j], 3)] = pid end
    end
  end
  local taken = {}
  for _, d in ipairs(live_derived) do
    local o = oldof[d.anchor]
    if o and not taken[o] then
      d.id = o
      taken[o] = true
    end
  end
  for _, d in ipairs(live_derived) do
    if not d.id then
      -- The event's own id, or a deterministic derivation of it while
      -- that is taken (a profile an earlier derivation created under it).
      local id, n = uuid5(kevent(d.ck)), 0
      while taken[id] do
        n = n + 1
        id = uuid5(kevent(d.ck) .. '/' .. n)
      end
      d.id = id
      taken[id] = true
    end
  end

  -- 4. Where each old profile goes: the derived profile holding its
  -- strongest identifier that is still linked.
  local target = {}
  for _, pid in ipairs(order) do
    if not taken[pid] then
      local f, ids = fields[pid], {}
      for j = 1, #f, 2 do
        if string.byte(f[j], 1) == 105 then ids[#ids + 1] = string.sub(f[j], 3) end
      end
      table.sort(ids, stronger)
      for _, id in ipairs(ids) do
        if owner[id] then
          target[pid] = owner[id]
          break
        end
      end
      if not target[pid] then target[pid] = live_derived[1] end
    end
  end

  -- 5. Write the derived profiles.
  local conflicted = #blocks > 0
  local root = false
  if conflicted then root = string.sub(redis.sha1hex('r/' .. ev.e .. '/' .. why), 1, 20) end
  for cid in pairs(clusters) do redis.call('DEL', P .. 'cl:' .. cid) end
  for _, pid in ipairs(order) do redis.call('DEL', P .. 'p:' .. pid) end
  local states, chk = {}, ''
  for _, d in ipairs(live_derived) do
    local st = {}
    states[d] = st
    for id in pairs(d.ids) do
      st['i:' .. id] = tostring(linkt[id])
      local a = anchors[id]
      if a then
        for j = 1, #a, 2 do
          local pre = string.sub(a[j], 1, 2)
          if pre ~= 'e:' and pre ~= 'b:' then foldmem(st, a[j], a[j + 1]) end
        end
      end
    end
    if d.hk > chk then chk = d.hk end
  end
  -- Merged-from: every old id that is not kept forwards to a derived
  -- profile, and so do the ids merged into it before.
  local byid, reused = {}, 0
  for _, d in ipairs(live_derived) do byid[d.id] = d end
  for _, pid in ipairs(order) do
    local f = fields[pid]
    local d = byid[pid] or target[pid]
    local aliases = { pid }
    if byid[pid] then reused = reused + 1 else
      foldmem(states[d], 'm:' .. pid, tostring(ev.t))
      redis.call('HSET', P .. 'fwd', pid, d.id)
    end
    for j = 1, #f, 2 do
      if string.byte(f[j], 1) == 109 then
        local old = string.sub(f[j], 3)
        if not taken[old] then
          aliases[#aliases + 1] = old
          foldmem(states[d], f[j], f[j + 1])
          if not byid[pid] then redis.call('HSET', P .. 'fwd', old, d.id) end
        end
      end
    end
    if not byid[pid] then
      record({ k = 'profiles_merged', p = d.id, f = pid, a = aliases, r = why, e = ev.e, t = ev.t })
    end
  end
  for _, d in ipairs(live_derived) do
    local st = states[d]
    local flat = {}
    for f, v in pairs(st) do
      flat[#flat + 1] = f
      flat[#flat + 1] = v
    end
    flat[#flat + 1] = '_t'
    flat[#flat + 1] = encodecounts(d.t)
    flat[#flat + 1] = '_n'
    flat[#flat + 1] = d.n
    flat[#flat + 1] = '_hk'
    flat[#flat + 1] = d.hk
    if root then
      flat[#flat + 1] = '_c'
      flat[#flat + 1] = root
    end
    if hascuts then
      for id in pairs(d.ids) do
        if cutsOf(id) then
          flat[#flat + 1] = '_x'
          flat[#flat + 1] = '1'
          break
        end
      end
    end
    redis.call('HSET', P .. 'p:' .. d.id, unpack(flat))
    redis.call('HDEL', P .. 'fwd', d.id)
    touched[d.id] = true
    if not members[d.id] then
      record({ k = 'profile_created', p = d.id, r = why, e = kevent(d.ck), t = ktime(d.ck) })
    end
  end
  if root then redis.call('HSET', P .. 'cl:' .. root, 'hk', chk) end
  redis.call('HINCRBY', META, 'profiles', #live_derived - #order)
  redis.call('HINCRBY', META, 'merges', #order - reused)
  redis.call('HINCRBY', META, 'rederived', 1)
  -- 6. The index, and what moved.
  for id in pairs(seenid) do
    local old = oldof[id]
    local d = owner[id]
    if d then
      redis.call('HSET', P .. 'idx', id, d.id)
      if not old then
        record({ k = 'identifier_linked', p = d.id, i = id, r = why, e = ev.e, t = ev.t })
      elseif old ~= d.id then
        record({ k = 'identifier_moved', p = d.id, f = old, i = id, r = why, e = ev.e, t = ev.t })
      end
    elseif root then
      redis.call('HSET', P .. 'idx', id, '~' .. root)
      if old then record({ k = 'identifier_unlinked', p = old, f = old, i = id, r = why, e = ev.e, t = ev.t }) end
    end
  end
  -- A dropped identifier points back at the edge's anchor, so that the
  -- component is found from either side. Blocks from the first changed
  -- position on are reported again, with the profiles they now concern.
  local from = ekey(ev.t, ev.e)
  for _, b in ipairs(blocks) do
    redis.call('HSET', P .. 's:' .. b[2], 'b:' .. b[4][1], '1')
    if b[1] >= from then
      local d = owner[b[4][1]]
      local q = owner[b[2]]
      record({ k = 'merge_blocked', p = d and d.id or '', f = q and q.id or '', i = b[2], r = b[3],
        ids = b[4], e = kevent(b[1]), t = ktime(b[1]) })
    end
  end
  -- An unmerged identifier that never anchored an event is in no profile.
  local o = owner[ev.ids[1]]
  return o and o.id or ''
end

-- resolve finds the profile of a new edge (an identifier set not observed
-- before, or observed before only later in canonical order).
local function resolve(ev, key)
  local vals = redis.call('HMGET', P .. 'idx', unpack(ev.ids))
  local prof, info, clusters, seeds = {}, {}, {}, {}
  local maxhk, conflicted, forced = '', false, false
  if HAS_CUTS then
    for _, id in ipairs(ev.ids) do
      if cutsOf(id) then forced = true end
    end
  end
  for j, id in ipairs(ev.ids) do
    local v = vals[j]
    if v and string.sub(v, 1, 1) == '~' then
      clusters[string.sub(v, 2)] = true
      conflicted = true
      v = false
    end
    prof[id] = v or false
    if v and not info[v] then
      local h = redis.call('HMGET', P .. 'p:' .. v, '_t', '_n', '_hk', '_c', '_x')
      if h[5] then forced = true end
      info[v] = { t = cjson.decode(h[1] or '{}'), n = tonumber(h[2] or '0'), hk = h[3] or '' }
      if h[3] and h[3] > maxhk then maxhk = h[3] end
      if h[4] then
        clusters[h[4]] = true
        conflicted = true
      end
      seeds[#seeds + 1] = v
    end
  end
  for cid in pairs(clusters) do
    local h = redis.call('HGET', P .. 'cl:' .. croot(cid), 'hk')
    if h and h > maxhk then maxhk = h end
  end
  local joined, fresh, drops = admit(ev.ids,
    function(id) return prof[id] end,
    function(q) return info[q] end)
  if forced or ((conflicted or #drops > 0) and key < maxhk) then
    local pid = rederive(ev, seeds, 'rederive')
    if pid then return pid end
  end
  return apply(ev, key, prof, info, clusters, joined, fresh, drops)
end

