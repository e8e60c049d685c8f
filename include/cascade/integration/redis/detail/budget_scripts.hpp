// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_BUDGET_SCRIPTS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_BUDGET_SCRIPTS_HPP

// The Lua scripts of cascade::redis::SharedBudget. KEYS are always the budget's four keys: the
// state hash, the sorted set of leases, the sorted set of reclaimed leases and the sorted set of
// settled reservations (see SharedBudget).
// Each script is atomic because Redis runs a script whole, with no other command between its
// own: what a script reads of the totals is still true when it writes them, so no two replicas
// can both be granted the last of the money, nor one settle be charged twice.

#include <string>

#include "../script.hpp"
#include "lua_server_time.hpp"

namespace cascade::redis::detail {

// The Lua shared by the scripts. Every amount is a whole number below 2^53, so the doubles
// Lua computes with are exact; int() writes them back without an exponent, add() stops at
// 2^53 - 1 and says so in `saturated`.
inline constexpr const char* budget_lua_prelude = R"lua(
local state, leases, reclaimed, settled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local MAX = 9007199254740991
local saturated = false
local sf = string.format
local function int(x) return sf('%.0f', x) end
local function num(x) return tonumber(x) or 0 end
local function add(a, b)
  local s = a + b
  if s > MAX then saturated = true; return MAX end
  return s
end
local function held_by(member) return tonumber(string.match(member, ':(%d+)$')) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
)lua";

// Gives back at most n expired leases; their members stay in `reclaimed` for `retention` ms
// so that a late settle is charged, once. Returns the amount given back and how many leases.
// Defined where it is needed only: a closure costs each call of a script that defines it.
inline constexpr const char* budget_lua_reclaim = R"lua(
local function reclaim(now, n, retention)
  local old = redis.call('ZRANGEBYSCORE', reclaimed, '-inf', int(now - retention), 'LIMIT', 0, n)
  if #old > 0 then redis.call('ZREM', reclaimed, unpack(old)) end
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now), 'LIMIT', 0, n)
  local back = 0
  for i = 1, #expired do
    back = back + held_by(expired[i])
    redis.call('ZADD', reclaimed, int(now), expired[i])
  end
  if #expired > 0 then redis.call('ZREM', leases, unpack(expired)) end
  return back, #expired
end
)lua";

