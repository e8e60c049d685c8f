// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_CASCADE_HPP
#define CASCADE_CORE_CASCADE_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "call_context.hpp"
#include "detail/callable_traits.hpp"
#include "detail/cascade_checks.hpp"
#include "config.hpp"
#include "../detail/counters.hpp"
#include "detail/hedge_race.hpp"
#include "detail/stream_channel.hpp"
#include "detail/stats_snapshot.hpp"
#include "../detail/latency_histogram.hpp"
#include "../detail/tick_clock.hpp"
#include "event.hpp"
#include "hedge.hpp"
#include "options.hpp"
#include "response_traits.hpp"
#include "result.hpp"
#include "stats.hpp"
#include "stream_output.hpp"
#include "tier.hpp"
namespace cascade {

template <class Scorer, class... Targets>
class Router;

/// Cheap-first escalation: calls its tiers in order and returns the first answer whose verifier
/// passes, with a trace of every tier.
///
///     cascade::Cascade c{cascade::tier("mini", call_mini, confidence, 0.8, cascade::price_per_call(2e-4)),
///                        cascade::tier("big", call_big, cascade::price_per_call(5e-3))};
///     auto r = c.run(request);   // r.value(), r.tier(), r.cost(), r.trace()
///
/// Tiers run one after another on the caller's thread, except a hedged tier (with_hedge_after),
/// whose slow call may be joined by the next tier's on a helper thread.
///
/// Thread-safety: run() and stats() may be called from many threads at once, provided each
/// tier's model, verifier and cost function may be too (stateless lambdas, or callables that lock
/// or keep per-thread state). With hedging, a hedged tier and the next one are called at the same
/// time (each tier's callables still one call per query), and the event hook and the clock are
/// also called from the helper thread. Construction, moving, reset_stats() and tier<I>() must not
/// overlap other calls.
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

    /// Throws std::invalid_argument for limits that cannot be met (a timeout <= 0, a negative or
    /// NaN cost cap), a null clock, or a hedged last tier.
    Cascade(CascadeOptions options, Tiers... tiers)
        : tiers_(std::move(tiers)...),
          names_(std::make_unique<std::string[]>(tier_count)),
          counters_(std::make_unique<Counters>()),
          options_(std::move(options)) {
        check_limits(options_.limits);
        if (!options_.now) throw std::invalid_argument("cascade::CascadeOptions: the clock (now) must not be null");
        custom_clock_ = !is_default_clock(options_.now);
        // The names live on the heap so that traces stay valid when the cascade is moved.
        std::size_t i = 0;
        std::apply([&](auto&... t) { ((names_[i] = t.name(), labels_[i] = label_of(names_[i], t), ++i), ...); },
                   tiers_);
        has_time_limits_ = std::apply([](const auto&... t) { return (t.time_limit().has_value() || ...); }, tiers_);
        // Calibrates the tick clock here, once per process, rather than in a query.
        ticks_for_latency_ = !custom_clock_ && options_.measure_latency && !has_time_limits_ &&
                             detail::TickClock::counts_ticks();
        if constexpr (detail::is_hedged_v<tier_t<tier_count - 1>>) {
            throw std::invalid_argument("cascade::Cascade: tier \"" + names_[tier_count - 1] +
                                        "\" is hedged (with_hedge_after) but is the last tier, so there is no "
                                        "tier to start alongside it; hedge an earlier tier or add one after it");
        }
    }

    /// Runs `request` through the tiers. Never throws for what a model, verifier or hook does:
    /// that is recorded in the result's trace (or the stats). Throws only std::bad_alloc and the like.
    template <class Request>
    auto run(const Request& request) {
        return run(request, options_.limits);
    }

    /// Runs `request` with limits of its own instead of the cascade's. Throws
    /// std::invalid_argument for limits that cannot be met.
    template <class Request>
    auto run(const Request& request, const Limits& limits) {
        if constexpr (detail::cascade_accepts<Request, Tiers...>()) {
            using Response = detail::model_response_t<typename detail::first_of<Tiers...>::type::model_type, Request>;
            if (&limits != &options_.limits) check_limits(limits);
            return run_new<Response>(request, limits);
        } else {
            return Result<detail::RefusedRequest>{};
        }
    }

    /// Runs `request` as a streamed query: the tokens of its streaming tiers (models that take a
    /// cascade::TokenSink) reach `on_stream`, a callable `void(const cascade::StreamEvent&)`, as
    /// `mode` says (see StreamMode). The result is run()'s, with first_token_latency() set.
    ///
    ///     auto r = c.stream(question, [](const cascade::StreamEvent& e) {
    ///         if (e.kind == cascade::StreamEventKind::token) std::cout << e.chunk.text << std::flush;
    ///     });
    ///
    /// An accepted answer from a tier that does not stream reaches `on_stream` whole, as one
    /// chunk, when cascade::response_traits gives its text; so does a fallback answer's
    /// (NoPassPolicy). `on_stream` is called by one thread at a time: the query's, or a hedge
    /// backup's helper thread in pass-through mode. If it throws, it hears nothing more of this
    /// query, which runs on (its answer is in the result); the throw is counted in
    /// Stats::hook_errors.
    template <class Request, class OnStream>
    auto stream(const Request& request, OnStream&& on_stream, StreamMode mode = StreamMode::buffered) {
        return stream(request, std::forward<OnStream>(on_stream), mode, options_.limits);
    }

