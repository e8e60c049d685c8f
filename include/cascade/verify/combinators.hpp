// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_COMBINATORS_HPP
#define CASCADE_VERIFY_COMBINATORS_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../detail/number.hpp"
#include "detail/verify_support.hpp"
#include "../core/verdict.hpp"

// Verifiers made of verifiers. A part is any verifier a tier accepts: a callable returning a
// confidence in [0, 1], a bool or a cascade::Verdict, taking (const Request&, const Response&) or
// (const Response&). Parts that take the request get it; the result is a Verdict whose extra_cost
// is what all the called parts spent and whose note joins theirs.
//
// A part giving NaN, a confidence outside [0, 1] or an invalid extra cost is an error
// (std::domain_error naming the part); a part may also throw. Either way the error goes on to the
// tier, which records a verifier error, unless earlier parts already spent money: then the
// combinator returns confidence 0 with that cost and a note "part N threw: ...", so that the
// money is counted.
//
// Parts are stored by value and called non-const, left to right. A combinator is as thread-safe
// as its parts.
namespace cascade::detail {

// Calls one part and folds its verdict into `out`; false when the remaining parts need not be called.
template <class Derived, class Part, class Call>
bool absorb_part(Derived& self, Part& part, std::size_t index, Call& call, Verdict& out, std::string_view who) {
    Verdict v;
    try {
        v = part_to_verdict(call(part), who, index);
    } catch (...) {
        if (out.extra_cost <= 0.0) throw;
        out.confidence = 0.0;
        append_verdict_note(out.note, "part " + std::to_string(index + 1) + " threw: " + describe_current_exception());
        return false;
    }
    out.extra_cost += v.extra_cost;
    append_verdict_note(out.note, v.note);
    return self.fold(out, v, index);
}

// The shared shape of every combinator over a tuple of parts: the (Request, Response) call, and
// the (Response) call when every part can do without the request.
template <class Derived, class... Parts>
class VerdictCombinator {
public:
    explicit VerdictCombinator(Parts... parts) : parts_(std::move(parts)...) {}

    template <class Request, class Response>
    Verdict operator()(const Request& request, const Response& response) {
        static_assert((part_accepts_v<Parts, Request, Response> && ...),
                      "cascade::verify combinator (all_of, any_of, weighted, negate, calibrated): a part cannot "
                      "verify this Response; accepted parts: double, bool or cascade::Verdict from "
                      "(const Request&, const Response&) or (const Response&)");
        if constexpr ((part_accepts_v<Parts, Request, Response> && ...)) {
            auto call = [&](auto& part) -> decltype(auto) { return call_part(part, request, response); };
            return run(call, std::index_sequence_for<Parts...>{});
        } else {
            return Verdict{};
        }
    }

    template <class Response, std::enable_if_t<(part_alone_v<Parts, Response> && ...), int> = 0>
    Verdict operator()(const Response& response) {
        auto call = [&](auto& part) -> decltype(auto) { return part(response); };
        return run(call, std::index_sequence_for<Parts...>{});
    }

protected:
    std::tuple<Parts...> parts_;

private:
    template <class Call, std::size_t... Is>
    Verdict run(Call& call, std::index_sequence<Is...>) {
        Derived& self = static_cast<Derived&>(*this);
        Verdict out = self.start();
        (absorb_part(self, std::get<Is>(parts_), Is, call, out, Derived::name) && ...);
        self.finish(out);
        return out;
    }
};

}  // namespace cascade::detail

namespace cascade::verify {

/// The lowest confidence of its parts: every check must pass. Stops at the first part that gives
/// 0, so put cheap checks before paid ones (a judge, samples).
template <class... Parts>
class AllOf : public detail::VerdictCombinator<AllOf<Parts...>, Parts...> {
public:
    static constexpr std::string_view name = "cascade::verify::all_of";
    using detail::VerdictCombinator<AllOf, Parts...>::VerdictCombinator;

    Verdict start() const { return Verdict{1.0, 0.0, {}}; }
    bool fold(Verdict& out, const Verdict& v, std::size_t) const {
        out.confidence = std::min(out.confidence, v.confidence);
        return out.confidence > 0.0;
    }
    void finish(Verdict&) const {}
};

/// The highest confidence of its parts: one passing check is enough. Stops at the first part
/// that gives 1.
template <class... Parts>
class AnyOf : public detail::VerdictCombinator<AnyOf<Parts...>, Parts...> {
public:
    static constexpr std::string_view name = "cascade::verify::any_of";
    using detail::VerdictCombinator<AnyOf, Parts...>::VerdictCombinator;

