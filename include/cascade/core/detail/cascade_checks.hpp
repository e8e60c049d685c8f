// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_CASCADE_CHECKS_HPP
#define CASCADE_CORE_DETAIL_CASCADE_CHECKS_HPP

#include <type_traits>
#include <utility>

#include "../tier.hpp"
#include "callable_traits.hpp"

// The compile-time checks behind Cascade::run, kept apart so that the class reads as the runtime.
namespace cascade::detail {

template <class First, class...>
struct first_of {
    using type = First;
};

template <class Cost, class Request, class Response>
constexpr bool cost_fits() {
    if constexpr (std::is_same_v<Cost, FixedCost>) {
        return true;
    } else {
        return cost_callable_v<decltype(std::declval<Cost&>().fn), Request, Response>;
    }
}

// What run() gives back when a static_assert has refused its Request: a result that every use
// compiles against, so that the refusal is the only error the caller sees.
struct RefusedRequest {};

// Every refusal of a cascade's callables, checked in order so that only the first problem is
// reported; true when the tiers can serve `Request`.
template <class Request, class... Tiers>
constexpr bool cascade_accepts() {
    constexpr bool callable = (model_callable_v<typename Tiers::model_type, Request> && ...);
    static_assert(callable,
                  "cascade::Cascade::run: a tier's model cannot be called with this Request; a model must be "
                  "callable as Response(const Request&) or Response(const Request&, const cascade::CallContext&) "
                  "(any callable: lambda, function, functor; mutable and move-only ones too)");
    if constexpr (!callable) {
        return false;
    } else {
        constexpr bool answers =
            (!std::is_void_v<model_result_t<typename Tiers::model_type, Request>> && ...);
        static_assert(answers, "cascade::Cascade::run: a tier's model returns void; a model must return its "
                               "answer, as Response(const Request&)");
        if constexpr (!answers) {
            return false;
        } else {
            using Response = model_response_t<typename first_of<Tiers...>::type::model_type, Request>;
            constexpr bool same = (std::is_same_v<model_response_t<typename Tiers::model_type, Request>,
                                                  Response> && ...);
            static_assert(same, "cascade::Cascade::run: every tier's model must return the same Response type "
                                "for one Request; wrap a model to convert its answer");
            constexpr bool verifiers = ((std::is_same_v<typename Tiers::verifier_type, NoVerifier> ||
                                         verifier_callable_v<typename Tiers::verifier_type, Request, Response>) &&
                                        ...);
            static_assert(!same || verifiers,
                          "cascade::tier: a verifier has the wrong signature; accepted: "
                          "double(const Request&, const Response&), bool(const Request&, const Response&), "
                          "cascade::Verdict(const Request&, const Response&), or the same taking "
                          "(const Response&) only; a double is a confidence in [0, 1]");
            constexpr bool costs = (cost_fits<typename Tiers::cost_type, Request, Response>() && ...);
            static_assert(!same || !verifiers || costs,
                          "cascade::cost_from: a cost function has the wrong signature; accepted: "
                          "double(const Response&) or double(const Request&, const Response&), in dollars");
            return same && verifiers && costs;
        }
    }
}

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_CASCADE_CHECKS_HPP