    /// stream() with limits of its own instead of the cascade's.
    template <class Request, class OnStream>
    auto stream(const Request& request, OnStream&& on_stream, StreamMode mode, const Limits& limits) {
        constexpr bool sink_fits = std::is_invocable_v<std::remove_reference_t<OnStream>&, const StreamEvent&>;
        static_assert(sink_fits, "cascade::Cascade::stream: the caller's sink must be callable as "
                                 "void(const cascade::StreamEvent&)");
        if constexpr (!sink_fits) {
            return Result<detail::RefusedRequest>{};
        } else if constexpr (detail::cascade_accepts<Request, Tiers...>()) {
            using Response = detail::model_response_t<typename detail::first_of<Tiers...>::type::model_type, Request>;
            if (&limits != &options_.limits) check_limits(limits);
            using Sink = std::remove_reference_t<OnStream>;
            // The sink goes through a void*; the cast back restores its constness.
            detail::StreamChannel channel(
                const_cast<void*>(static_cast<const void*>(&on_stream)),
                [](void* sink, const StreamEvent& e) { (*static_cast<Sink*>(sink))(e); }, mode);
            Result<Response> result;
            run_into(result, request, limits, nullptr, &channel);
            add_skipped(detail::ResultAccess<Response>::trace(result));
            return result;
        } else {
            return Result<detail::RefusedRequest>{};
        }
    }

    /// A snapshot of the counters (see Stats for its consistency while queries run).
    [[nodiscard]] Stats stats() const {
        Stats s;
        s.tiers.reserve(tier_count);
        detail::Money total;
        std::uint64_t tier_latency_ns = 0;  // modulo 2^64, as the overlap it is reduced by
        // Read before the tiers' latencies: a race recorded while this snapshot is taken then
        // adds to them and not to the overlap, so the difference can grow but never go negative.
        const std::uint64_t hedge_overlap_ns = counters_->total(f_hedge_overlap_ns);
        for (std::size_t i = 0; i < tier_count; ++i) {
            TierStats t;
            t.name = names_[i];
            t.accepted = count(i, f_accepted);
            t.rejected = count(i, f_rejected);
            t.model_errors = count(i, f_model_errors);
            t.verifier_errors = count(i, f_verifier_errors);
            t.timeouts = count(i, f_timeouts);
            t.cost_errors = count(i, f_cost_errors);
            t.skipped_deadline = count(i, f_skipped_deadline);
            t.skipped_budget = count(i, f_skipped_budget);
            t.hedges = count(i, f_hedges);
            t.cancelled = count(i, f_cancelled);
            t.stopped_early = count(i, f_stopped);
            t.streamed = count(i, f_streamed);
            t.tokens = count(i, f_tokens);
            t.first_tokens = count(i, f_first_tokens);
            t.first_token_total = std::chrono::nanoseconds(static_cast<std::int64_t>(count(i, f_first_token_ns)));
            t.calls = t.accepted + t.rejected + t.model_errors + t.verifier_errors + t.timeouts + t.cancelled +
                      t.stopped_early;
            const detail::Money tier_money = money(i);
            total = total.plus(tier_money);
            t.cost = tier_money.dollars();
            t.cost_saturated = tier_money.saturated;
            const std::uint64_t latency_ns = count(i, f_latency_ns);
            tier_latency_ns += latency_ns;
            t.latency = std::chrono::nanoseconds(static_cast<std::int64_t>(latency_ns));
            s.accepted += t.accepted;
            s.errors += t.model_errors + t.verifier_errors + t.timeouts;
            if (i > 0) s.escalations += t.calls;
            s.hedges += t.hedges;
            s.tiers.push_back(std::move(t));
        }
        // A query's latency is its wall time: the tiers' latencies less the time a hedge race's
        // two calls ran at once, which would otherwise count twice.
        s.latency = std::chrono::nanoseconds(std::max<std::int64_t>(
            0, static_cast<std::int64_t>(tier_latency_ns - hedge_overlap_ns)));
        s.fallbacks = counters_->total(f_fallbacks);
        s.unanswered = counters_->total(f_unanswered);
        s.hook_errors = counters_->total(f_hook_errors);
        s.first_tokens = counters_->total(f_first_tokens_query);
        s.first_token_total =
            std::chrono::nanoseconds(static_cast<std::int64_t>(counters_->total(f_first_token_ns_query)));
        const auto first_token = Buckets::read(*counters_, f_first_token_buckets);
        s.first_token_p50 = first_token.p50;
        s.first_token_p90 = first_token.p90;
        s.first_token_p99 = first_token.p99;
        s.queries = s.accepted + s.fallbacks + s.unanswered;
        const auto& last = std::get<tier_count - 1>(tiers_);
        const TierStats& last_stats = s.tiers.back();
        detail::finish_snapshot(s, total, *counters_, f_latency_buckets,
                                detail::baseline_per_query(last.fixed_price(), last_stats.cost,
                                                           answered_calls(tier_count - 1), last.cost_estimate()));
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
    template <std::size_t I>
    const auto& tier() const noexcept {
        return std::get<I>(tiers_);
    }

private:
    // A router runs its routes' queries in place, on the clock read that ended its scoring.
    template <class Scorer, class... Targets>
    friend class Router;

    // Counters per tier; the query totals are derived from them where they can be, so that a
    // query accepted by the first tier costs three atomic additions (four when its price has a
    // fraction of a nano-dollar), and one more for its latency's bucket.
    enum TierField : std::size_t {
        f_accepted,
        f_rejected,
        f_model_errors,
        f_verifier_errors,
        f_timeouts,
        f_cost_errors,
        f_skipped_deadline,
        f_skipped_budget,
        f_cost_nano,   // whole nano-dollars
        f_cost_femto,  // and femto-dollars under them (see detail::Money)
        f_latency_ns,
        f_hedges,
        f_cancelled,
        f_cancelled_answered,  // cancelled calls whose model answered: their cost is a real one
        f_at_price,            // calls that cost the tier's fixed price: counted, not summed (money())
        f_stopped,             // streams stopped by the early-exit rule
        f_streamed,            // calls that streamed, the chunks they produced, and their first chunks' times
        f_tokens,
        f_first_tokens,
        f_first_token_ns,
        f_charged_failures,    // failed calls that were charged all the same (a stream that broke midway)
        tier_fields
    };
    static constexpr std::size_t f_fallbacks = tier_count * tier_fields;
    static constexpr std::size_t f_unanswered = f_fallbacks + 1;
    static constexpr std::size_t f_hook_errors = f_fallbacks + 2;
    // The time hedge races' two calls overlapped, summed modulo 2^64 (a race's share may be
    // negative by the few ns between the calls).
    static constexpr std::size_t f_hedge_overlap_ns = f_fallbacks + 3;
    static constexpr std::size_t f_latency_buckets = f_fallbacks + 4;
    using Buckets = detail::LatencyBuckets;
    // Streamed queries: the caller's first token, counted, summed and in buckets.
    static constexpr std::size_t f_first_tokens_query = f_latency_buckets + Buckets::count;
    static constexpr std::size_t f_first_token_ns_query = f_first_tokens_query + 1;
    static constexpr std::size_t f_first_token_buckets = f_first_tokens_query + 2;
    using Counters = detail::StripedCounters<f_first_token_buckets + Buckets::count>;
    using TimePoint = std::chrono::steady_clock::time_point;
    template <std::size_t I>
    using tier_t = std::tuple_element_t<I, std::tuple<Tiers...>>;

    static void check_limits(const Limits& limits) {
        if (limits.timeout && *limits.timeout <= std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::Limits: the timeout must be > 0, got " +
                                        std::to_string(limits.timeout->count()) + " ns");
        }
        if (limits.max_cost && (!(*limits.max_cost >= 0.0) || std::isinf(*limits.max_cost))) {
            throw std::invalid_argument("cascade::Limits: the cost cap must be a finite number >= 0, got " +
                                        std::to_string(*limits.max_cost));
        }
    }

