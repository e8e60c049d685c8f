// cascade: cheap-first LLM cascades and difficulty routing for C++17.
// SPDX-License-Identifier: MIT
//
// The umbrella header: everything in the core, no dependency beyond the standard library.
// Optional integrations (e.g. {fmt}) live in their own headers and are not included here.
#ifndef CASCADE_CASCADE_HPP
#define CASCADE_CASCADE_HPP

#include "cost.hpp"
#include "escalation.hpp"
#include "result.hpp"
#include "router.hpp"
#include "stats.hpp"
#include "tier.hpp"
#include "verdict.hpp"
#include "version.hpp"

#endif  // CASCADE_CASCADE_HPP
