// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_ROUTER_HPP
#define CASCADE_CORE_ROUTER_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/callable_traits.hpp"
#include "detail/exception_text.hpp"
#include "detail/stats_snapshot.hpp"
#include "detail/stream_channel.hpp"
#include "../detail/counters.hpp"
#include "../detail/latency_histogram.hpp"
#include "../detail/tick_clock.hpp"
#include "cascade.hpp"
#include "result.hpp"
#include "stats.hpp"
#include "stream_output.hpp"
#include "tier.hpp"

namespace cascade {

/// A Router's outcome: the chosen route's Result, plus the difficulty score and the route.
template <class Response>
class Routed : public Result<Response> {
public:
    Routed(Result<Response>&& result, std::optional<double> score, std::size_t route, std::string scorer_error,
           std::chrono::nanoseconds scorer_latency)
        : Result<Response>(std::move(result)),
          score_(score),
          route_(route),
          scorer_error_(std::move(scorer_error)),
          scorer_latency_(scorer_latency) {}

    /// The scorer's difficulty in [0, 1]; empty when the scorer failed (see scorer_error()).
    [[nodiscard]] std::optional<double> score() const noexcept { return score_; }
    /// The route taken, 0 for the easiest.
    [[nodiscard]] std::size_t route() const noexcept { return route_; }
    /// Why the scorer failed (it threw, or gave NaN or a value outside [0, 1]); the query then
    /// took the last route. Empty when the scorer succeeded.
    [[nodiscard]] const std::string& scorer_error() const noexcept { return scorer_error_; }
    /// Time spent scoring, which Result::latency() (the route's own time) does not include.
    [[nodiscard]] std::chrono::nanoseconds scorer_latency() const noexcept { return scorer_latency_; }

private:
    // A router fills its outcome in place, so that the route's trace is never moved.
    template <class Scorer, class... Targets>
    friend class Router;
    Routed() = default;

    std::optional<double> score_;
    std::size_t route_ = 0;
    std::string scorer_error_;
    std::chrono::nanoseconds scorer_latency_{0};
};

namespace detail {

// Every route runs as a Cascade: a tier becomes a one-tier cascade, a bare model a one-tier
// cascade without verifier named after its route.
template <class T, class = void>
struct route_target {
    using type = Cascade<Tier<T>>;
    static type make(T&& model, std::size_t route) {
        return type(Tier<T>("route " + std::to_string(route), std::move(model), NoVerifier{}, 0.0, FixedCost{}));
    }
};
template <class T>
struct route_target<T, std::enable_if_t<is_tier_v<T>>> {
    using type = Cascade<T>;
    static type make(T&& tier, std::size_t) { return type(std::move(tier)); }
};
template <class T>
struct route_target<T, std::enable_if_t<is_cascade_v<T>>> {
    using type = T;
    static type make(T&& cascade, std::size_t) { return std::move(cascade); }
};
template <class T>
using route_target_t = typename route_target<T>::type;

template <class Route, class Request>
using route_response_t = typename decltype(std::declval<Route&>().run(std::declval<const Request&>()))::value_type;

template <class Request, class Route>
struct route_accepts;
template <class Request, class... Tiers>
struct route_accepts<Request, Cascade<Tiers...>> {
    static constexpr bool value = cascade_accepts<Request, Tiers...>();
};

template <class Request, class Scorer, class... Routes>
constexpr bool router_accepts() {
    constexpr bool scores = scorer_callable_v<Scorer, Request>;
    static_assert(scores, "cascade::Router::run: the scorer must be callable as double(const Request&), "
                          "returning a difficulty in [0, 1]");
    if constexpr (!scores) {
        return false;
    } else {
        constexpr bool routes_accept = (route_accepts<Request, Routes>::value && ...);
        return routes_accept;
    }
}

template <class Request, class First, class... Routes>
constexpr bool routes_agree() {
    using Response = route_response_t<First, Request>;
    constexpr bool same = (std::is_same_v<route_response_t<Routes, Request>, Response> && ...);
    static_assert(same, "cascade::Router::run: every route must give the same Response type for one Request");
    return same;
}

}  // namespace detail

/// Difficulty routing: a scorer rates each query in [0, 1], ascending thresholds split [0, 1]
/// into routes, and the query goes to its route's target: a model callable, a Tier, or a whole
/// Cascade.
///
///     cascade::Router r{difficulty, {0.7},                      // below 0.7: route 0
///                       cascade::Cascade{mini_tier, big_tier},  // easy: cheap-first cascade
///                       cascade::tier("big", call_big)};        // hard: straight to the big model
///
/// Route i takes scores in [thresholds[i-1], thresholds[i]); a score of exactly a threshold goes
/// up. A scorer that throws or returns NaN or a value outside [0, 1] sends the query to the last
/// route, recorded in the result and the stats.
///
/// Thread-safety: as Cascade; the scorer must also be callable from many threads at once.
template <class Scorer, class... Targets>
class Router {
    static_assert(sizeof...(Targets) >= 1, "cascade::Router: needs at least one route");

public:
    static constexpr std::size_t route_count = sizeof...(Targets);
    /// Guarded so that a router without routes fails on its static_assert alone.
    static constexpr std::size_t threshold_count = route_count > 0 ? route_count - 1 : 0;