    [[nodiscard]] std::uint64_t count(std::size_t tier, std::size_t field) const noexcept {
        return counters_->total(tier * tier_fields + field);
    }

    // What the tier's calls cost: the money added by calls at another cost than its fixed price,
    // plus that price times the calls at it. Both terms only grow, so no snapshot shows more
    // than was spent or less than an earlier one.
    [[nodiscard]] detail::Money money(std::size_t tier) const noexcept {
        detail::Money m;
        m.nano = counters_->saturating_total(tier * tier_fields + f_cost_nano, m.saturated);
        m.femto = counters_->saturating_total(tier * tier_fields + f_cost_femto, m.saturated);
        const Label& label = labels_[tier];
        if (label.price > 0.0) m = m.plus(times(label.price_money, count(tier, f_at_price)));
        return m;
    }

    // An amount of one call times `n` calls, its femto-dollars carried into nano-dollars; held at
    // detail::max_count (and marked) instead of wrapping.
    static detail::Money times(const detail::Money& m, std::uint64_t n) noexcept {
        constexpr std::uint64_t per_nano = detail::femto_per_nano;
        detail::Money out;
        // m.femto < per_nano, so neither product below can wrap.
        const std::uint64_t low = (n % per_nano) * m.femto;
        out.femto = low % per_nano;
        const std::uint64_t carry = (n / per_nano) * m.femto + low / per_nano;
        if (m.nano != 0 && n > detail::max_count / m.nano) {
            out.nano = detail::max_count;
            out.saturated = true;
            return out;
        }
        return out.plus_nano(m.nano * n).plus_nano(carry);
    }

    // The answer a NoPassPolicy would fall back on, kept while later tiers are tried.
    template <class Response>
    struct Held {
        std::optional<Response> answer;
        std::size_t tier = 0;
        double rank = 0.0;
    };

    // What one run keeps between its tiers.
    struct Progress {
        TimePoint start;
        TimePoint last;        // when the previous tier finished
        TimePoint deadline;    // TimePoint::max() without one
        std::optional<double> max_cost;
        // Stats are kept. The thread's counter stripe is looked up where it is added to, never
        // kept across a call: a query suspended in a model may resume on another thread.
        bool counted = false;
        bool timed = false;    // the clock is read (see CascadeOptions::measure_latency)
        bool ticks = false;    // on the tick clock: timed for latencies only, with no deadline
        bool done = false;     // a tier's answer was accepted
        std::optional<std::size_t> last_called;
        std::size_t ran_as_backup = 0;  // a tier already called as a hedge's backup (0: none)
        detail::StreamChannel* channel = nullptr;  // the caller's side of a streamed query
    };

