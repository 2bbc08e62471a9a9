"""The Lua scripts of the Redis store: every write, and every read of more than one key or of
a run, is one script, so it is atomic and costs one round trip.

Conventions shared by every script (see ``stores/redis.py`` for the key layout):

* ``ARGV[1]`` is the key base (``NAME:{NAME}:``), ``ARGV[2]`` the signal channel; a script's
  own arguments follow.  ``KEYS[1]`` names the main key an operation touches (for routing).
* A run is a hash with one field per :class:`~fastagentic.core.runs.RunRecord` attribute,
  each value the attribute's JSON text.  The scripts never parse JSON: they compare the texts
  (``'"queued"'``) and read numbers with ``tonumber``, so every payload round-trips exactly
  as Python wrote it.
* Ids are compared by their bytes (``before``), never with Lua's ``<`` on strings, which
  follows the server's locale.
* ``CONFLICT ...`` errors become :class:`~fastagentic.exceptions.Conflict`.  A script checks
  everything before it writes anything (an error reply does not roll writes back).
"""

from __future__ import annotations

_HELPERS = r"""
local B, CH = ARGV[1], ARGV[2]
local MAX_SIGNAL = 32768  -- bytes of events an events signal carries at most
local ACTIVE = {['"queued"'] = true, ['"running"'] = true}
local TERMINAL = {['"completed"'] = true, ['"failed"'] = true, ['"cancelled"'] = true}
local IDX = {'status', 'principal', 'endpoint', 'tenant', 'created_at', 'lease_owner',
             'lease_expires_at', 'finished_at'}
local LISTS = {status = 's', principal = 'p', endpoint = 'e'}

-- a < b by bytes
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- run `key` as one JSON object, put together from its fields' JSON texts (one reply to
-- parse instead of a name and a value per field)
local function doc(key)
  local h = redis.call('HGETALL', key)
  if #h == 0 then return false end
  local parts = {}
  for i = 1, #h, 2 do parts[#parts + 1] = '"' .. h[i] .. '":' .. h[i + 1] end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- the fields of run `id` that decide where it is indexed (nil: no such run)
local function load(id)
  local v = redis.call('HMGET', B .. 'r:' .. id, unpack(IDX))
  if not v[1] then return nil end
  local t = {}
  for i, name in ipairs(IDX) do t[name] = v[i] or 'null' end
  return t
end

local function fairness(t)
  if t.tenant ~= 'null' then return 't' .. t.tenant end
  return 'p' .. t.principal
end

local function lease_live(t, now)
  return t.lease_owner ~= 'null' and (tonumber(t.lease_expires_at) or 0) > now
end

-- a fairness key's turn: 'fresh' (never served; scored by its oldest waiting run) or 'turns'
-- (scored by when it was last served), or neither when none of its runs waits
local function turn(k)
  local head = redis.call('ZRANGE', B .. 'q:' .. k, 0, 0, 'WITHSCORES')
  if not head[1] then
    redis.call('ZREM', B .. 'fresh', k)
    redis.call('ZREM', B .. 'turns', k)
    return
  end
  local served = redis.call('HGET', B .. 'served', k)
  if served then
    redis.call('ZADD', B .. 'turns', served, k)
  else
    redis.call('ZADD', B .. 'fresh', head[2], k)
  end
end

-- queue membership: waiting (q:<fairness key>, by created_at then id), leased (leases, by
-- expiry) or neither; `old` is where it was (nil for a new run)
local function queue(id, old, new, now)
  local k = fairness(new)
  local waiting, leased = false, false
  if ACTIVE[new.status] then
    if lease_live(new, now) then leased = true else waiting = true end
  end
  if old then
    local was = fairness(old)
    if (was ~= k or not waiting) and redis.call('ZREM', B .. 'q:' .. was, id) == 1 then
      turn(was)
    end
  end
  if waiting and redis.call('ZADD', B .. 'q:' .. k, 'CH', new.created_at, id) == 1 then
    turn(k)
  end
  if leased then
    redis.call('ZADD', B .. 'leases', new.lease_expires_at, id)
  elseif old then
    redis.call('ZREM', B .. 'leases', id)
  end
end

-- the listing indexes (all runs; by status, principal, endpoint) and finished runs
local function index(id, old, new)
  local moved = old == nil or old.created_at ~= new.created_at
  if moved then redis.call('ZADD', B .. 'runs', new.created_at, id) end
  for name, tag in pairs(LISTS) do
    if old and old[name] ~= new[name] then
      redis.call('ZREM', B .. 'ix:' .. tag .. old[name], id)
    end
    if moved or old[name] ~= new[name] then
      redis.call('ZADD', B .. 'ix:' .. tag .. new[name], new.created_at, id)
    end
  end
  if TERMINAL[new.status] and new.finished_at ~= 'null' then
    redis.call('ZADD', B .. 'done', new.finished_at, id)
  elseif old and TERMINAL[old.status] and old.finished_at ~= 'null' then
    redis.call('ZREM', B .. 'done', id)
  end
end

local function place(id, old, new, now)
  index(id, old, new)
  queue(id, old, new, now)
end

local function unplace(id, t)
  redis.call('ZREM', B .. 'runs', id)
  for name, tag in pairs(LISTS) do redis.call('ZREM', B .. 'ix:' .. tag .. t[name], id) end
  redis.call('ZREM', B .. 'done', id)
  redis.call('ZREM', B .. 'leases', id)
  local k = fairness(t)
  if redis.call('ZREM', B .. 'q:' .. k, id) == 1 then turn(k) end
end

-- append ARGV[from..#ARGV] (encoded events) to run `id`'s log, whose next seq must be
-- `first`; returns the last seq, or nil when `first` does not follow the log
local function push(id, first, from)
  local log = B .. 'e:' .. id
  local have = redis.call('LLEN', log)
  if first ~= have + 1 then return nil, have end
  for i = from, #ARGV, 1000 do
    redis.call('RPUSH', log, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  return have + #ARGV - from + 1
end

local function conflict(id, first, have)
  return redis.error_reply('CONFLICT run ' .. id .. ': event seq ' .. first ..
                           ' does not follow ' .. have)
end

-- the events signal of ARGV[from..#ARGV] (encoded events, the last numbered `last`), which
-- carries them when they are small (see stores.base.encode_signal)
local function signal_events(id, last, from)
  local head = 'events\n' .. last .. '\n' .. id
  local size = 0
  for i = from, #ARGV do
    size = size + #ARGV[i] + 1
    if size > MAX_SIGNAL then
      redis.call('PUBLISH', CH, head)
      return
    end
  end
  redis.call('PUBLISH', CH, head .. '\n' .. table.concat(ARGV, '\n', from, #ARGV))
end

local function take(id, t, owner, expires, stamp, now)
  local key = B .. 'r:' .. id
  redis.call('HINCRBY', key, 'attempt', 1)
  redis.call('HSET', key, 'lease_owner', owner, 'lease_expires_at', expires,
             'updated_at', stamp)
  local new = copy(t)
  new.lease_owner, new.lease_expires_at = owner, expires
  queue(id, t, new, now)
  return doc(key)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- forget the index entries of expired kv entries (Redis expires the entries themselves;
-- an entry is expired once the clock is past its expiry, like Redis's own check)
local function purge(lex, expiry)
  local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', '(' .. now_ms())
  for i = 1, #gone, 1000 do
    local part = {unpack(gone, i, math.min(i + 999, #gone))}
    redis.call('ZREM', lex, unpack(part))
    redis.call('ZREM', expiry, unpack(part))
  end
end
"""

