// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_CACHE_SCRIPTS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_CACHE_SCRIPTS_HPP

// The Lua scripts of cascade::redis::SharedCache. Each is atomic because Redis runs a script
// whole, with no other command between its own: the order of use, the values and the size bound
// are read and written as one step, whatever the other replicas do at the same time.

#include <string>
#include <string_view>

#include "../script.hpp"

namespace cascade::redis::detail {

// Redis's TYPE check, so that a key that holds something else is named in the error.
inline constexpr std::string_view cache_lua_check = R"lua(
local function check(key, want)
  local kind = redis.call('TYPE', key).ok
  if kind ~= want and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE the key ' .. key .. ' holds a ' .. kind .. ', not the ' .. want ..
                             ' that cascade::redis::SharedCache keeps there; delete it or rename the cache')
  end
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- The score of an entry used now: the server's time in microseconds, but always above every
-- score in the set, so that the order of use is strict even within one microsecond or when the
-- server's clock steps back. Never below the time, so that a prune by score stays safe.
local function use_score(set, now)
  local top = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if top[2] ~= nil and tonumber(top[2]) >= now then return tonumber(top[2]) + 1 end
  return now
end
)lua";

// Drops up to 128 entries whose last use is older than their time to live (and so has expired:
// an entry's last use is never before its store), with their value keys in case the server has
// not yet expired them. ttl in ms (0: none), now in microseconds.
inline constexpr std::string_view cache_lua_prune = R"lua(
local function prune(set, ttl, prefix, now)
  if ttl <= 0 then return 0 end
  local before = now - (ttl + 1) * 1000
  local old = redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. string.format('%.0f', before), 'LIMIT', 0, 128)
  for _, m in ipairs(old) do
    redis.call('DEL', prefix .. m)
    redis.call('ZREM', set, m)
  end
  return #old
end
)lua";

// Looks a key up. Atomic, so that the value read and the mark of its use belong together: an
// entry another replica evicts meanwhile is a miss, and its member is not brought back.
// KEYS: the sorted set, the value key. ARGV: the member (the user's key). The value, or nil; a
// hit marks the entry as the most recently used.
inline const Script& cache_lookup_script() {
    static const Script script(std::string(cache_lua_check) + R"lua(
local bad = check(KEYS[1], 'zset') or check(KEYS[2], 'string')
if bad then return bad end
local value = redis.call('GET', KEYS[2])
if not value then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], string.format('%.0f', use_score(KEYS[1], now_us())), ARGV[1])
return value
)lua");
    return script;
}

// Stores a value, then clears expired entries and evicts the least recently used beyond max_entries.
// Atomic, so that the sorted set and the value keys stay in step, and replicas storing at once
// never leave more than max_entries.
// KEYS: the sorted set, the value key. ARGV: member, value, ttl ms (0: none), max entries, value
// key prefix. Returns {evicted, expired}.
inline const Script& cache_store_script() {
    static const Script script(std::string(cache_lua_check) + std::string(cache_lua_prune) + R"lua(
local bad = check(KEYS[1], 'zset')
if bad then return bad end
local ttl = tonumber(ARGV[3])
local now = now_us()
local expired = prune(KEYS[1], ttl, ARGV[5], now)
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('ZADD', KEYS[1], string.format('%.0f', use_score(KEYS[1], now)), ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
local evicted = 0
if over > 0 then
  -- The oldest `over` entries, never the one just stored (several may share one millisecond).
  local oldest = redis.call('ZRANGE', KEYS[1], 0, over)
  for _, m in ipairs(oldest) do
    if evicted == over then break end
    if m ~= ARGV[1] then
      redis.call('DEL', ARGV[5] .. m)
      redis.call('ZREM', KEYS[1], m)
      evicted = evicted + 1
    end
  end
end
return {evicted, expired}
)lua");
    return script;
}

// Deletes an entry, or only a value that did not decode. Atomic, so that the comparison and the
// delete see the same value.
// KEYS: the sorted set, the value key. ARGV: member, and the value to delete only if it is still
// the one there (another replica may have stored a good one since). 1 when deleted.
inline const Script& cache_erase_script() {
    static const Script script(std::string(cache_lua_check) + R"lua(
local bad = check(KEYS[1], 'zset') or check(KEYS[2], 'string')
if bad then return bad end
if ARGV[2] ~= nil and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])
)lua");
    return script;
}

// Counts the entries. Atomic, so that the prune and the count see the same set.
// KEYS: the sorted set. ARGV: ttl ms (0: none), value key prefix. The entries left after pruning.
inline const Script& cache_entries_script() {
    static const Script script(std::string(cache_lua_check) + std::string(cache_lua_prune) + R"lua(
local bad = check(KEYS[1], 'zset')
if bad then return bad end
prune(KEYS[1], tonumber(ARGV[1]), ARGV[2], now_us())
return redis.call('ZCARD', KEYS[1])
)lua");
    return script;
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_CACHE_SCRIPTS_HPP