    // What the helper thread of a hedge race hands back.
    template <class Response>
    struct Backup {
        Attempt attempt;
        std::optional<Response> answer;
        bool cost_failed = false;
        bool answered_loser = false;
        std::exception_ptr failure;  // what escaped the helper (bad_alloc and the like)
    };

    // Whether tier I may have been called already, as the backup of the hedged tier before it.
    template <std::size_t I>
    static constexpr bool may_run_as_backup() noexcept {
        if constexpr (I == 0) {
            return false;
        } else {
            return detail::is_hedged_v<tier_t<I - 1>>;
        }
    }

    // Whether `now` is the default clock, which the cascade then reads directly: a call through
    // std::function is a measurable share of what a query costs.
    static bool is_default_clock(const NowFn& now) noexcept {
        const auto* fn = now.template target<TimePoint (*)()>();
        return fn != nullptr && *fn == &detail::steady_now;
    }

    [[nodiscard]] TimePoint now() const { return custom_clock_ ? options_.now() : std::chrono::steady_clock::now(); }
    // A query's clock: the tick clock when only its latencies need the time (see ticks_for()).
    [[nodiscard]] TimePoint now(bool ticks) const { return ticks ? detail::TickClock::now() : now(); }

    // Whether a query under `limits` is timed on the tick clock: no deadline can arise in it, so
    // its time points are only ever subtracted from each other.
    [[nodiscard]] bool ticks_for(const Limits& limits, const detail::StreamChannel* channel) const noexcept {
        return ticks_for_latency_ && !limits.timeout && channel == nullptr;
    }

    // A function of its own, so that the result is built in the caller's storage (named return
    // value) and never moved: a trace holds an Attempt per tier.
    template <class Response, class Request>
    Result<Response> run_new(const Request& request, const Limits& limits) {
        Result<Response> result;
        run_into(result, request, limits, nullptr);
        add_skipped(detail::ResultAccess<Response>::trace(result));
        return result;
    }

    // Runs a query into `result`, which must be empty, all but the entries of the tiers after
    // the accepted one (add_skipped()): those are many stores, and an atomic addition waits for
    // the stores before it, so they come after the counters, the caller's too. `started`, when
    // not null, is the query's start already read on this cascade's clock (a router's end of
    // scoring), so that one clock read serves both; `started_in_ticks` says whether that read was
    // the tick clock's, which the query then keeps to.
    template <class Response, class Request>
    void run_into(Result<Response>& result, const Request& request, const Limits& limits, const TimePoint* started,
                  detail::StreamChannel* channel = nullptr, bool started_in_ticks = false) {
        using Access = detail::ResultAccess<Response>;
        Held<Response> held;
        Progress progress;
        progress.channel = channel;
        progress.timed = options_.measure_latency || has_time_limits_ || limits.timeout.has_value() || channel;
        progress.ticks = started != nullptr ? started_in_ticks : ticks_for(limits, channel);
        if (progress.timed) progress.start = started != nullptr ? *started : now(progress.ticks);
        if (channel != nullptr) channel->start_at(custom_clock_ ? &options_.now : nullptr, progress.start);
        progress.last = progress.start;
        progress.deadline = limits.timeout ? saturating_add(progress.start, *limits.timeout) : TimePoint::max();
        progress.max_cost = limits.max_cost;
        progress.counted = options_.collect_stats;
        run_tiers<Response>(request, result, held, progress, std::index_sequence_for<Tiers...>{});
        Access::set_latency(result, progress.last - progress.start);
        if (!progress.done) settle_without_pass(result, held, progress);
        if (progress.counted) counters_->this_thread().add(f_latency_buckets + Buckets::index(result.latency()), 1);
        if (channel != nullptr) {
            if (channel->sink_failed()) counters_->add(f_hook_errors, 1);
            const auto first_token = channel->first_token();
            Access::set_first_token(result, first_token);
            if (first_token && progress.counted) {
                auto& stripe = counters_->this_thread();
                stripe.add(f_first_tokens_query, 1);
                stripe.add(f_first_token_ns_query, static_cast<std::uint64_t>(first_token->count()));
                stripe.add(f_first_token_buckets + Buckets::index(*first_token), 1);
            }
        }
        if (options_.on_event) {
            Event e = detail::tier_event(EventKind::query_finished, result.tier(), result.tier_index().value_or(0));
            e.resolution = result.resolution();
            e.cost = result.cost();
            e.latency = result.latency();
            emit(e);
        }
    }

    // The tiers in order, up to the first whose answer is accepted.
    template <class Response, class Request, std::size_t... Is>
    void run_tiers(const Request& request, Result<Response>& result, Held<Response>& held, Progress& progress,
                   std::index_sequence<Is...>) {
        (void)(run_tier<Is, Response>(request, result, held, progress) && ...);
    }

    // The entries of the tiers after the accepted one: a trace has one per tier, and these cost
    // no more than a default Attempt each. Where they start is a constant in each branch, so
    // that the compiler lays out each branch's entries without a loop.
    void add_skipped(Trace& trace) const { add_skipped(trace, std::make_index_sequence<tier_count - 1>{}); }

    template <std::size_t... Is>
    void add_skipped(Trace& trace, std::index_sequence<Is...>) const {
        [[maybe_unused]] const std::size_t first = trace.size();  // unused by a one-tier cascade
        (void)((first == Is + 1 && (add_skipped_from<Is + 1>(trace), true)) || ...);
    }