# ARGV: id.
GET_RUN = r"""
return doc(B .. 'r:' .. ARGV[3])
"""

# ARGV: id, now, n (field pairs), n name/JSON pairs, then encoded events (seq 1, 2, ...).
# Returns {1} when created, {0, existing run} for a known idempotency key.
CREATE_RUN = r"""
local id, now, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = B .. 'r:' .. id
local f = {}
for i = 6, 5 + 2 * n, 2 do f[ARGV[i]] = ARGV[i + 1] end
local idem = nil
if f.idempotency_key and f.idempotency_key ~= 'null' then
  idem = f.principal .. '\n' .. f.idempotency_key
  local existing = redis.call('HGET', B .. 'idem', idem)
  if existing then return {0, doc(B .. 'r:' .. existing)} end
end
if redis.call('EXISTS', key) == 1 then
  return redis.error_reply('CONFLICT run ' .. id .. ' exists')
end
local with_events = #ARGV >= 6 + 2 * n
if with_events and redis.call('EXISTS', B .. 'e:' .. id) == 1 then
  return redis.error_reply('CONFLICT run ' .. id .. ' has events already')
end
redis.call('HSET', key, unpack(ARGV, 6, 5 + 2 * n))
if idem then redis.call('HSET', B .. 'idem', idem, id) end
local t = {}
for _, name in ipairs(IDX) do t[name] = f[name] or 'null' end
place(id, nil, t, now)
if with_events then signal_events(id, push(id, 1, 6 + 2 * n), 6 + 2 * n) end
return {1}
"""

