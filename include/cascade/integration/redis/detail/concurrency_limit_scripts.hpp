// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_CONCURRENCY_LIMIT_SCRIPTS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_CONCURRENCY_LIMIT_SCRIPTS_HPP

// The Lua scripts of cascade::redis::SharedConcurrencyLimit. KEYS[1] is the sorted set of the
// limit's leases (see SharedConcurrencyLimit). Each is atomic because Redis runs a script whole,
// with no other command between its own: expired leases are dropped, the slots counted and one
// taken as one step, so replicas asking at once never take more slots than there are.

#include <string>

#include "../script.hpp"
#include "lua_server_time.hpp"

namespace cascade::redis::detail {

// After lua_now_ms: the check that the key is a sorted set, shared by the scripts.
inline constexpr const char* concurrency_limit_lua_prelude =
    "local kind = redis.call('TYPE', KEYS[1]).ok\n"
    "if kind ~= 'zset' and kind ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE the key ' .. KEYS[1] .. ' holds a ' .. kind ..\n"
    "    ', not the sorted set of leases of a cascade concurrency limit')\n"
    "end\n";

// After the prelude: keep_key(ms) makes the key live at least `ms` more, never less than it
// would: replicas may run with leases of different lengths, and one with a short lease must not
// cut the life of the key below another's longer lease (PEXPIRE ... GT would not do: it leaves a
// key without a time to live without one). Numbers go to Redis as whole-number text: Lua's own
// conversion keeps 14 digits and would write a large one in exponent form.
inline constexpr const char* concurrency_limit_lua_keep_key =
    "local function keep_key(ms)\n"
    "  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ms)) end\n"
    "end\n";

// Takes a slot when one is free, after dropping the expired leases. The key lives a minute past
// the end of the lease. Safe to run twice for one holder id (the Client may send it again after
// a lost connection): the second run finds the member and only moves its end.
// ARGV: holder id, slots, lease ms. Returns {1 when taken, slots taken after, leases reclaimed}.
inline const Script& concurrency_limit_acquire_script() {
    static const Script script(std::string(lua_now_ms) + concurrency_limit_lua_prelude + concurrency_limit_lua_keep_key +
                               "local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
                               "local lease = tonumber(ARGV[3])\n"
                               "local held = redis.call('ZCARD', KEYS[1])\n"
                               "if redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n"
                               "  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now + lease), ARGV[1])\n"
                               "  keep_key(lease + 60000)\n"
                               "  return {1, held, reclaimed}\n"
                               "end\n"
                               "if held >= tonumber(ARGV[2]) then return {0, held, reclaimed} end\n"
                               "redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[1])\n"
                               "keep_key(lease + 60000)\n"
                               "return {1, held + 1, reclaimed}\n");
    return script;
}

// Renews the leases of the calls still running in one process; a lease that ran out is not
// brought back, so its slot is not counted twice.
// ARGV: lease ms, then the holder ids to renew. Returns the ids whose lease is gone.
inline const Script& concurrency_limit_renew_script() {
    static const Script script(
        std::string(lua_now_ms) + concurrency_limit_lua_prelude + concurrency_limit_lua_keep_key +
        "local lease = tonumber(ARGV[1])\n"
        "local lost = {}\n"
        "for i = 2, #ARGV do\n"
        "  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then\n"
        "    redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now + lease), ARGV[i])\n"
        "  else\n"
        "    lost[#lost + 1] = ARGV[i]\n"
        "  end\n"
        "end\n"
        "if redis.call('EXISTS', KEYS[1]) == 1 then keep_key(lease + 60000) end\n"
        "return lost\n");
    return script;
}

// Counts the slots taken, after dropping the expired leases.
// Returns {slots taken, leases reclaimed}.
inline const Script& concurrency_limit_count_script() {
    static const Script script(std::string(lua_now_ms) + concurrency_limit_lua_prelude +
                               "local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
                               "return {redis.call('ZCARD', KEYS[1]), reclaimed}\n");
    return script;
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_CONCURRENCY_LIMIT_SCRIPTS_HPP
