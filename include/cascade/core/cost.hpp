// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_COST_HPP
#define CASCADE_CORE_COST_HPP

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../detail/counters.hpp"

namespace cascade {

/// The most one amount of money may be, in dollars ($1e10): a price, an estimate, a budget or a
/// call's cost. Prices, estimates and budgets above it are refused with std::invalid_argument; a
/// call whose cost comes out above it is counted as max_dollars and recorded as a cost error.
inline constexpr double max_dollars = detail::max_money_dollars;

/// A tier's cost that is the same for every call, in US dollars (or any unit you keep to).
///
///     cascade::tier("mini", call_mini, cascade::price_per_call(0.0002))
struct FixedCost {
    double dollars = 0.0;
};

/// A tier's cost computed from each answer, e.g. its token counts times the price per token.
/// Holds a callable `double(const Response&)` or `double(const Request&, const Response&)`.
template <class Fn>
struct ComputedCost {
    Fn fn;
};

namespace detail {
// "2e-10", "1e+10": amounts in error messages, shown to the digits that matter (std::to_string
// would print 0.000000 for a price under a micro-dollar).
inline std::string describe_dollars(double dollars) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", dollars);
    return buf;
}
}  // namespace detail

/// The cost of a tier that charges the same for every call. Throws std::invalid_argument for a
/// negative, infinite or NaN price, or one above cascade::max_dollars.
inline FixedCost price_per_call(double dollars) {
    if (!(dollars >= 0.0 && dollars <= max_dollars)) {
        throw std::invalid_argument("cascade::price_per_call: the price must be a finite number >= 0 and at most $" +
                                    detail::describe_dollars(max_dollars) + " (cascade::max_dollars), got " +
                                    detail::describe_dollars(dollars));
    }
    return FixedCost{dollars};
}

/// The cost of a tier computed from each answer:
///
///     cascade::cost_from([](const Reply& r) { return r.tokens_out * 0.6e-6; })
///
/// A cost function that throws or returns a negative, infinite or NaN value is recorded as a cost
/// error (a note in the trace, TierStats::cost_errors) and the call is charged the tier's stated
/// estimate (Tier::with_cost_estimate), or $0 without one; the answer itself is kept. A cost above
/// cascade::max_dollars is charged as max_dollars, also recorded as a cost error.
template <class Fn>
ComputedCost<std::decay_t<Fn>> cost_from(Fn&& fn) {
    return ComputedCost<std::decay_t<Fn>>{std::forward<Fn>(fn)};
}

namespace detail {

template <class T>
struct is_cost_spec : std::false_type {};
template <>
struct is_cost_spec<FixedCost> : std::true_type {};
template <class Fn>
struct is_cost_spec<ComputedCost<Fn>> : std::true_type {};
template <class T>
inline constexpr bool is_cost_spec_v = is_cost_spec<std::decay_t<T>>::value;

}  // namespace detail
}  // namespace cascade

#endif  // CASCADE_CORE_COST_HPP