# ARGV: id, now, expected attempt (''), m (-1: any status), m status JSONs, n (change pairs),
# n name/JSON pairs, first seq ('' without events), encoded events.
# Returns the run, or nil (missing, or an expectation not met).
UPDATE_RUN = r"""
local id, now = ARGV[3], tonumber(ARGV[4])
local key = B .. 'r:' .. id
local old = load(id)
if not old then return false end
if ARGV[5] ~= '' and tonumber(redis.call('HGET', key, 'attempt')) ~= tonumber(ARGV[5]) then
  return false
end
local i = 7
local m = tonumber(ARGV[6])
if m >= 0 then
  local found = false
  for j = i, i + m - 1 do
    if ARGV[j] == old.status then found = true end
  end
  if not found then return false end
  i = i + m
end
local n = tonumber(ARGV[i])
local from, to = i + 1, i + 2 * n
local first = ARGV[to + 1]
local last = nil
if first ~= '' then
  local have
  last, have = push(id, tonumber(first), to + 2)
  if not last then return conflict(id, first, have) end
  redis.call('HSET', key, 'last_seq', last)
end
local new = copy(old)
if n > 0 then
  redis.call('HSET', key, unpack(ARGV, from, to))
  for j = from, to, 2 do
    if new[ARGV[j]] then new[ARGV[j]] = ARGV[j + 1] end
  end
end
place(id, old, new, now)
if last then signal_events(id, last, to + 2) end
return doc(key)
"""

# ARGV: id, first seq, encoded events.
APPEND_EVENTS = r"""
local id, first = ARGV[3], tonumber(ARGV[4])
local last, have = push(id, first, 5)
if not last then return conflict(id, first, have) end
local key = B .. 'r:' .. id
if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'last_seq', last) end
signal_events(id, last, 5)
return last
"""

# ARGV: id, now, owner JSON, expiry JSON, now JSON, status JSONs.
CLAIM_RUN = r"""
local id, now = ARGV[3], tonumber(ARGV[4])
local t = load(id)
if not t or lease_live(t, now) then return false end
for j = 8, #ARGV do
  if ARGV[j] == t.status then return take(id, t, ARGV[5], ARGV[6], ARGV[7], now) end
end
return false
"""

