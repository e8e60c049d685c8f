// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_HPP
#define CASCADE_INTEGRATION_REDIS_HPP

// Limits and a cache shared by every replica of a service, kept in Redis (needs hiredis; see
// docs/redis.md). Not included by cascade/all.hpp: link hiredis to use it.
#include "redis/client.hpp"
#include "redis/redis_error.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"
#include "redis/server_options.hpp"
#include "redis/shared_breaker.hpp"
#include "redis/shared_budget.hpp"
#include "redis/shared_cache.hpp"
#include "redis/shared_concurrency_limit.hpp"

#endif  // CASCADE_INTEGRATION_REDIS_HPP
