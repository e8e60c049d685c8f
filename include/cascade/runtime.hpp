// SPDX-License-Identifier: MIT
//
// The production runtime in one include: retries, circuit breakers, caches, batches, a shared
// budget, concurrency limits, injectable clocks and Prometheus output. Each header also stands
// alone. Not included by cascade.hpp, so that the core stays light to compile.
#ifndef CASCADE_RUNTIME_HPP
#define CASCADE_RUNTIME_HPP

#include "batch.hpp"
#include "breaker.hpp"
#include "budget.hpp"
#include "cache.hpp"
#include "clock.hpp"
#include "concurrency_limit.hpp"
#include "prometheus.hpp"
#include "retry.hpp"
#include "retry_hints.hpp"

#endif  // CASCADE_RUNTIME_HPP