# ARGV: now, owner JSON, expiry JSON, now JSON, limit.  Returns the runs taken.
CLAIM_NEXT = r"""
local now, limit = tonumber(ARGV[3]), tonumber(ARGV[7])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', B .. 'leases', '-inf', ARGV[3])) do
  local t = load(id)
  if t then queue(id, t, t, now) else redis.call('ZREM', B .. 'leases', id) end
end
local out = {}
while #out < limit do
  local k = nil
  local fresh = redis.call('ZRANGE', B .. 'fresh', 0, 0, 'WITHSCORES')
  if fresh[1] then
    k = fresh[1]
    local tied = redis.call('ZRANGEBYSCORE', B .. 'fresh', fresh[2], fresh[2])
    if #tied > 1 then
      local oldest = nil
      for _, c in ipairs(tied) do
        local head = redis.call('ZRANGE', B .. 'q:' .. c, 0, 0)[1]
        if oldest == nil or before(head, oldest) then oldest, k = head, c end
      end
    end
  else
    k = redis.call('ZRANGE', B .. 'turns', 0, 0)[1]
  end
  if not k then break end
  local id = redis.call('ZRANGE', B .. 'q:' .. k, 0, 0)[1]
  local t = load(id)
  if t then
    redis.call('HSET', B .. 'served', k, redis.call('INCR', B .. 'serial'))
    redis.call('ZREM', B .. 'fresh', k)
    out[#out + 1] = take(id, t, ARGV[4], ARGV[5], ARGV[6], now)
  else
    redis.call('ZREM', B .. 'q:' .. k, id)
    turn(k)
  end
end
return out
"""

# ARGV: id, owner JSON, attempt, expiry JSON, now.
RENEW_LEASE = r"""
local id = ARGV[3]
local key = B .. 'r:' .. id
local v = redis.call('HMGET', key, 'lease_owner', 'attempt')
if v[1] ~= ARGV[4] or tonumber(v[2]) ~= tonumber(ARGV[5]) then return 0 end
local t = load(id)
redis.call('HSET', key, 'lease_expires_at', ARGV[6])
local new = copy(t)
new.lease_expires_at = ARGV[6]
queue(id, t, new, tonumber(ARGV[7]))
return 1
"""

# ARGV: limit, before created_at (''), before id, status, principal, endpoint JSONs ('': any).
# Newest first by (created_at, id), from the smallest index that fits the filters (the others
# checked run by run).
LIST_RUNS = r"""
local limit = tonumber(ARGV[3])
local filters, count, idx, size = {}, 0, B .. 'runs', nil
for name, pos in pairs({status = 6, principal = 7, endpoint = 8}) do
  if ARGV[pos] ~= '' then
    filters[name], count = ARGV[pos], count + 1
    local k = B .. 'ix:' .. LISTS[name] .. ARGV[pos]
    local n = redis.call('ZCARD', k)
    if size == nil or n < size then idx, size = k, n end
  end
end
local top, cut, cut_id = '+inf', tonumber(ARGV[4]), ARGV[5]
if cut then top = ARGV[4] end
local out, offset, chunk = {}, 0, math.max(limit, 64)
while #out < limit do
  local page = redis.call('ZREVRANGEBYSCORE', idx, top, '-inf', 'WITHSCORES', 'LIMIT',
                          offset, chunk)
  if #page == 0 then break end
  for j = 1, #page, 2 do
    local id = page[j]
    if not cut or tonumber(page[j + 1]) < cut or before(id, cut_id) then
      local key = B .. 'r:' .. id
      local v = {}
      if count > 1 then v = redis.call('HMGET', key, 'status', 'principal', 'endpoint') end
      if count <= 1 or ((not filters.status or v[1] == filters.status)
          and (not filters.principal or v[2] == filters.principal)
          and (not filters.endpoint or v[3] == filters.endpoint)) then
        out[#out + 1] = doc(key)
        if #out >= limit then break end
      end
    end
  end
  offset = offset + chunk
end
return out
"""

# ARGV: before, limit, after finished_at (''), after id.  Oldest first by (finished_at, id).
FINISHED_RUNS = r"""
local limit = tonumber(ARGV[4])
local low, cut, cut_id = '-inf', tonumber(ARGV[5]), ARGV[6]
if cut then low = ARGV[5] end
local out, offset, chunk = {}, 0, math.max(limit, 64)
while #out < limit do
  local page = redis.call('ZRANGEBYSCORE', B .. 'done', low, '(' .. ARGV[3], 'WITHSCORES',
                          'LIMIT', offset, chunk)
  if #page == 0 then break end
  for j = 1, #page, 2 do
    local id = page[j]
    if not cut or tonumber(page[j + 1]) > cut or before(cut_id, id) then
      out[#out + 1] = doc(B .. 'r:' .. id)
      if #out >= limit then break end
    end
  end
  offset = offset + chunk
end
return out
"""

