// cascade: cheap-first LLM cascades and difficulty routing for C++17.
// SPDX-License-Identifier: MIT
//
// The core umbrella (namespace cascade): tiers, Cascade, Router, results, stats, events, options
// and hedging, no dependency beyond the standard library. The other layers have umbrellas of
// their own (verify.hpp, score.hpp, eval.hpp, runtime.hpp; all.hpp for every one of them);
// optional integrations (integration/) are never included by an umbrella.
#ifndef CASCADE_CASCADE_HPP
#define CASCADE_CASCADE_HPP

#include "core/call_context.hpp"
#include "core/cascade.hpp"
#include "core/concepts.hpp"
#include "core/config.hpp"
#include "core/cost.hpp"
#include "core/dynamic_cascade.hpp"
#include "core/event.hpp"
#include "core/hedge.hpp"
#include "core/options.hpp"
#include "core/parse_error.hpp"
#include "core/response_traits.hpp"
#include "core/result.hpp"
#include "core/router.hpp"
#include "core/stats.hpp"
#include "core/stream_output.hpp"
#include "core/stream_state.hpp"
#include "core/tier.hpp"
#include "core/tier_registry.hpp"
#include "core/token_sink.hpp"
#include "core/verdict.hpp"
#include "version.hpp"

#endif  // CASCADE_CASCADE_HPP
