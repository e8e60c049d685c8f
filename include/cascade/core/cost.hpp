// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_COST_HPP
#define CASCADE_CORE_COST_HPP

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace cascade {

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

/// The cost of a tier that charges the same for every call. Throws std::invalid_argument for a
/// negative, infinite or NaN price.
inline FixedCost price_per_call(double dollars) {
    if (!(dollars >= 0.0) || !std::isfinite(dollars)) {
        throw std::invalid_argument("cascade::price_per_call: the price must be a finite number >= 0, got " +
                                    std::to_string(dollars));
    }
    return FixedCost{dollars};
}

/// The cost of a tier computed from each answer:
///
///     cascade::cost_from([](const Reply& r) { return r.tokens_out * 0.6e-6; })
///
/// A cost function that throws or returns a negative or NaN value is recorded in the trace and
/// the call is counted as free; the answer itself is kept.
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