# ARGV: id, events ('1'/'0'), checkpoints, record.
PRUNE_RUN = r"""
local id = ARGV[3]
local key = B .. 'r:' .. id
local t = load(id)
if not t or not TERMINAL[t.status] then return 0 end
local record = ARGV[6] == '1'
if ARGV[4] == '1' or record then
  redis.call('DEL', B .. 'e:' .. id, B .. 'l:' .. id)
end
if ARGV[5] == '1' or record then
  redis.call('DEL', B .. 'c:' .. id, B .. 'cs:' .. id)
end
if record then
  local ikey = redis.call('HGET', key, 'idempotency_key')
  if ikey and ikey ~= 'null' then
    local field = t.principal .. '\n' .. ikey
    if redis.call('HGET', B .. 'idem', field) == id then redis.call('HDEL', B .. 'idem', field) end
  end
  unplace(id, t)
  redis.call('DEL', key)
end
return 1
"""

# ARGV: run id, checkpoint id, seq, doc.
PUT_CHECKPOINT = r"""
redis.call('HSET', B .. 'c:' .. ARGV[3], ARGV[4], ARGV[6])
redis.call('ZADD', B .. 'cs:' .. ARGV[3], ARGV[5], ARGV[4])
return 1
"""

# ARGV: run id, latest only ('1'/'0').  Checkpoint docs by seq.
GET_CHECKPOINTS = r"""
local ids
if ARGV[4] == '1' then
  ids = redis.call('ZREVRANGE', B .. 'cs:' .. ARGV[3], 0, 0)
else
  ids = redis.call('ZRANGE', B .. 'cs:' .. ARGV[3], 0, -1)
end
local docs = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', B .. 'c:' .. ARGV[3], unpack(ids, i, math.min(i + 999, #ids)))
  for _, doc in ipairs(part) do docs[#docs + 1] = doc end
end
return docs
"""

# ARGV: run id, call id, doc.  The first write wins and is returned.
LEDGER_PUT = r"""
local key = B .. 'l:' .. ARGV[3]
redis.call('HSETNX', key, ARGV[4], ARGV[5])
return redis.call('HGET', key, ARGV[4])
"""

# kv scripts.  ARGV[3..5]: the entry's key, the namespace's key-order index (every score 0),
# its expiry index (score: expiry in ms); ARGV[6]: the entry's key within the namespace.

# ARGV[7..]: doc, ttl in ms (''), only if absent ('1'/'0').
KV_PUT = r"""
local entry, lex, expiry, member = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ok
if ARGV[8] ~= '' then
  local at = now_ms() + tonumber(ARGV[8])
  if ARGV[9] == '1' then
    ok = redis.call('SET', entry, ARGV[7], 'NX', 'PXAT', string.format('%d', at))
  else
    ok = redis.call('SET', entry, ARGV[7], 'PXAT', string.format('%d', at))
  end
  if ok then redis.call('ZADD', expiry, at, member) end
else
  if ARGV[9] == '1' then
    ok = redis.call('SET', entry, ARGV[7], 'NX')
  else
    ok = redis.call('SET', entry, ARGV[7])
  end
  if ok then redis.call('ZREM', expiry, member) end
end
if not ok then return 0 end
redis.call('ZADD', lex, 0, member)
return 1
"""

# ARGV[7]: ttl in ms.
KV_TOUCH = r"""
local entry, expiry, member = ARGV[3], ARGV[5], ARGV[6]
if redis.call('EXISTS', entry) == 0 then return 0 end
local at = now_ms() + tonumber(ARGV[7])
redis.call('PEXPIREAT', entry, string.format('%d', at))
redis.call('ZADD', expiry, at, member)
return 1
"""