    template <std::size_t First>
    void add_skipped_from(Trace& trace) const {
        Attempt* a = trace.append_default(tier_count - First);
        for (std::size_t i = First; i < tier_count; ++i, ++a) {
            a->tier = labels_[i].name;
            a->threshold = labels_[i].threshold;
        }
    }

    // Tier I's turn; false once the query is settled.
    template <std::size_t I, class Response, class Request>
    bool run_tier(const Request& request, Result<Response>& result, Held<Response>& held, Progress& progress) {
        using Access = detail::ResultAccess<Response>;
        if constexpr (may_run_as_backup<I>()) {
            if (progress.ran_as_backup == I) return !progress.done;  // its call and its entry are in already
        }
        Attempt& a = Access::trace(result).emplace_back_default();
        a.tier = labels_[I].name;
        a.threshold = labels_[I].threshold;
        auto& t = std::get<I>(tiers_);
        if (!may_call<I>(t, result.cost(), progress, a)) return true;

        if (options_.on_event) {
            if (progress.last_called) emit(detail::tier_event(EventKind::escalated, names_[*progress.last_called], *progress.last_called));
            emit(detail::tier_event(EventKind::tier_started, a.tier, I));
        }
        CallContext context{a.tier, I, progress.deadline, &options_.now};
        connect_events(context);
        context.stream_channel = progress.channel;
        if (const auto limit = t.time_limit()) {
            context.deadline = std::min(context.deadline, saturating_add(progress.last, *limit));
        }

        if constexpr (detail::is_hedged_v<tier_t<I>> && I + 1 < tier_count) {
            std::string no_hedge = hedge_refusal<I>(result.cost(), progress);
            if (no_hedge.empty() && race<I, Response>(request, result, held, progress, a, context, no_hedge)) {
                return !progress.done;
            }
            [[maybe_unused]] auto [answer, cost_failed, returned] = detail::attempt<Response>(t, request, context, a);
            a.note = a.note.empty() ? std::move(no_hedge) : no_hedge + "; " + a.note;
            conclude<I>(result, held, progress, a, answer, cost_failed);
        } else {
            [[maybe_unused]] auto [answer, cost_failed, returned] = detail::attempt<Response>(t, request, context, a);
            conclude<I>(result, held, progress, a, answer, cost_failed);
        }
        return !progress.done;
    }

    // After tier I's call on the caller's thread: times it, counts it, and settles the query
    // if its answer passed.
    template <std::size_t I, class Response>
    void conclude(Result<Response>& result, Held<Response>& held, Progress& progress, Attempt& a,
                  std::optional<Response>& answer, bool cost_failed) {
        using Access = detail::ResultAccess<Response>;
        const TimePoint finished = progress.timed ? now(progress.ticks) : progress.last;
        a.latency = finished - progress.last;
        progress.last = finished;
        progress.last_called = I;
        if (const auto limit = std::get<I>(tiers_).time_limit();
            limit && a.latency > *limit && answered_in_full(a.status)) {
            time_out(a, *limit);
            answer.reset();
        }
        Access::add_cost(result, a.cost);
        if (progress.counted) record(counters_->this_thread(), I, a, cost_failed);
        if (options_.on_event) emit(detail::tier_event(EventKind::tier_finished, a.tier, I, &a));
        if (progress.channel) settle_stream(progress, I, a.status == AttemptStatus::accepted, answer);

        if (a.status == AttemptStatus::accepted) {
            Access::settle(result, std::move(answer), I, Resolution::accepted);
            progress.done = true;
        } else if (answer) {
            hold(held, std::move(answer), I, a);
        }
    }

    // Why hedged tier I may not start its backup (empty when it may): both calls get paid for,
    // so both estimates must fit under the query's cost cap on top of what is spent.
    template <std::size_t I>
    std::string hedge_refusal(double spent, const Progress& progress) const {
        if (!progress.max_cost) return {};
        const double mine = std::get<I>(tiers_).cost_estimate().value_or(mean_cost(I));
        const double next = std::get<I + 1>(tiers_).cost_estimate().value_or(mean_cost(I + 1));
        if (spent + mine + next <= *progress.max_cost) return {};
        return "no hedge to " + names_[I + 1] + ": estimated $" + std::to_string(mine) + " + $" +
               std::to_string(next) + " on top of $" + std::to_string(spent) + " spent exceeds the cap of $" +
               std::to_string(*progress.max_cost);
    }

