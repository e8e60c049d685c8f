// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_CONCEPTS_HPP
#define CASCADE_CORE_CONCEPTS_HPP

// With C++20, the shapes cascade accepts are concepts usable in your own code; the same checks
// are static_asserts under C++17, so both standards report the same first line.

#include <type_traits>

#include "config.hpp"
#include "detail/callable_traits.hpp"

#if CASCADE_HAS_CONCEPTS
#include <concepts>

namespace cascade {

/// A model for `Request`: called as `Response(const Request&)` or
/// `Response(const Request&, const cascade::CallContext&)` on a non-const object.
template <class Model, class Request>
concept model_for = detail::model_callable_v<Model, Request> &&
                    !std::is_void_v<detail::model_result_t<Model, Request>>;

/// A verifier of `Response` to `Request`: returns a confidence in [0, 1], a bool, or a Verdict,
/// from `(const Request&, const Response&)` or `(const Response&)`.
template <class Verifier, class Request, class Response>
concept verifier_for = detail::verifier_callable_v<Verifier, Request, Response>;

/// A difficulty scorer for a Router: `double(const Request&)`, difficulty in [0, 1].
template <class Scorer, class Request>
concept scorer_for = std::invocable<Scorer&, const Request&> &&
                     std::convertible_to<std::invoke_result_t<Scorer&, const Request&>, double>;

}  // namespace cascade
#endif

#endif  // CASCADE_CORE_CONCEPTS_HPP