KV_DELETE = r"""
local removed = redis.call('DEL', ARGV[3])
redis.call('ZREM', ARGV[4], ARGV[6])
redis.call('ZREM', ARGV[5], ARGV[6])
return removed
"""

# ARGV[7..]: delta, limit (''), ttl in ms ('').  Returns the new value, nil when refused.
KV_ADD = r"""
local entry, lex, expiry, member = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local delta = tonumber(ARGV[7])
local current = redis.call('GET', entry)
if ARGV[8] ~= '' and delta > 0 and (tonumber(current) or 0) + delta > tonumber(ARGV[8]) then
  return false
end
local value = redis.call('INCRBY', entry, ARGV[7])
if not current then
  redis.call('ZADD', lex, 0, member)
  if ARGV[9] ~= '' then
    local at = now_ms() + tonumber(ARGV[9])
    redis.call('PEXPIREAT', entry, string.format('%d', at))
    redis.call('ZADD', expiry, at, member)
  else
    redis.call('ZREM', expiry, member)
  end
end
return value
"""

# Namespace scripts.  ARGV[3..5]: the namespace's entry key base, key-order index, expiry index.

KV_COUNT = r"""
purge(ARGV[4], ARGV[5])
return redis.call('ZCARD', ARGV[4])
"""

# ARGV[6..]: lex min, lex max, reverse ('1'/'0'), limit (-1: all).  Flat key/doc pairs.
KV_LIST = r"""
local base, lex = ARGV[3], ARGV[4]
purge(lex, ARGV[5])
local keys
if ARGV[8] == '1' then
  keys = redis.call('ZREVRANGEBYLEX', lex, ARGV[7], ARGV[6], 'LIMIT', 0, ARGV[9])
else
  keys = redis.call('ZRANGEBYLEX', lex, ARGV[6], ARGV[7], 'LIMIT', 0, ARGV[9])
end
local out = {}
for _, k in ipairs(keys) do
  local doc = redis.call('GET', base .. k)
  if doc then
    out[#out + 1] = k
    out[#out + 1] = doc
  end
end
return out
"""

# ARGV[6..]: lex min, lex max.  Returns how many live entries were removed.
KV_DELETE_PREFIX = r"""
local base, lex, expiry = ARGV[3], ARGV[4], ARGV[5]
local keys = redis.call('ZRANGEBYLEX', lex, ARGV[6], ARGV[7])
local removed = 0
for i = 1, #keys, 1000 do
  local part = {unpack(keys, i, math.min(i + 999, #keys))}
  local entries = {}
  for j, k in ipairs(part) do entries[j] = base .. k end
  removed = removed + redis.call('DEL', unpack(entries))
  redis.call('ZREM', expiry, unpack(part))
end
redis.call('ZREMRANGEBYLEX', lex, ARGV[6], ARGV[7])
return removed
"""

SCRIPTS = {
    name: _HELPERS + source
    for name, source in {
        "create_run": CREATE_RUN,
        "get_run": GET_RUN,
        "update_run": UPDATE_RUN,
        "append_events": APPEND_EVENTS,
        "claim_run": CLAIM_RUN,
        "claim_next": CLAIM_NEXT,
        "renew_lease": RENEW_LEASE,
        "list_runs": LIST_RUNS,
        "finished_runs": FINISHED_RUNS,
        "prune_run": PRUNE_RUN,
        "put_checkpoint": PUT_CHECKPOINT,
        "get_checkpoints": GET_CHECKPOINTS,
        "ledger_put": LEDGER_PUT,
        "kv_put": KV_PUT,
        "kv_touch": KV_TOUCH,
        "kv_delete": KV_DELETE,
        "kv_add": KV_ADD,
        "kv_count": KV_COUNT,
        "kv_list": KV_LIST,
        "kv_delete_prefix": KV_DELETE_PREFIX,
    }.items()
}
"""Every script's full source (the shared helpers, then its body), by operation."""