    // Runs hedged tier I on this thread and, should it still be running after its delay, tier
    // I + 1 on a helper thread; the first accepted answer wins, the other call is asked to stop
    // and waited for. False, with `no_hedge` saying why, when no thread could be started: the
    // caller then runs tier I alone.
    template <std::size_t I, class Response, class Request>
    bool race(const Request& request, Result<Response>& result, Held<Response>& held, Progress& progress,
              Attempt& a, CallContext context, std::string& no_hedge) {
        constexpr std::size_t B = I + 1;
        using Access = detail::ResultAccess<Response>;
        using Side = detail::HedgeRace::Side;
        auto& t = std::get<I>(tiers_);
        detail::HedgeRace race;
        Backup<Response> backup;
        backup.attempt.tier = names_[B];
        backup.attempt.threshold = std::get<B>(tiers_).threshold();
        detail::HedgeThread helper(race);
        // Real time, whatever the cascade's clock: the wait is a condition variable's.
        const TimePoint hedge_at = saturating_add(std::chrono::steady_clock::now(), t.hedge_after());
        try {
            helper.start([this, &request, &race, &backup, hedge_at, deadline = progress.deadline,
                          timed = progress.timed, ticks = progress.ticks, channel = progress.channel] {
                run_backup<B, Response>(request, race, backup, hedge_at, deadline, timed, ticks, channel);
            });
        } catch (const std::system_error& e) {
            no_hedge = "no hedge to " + names_[B] + ": could not start a thread (" + e.what() + ")";
            return false;
        }

        context.cancel_flag = race.cancel_flag(Side::primary);
        auto [answer, cost_failed, returned] = detail::attempt<Response>(t, request, context, a);
        const TimePoint finished = progress.timed ? now(progress.ticks) : progress.last;
        a.latency = finished - progress.last;
        if (const auto limit = t.time_limit(); limit && a.latency > *limit && answered_in_full(a.status)) {
            time_out(a, *limit);
            answer.reset();
        }
        bool answered_loser = false;
        if (race.finish(Side::primary, a.status == AttemptStatus::accepted)) {
            answered_loser = lose(a, answer, names_[B], returned);
        }
        if (options_.on_event) emit(detail::tier_event(EventKind::tier_finished, a.tier, I, &a));
        helper.join();  // the backup, if started, has returned: its entry is complete
        if (backup.failure) std::rethrow_exception(backup.failure);

        const bool hedged = race.backup_started();
        const TimePoint race_start = progress.last;
        progress.last = hedged && progress.timed ? now(progress.ticks) : finished;
        progress.last_called = I;
        Access::add_cost(result, a.cost);
        if (progress.counted) record(counters_->this_thread(), I, a, cost_failed, answered_loser);
        Attempt* b = nullptr;
        if (hedged) {
            b = &Access::trace(result).emplace_back(std::move(backup.attempt));
            progress.ran_as_backup = B;
            progress.last_called = B;
            Access::add_cost(result, b->cost);
            if (progress.counted) {
                auto& stripe = counters_->this_thread();
                record(stripe, B, *b, backup.cost_failed, backup.answered_loser);
                stripe.add(B * tier_fields + f_hedges, 1);
                const auto overlap = a.latency + b->latency - (progress.last - race_start);
                stripe.add(f_hedge_overlap_ns, static_cast<std::uint64_t>(overlap.count()));
            }
        }

        if (progress.channel) {
            // The losers first, so that the winner's tokens follow the discard of theirs.
            const bool primary_won = a.status == AttemptStatus::accepted;
            const bool backup_won = b != nullptr && b->status == AttemptStatus::accepted;
            if (!primary_won) settle_stream(progress, I, false, answer);
            if (b != nullptr && !backup_won) settle_stream(progress, B, false, backup.answer);
            if (primary_won) settle_stream(progress, I, true, answer);
            if (backup_won) settle_stream(progress, B, true, backup.answer);
        }
        if (a.status == AttemptStatus::accepted) {
            Access::settle(result, std::move(answer), I, Resolution::accepted);
            progress.done = true;
        } else if (b != nullptr && b->status == AttemptStatus::accepted) {
            Access::settle(result, std::move(backup.answer), B, Resolution::accepted);
            progress.done = true;
        } else {
            // Neither passed: held in tier order, so that the policies see them as in a sequence.
            if (answer) hold(held, std::move(answer), I, a);
            if (b != nullptr && backup.answer) hold(held, std::move(backup.answer), B, *b);
        }
        return true;
    }

    // The helper thread of a race: waits out the delay (ending early if the primary finishes),
    // then, unless the query's deadline has passed, calls tier B as tier I's backup.
    template <std::size_t B, class Response, class Request>
    void run_backup(const Request& request, detail::HedgeRace& race, Backup<Response>& backup, TimePoint hedge_at,
                    TimePoint deadline, bool timed, bool ticks, detail::StreamChannel* channel) noexcept {
        using Side = detail::HedgeRace::Side;
        try {
            const bool start = race.wait_to_start(
                hedge_at, [&] { return deadline == TimePoint::max() || now() < deadline; });
            if (!start) return;
            Attempt& b = backup.attempt;
            if (options_.on_event) {
                emit(detail::tier_event(EventKind::hedge_started, b.tier, B));
                emit(detail::tier_event(EventKind::tier_started, b.tier, B));
            }
            auto& t = std::get<B>(tiers_);
            const TimePoint begin = timed ? now(ticks) : TimePoint{};
            CallContext context{b.tier, B, deadline, &options_.now, race.cancel_flag(Side::backup)};
            connect_events(context);
            context.stream_channel = channel;
            const auto limit = t.time_limit();
            if (limit) context.deadline = std::min(context.deadline, saturating_add(begin, *limit));

            auto outcome = detail::attempt<Response>(t, request, context, b);
            b.latency = (timed ? now(ticks) : begin) - begin;
            if (limit && b.latency > *limit && answered_in_full(b.status)) {
                time_out(b, *limit);
                outcome.answer.reset();
            }
            if (race.finish(Side::backup, b.status == AttemptStatus::accepted)) {
                backup.answered_loser = lose(b, outcome.answer, names_[B - 1], outcome.returned);
            }
            backup.answer = std::move(outcome.answer);
            backup.cost_failed = outcome.cost_failed;
            if (options_.on_event) emit(detail::tier_event(EventKind::tier_finished, b.tier, B, &b));
        } catch (...) {
            backup.failure = std::current_exception();
        }
    }