    /// Throws std::invalid_argument when `thresholds` does not hold route_count - 1 strictly
    /// ascending values in [0, 1].
    Router(Scorer scorer, std::vector<double> thresholds, Targets... targets)
        : Router(std::index_sequence_for<Targets...>{}, std::move(scorer), thresholds, std::move(targets)...) {}

    /// Scores `request` and runs it on its route with that route's own limits.
    template <class Request>
    auto run(const Request& request) {
        return run_checked(request, nullptr);
    }

    /// Scores `request` and runs it on its route with `limits` instead of the route's own.
    template <class Request>
    auto run(const Request& request, const Limits& limits) {
        return run_checked(request, &limits);
    }

    /// Scores `request` and runs it on its route as a streamed query: see Cascade::stream.
    template <class Request, class OnStream>
    auto stream(const Request& request, OnStream&& on_stream, StreamMode mode = StreamMode::buffered) {
        return stream_checked(request, on_stream, mode, nullptr);
    }

    /// stream() with `limits` instead of the route's own.
    template <class Request, class OnStream>
    auto stream(const Request& request, OnStream&& on_stream, StreamMode mode, const Limits& limits) {
        return stream_checked(request, on_stream, mode, &limits);
    }

    /// The route a score leads to.
    [[nodiscard]] std::size_t route_for(double score) const noexcept {
        std::size_t route = 0;
        while (route < thresholds_.size() && score >= thresholds_[route]) ++route;
        return route;
    }

    [[nodiscard]] RouterStats stats() const {
        RouterStats s;
        s.routes.reserve(route_count);
        detail::Money total;
        for (std::size_t i = 0; i < route_count; ++i) {
            RouteStats r;
            r.name = names_[i];
            r.queries = count(i, f_queries);
            r.unanswered = count(i, f_unanswered);
            detail::Money route_money;
            route_money.nano = counters_->saturating_total(i * route_fields + f_cost_nano, route_money.saturated);
            route_money.femto = counters_->saturating_total(i * route_fields + f_cost_femto, route_money.saturated);
            total = total.plus(route_money);
            r.cost = route_money.dollars();
            r.latency = std::chrono::nanoseconds(count(i, f_latency_ns));
            s.queries += r.queries;
            s.unanswered += r.unanswered;
            s.latency += r.latency;
            s.routes.push_back(std::move(r));
        }
        s.scorer_errors = counters_->total(f_scorer_errors);
        s.first_tokens = counters_->total(f_first_tokens);
        s.first_token_total = std::chrono::nanoseconds(static_cast<std::int64_t>(counters_->total(f_first_token_ns)));
        const auto first_token = Buckets::read(*counters_, f_first_token_buckets);
        s.first_token_p50 = first_token.p50;
        s.first_token_p90 = first_token.p90;
        s.first_token_p99 = first_token.p99;
        const RouteStats& last = s.routes.back();
        detail::finish_snapshot(
            s, total, *counters_, f_latency_buckets,
            detail::baseline_per_query(last_route_price(), last.cost, last.queries,
                                       baseline_price_ ? baseline_price_ : last_route_estimate()));
        return s;
    }

