// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_BREAKER_SCRIPTS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_BREAKER_SCRIPTS_HPP

// The Lua scripts of cascade::redis::SharedBreaker. KEYS are the breaker's state hash and its
// probe string (see SharedBreaker). Each is atomic because Redis runs a script whole, with no
// other command between its own: the failures counted, the end of the cool-down and the holder
// of the probe are read and written as one step, so one failure opens the breaker once and one
// call in the fleet takes the probe.

#include <string>

#include "../script.hpp"
#include "lua_server_time.hpp"

namespace cascade::redis::detail {

// After lua_now_ms: the checks that the keys hold what the breaker keeps there, and the state.
inline constexpr const char* breaker_lua_prelude =
    "local kind = redis.call('TYPE', KEYS[1]).ok\n"
    "if kind ~= 'hash' and kind ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE the key ' .. KEYS[1] .. ' holds a ' .. kind ..\n"
    "    ', not the hash of a cascade shared breaker')\n"
    "end\n"
    "kind = redis.call('TYPE', KEYS[2]).ok\n"
    "if kind ~= 'string' and kind ~= 'none' then\n"
    "  return redis.error_reply('WRONGTYPE the key ' .. KEYS[2] .. ' holds a ' .. kind ..\n"
    "    ', not the probe of a cascade shared breaker')\n"
    "end\n"
    "local s = redis.call('HMGET', KEYS[1], 'failures', 'open_until')\n"
    "local failures = tonumber(s[1]) or 0\n"
    "local open_until = tonumber(s[2]) or 0\n";

// Lets a call through, or says why not; after the cool-down, the first call takes the probe.
// ARGV: probe id, probe lease ms, '1' to take the probe. Returns {code, failures, ms}: 0
// closed; 1 open, ms left of the cool-down; 2 this call is the probe; 3 the cool-down is over
// and another call probes (or, not taking it, none yet), ms left of its lease.
inline const Script& breaker_admit_script() {
    static const Script script(std::string(lua_now_ms) + breaker_lua_prelude +
                               "if open_until == 0 then return {0, failures, 0} end\n"
                               "if now < open_until then return {1, failures, open_until - now} end\n"
                               "if ARGV[3] == '1' and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
                               "  return {2, failures, 0}\n"
                               "end\n"
                               "local left = redis.call('PTTL', KEYS[2])\n"
                               "if left < 0 then left = 0 end\n"
                               "return {3, failures, left}\n");
    return script;
}

// The failure of a call: counts it, and opens the breaker at the threshold.
// ARGV: threshold, cool-down ms, '1' for the probe, probe id.
inline const Script& breaker_failure_script() {
    static const Script script(
        std::string(lua_now_ms) + breaker_lua_prelude +
        "local function open()\n"
        "  redis.call('HSET', KEYS[1], 'open_until', string.format('%.0f', now + tonumber(ARGV[2])), 'failures', 0)\n"
        "  return {1, tonumber(ARGV[2])}\n"
        "end\n"
        "if ARGV[3] == '1' then\n"
        "  if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end\n"
        "  if open_until ~= 0 and now >= open_until then return open() end\n"
        "end\n"
        "if open_until ~= 0 then\n"
        "  local left = open_until - now\n"
        "  if left < 0 then left = 0 end\n"
        "  return {2, left}\n"
        "end\n"
        "failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)\n"
        "if failures >= tonumber(ARGV[1]) then return open() end\n"
        "return {0, failures}\n");
    return script;
}

// The success of a call. ARGV: '1' for the probe, probe id. A probe's success closes a
// breaker whose cool-down is over; another's resets the count of a closed one.
inline const Script& breaker_success_script() {
    static const Script script(std::string(lua_now_ms) + breaker_lua_prelude +
                               "if ARGV[1] == '1' then\n"
                               "  if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end\n"
                               "  if open_until ~= 0 and now >= open_until then\n"
                               "    redis.call('HSET', KEYS[1], 'open_until', 0, 'failures', 0)\n"
                               "    return {0, 0}\n"
                               "  end\n"
                               "end\n"
                               "if open_until == 0 then\n"
                               "  if failures ~= 0 then redis.call('HSET', KEYS[1], 'failures', 0) end\n"
                               "  return {0, 0}\n"
                               "end\n"
                               "local left = open_until - now\n"
                               "if left < 0 then left = 0 end\n"
                               "return {2, left}\n");
    return script;
}

// Gives up a probe that said nothing of the service's health. ARGV: probe id.
inline const Script& breaker_release_script() {
    static const Script script(std::string(lua_now_ms) + breaker_lua_prelude +
                               "if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end\n"
                               "if open_until == 0 then return {0, failures} end\n"
                               "local left = open_until - now\n"
                               "if left < 0 then left = 0 end\n"
                               "return {2, left}\n");
    return script;
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_BREAKER_SCRIPTS_HPP
