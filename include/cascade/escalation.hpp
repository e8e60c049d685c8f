// SPDX-License-Identifier: MIT
#ifndef CASCADE_ESCALATION_HPP
#define CASCADE_ESCALATION_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "detail/callable.hpp"
#include "detail/config.hpp"
#include "detail/counters.hpp"
#include "result.hpp"
#include "stats.hpp"
#include "tier.hpp"

namespace cascade {

/// What a cascade answers when no tier's answer passes its check.
enum class NoPassPolicy {
    accept_last,     ///< the answer of the last tier that gave one (usually the last tier)
    most_confident,  ///< the answer with the highest confidence seen (later tiers win ties)
    no_answer,       ///< no answer: Result::value() throws CascadeError with each tier's reason
};

struct CascadeOptions {
    NoPassPolicy when_none_pass = NoPassPolicy::accept_last;
    /// Keep the counters behind stats(); off saves a few atomic additions per tier called.
    bool collect_stats = true;
};

namespace detail {

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

// Every refusal of a cascade's callables, checked in order so that only the first problem is
// reported; true when the tiers can serve `Request`.
template <class Request, class... Tiers>
constexpr bool cascade_accepts() {
    constexpr bool callable = (model_callable_v<typename Tiers::model_type, Request> && ...);
    static_assert(callable,
                  "cascade::Cascade::run: a tier's model cannot be called with this Request; a model must be "
                  "callable as Response(const Request&) or Response(Request) (any callable: lambda, function, "
                  "functor; mutable and move-only ones too)");
    if constexpr (!callable) {
        return false;
    } else {
        constexpr bool answers =
            (!std::is_void_v<std::invoke_result_t<typename Tiers::model_type&, const Request&>> && ...);
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

}  // namespace detail

/// Cheap-first escalation: calls its tiers in order and returns the first answer whose verifier
/// passes, with a trace of every tier.
///
///     cascade::Cascade c{cascade::tier("mini", call_mini, confidence, 0.8, cascade::price_per_call(2e-4)),
///                        cascade::tier("big", call_big, cascade::price_per_call(5e-3))};
///     auto r = c.run(request);   // r.value(), r.tier(), r.cost(), r.trace()
///
/// Thread-safety: run() and stats() may be called from many threads at once, provided each
/// tier's model, verifier and cost function may be too (stateless lambdas, or callables that lock
/// or keep per-thread state). Construction, moving, reset_stats() and tier<I>() must not overlap
/// other calls.
template <class... Tiers>
class Cascade {
    static_assert(sizeof...(Tiers) > 0, "cascade::Cascade: needs at least one tier");
    static_assert((detail::is_tier_v<Tiers> && ...),
                  "cascade::Cascade: every argument must be a cascade::Tier, made with "
                  "cascade::tier(name, model[, verifier, threshold][, cost])");
    static_assert(sizeof...(Tiers) <= CASCADE_MAX_TIERS,
                  "cascade::Cascade: more tiers than CASCADE_MAX_TIERS; define it higher before including cascade");

public:
    static constexpr std::size_t tier_count = sizeof...(Tiers);

    explicit Cascade(Tiers... tiers) : Cascade(CascadeOptions{}, std::move(tiers)...) {}

    Cascade(CascadeOptions options, Tiers... tiers)
        : tiers_(std::move(tiers)...),
          names_(std::make_unique<std::string[]>(tier_count)),
          counters_(std::make_unique<Counters>()),
          options_(options) {
        // The names live on the heap so that traces stay valid when the cascade is moved.
        std::size_t i = 0;
        std::apply([&](auto&... t) { ((names_[i++] = t.name()), ...); }, tiers_);
    }

    /// Runs `request` through the tiers. Never throws for what a model or verifier does: that is
    /// recorded in the result's trace. Throws only std::bad_alloc and the like.
    template <class Request>
    auto run(const Request& request) {
        if constexpr (detail::cascade_accepts<Request, Tiers...>()) {
            using Response = detail::model_response_t<typename detail::first_of<Tiers...>::type::model_type, Request>;
            return run_all<Response>(request, std::index_sequence_for<Tiers...>{});
        }
    }

    /// A snapshot of the counters (see Stats for its consistency while queries run).
    [[nodiscard]] Stats stats() const {
        Stats s;
        s.tiers.reserve(tier_count);
        std::uint64_t nano = 0;
        for (std::size_t i = 0; i < tier_count; ++i) {
            TierStats t;
            t.name = names_[i];
            t.accepted = count(i, f_accepted);
            t.rejected = count(i, f_rejected);
            t.model_errors = count(i, f_model_errors);
            t.verifier_errors = count(i, f_verifier_errors);
            t.cost_errors = count(i, f_cost_errors);
            t.calls = t.accepted + t.rejected + t.model_errors + t.verifier_errors;
            const std::uint64_t tier_nano = count(i, f_cost_nano);
            nano += tier_nano;
            t.cost = detail::from_nano_dollars(tier_nano);
            t.latency = std::chrono::nanoseconds(count(i, f_latency_ns));
            s.accepted += t.accepted;
            s.errors += t.model_errors + t.verifier_errors;
            if (i > 0) s.escalations += t.calls;
            s.latency += t.latency;
            s.tiers.push_back(std::move(t));
        }
        s.fallbacks = counters_->total(f_fallbacks);
        s.unanswered = counters_->total(f_unanswered);
        s.queries = s.accepted + s.fallbacks + s.unanswered;
        s.cost = detail::from_nano_dollars(nano);
        const TierStats& last = s.tiers.back();
        if (auto price = std::get<tier_count - 1>(tiers_).fixed_price()) {
            s.baseline_cost = *price * static_cast<double>(s.queries);
        } else if (last.calls > last.model_errors) {
            s.baseline_cost = last.cost / static_cast<double>(last.calls - last.model_errors) *
                              static_cast<double>(s.queries);
        }
        return s;
    }

    void reset_stats() noexcept { counters_->reset(); }

    [[nodiscard]] const CascadeOptions& options() const noexcept { return options_; }
    [[nodiscard]] std::string_view tier_name(std::size_t i) const { return names_[i]; }

    /// The I-th tier, e.g. to reach its model's own state.
    template <std::size_t I>
    auto& tier() noexcept {
        return std::get<I>(tiers_);
    }

private:
    // Counters per tier; the query totals are derived from them where they can be, so that a
    // query accepted by the first tier costs three atomic additions.
    enum TierField : std::size_t {
        f_accepted,
        f_rejected,
        f_model_errors,
        f_verifier_errors,
        f_cost_errors,
        f_cost_nano,
        f_latency_ns,
        tier_fields
    };
    static constexpr std::size_t f_fallbacks = tier_count * tier_fields;
    static constexpr std::size_t f_unanswered = f_fallbacks + 1;
    using Counters = detail::StripedCounters<f_unanswered + 1>;
    using Clock = std::chrono::steady_clock;

    [[nodiscard]] std::uint64_t count(std::size_t tier, std::size_t field) const noexcept {
        return counters_->total(tier * tier_fields + field);
    }

    // The answer a NoPassPolicy would fall back on, kept while later tiers are tried.
    template <class Response>
    struct Held {
        std::optional<Response> answer;
        std::size_t tier = 0;
        double rank = 0.0;
    };

    template <class Response, class Request, std::size_t... Is>
    Result<Response> run_all(const Request& request, std::index_sequence<Is...>) {
        using Access = detail::ResultAccess<Response>;
        Result<Response> result;
        Held<Response> held;
        bool done = false;
        const auto start = Clock::now();
        auto last = start;
        (run_tier<Is, Response>(request, result, held, done, last), ...);
        Access::set_latency(result, last - start);
        if (!done) settle_without_pass(result, held);
        return result;
    }

    template <std::size_t I, class Response, class Request>
    void run_tier(const Request& request, Result<Response>& result, Held<Response>& held, bool& done,
                  Clock::time_point& last) {
        using Access = detail::ResultAccess<Response>;
        Attempt& a = Access::trace(result).emplace_back();
        a.tier = names_[I];
        auto& t = std::get<I>(tiers_);
        a.threshold = t.threshold();
        if (done) return;

        auto [answer, cost_failed] = detail::attempt<Response>(t, request, a);
        const auto now = Clock::now();
        a.latency = now - last;
        last = now;
        Access::add_cost(result, a.cost);
        if (options_.collect_stats) record(I, a, cost_failed);

        if (a.status == AttemptStatus::accepted) {
            Access::settle(result, std::move(answer), I, Resolution::accepted);
            done = true;
        } else if (answer) {
            hold(held, std::move(answer), I, a);
        }
    }

    template <class Response>
    void hold(Held<Response>& held, std::optional<Response>&& answer, std::size_t tier, const Attempt& a) {
        switch (options_.when_none_pass) {
            case NoPassPolicy::accept_last: break;
            case NoPassPolicy::most_confident: {
                // An answer whose verifier failed still counts, below any scored one.
                const double rank = a.confidence.value_or(-1.0);
                if (held.answer && rank < held.rank) return;
                held.rank = rank;
                break;
            }
            case NoPassPolicy::no_answer: return;
        }
        held.answer = std::move(answer);
        held.tier = tier;
    }

    template <class Response>
    void settle_without_pass(Result<Response>& result, Held<Response>& held) {
        const bool answered = held.answer.has_value();
        if (answered) {
            detail::ResultAccess<Response>::settle(result, std::move(held.answer), held.tier, Resolution::fallback);
        }
        if (options_.collect_stats) counters_->add(answered ? f_fallbacks : f_unanswered, 1);
    }

    void record(std::size_t tier, const Attempt& a, bool cost_failed) noexcept {
        const std::size_t base = tier * tier_fields;
        std::size_t status_field = f_accepted;
        switch (a.status) {
            case AttemptStatus::accepted: status_field = f_accepted; break;
            case AttemptStatus::rejected: status_field = f_rejected; break;
            case AttemptStatus::model_error: status_field = f_model_errors; break;
            case AttemptStatus::verifier_error: status_field = f_verifier_errors; break;
            case AttemptStatus::skipped: return;
        }
        counters_->add(base + status_field, 1);
        if (cost_failed) counters_->add(base + f_cost_errors, 1);
        if (const auto nano = detail::to_nano_dollars(a.cost)) counters_->add(base + f_cost_nano, nano);
        counters_->add(base + f_latency_ns, static_cast<std::uint64_t>(a.latency.count()));
    }

    std::tuple<Tiers...> tiers_;
    std::unique_ptr<std::string[]> names_;
    std::unique_ptr<Counters> counters_;
    CascadeOptions options_;
};

template <class... Tiers>
Cascade(Tiers...) -> Cascade<Tiers...>;
template <class... Tiers>
Cascade(CascadeOptions, Tiers...) -> Cascade<Tiers...>;

namespace detail {
template <class T>
struct is_cascade : std::false_type {};
template <class... Tiers>
struct is_cascade<Cascade<Tiers...>> : std::true_type {};
template <class T>
inline constexpr bool is_cascade_v = is_cascade<std::decay_t<T>>::value;
}  // namespace detail

}  // namespace cascade

#endif  // CASCADE_ESCALATION_HPP