    void reset_stats() noexcept { counters_->reset(); }

    /// States what a query costs all on the last route, so that RouterStats::baseline_cost and
    /// saving() are known before that route has served a query, whatever the route is (a whole
    /// Cascade too). A last route of one fixed-price tier, and the mean cost of the queries the
    /// last route has served, take precedence, as Tier::with_cost_estimate does for a Cascade.
    /// Throws std::invalid_argument for a negative, infinite or NaN price, or one above
    /// cascade::max_dollars. Not thread-safe: call it before the router is used.
    ///
    ///     router.set_baseline_price(0.004);   // a typical query on the big model
    void set_baseline_price(double dollars_per_query) {
        if (!(dollars_per_query >= 0.0 && dollars_per_query <= max_dollars)) {
            throw std::invalid_argument("cascade::Router::set_baseline_price: the price must be a finite number >= 0 "
                                        "and at most $" + detail::describe_dollars(max_dollars) +
                                        " (cascade::max_dollars), got " + detail::describe_dollars(dollars_per_query));
        }
        baseline_price_ = dollars_per_query;
    }

    /// The I-th route's target, as a Cascade (with stats of its own).
    template <std::size_t I>
    auto& route() noexcept {
        return std::get<I>(routes_);
    }
    [[nodiscard]] std::string_view route_name(std::size_t i) const { return names_[i]; }
    [[nodiscard]] const std::array<double, threshold_count>& thresholds() const noexcept { return thresholds_; }

private:
    enum RouteField : std::size_t { f_queries, f_unanswered, f_cost_nano, f_cost_femto, f_latency_ns, route_fields };
    static constexpr std::size_t f_scorer_errors = route_count * route_fields;
    static constexpr std::size_t f_latency_buckets = f_scorer_errors + 1;
    using Buckets = detail::LatencyBuckets;
    // Streamed queries' time to first token, scoring included (the route's cascade counts it
    // without).
    static constexpr std::size_t f_first_tokens = f_latency_buckets + Buckets::count;
    static constexpr std::size_t f_first_token_ns = f_first_tokens + 1;
    static constexpr std::size_t f_first_token_buckets = f_first_tokens + 2;
    using Counters = detail::StripedCounters<f_first_token_buckets + Buckets::count>;
    using Clock = std::chrono::steady_clock;
    static Clock::time_point now(bool ticks) noexcept { return ticks ? detail::TickClock::now() : Clock::now(); }

    template <class Request, class OnStream>
    auto stream_checked(const Request& request, OnStream& on_stream, StreamMode mode, const Limits* limits) {
        constexpr bool sink_fits = std::is_invocable_v<OnStream&, const StreamEvent&>;
        static_assert(sink_fits, "cascade::Router::stream: the caller's sink must be callable as "
                                 "void(const cascade::StreamEvent&)");
        if constexpr (!sink_fits) {
            return Result<detail::RefusedRequest>{};
        } else {
            // The sink goes through a void*; the cast back restores its constness.
            detail::StreamChannel channel(
                const_cast<void*>(static_cast<const void*>(&on_stream)),
                [](void* sink, const StreamEvent& e) { (*static_cast<OnStream*>(sink))(e); }, mode);
            return run_checked(request, limits, &channel);
        }
    }

    template <class Request>
    auto run_checked(const Request& request, const Limits* limits, detail::StreamChannel* channel = nullptr) {
        if constexpr (detail::router_accepts<Request, Scorer, detail::route_target_t<Targets>...>()) {
            if constexpr (detail::routes_agree<Request, detail::route_target_t<Targets>...>()) {
                using Response = detail::route_response_t<
                    std::tuple_element_t<0, std::tuple<detail::route_target_t<Targets>...>>, Request>;
                return run_routed<Response>(request, limits, channel);
            } else {
                return Result<detail::RefusedRequest>{};
            }
        } else {
            return Result<detail::RefusedRequest>{};
        }
    }

