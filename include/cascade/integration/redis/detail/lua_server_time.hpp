// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_LUA_SERVER_TIME_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_LUA_SERVER_TIME_HPP

namespace cascade::redis::detail {

// Lua that sets the local `now` to the server's time in whole milliseconds. Every lease, expiry
// and cool-down is measured on the server's clock, so that the replicas' clocks never matter;
// Redis 7 replicates a script's effects, not the script, so a script may read the time.
inline constexpr const char* lua_now_ms =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_LUA_SERVER_TIME_HPP