    // Marks a call that lost a race (still running when the other's answer was accepted): its
    // answer is dropped and what it did goes to the note. True when its model had answered, so
    // that its cost is a real call's (for the mean cost).
    template <class Response>
    static bool lose(Attempt& a, std::optional<Response>& answer, const std::string& winner, bool returned) {
        // A stream stopped by the lost race returned what it had, and was charged for it.
        const bool answered = returned || a.status != AttemptStatus::model_error;
        std::string what = "lost the race to " + winner + ": ";
        if (a.stream.streamed && a.status == AttemptStatus::model_error && returned) {
            what += "its stream stopped after " + detail::count_of(a.stream.tokens, "token");
        } else {
            what += to_string(a.status);
        }
        a.note = a.note.empty() ? std::move(what) : what + "; " + a.note;
        a.status = AttemptStatus::cancelled;
        answer.reset();
        return answered;
    }

    // Whether the I-th tier may be called within the query's deadline and cost cap; when not,
    // records why. A query without limits, the usual one, decides in one branch.
    template <std::size_t I, class TierT>
    bool may_call(const TierT& t, double spent, const Progress& progress, Attempt& a) {
        if (progress.deadline == TimePoint::max() && !progress.max_cost) return true;
        return may_call_within_limits<I>(t, spent, progress, a);
    }

    template <std::size_t I, class TierT>
    bool may_call_within_limits(const TierT& t, double spent, const Progress& progress, Attempt& a) {
        if (progress.deadline != TimePoint::max() && now() >= progress.deadline) {
            a.status = AttemptStatus::deadline_passed;
        } else if (progress.max_cost) {
            const double estimate = t.cost_estimate().value_or(mean_cost(I));
            if (spent + estimate > *progress.max_cost) {
                a.status = AttemptStatus::over_budget;
                a.error = "estimated $" + std::to_string(estimate) + " on top of $" + std::to_string(spent) +
                          " spent exceeds the cap of $" + std::to_string(*progress.max_cost);
            }
        }
        if (a.status == AttemptStatus::skipped) return true;
        if (progress.counted) {
            counters_->this_thread().add(
                I * tier_fields + (a.status == AttemptStatus::deadline_passed ? f_skipped_deadline : f_skipped_budget),
                1);
        }
        if (options_.on_event) emit(detail::tier_event(EventKind::tier_skipped, a.tier, I, &a));
        return false;
    }

    // The mean cost of a tier's answered calls so far: the estimate for a tier that has none.
    [[nodiscard]] double mean_cost(std::size_t tier) const noexcept {
        const std::uint64_t answered = answered_calls(tier);
        return answered ? money(tier).dollars() / static_cast<double>(answered) : 0.0;
    }

    // The tier's calls whose model answered (a failed call, or one cancelled before its model
    // returned, has no real cost to learn from).
    [[nodiscard]] std::uint64_t answered_calls(std::size_t tier) const noexcept {
        return count(tier, f_accepted) + count(tier, f_rejected) + count(tier, f_verifier_errors) +
               count(tier, f_timeouts) + count(tier, f_cancelled_answered) + count(tier, f_stopped) +
               count(tier, f_charged_failures);
    }

    // A time plus a duration, held at TimePoint::max() instead of overflowing for huge limits.
    static TimePoint saturating_add(TimePoint t, std::chrono::nanoseconds d) noexcept {
        const auto room = std::chrono::duration_cast<std::chrono::nanoseconds>(TimePoint::max() - t);
        return d >= room ? TimePoint::max() : t + std::chrono::duration_cast<TimePoint::duration>(d);
    }

    // Whether a call gave a whole answer that its time limit may still take away: a failure, a
    // stopped stream or one timed out already keeps what it is.
    static bool answered_in_full(AttemptStatus status) noexcept {
        return status == AttemptStatus::accepted || status == AttemptStatus::rejected ||
               status == AttemptStatus::verifier_error;
    }

    static void time_out(Attempt& a, std::chrono::nanoseconds limit) {
        a.status = AttemptStatus::timed_out;
        using ms = std::chrono::duration<double, std::milli>;
        a.error = "took " + std::to_string(ms(a.latency).count()) + " ms, over the time limit of " +
                  std::to_string(ms(limit).count()) + " ms";
    }

    void emit(const Event& e) const noexcept {
        try {
            options_.on_event(e);
        } catch (...) {
            counters_->add(f_hook_errors, 1);
        }
    }

    // What a call's context reports a runtime wrapper's events through (CallContext::report).
    static void emit_from_call(const void* self, const Event& e) noexcept { static_cast<const Cascade*>(self)->emit(e); }