    template <std::size_t... Is>
    Router(std::index_sequence<Is...>, Scorer scorer, const std::vector<double>& thresholds, Targets... targets)
        : scorer_(std::move(scorer)),
          thresholds_(checked_thresholds(thresholds)),
          routes_(detail::route_target<Targets>::make(std::move(targets), Is)...),
          names_(std::make_unique<std::string[]>(route_count)),
          counters_(std::make_unique<Counters>()) {
        ((names_[Is] = route_label(std::get<Is>(routes_))), ...);
        ticks_for_latency_ = (... && (std::get<Is>(routes_).ticks_for_latency_ &&
                                      !std::get<Is>(routes_).options().limits.timeout));
    }

    static std::array<double, threshold_count> checked_thresholds(const std::vector<double>& t) {
        const std::string where = "cascade::Router: ";
        if (t.size() != route_count - 1) {
            throw std::invalid_argument(where + detail::count_of(route_count, "route") + " need" +
                                        (route_count == 1 ? "s " : " ") + detail::count_of(route_count - 1, "threshold") +
                                        ", got " + std::to_string(t.size()));
        }
        std::array<double, threshold_count> out{};
        for (std::size_t i = 0; i < t.size(); ++i) {
            const std::string at = "thresholds[" + std::to_string(i) + "]";
            if (std::isnan(t[i])) throw std::invalid_argument(where + at + " is NaN");
            if (t[i] < 0.0 || t[i] > 1.0) {
                throw std::invalid_argument(where + at + " = " + std::to_string(t[i]) + " is outside [0, 1]");
            }
            if (i > 0 && !(t[i] > t[i - 1])) {
                throw std::invalid_argument(where + "thresholds must be strictly ascending, but " + at + " = " +
                                            std::to_string(t[i]) + " is not above thresholds[" +
                                            std::to_string(i - 1) + "] = " + std::to_string(t[i - 1]));
            }
            out[i] = t[i];
        }
        return out;
    }

    // A route is named after its tiers: "mini>big" for a cascade, the tier's name otherwise.
    template <class Route>
    static std::string route_label(const Route& route) {
        std::string label;
        for (std::size_t i = 0; i < Route::tier_count; ++i) {
            if (i > 0) label += '>';
            label += route.tier_name(i);
        }
        return label;
    }

    // Three clock reads a query: before scoring, after it (which is also the route's start
    // when the route's cascade reads the same clock) and at the route's end. On the tick clock
    // when every route would time the query on it (see Cascade::ticks_for).
    template <class Response, class Request>
    Routed<Response> run_routed(const Request& request, const Limits* limits, detail::StreamChannel* channel) {
        const bool ticks = ticks_for_latency_ && (limits == nullptr || !limits->timeout) && channel == nullptr;
        const auto start = now(ticks);
        Routed<Response> routed;
        try {
            const double s = static_cast<double>(scorer_(request));
            if (s >= 0.0 && s <= 1.0) {
                routed.score_ = s;
            } else {
                routed.scorer_error_ = "scorer returned " + std::to_string(s) + "; a difficulty must be in [0, 1]";
            }
        } catch (...) {
            routed.scorer_error_ = "scorer threw: " + detail::describe_exception(std::current_exception());
        }
        const std::size_t route = routed.score_ ? route_for(*routed.score_) : route_count - 1;
        routed.route_ = route;
        const auto scored = now(ticks);
        routed.scorer_latency_ = scored - start;
        run_route<Response>(route, request, limits, routed, scored, ticks, channel);
        auto& counters = counters_->this_thread();
        if (const auto route_first_token = routed.first_token_latency()) {
            // From the query's start, as its latency: scoring included.
            const auto first_token = *route_first_token + routed.scorer_latency_;
            detail::ResultAccess<Response>::set_first_token(routed, first_token);
            counters.add(f_first_tokens, 1);
            counters.add(f_first_token_ns,
                         static_cast<std::uint64_t>(std::max<std::int64_t>(0, first_token.count())));
            counters.add(f_first_token_buckets + Buckets::index(first_token), 1);
        }

        const Result<Response>& result = routed;
        const std::size_t base = route * route_fields;
        counters.add(base + f_queries, 1);
        if (!result.has_value()) counters.add(base + f_unanswered, 1);
        // A result's cost is a sum of calls' costs, each at most max_dollars: finite.
        const detail::Money money = detail::Money::of(result.cost());
        if (money.nano) counters.add_saturating(base + f_cost_nano, money.nano);
        if (money.femto) counters.add_saturating(base + f_cost_femto, money.femto);
        const auto latency = result.latency() + routed.scorer_latency_;
        counters.add(base + f_latency_ns, static_cast<std::uint64_t>(latency.count()));
        counters.add(f_latency_buckets + Buckets::index(latency), 1);
        if (!routed.score_) counters.add(f_scorer_errors, 1);
        complete_trace<Response>(route, routed);
        return routed;
    }