// Reserves an estimate: grants it when spent + reserved + estimate stays within the limit, and
// records its lease. Atomic, so that the check and the grant see the same totals in every replica.
// ARGV: the member "<id>:<nano-dollars>", the lease in ms, reclaim_per_call, the retention,
// the time between scans in ms. Expired leases are looked for when the reserve would be
// refused otherwise, and at most once per scan interval besides (the time of the next scan is
// kept in the state): a grant costs four commands, and is written lean (the reserve is on the
// call's path; a closure or a table costs a microsecond of the server's time).
// Returns one integer, as cheap a reply as there is: what is left after a grant (>= 0), or
// -1 - what is left for a refusal; the string "lost" when there is no state. Running it twice
// grants once: a member already among the leases is not reserved again (the client sends a
// command once more when the connection it went out on broke, and the script may have run).
inline const Script& budget_reserve_script() {
    static const Script script(std::string(R"lua(
local state, leases = KEYS[1], KEYS[2]
local v = redis.call('HMGET', state, 'limit', 'spent', 'reserved', 'reservations', 'scan_at')
if not v[1] then return 'lost' end
local limit, spent, reserved = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
)lua") + lua_now_ms + R"lua(local want = tonumber(string.match(ARGV[1], ':(%d+)$'))
local left = limit - spent - reserved
if want <= left and now < (tonumber(v[5]) or 0) then
  -- NX: a reserve run again (the client resends a command once when its connection broke) finds
  -- its lease there already, and is granted once
  if redis.call('ZADD', leases, 'NX', string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1]) == 0 then return left end
  local count = (tonumber(v[4]) or 0) + 1
  if count > 9007199254740991 then count = 9007199254740991 end
  redis.call('HSET', state, 'reserved', string.format('%.0f', reserved + want), 'reservations', string.format('%.0f', count))
  return left - want
end
)lua" + budget_lua_prelude + budget_lua_reclaim + R"lua(
if redis.call('ZSCORE', leases, ARGV[1]) then return left end  -- run again: granted already
local w = redis.call('HMGET', state, 'reservations', 'refusals', 'reclaimed')
local n = tonumber(ARGV[3])
local back, count = reclaim(now, n, tonumber(ARGV[4]))
reserved = math.max(0, reserved - back)
left = limit - spent - reserved
-- a scan cut short by n is taken up again at the next reserve
local fields = {'reserved', 0, 'scan_at', int(count == n and now or now + tonumber(ARGV[5])),
                'reclaimed', int(add(num(w[3]), count))}
local granted = 0
if want <= left then
  granted = 1
  reserved = reserved + want
  left = left - want
  redis.call('ZADD', leases, int(now + tonumber(ARGV[2])), ARGV[1])
  fields[#fields + 1] = 'reservations'
  fields[#fields + 1] = int(add(num(w[1]), 1))
else
  fields[#fields + 1] = 'refusals'
  fields[#fields + 1] = int(add(num(w[2]), 1))
end
fields[2] = int(reserved)
if saturated then
  fields[#fields + 1] = 'saturated'
  fields[#fields + 1] = '1'
end
redis.call('HSET', state, unpack(fields))
if granted == 1 then return left end
return -1 - math.max(left, 0)
)lua");
    return script;
}

// Settles or releases a batch of reservations: moves each one's amount from reserved to spent
// (or back), once. Atomic, so that a batch sent again after a lost answer finds its id among the
// delivered batches and is not charged twice.
// ARGV: how long the ids of delivered batches are kept (ms), the batch's id (unique to the
// process and the batch; a batch sent again, after a lost answer, keeps its id and its
// settles), then triples of member, cost in nano-dollars, kind ('s', 'e' or 'r'). A batch whose
// id is kept was delivered already: nothing is charged again, and its settles are counted as
// duplicates. Otherwise each member found among the leases is settled; one found among the
// reclaimed is charged late. A settle found in neither is charged all the same and counted in
// unknown_settles: its reservation was granted (the process holds it), so the server lost the
// grant (a crash before its write reached the disk, a replica promoted before it had it) or the
// lease was reclaimed longer ago than reclaimed_retention; the money was spent either way. A
// release found in neither is not charged: its reservation was never granted (a reserve whose
// answer was lost).
// The batch's id is kept in `settled`, scored by when: one entry a batch, not a settle, so a
// settle costs the server two commands. Ids older than the retention go, up to 32 a call, well
// ahead of the one it adds.
// Returns {settled, of which late, duplicates, of which unknown, releases found in none}, or
// {-1, 0, 0, 0, 0} without a state.
inline const Script& budget_settle_script() {
    static const Script script(std::string(budget_lua_prelude) + R"lua(
local v = redis.call('HMGET', state, 'limit', 'spent', 'reserved', 'overruns', 'overrun', 'cost_errors', 'late_settles',
                     'unknown_settles')
if not v[1] then return {-1, 0, 0, 0, 0} end
local batch = ARGV[2]
if redis.call('ZSCORE', settled, batch) then
  local settles = 0
  for i = 5, #ARGV, 3 do
    if ARGV[i] ~= 'r' then settles = settles + 1 end
  end
  return {0, 0, settles, 0, 0}
end
local spent, reserved, overruns, overrun = num(v[2]), num(v[3]), num(v[4]), num(v[5])
local errors, late, unknown = num(v[6]), num(v[7]), num(v[8])
local now = now_ms()
local old = redis.call('ZRANGEBYSCORE', settled, '-inf', int(now - tonumber(ARGV[1])), 'LIMIT', 0, 32)
if #old > 0 then redis.call('ZREMRANGEBYRANK', settled, 0, #old - 1) end
local settled_n, lates, unknowns, unmatched = 0, 0, 0, 0
for i = 3, #ARGV, 3 do
  local member, cost, kind = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local held = held_by(member)
  local charge = false
  if redis.call('ZREM', leases, member) == 1 then
    reserved = math.max(0, reserved - held)
    charge = kind ~= 'r'
  elseif redis.call('ZREM', reclaimed, member) == 1 then
    if kind ~= 'r' then
      charge = true
      late = add(late, 1)
      lates = lates + 1
    end
  elseif kind == 'r' then
    unmatched = unmatched + 1
  else
    charge = true
    unknown = add(unknown, 1)
    unknowns = unknowns + 1
  end
  if charge then
    settled_n = settled_n + 1
    spent = add(spent, cost)
    if cost > held then
      overruns = add(overruns, 1)
      overrun = add(overrun, cost - held)
    end
    if kind == 'e' then errors = add(errors, 1) end
  end
end
redis.call('ZADD', settled, int(now), batch)
redis.call('HSET', state, 'spent', int(spent), 'reserved', int(reserved), 'overruns', int(overruns),
           'overrun', int(overrun), 'cost_errors', int(errors), 'late_settles', int(late), 'unknown_settles', int(unknown))
if saturated then redis.call('HSET', state, 'saturated', '1') end
return {settled_n, lates, 0, unknowns, unmatched}
)lua");
    return script;
}

// Renews the leases of the reservations still open in one process. Atomic, so that a lease
// settled or reclaimed meanwhile is not brought back (ZADD XX).
// ARGV: the lease in ms, then the members to renew; a member no longer there (settled, or
// reclaimed) is not brought back.
inline const Script& budget_renew_script() {
    static const Script script(std::string(budget_lua_prelude) + R"lua(
local at = int(now_ms() + tonumber(ARGV[1]))
local renewed = 0
for i = 2, #ARGV do renewed = renewed + redis.call('ZADD', leases, 'XX', 'CH', at, ARGV[i]) end
return renewed
)lua");
    return script;
}

// Reads the totals, after giving back expired leases as a reserve does. Atomic, so that the
// totals are one consistent snapshot.
// ARGV: reclaim_per_call, the retention. Returns {1, the totals..., open leases, unknown
// settles}, or {-1}.
inline const Script& budget_stats_script() {
    static const Script script(std::string(budget_lua_prelude) + budget_lua_reclaim + R"lua(
local v = redis.call('HMGET', state, 'limit', 'spent', 'reserved', 'reservations', 'refusals', 'overruns',
                     'overrun', 'cost_errors', 'late_settles', 'reclaimed', 'saturated', 'unknown_settles')
if not v[1] then return {-1} end
local reserved, reclaimed_total = num(v[3]), num(v[10])
local back, count = reclaim(now_ms(), tonumber(ARGV[1]), tonumber(ARGV[2]))
if count > 0 then
  reserved = math.max(0, reserved - back)
  reclaimed_total = add(reclaimed_total, count)
  redis.call('HSET', state, 'reserved', int(reserved), 'reclaimed', int(reclaimed_total))
  if saturated then redis.call('HSET', state, 'saturated', '1') end
end
return {1, tonumber(v[1]), num(v[2]), reserved, num(v[4]), num(v[5]), num(v[6]), num(v[7]), num(v[8]),
        num(v[9]), reclaimed_total, (saturated or num(v[11]) ~= 0) and 1 or 0, redis.call('ZCARD', leases), num(v[12])}
)lua");
    return script;
}

// Writes the limit of a new budget, or checks it against the one stored. Atomic, so that two
// replicas starting at once agree on one limit.
// ARGV: the limit, "1" to replace another. Checks the keys' types, then writes the limit when
// none is stored (HSETNX). Returns {-2, key, type} for a key of another type, else
// {0 same / 1 written / 2 replaced / 3 differs, the limit stored before, what is left}.
inline const Script& budget_init_script() {
    static const Script script(std::string(budget_lua_prelude) + R"lua(
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key).ok
  local want = i == 1 and 'hash' or 'zset'
  if t ~= 'none' and t ~= want then return {-2, key, t} end
end
local outcome, before = 1, ARGV[1]
if redis.call('HSETNX', state, 'limit', ARGV[1]) == 0 then
  before = redis.call('HGET', state, 'limit')
  if before == ARGV[1] then
    outcome = 0
  elseif ARGV[2] == '1' then
    outcome = 2
    redis.call('HSET', state, 'limit', ARGV[1])
  else
    outcome = 3
  end
end
local v = redis.call('HMGET', state, 'limit', 'spent', 'reserved')
return {outcome, before, math.max(0, tonumber(v[1]) - num(v[2]) - num(v[3]))}
)lua");
    return script;
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_BUDGET_SCRIPTS_HPP