    Verdict start() const { return Verdict{0.0, 0.0, {}}; }
    bool fold(Verdict& out, const Verdict& v, std::size_t) const {
        out.confidence = std::max(out.confidence, v.confidence);
        return out.confidence < 1.0;
    }
    void finish(Verdict&) const {}
};

/// The weighted mean of its parts' confidences; every part is called.
template <class... Parts>
class Weighted : public detail::VerdictCombinator<Weighted<Parts...>, Parts...> {
public:
    static constexpr std::string_view name = "cascade::verify::weighted";

    Weighted(const std::array<double, sizeof...(Parts)>& weights, Parts... parts)
        : detail::VerdictCombinator<Weighted, Parts...>(std::move(parts)...), weights_(weights) {
        double total = 0.0;
        for (std::size_t i = 0; i < weights_.size(); ++i) {
            if (!(weights_[i] >= 0.0) || !std::isfinite(weights_[i])) {
                throw std::invalid_argument("cascade::verify::weighted: weight " + std::to_string(i + 1) +
                                            " is " + detail::format_number(weights_[i]) +
                                            "; weights must be finite numbers >= 0");
            }
            total += weights_[i];
        }
        if (!(total > 0.0) || !std::isfinite(total)) {
            throw std::invalid_argument("cascade::verify::weighted: the weights must not all be 0");
        }
        for (double& w : weights_) w /= total;
    }

    /// The weights, scaled to sum to 1.
    [[nodiscard]] const std::array<double, sizeof...(Parts)>& weights() const noexcept { return weights_; }

    Verdict start() const { return Verdict{0.0, 0.0, {}}; }
    bool fold(Verdict& out, const Verdict& v, std::size_t i) const {
        out.confidence += weights_[i] * v.confidence;
        return true;
    }
    void finish(Verdict& out) const { out.confidence = std::min(1.0, std::max(0.0, out.confidence)); }

private:
    std::array<double, sizeof...(Parts)> weights_;
};

/// 1 - the confidence of its part: e.g. negate(matches("(?i)as an ai")) passes when it does not
/// match. The part's cost and note are kept.
template <class Part>
class Negate : public detail::VerdictCombinator<Negate<Part>, Part> {
public:
    static constexpr std::string_view name = "cascade::verify::negate";
    using detail::VerdictCombinator<Negate, Part>::VerdictCombinator;

    Verdict start() const { return Verdict{0.0, 0.0, {}}; }
    bool fold(Verdict& out, const Verdict& v, std::size_t) const {
        out.confidence = 1.0 - v.confidence;
        return true;
    }
    void finish(Verdict&) const {}
};

/// Every part must pass; confidence = the lowest of theirs.
///
///     cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::no_refusal(),
///                             cascade::verify::mean_token_prob())
template <class... Parts>
AllOf<std::decay_t<Parts>...> all_of(Parts&&... parts) {
    static_assert(sizeof...(Parts) > 0, "cascade::verify::all_of: needs at least one part");
    return AllOf<std::decay_t<Parts>...>(std::forward<Parts>(parts)...);
}

/// One part passing is enough; confidence = the highest of theirs.
template <class... Parts>
AnyOf<std::decay_t<Parts>...> any_of(Parts&&... parts) {
    static_assert(sizeof...(Parts) > 0, "cascade::verify::any_of: needs at least one part");
    return AnyOf<std::decay_t<Parts>...>(std::forward<Parts>(parts)...);
}

/// Confidence = the weighted mean of the parts' confidences. One weight per part, finite and
/// >= 0, not all 0 (they are scaled to sum to 1); otherwise std::invalid_argument.
///
///     cascade::verify::weighted({0.7, 0.3}, cascade::verify::mean_token_prob(), judge)
template <class... Parts>
Weighted<std::decay_t<Parts>...> weighted(std::initializer_list<double> weights, Parts&&... parts) {
    static_assert(sizeof...(Parts) > 0, "cascade::verify::weighted: needs at least one part");
    if (weights.size() != sizeof...(Parts)) {
        throw std::invalid_argument("cascade::verify::weighted: " + std::to_string(weights.size()) + " weights for " +
                                    std::to_string(sizeof...(Parts)) + " parts; give one weight per part");
    }
    std::array<double, sizeof...(Parts)> w{};
    std::copy(weights.begin(), weights.end(), w.begin());
    return Weighted<std::decay_t<Parts>...>(w, std::forward<Parts>(parts)...);
}

/// Confidence = 1 - the part's.
template <class Part>
Negate<std::decay_t<Part>> negate(Part&& part) {
    return Negate<std::decay_t<Part>>(std::forward<Part>(part));
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_COMBINATORS_HPP