    // Runs the query on its route, into `result`: the routes are tried by index at compile time.
    template <class Response, std::size_t I = 0, class Request>
    void run_route(std::size_t route, const Request& request, const Limits* limits, Result<Response>& result,
                   Clock::time_point scored, bool ticks, detail::StreamChannel* channel) {
        if constexpr (I + 1 < route_count) {
            if (route != I) return run_route<Response, I + 1>(route, request, limits, result, scored, ticks, channel);
        }
        auto& target = std::get<I>(routes_);
        if (limits != nullptr) target.check_limits(*limits);
        target.run_into(result, request, limits != nullptr ? *limits : target.options().limits,
                        target.custom_clock_ ? nullptr : &scored, channel, ticks);
    }

    // The route's trace entries for the tiers it did not call, left by run_route() until the
    // router's counters are added (see Cascade::run_into).
    template <class Response, std::size_t I = 0>
    void complete_trace(std::size_t route, Result<Response>& result) const {
        if constexpr (I + 1 < route_count) {
            if (route != I) return complete_trace<Response, I + 1>(route, result);
        }
        std::get<I>(routes_).add_skipped(detail::ResultAccess<Response>::trace(result));
    }

    [[nodiscard]] std::uint64_t count(std::size_t route, std::size_t field) const noexcept {
        return counters_->total(route * route_fields + field);
    }

    // What a query costs on the last route when that is known in advance: one tier at a fixed price.
    [[nodiscard]] std::optional<double> last_route_price() const noexcept {
        const auto& last = std::get<route_count - 1>(routes_);
        if constexpr (std::decay_t<decltype(last)>::tier_count == 1) {
            return last.template tier<0>().fixed_price();
        } else {
            return std::nullopt;
        }
    }

    // What a query is expected to cost on the last route: one tier with a stated estimate.
    [[nodiscard]] std::optional<double> last_route_estimate() const noexcept {
        const auto& last = std::get<route_count - 1>(routes_);
        if constexpr (std::decay_t<decltype(last)>::tier_count == 1) {
            return last.template tier<0>().cost_estimate();
        } else {
            return std::nullopt;
        }
    }

    Scorer scorer_;
    std::array<double, threshold_count> thresholds_;
    std::tuple<detail::route_target_t<Targets>...> routes_;
    std::unique_ptr<std::string[]> names_;
    std::unique_ptr<Counters> counters_;
    bool ticks_for_latency_ = false;  // every route times queries without a deadline on detail::TickClock
    std::optional<double> baseline_price_;
};

template <class Scorer, class... Targets>
Router(Scorer, std::vector<double>, Targets...) -> Router<Scorer, Targets...>;

}  // namespace cascade

#endif  // CASCADE_CORE_ROUTER_HPP
