// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_CONFIG_HPP
#define CASCADE_CORE_CONFIG_HPP

#include <version>

// Concepts give the compiler's notes on *why* a callable was refused; the static_assert
// messages are the same either way, so C++17 users see the same first line.
#if defined(__cpp_concepts) && __cpp_concepts >= 201907L && defined(__cpp_lib_concepts)
#define CASCADE_HAS_CONCEPTS 1
#else
#define CASCADE_HAS_CONCEPTS 0
#endif

/// The most tiers one cascade may hold. A result keeps its per-tier trace inline, without
/// allocating, so the capacity is fixed at compile time; define it before including cascade to
/// raise it.
#ifndef CASCADE_MAX_TIERS
#define CASCADE_MAX_TIERS 8
#endif

#endif  // CASCADE_CORE_CONFIG_HPP
