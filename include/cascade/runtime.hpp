// SPDX-License-Identifier: MIT
//
// The production runtime umbrella (namespace cascade): batches, retries, circuit breakers,
// caches, a shared budget, concurrency limits, injectable clocks and Prometheus output. Each
// header also stands alone. Not included by cascade.hpp, so that the core stays light to compile.
#ifndef CASCADE_RUNTIME_HPP
#define CASCADE_RUNTIME_HPP

#include "cascade.hpp"
#include "runtime/batch.hpp"
#include "runtime/breaker.hpp"
#include "runtime/budget.hpp"
#include "runtime/cache.hpp"
#include "runtime/clock.hpp"
#include "runtime/concurrency_limit.hpp"
#include "runtime/prometheus.hpp"
#include "runtime/retry.hpp"
#include "runtime/retry_hints.hpp"

#endif  // CASCADE_RUNTIME_HPP
