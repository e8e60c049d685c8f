// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_TIER_HPP
#define CASCADE_CORE_TIER_HPP

#include <chrono>
#include <cmath>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "call_context.hpp"
#include "cost.hpp"
#include "detail/callable_traits.hpp"
#include "detail/exception_text.hpp"
#include "detail/stream_session.hpp"
#include "result.hpp"
#include "stream_state.hpp"
#include "verdict.hpp"

namespace cascade {

/// The verifier of a tier that accepts whatever its model answers (the usual last tier).
struct NoVerifier {};

/// One model in a cascade: a name, the user's model callable, an optional verifier with its
/// acceptance threshold, and what a call costs. Make one with cascade::tier(...).
///
/// The callables are stored by value and called non-const. A Tier is move-only when any of its
/// callables is.
template <class Model, class Verifier = NoVerifier, class Cost = FixedCost>
class Tier {
public:
    using model_type = Model;
    using verifier_type = Verifier;
    using cost_type = Cost;

    Tier(std::string name, Model model_fn, Verifier verifier_fn, double threshold, Cost cost_spec)
        : name_(std::move(name)),
          model_(std::move(model_fn)),
          verifier_(std::move(verifier_fn)),
          cost_(std::move(cost_spec)),
          threshold_(threshold) {
        if (name_.empty()) throw std::invalid_argument("cascade::tier: the name must not be empty");
        if (!(threshold_ >= 0.0 && threshold_ <= 1.0)) {
            throw std::invalid_argument("cascade::tier(\"" + name_ + "\"): the threshold must be in [0, 1], got " +
                                        std::to_string(threshold_));
        }
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// A verifier's confidence must be at least this for the tier to accept.
    [[nodiscard]] double threshold() const noexcept { return threshold_; }
    [[nodiscard]] static constexpr bool has_verifier() noexcept {
        return !std::is_same_v<Verifier, NoVerifier>;
    }
    /// The price of one call when it is fixed; empty when computed from each answer.
    [[nodiscard]] std::optional<double> fixed_price() const noexcept {
        if constexpr (std::is_same_v<Cost, FixedCost>) {
            return cost_.dollars;
        } else {
            return std::nullopt;
        }
    }

    /// Calls that take longer than `limit` count as failures (AttemptStatus::timed_out): their
    /// answer is dropped and the query escalates. A model taking a CallContext sees the limit as
    /// its deadline. Throws std::invalid_argument unless `limit` > 0.
    ///
    ///     auto mini = cascade::tier("mini", call_mini, conf, 0.8).with_time_limit(std::chrono::seconds(2));
    Tier&& with_time_limit(std::chrono::nanoseconds limit) && {
        if (limit <= std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::Tier(\"" + name_ + "\")::with_time_limit: the limit must be > 0, got " +
                                        std::to_string(limit.count()) + " ns");
        }
        time_limit_ = limit;
        return std::move(*this);
    }

    /// What one call is expected to cost, for tiers whose cost is computed per answer, so that a
    /// query's cost cap (CascadeOptions::max_cost_per_query) can skip a call it cannot afford.
    /// For the last tier it is also the baseline's price per query until that tier has answered
    /// (see Stats::baseline_cost), and for every tier what a call whose cost function fails is
    /// charged. Throws std::invalid_argument for a negative, infinite or NaN estimate, or one above
    /// cascade::max_dollars.
    Tier&& with_cost_estimate(double dollars) && {
        if (!(dollars >= 0.0 && dollars <= max_dollars)) {
            throw std::invalid_argument("cascade::Tier(\"" + name_ + "\")::with_cost_estimate: the estimate must be a "
                                        "finite number >= 0 and at most $" + detail::describe_dollars(max_dollars) +
                                        " (cascade::max_dollars), got " + detail::describe_dollars(dollars));
        }
        cost_estimate_ = dollars;
        return std::move(*this);
    }

    /// For a model that streams (takes a cascade::TokenSink): a rule that watches the running
    /// stream and may stop it mid-answer, so that the query escalates without waiting for the
    /// rest. `rule` is any callable `std::optional<std::string>(const cascade::StreamState&)`,
    /// called after every chunk, from many queries at once; a string stops the stream and is
    /// the reason the trace gives (see cascade::verify::stop_when_mean_prob_below and the other
    /// ready-made rules). The attempt is then AttemptStatus::stopped. A rule that throws is
    /// noted in the trace and not asked again for that call. Never consulted for a model that
    /// does not stream.
    ///
    ///     auto mini = cascade::tier("mini", stream_mini, conf, 0.8)
    ///                     .with_early_exit(cascade::verify::stop_when_mean_prob_below(0.6, 8));
    template <class Rule>
    Tier&& with_early_exit(Rule&& rule) && {
        using R = std::decay_t<Rule>;
        static_assert(is_early_exit_rule_v<R>, "cascade::Tier::with_early_exit: the rule must be callable as "
                                               "std::optional<std::string>(const cascade::StreamState&) on a const "
                                               "object");
        if constexpr (is_early_exit_rule_v<R>) {
            if constexpr (std::is_copy_constructible_v<R>) {
                stream_.early_exit = std::forward<Rule>(rule);
            } else {
                // A rule that can only be moved is held where copies of the tier share it.
                auto held = std::make_shared<const R>(std::forward<Rule>(rule));
                stream_.early_exit = [held](const StreamState& state) -> std::optional<std::string> {
                    return (*held)(state);
                };
            }
        }
        return std::move(*this);
    }

    /// For a model that streams: the longest wait allowed between two chunks. A stream that
    /// stalls longer is stopped and counts as timed out (AttemptStatus::timed_out), never as an
    /// answer. The wait for the first chunk is bounded by with_time_limit instead. A model sees
    /// a stall when its next chunk comes or when it polls TokenSink::stop_requested(). Throws
    /// std::invalid_argument unless `limit` > 0.
    Tier&& with_stall_limit(std::chrono::nanoseconds limit) && {
        if (limit <= std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::Tier(\"" + name_ +
                                        "\")::with_stall_limit: the limit must be > 0, got " +
                                        std::to_string(limit.count()) + " ns");
        }
        stream_.stall_limit = limit;
        return std::move(*this);
    }

    [[nodiscard]] const detail::StreamSettings& stream_settings() const noexcept { return stream_; }

    [[nodiscard]] std::optional<std::chrono::nanoseconds> time_limit() const noexcept { return time_limit_; }
    /// The expected cost of a call: the estimate given, else the fixed price; empty if neither.
    [[nodiscard]] std::optional<double> cost_estimate() const noexcept {
        return cost_estimate_ ? cost_estimate_ : fixed_price();
    }

    Model& model() noexcept { return model_; }
    Verifier& verifier() noexcept { return verifier_; }
    Cost& cost() noexcept { return cost_; }

private:
    std::string name_;
    Model model_;
    Verifier verifier_;
    Cost cost_;
    double threshold_;
    std::optional<std::chrono::nanoseconds> time_limit_;
    std::optional<double> cost_estimate_;
    detail::StreamSettings stream_;
};

/// A tier without verifier, free of charge: it accepts whatever its model answers.
///
///     auto big = cascade::tier("gpt-4o", call_big);
template <class Model>
auto tier(std::string name, Model&& model) {
    return Tier<std::decay_t<Model>>(std::move(name), std::forward<Model>(model), NoVerifier{}, 0.0,
                                     FixedCost{});
}

/// A tier without verifier, with a cost: `price_per_call(d)` or `cost_from(fn)`.
template <class Model, class Cost, std::enable_if_t<detail::is_cost_spec_v<Cost>, int> = 0>
auto tier(std::string name, Model&& model, Cost&& cost) {
    return Tier<std::decay_t<Model>, NoVerifier, std::decay_t<Cost>>(
        std::move(name), std::forward<Model>(model), NoVerifier{}, 0.0, std::forward<Cost>(cost));
}

/// A tier that accepts when `verifier` gives a confidence >= `threshold` (or returns true).
///
///     auto mini = cascade::tier("mini", call_mini, confidence_of, 0.8, cascade::price_per_call(2e-4));
template <class Model, class Verifier, class Cost = FixedCost,
          std::enable_if_t<!detail::is_cost_spec_v<Verifier>, int> = 0>
auto tier(std::string name, Model&& model, Verifier&& verifier, double threshold = 0.5, Cost&& cost = {}) {
    // After a refusal, a valid tier without the refused part: the assertion is then the only
    // error, not the first of many from the code that goes on to use the tier.
    if constexpr (std::is_arithmetic_v<std::remove_reference_t<Verifier>>) {
        static_assert(detail::always_false_v<Verifier>,
                      "cascade::tier: the 3rd argument must be a verifier or a cost, not a number; a price "
                      "is cascade::price_per_call(dollars), and a threshold follows its verifier");
        return tier(std::move(name), std::forward<Model>(model));
    } else if constexpr (std::is_arithmetic_v<std::remove_reference_t<Cost>>) {
        static_assert(detail::always_false_v<Cost>,
                      "cascade::tier: the cost must be cascade::price_per_call(dollars) or "
                      "cascade::cost_from(fn), not a bare number: write cascade::price_per_call(x)");
        return tier(std::move(name), std::forward<Model>(model), std::forward<Verifier>(verifier), threshold);
    } else if constexpr (!detail::is_cost_spec_v<Cost>) {
        static_assert(detail::always_false_v<Cost>,
                      "cascade::tier: the cost must be cascade::price_per_call(dollars) or "
                      "cascade::cost_from(fn) with fn as double(const Response&) or "
                      "double(const Request&, const Response&)");
        return tier(std::move(name), std::forward<Model>(model), std::forward<Verifier>(verifier), threshold);
    } else {
        return Tier<std::decay_t<Model>, std::decay_t<Verifier>, std::decay_t<Cost>>(
            std::move(name), std::forward<Model>(model), std::forward<Verifier>(verifier), threshold,
            std::forward<Cost>(cost));
    }
}

/// A tier with a verifier (threshold 0.5, for a bool verifier) and a cost.
template <class Model, class Verifier, class Cost,
          std::enable_if_t<!detail::is_cost_spec_v<Verifier> && detail::is_cost_spec_v<Cost>, int> = 0>
auto tier(std::string name, Model&& model, Verifier&& verifier, Cost&& cost) {
    return tier(std::move(name), std::forward<Model>(model), std::forward<Verifier>(verifier), 0.5,
                std::forward<Cost>(cost));
}

/// Refuses, with a message of its own, a 4th argument that is neither a threshold nor a cost
/// (say a cost function passed without cascade::cost_from).
template <class Model, class Verifier, class Fourth,
          std::enable_if_t<!detail::is_cost_spec_v<Verifier> && !detail::is_cost_spec_v<Fourth> &&
                               !std::is_convertible_v<Fourth, double>,
                           int> = 0>
auto tier(std::string name, Model&& model, Verifier&& verifier, Fourth&&) {
    static_assert(detail::always_false_v<Fourth>,
                  "cascade::tier: the cost must be cascade::price_per_call(dollars) or "
                  "cascade::cost_from(fn) with fn as double(const Response&) or "
                  "double(const Request&, const Response&); a 4th argument may also be the threshold (a double)");
    if constexpr (std::is_arithmetic_v<std::remove_reference_t<Verifier>>) {
        return tier(std::move(name), std::forward<Model>(model));
    } else {
        return tier(std::move(name), std::forward<Model>(model), std::forward<Verifier>(verifier), 0.5);
    }
}

namespace detail {

template <class T>
struct is_tier : std::false_type {};
template <class M, class V, class C>
struct is_tier<Tier<M, V, C>> : std::true_type {};
template <class T>
inline constexpr bool is_tier_v = is_tier<std::decay_t<T>>::value;

inline bool valid_confidence(double c) noexcept { return c >= 0.0 && c <= 1.0; }

// What attempt() records when a call throws or a verifier's confidence is out of range: out of
// line, so that attempt() itself stays small enough to be inlined into the cascade's loop.
inline void record_thrown(Attempt& attempt, AttemptStatus status, const char* who) {
    attempt.status = status;
    attempt.exception = std::current_exception();
    attempt.error = who + describe_exception(attempt.exception);
}

inline void record_invalid_confidence(Attempt& attempt, double confidence) {
    attempt.status = AttemptStatus::verifier_error;
    attempt.error = "verifier returned " + std::to_string(confidence) + "; a confidence must be in [0, 1]";
}

// The rule for a cost function that fails, the same as cascade::with_budget's: the call did happen,
// so it is charged what the tier states a call costs, when it states it; the failure is noted.
inline void charge_failed_cost(Attempt& attempt, std::optional<double> estimate, const std::string& why) {
    std::string what = why;
    if (estimate) {
        attempt.cost += *estimate;
        what += " (charged the tier's estimate, $" + describe_dollars(*estimate) + ")";
    } else {
        what += " (counted as $0: the tier states no estimate)";
    }
    attempt.note += (attempt.note.empty() ? "" : "; ") + what;
}

// A call whose cost came out above what one amount may be is counted at that most, and noted, so
// that no total overflows on it.
inline void record_cost_over_max(Attempt& attempt) {
    attempt.note += (attempt.note.empty() ? "" : "; ") + ("cost $" + describe_dollars(attempt.cost) +
                                                          " is above the most one call may cost (counted as $" +
                                                          describe_dollars(max_dollars) + ", cascade::max_dollars)");
    attempt.cost = max_dollars;
}

template <class Response>
struct AttemptOutcome {
    std::optional<Response> answer;  // the model's answer when it gave one, accepted or not
    bool cost_failed = false;        // the cost function failed, or the cost was above max_dollars
    bool returned = false;           // the model returned (a stopped stream too), and was charged on it
};

// Runs the tier's verifier on an answer: accepted or rejected, or a verifier error.
template <class TierT, class Request, class Response>
inline void judge(TierT& tier, const Request& request, const Response& answer_value, Attempt& attempt,
                  AttemptOutcome<Response>& outcome) {
    const Response* answer = &answer_value;

    using V = typename TierT::verifier_type;
    if constexpr (std::is_same_v<V, NoVerifier>) {
        attempt.status = AttemptStatus::accepted;
    } else {
        try {
            auto verdict = [&]() -> decltype(auto) {
                if constexpr (verifier_shape<V, Request, Response>::two_args) {
                    return tier.verifier()(request, *answer);
                } else {
                    return tier.verifier()(*answer);
                }
            }();
            using R = std::decay_t<decltype(verdict)>;
            double confidence = 0.0;
            if constexpr (std::is_same_v<R, bool>) {
                confidence = verdict ? 1.0 : 0.0;
            } else if constexpr (std::is_same_v<R, Verdict>) {
                confidence = verdict.confidence;
                if (verdict.extra_cost >= 0.0 && std::isfinite(verdict.extra_cost)) {
                    attempt.cost += verdict.extra_cost;
                } else {
                    outcome.cost_failed = true;
                    const std::string invalid =
                        "verifier's extra cost " + std::to_string(verdict.extra_cost) + " is invalid (counted as $0)";
                    attempt.note = attempt.note.empty() ? invalid : attempt.note + "; " + invalid;
                }
                if (!verdict.note.empty()) {
                    attempt.note = attempt.note.empty() ? std::move(verdict.note)
                                                        : verdict.note + "; " + attempt.note;
                }
            } else {
                confidence = static_cast<double>(verdict);
            }
            if (valid_confidence(confidence)) {
                attempt.confidence = confidence;
                attempt.status = confidence >= tier.threshold() ? AttemptStatus::accepted
                                                                : AttemptStatus::rejected;
            } else {
                record_invalid_confidence(attempt, confidence);
            }
        } catch (...) {
            record_thrown(attempt, AttemptStatus::verifier_error, "verifier threw: ");
        }
    }
}

// Charges a call that gave `answer_value`: the tier's price or its cost function.
template <class TierT, class Request, class Response>
inline void charge(TierT& tier, const Request& request, const Response& answer_value, Attempt& attempt,
                   AttemptOutcome<Response>& outcome) {
    const Response* answer = &answer_value;
    using C = typename TierT::cost_type;
    if constexpr (std::is_same_v<C, FixedCost>) {
        attempt.cost += tier.cost().dollars;
    } else {
        try {
            double dollars = 0.0;
            if constexpr (cost_two_args_v<decltype(tier.cost().fn), Request, Response>) {
                dollars = static_cast<double>(tier.cost().fn(request, *answer));
            } else {
                dollars = static_cast<double>(tier.cost().fn(*answer));
            }
            if (dollars >= 0.0 && std::isfinite(dollars)) {
                attempt.cost += dollars;
            } else {
                outcome.cost_failed = true;
                charge_failed_cost(attempt, tier.cost_estimate(), "cost function returned " + std::to_string(dollars));
            }
        } catch (...) {
            outcome.cost_failed = true;
            charge_failed_cost(attempt, tier.cost_estimate(),
                               "cost function threw: " + describe_exception(std::current_exception()));
        }
    }
    if (attempt.cost > max_dollars) {
        outcome.cost_failed = true;
        record_cost_over_max(attempt);
    }
}

// A streaming tier's call: the model writes to a sink of a StreamSession, which may stop it.
// A stream stopped by its rule, stalled or past its deadline is never taken as an answer, but
// what it produced is charged: the cost function on what the model returned after the stop,
// else (it threw) the tier's estimate, noted.
template <class Response, class TierT, class Request>
AttemptOutcome<Response> call_streaming_tier(TierT& tier, const Request& request, const CallContext& context,
                                             Attempt& attempt) {
    AttemptOutcome<Response> outcome;
    std::optional<Response>& answer = outcome.answer;
    StreamSession session(tier.stream_settings(), context);
    TokenSink sink = session.sink();
    try {
        if constexpr (model_streams_with_context_v<typename TierT::model_type, Request>) {
            answer.emplace(tier.model()(request, sink, context));
        } else {
            answer.emplace(tier.model()(request, sink));
        }
    } catch (...) {
        record_thrown(attempt, AttemptStatus::model_error, "model threw: ");
    }
    session.record(attempt);
    if (!session.rule_failure().empty()) attempt.note = session.rule_failure();
    using Stop = StreamSession::Stop;
    const Stop stop = session.stop();
    outcome.returned = answer.has_value();
    if (stop == Stop::none && answer) {
        judge(tier, request, *answer, attempt, outcome);
        charge(tier, request, *answer, attempt, outcome);
        return outcome;
    }
    // Stopped, or failed: the call produced tokens but gave no answer to take.
    if (stop == Stop::rule) {
        attempt.status = AttemptStatus::stopped;
        attempt.note = attempt.note.empty() ? session.reason() : session.reason() + "; " + attempt.note;
    } else if (stop == Stop::stalled || stop == Stop::deadline) {
        attempt.status = AttemptStatus::timed_out;
        attempt.error = attempt.error.empty() ? session.reason() : session.reason() + "; " + attempt.error;
    } else if (stop == Stop::cancelled) {
        attempt.status = AttemptStatus::model_error;
        attempt.error = attempt.error.empty() ? session.reason() : session.reason() + "; " + attempt.error;
    }
    if (answer) {
        charge(tier, request, *answer, attempt, outcome);
        answer.reset();
    } else if (attempt.stream.tokens > 0) {
        // The stream produced tokens, so the call is paid for: a tier priced per call is charged
        // what it states a call costs (its estimate, else its price); for one priced per answer
        // what it cost is unknown, and the estimate stands in for it, as a cost error.
        const std::string how = "the stream ended with an exception after " + count_of(attempt.stream.tokens, "token");
        if constexpr (std::is_same_v<typename TierT::cost_type, FixedCost>) {
            const double dollars = tier.cost_estimate().value_or(0.0);
            attempt.cost += dollars;
            attempt.note += (attempt.note.empty() ? "" : "; ") + how + " (charged a call's price, $" +
                            describe_dollars(dollars) + ")";
        } else {
            outcome.cost_failed = true;
            charge_failed_cost(attempt, tier.cost_estimate(), how + ", so its cost is unknown");
        }
    }
    return outcome;
}

// Calls one tier's model, verifier and cost function for one request and records what happened
// in `attempt`. Declared inline, and its failure paths kept out of line, so that the compiler
// inlines it into the cascade: it runs for every tier called, and the call alone cost a query
// about thirty instructions.
template <class Response, class TierT, class Request>
inline AttemptOutcome<Response> call_tier(TierT& tier, const Request& request, const CallContext& context,
                                          Attempt& attempt) {
    AttemptOutcome<Response> outcome;
    std::optional<Response>& answer = outcome.answer;
    using Model = typename TierT::model_type;
    if constexpr (model_streams_v<Model, Request> && !model_takes_context_v<Model, Request> &&
                  !std::is_invocable_v<Model&, const Request&>) {
        return call_streaming_tier<Response>(tier, request, context, attempt);
    } else {
        try {
            if constexpr (model_takes_context_v<Model, Request>) {
                answer.emplace(tier.model()(request, context));
            } else {
                answer.emplace(tier.model()(request));
            }
        } catch (...) {
            record_thrown(attempt, AttemptStatus::model_error, "model threw: ");
            return outcome;
        }
        outcome.returned = true;
        judge(tier, request, *answer, attempt, outcome);
        charge(tier, request, *answer, attempt, outcome);
        return outcome;
    }
}

// A tier type whose calls go through one indirect call of its own says so with a member type
// `makes_own_calls` (detail::ErasedTier: a registered tier that a DynamicCascade chains at run
// time, whose own type only call_tier knows).
template <class T, class = void>
struct makes_own_calls : std::false_type {};
template <class T>
struct makes_own_calls<T, std::void_t<typename T::makes_own_calls>> : std::true_type {};

// One tier's call for one request, as every cascade makes it.
template <class Response, class TierT, class Request>
inline AttemptOutcome<Response> attempt(TierT& tier, const Request& request, const CallContext& context,
                                        Attempt& attempt) {
    if constexpr (makes_own_calls<TierT>::value) {
        return tier.call(request, context, attempt);
    } else {
        return call_tier<Response>(tier, request, context, attempt);
    }
}

}  // namespace detail
}  // namespace cascade

#endif  // CASCADE_CORE_TIER_HPP