    // Lets the wrappers in a tier's model report to this cascade's hook; without a hook they
    // have nothing to report to, and the context stays as it was (one branch).
    void connect_events(CallContext& context) const noexcept {
        if (options_.on_event) {
            context.event_sink = &Cascade::emit_from_call;
            context.event_owner = this;
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
    void settle_without_pass(Result<Response>& result, Held<Response>& held, const Progress& progress) {
        const bool answered = held.answer.has_value();
        if (answered && progress.channel) settle_stream(progress, held.tier, true, held.answer);
        if (answered) {
            detail::ResultAccess<Response>::settle(result, std::move(held.answer), held.tier, Resolution::fallback);
        }
        if (progress.counted) counters_->this_thread().add(answered ? f_fallbacks : f_unanswered, 1);
    }

    void record(typename Counters::Stripe& counters, std::size_t tier, const Attempt& a, bool cost_failed,
                bool answered_loser = false) const noexcept {
        const std::size_t base = tier * tier_fields;
        std::size_t status_field = f_accepted;
        switch (a.status) {
            case AttemptStatus::accepted: status_field = f_accepted; break;
            case AttemptStatus::rejected: status_field = f_rejected; break;
            case AttemptStatus::model_error: status_field = f_model_errors; break;
            case AttemptStatus::verifier_error: status_field = f_verifier_errors; break;
            case AttemptStatus::timed_out: status_field = f_timeouts; break;
            case AttemptStatus::cancelled: status_field = f_cancelled; break;
            case AttemptStatus::stopped: status_field = f_stopped; break;
            case AttemptStatus::skipped:
            case AttemptStatus::deadline_passed:
            case AttemptStatus::over_budget: return;
        }
        counters.add(base + status_field, 1);
        if (answered_loser) counters.add(base + f_cancelled_answered, 1);
        // A failed call charged all the same (a stream that broke after some tokens), also when it
        // then lost a hedge race: its money is in the tier's mean cost, so the call is too.
        if (!answered_loser && a.cost > 0.0 &&
            (a.status == AttemptStatus::model_error || a.status == AttemptStatus::cancelled)) {
            counters.add(base + f_charged_failures, 1);
        }
        if (cost_failed) counters.add(base + f_cost_errors, 1);
        // A call at the tier's fixed price, the common case, adds the parts split once for all.
        const Label& label = labels_[tier];
        // A call at the tier's fixed price, the common case, is one count: money() multiplies.
        if (a.cost != label.price) {
            add_money(counters, base, detail::Money::of(a.cost));
        } else if (label.price > 0.0) {
            counters.add(base + f_at_price, 1);
        }
        if (a.latency.count() != 0) counters.add(base + f_latency_ns, static_cast<std::uint64_t>(a.latency.count()));
        if (a.stream.streamed) record_stream(counters, base, a.stream);
    }

    static void record_stream(typename Counters::Stripe& counters, std::size_t base,
                              const StreamRecord& stream) noexcept {
        counters.add(base + f_streamed, 1);
        if (stream.tokens != 0) counters.add(base + f_tokens, static_cast<std::uint64_t>(stream.tokens));
        if (stream.first_token) {
            counters.add(base + f_first_tokens, 1);
            const std::int64_t ns = std::max<std::int64_t>(0, stream.first_token->count());
            counters.add(base + f_first_token_ns, static_cast<std::uint64_t>(ns));
        }
    }

    // Tells a streamed query's caller that tier `tier` answered (accepted, or the fallback) or
    // not, with the answer's text for a tier that did not stream it; reports a take-back to the
    // query's hook.
    template <class Response>
    void settle_stream(const Progress& progress, std::size_t tier, bool answered,
                       const std::optional<Response>& answer) const {
        const auto owner = progress.channel->owner();
        const std::string_view owner_name = owner ? std::string_view(names_[*owner]) : std::string_view{};
        std::optional<detail::StreamChannel::Discarded> taken_back;
        if constexpr (has_response_text_v<Response>) {
            if (answered && answer) {
                const auto& text = response_traits<Response>::text(*answer);
                taken_back = progress.channel->settle(tier, names_[tier], true, std::string_view(text), owner_name);
            } else {
                taken_back = progress.channel->settle(tier, names_[tier], answered, {}, owner_name);
            }
        } else {
            taken_back = progress.channel->settle(tier, names_[tier], answered, {}, owner_name);
        }
        if (taken_back && options_.on_event) {
            Event e = detail::tier_event(EventKind::stream_discarded, names_[taken_back->tier], taken_back->tier);
            const std::string count = std::to_string(taken_back->tokens) + " tokens";
            e.detail = count;
            emit(e);
        }
    }

    // Adds a call's cost (at most max_dollars, see detail::attempt) to a tier's counters; a total
    // that would wrap stops at its maximum, which stats() reports as cost_saturated.
    static void add_money(typename Counters::Stripe& counters, std::size_t base, const detail::Money& m) noexcept {
        if (m.nano) counters.add_saturating(base + f_cost_nano, m.nano);
        if (m.femto) counters.add_saturating(base + f_cost_femto, m.femto);
    }

    std::tuple<Tiers...> tiers_;
    std::unique_ptr<std::string[]> names_;
    std::unique_ptr<Counters> counters_;
    CascadeOptions options_;
    // Each tier's name (viewing names_) and threshold, what every trace entry starts with.
    struct Label {
        std::string_view name;
        double threshold = 0.0;
        double price = -1.0;         // the fixed price per call; -1 (no cost equals it) without one
        detail::Money price_money;  // that price as the counters add it
    };
    template <class T>
    static Label label_of(std::string_view name, const T& tier) {
        Label label;
        label.name = name;
        label.threshold = tier.threshold();
        if (const auto price = tier.fixed_price()) {
            label.price = *price;
            label.price_money = detail::Money::of(*price);
        }
        return label;
    }
    std::array<Label, tier_count> labels_{};
    bool has_time_limits_ = false;
    bool custom_clock_ = false;  // options_.now is the user's, called through std::function
    bool ticks_for_latency_ = false;  // queries without a deadline are timed on detail::TickClock
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

#endif  // CASCADE_CORE_CASCADE_HPP
