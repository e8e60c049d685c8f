// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_STATS_HPP
#define CASCADE_CORE_STATS_HPP

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cascade {

/// One tier's counters in a Cascade's stats snapshot.
struct TierStats {
    std::string name;
    std::uint64_t calls = 0;            ///< times the model was called (hedge backups and cancelled calls too)
    std::uint64_t accepted = 0;         ///< answers that passed (and ended the query)
    std::uint64_t rejected = 0;         ///< answers below the threshold (the query escalated)
    std::uint64_t model_errors = 0;     ///< model threw
    std::uint64_t verifier_errors = 0;  ///< verifier threw or gave NaN / out-of-range
    std::uint64_t timeouts = 0;         ///< answered past the tier's time limit (answer dropped)
    /// cost function threw or gave NaN / negative / infinity (charged the tier's estimate, else $0),
    /// or the call's cost was above cascade::max_dollars (counted as max_dollars)
    std::uint64_t cost_errors = 0;
    std::uint64_t skipped_deadline = 0; ///< not called: the query's deadline had passed
    std::uint64_t skipped_budget = 0;   ///< not called: over the query's cost cap
    std::uint64_t hedges = 0;           ///< calls started as the backup of a hedged tier before it
    std::uint64_t cancelled = 0;        ///< calls that lost a hedge race (AttemptStatus::cancelled)
    std::uint64_t stopped_early = 0;    ///< streams its early-exit rule stopped (AttemptStatus::stopped)
    std::uint64_t streamed = 0;         ///< calls that streamed (the model takes a TokenSink)
    std::uint64_t tokens = 0;           ///< chunks those calls produced
    /// Streamed calls that produced a first chunk, and the time to it summed over them, from the
    /// start of each call: see mean_first_token().
    std::uint64_t first_tokens = 0;
    std::chrono::nanoseconds first_token_total{0};
    double cost = 0.0;                  ///< dollars, including what verifiers spent
    bool cost_saturated = false;        ///< `cost` reached the most its counter holds and stopped there
    /// summed over calls; a hedged tier's call and its backup's overlap, so per-tier latencies
    /// may add up to more than Stats::latency
    std::chrono::nanoseconds latency{0};

    /// The mean time from a streamed call's start to its first chunk; zero without one.
    [[nodiscard]] std::chrono::nanoseconds mean_first_token() const {
        return first_tokens ? first_token_total / static_cast<std::int64_t>(first_tokens) : std::chrono::nanoseconds{0};
    }
};

/// A snapshot of a Cascade's counters. Exact once the threads running the cascade have finished;
/// while they run, each counter is a true total of its own but the counters may be a few queries
/// apart.
struct Stats {
    std::uint64_t queries = 0;      ///< runs completed
    std::uint64_t accepted = 0;     ///< queries some tier's answer passed
    std::uint64_t fallbacks = 0;    ///< queries no tier passed, answered by the NoPassPolicy
    std::uint64_t unanswered = 0;   ///< queries with no answer
    std::uint64_t escalations = 0;  ///< calls to a tier past the first, over all queries
    std::uint64_t errors = 0;       ///< model and verifier errors and timeouts, over all tiers
    std::uint64_t hook_errors = 0;  ///< times the event hook threw
    std::uint64_t hedges = 0;       ///< backups started by hedged tiers (see cascade::with_hedge_after)
    /// Dollars spent, over all tiers: exact to the nano-dollar for each call's whole nano-dollars,
    /// and to 1e-15 dollars for the fraction of a nano-dollar under them, so that a price of
    /// $4e-10 a call adds up (911 calls: $3.644e-7).
    double cost = 0.0;
    /// A money total reached the most its counter holds (about $1.8e10) and stopped there: `cost`
    /// (and the tier's) is then a lower bound. Never set by realistic costs; each call's cost is
    /// at most cascade::max_dollars (see TierStats::cost_errors).
    bool cost_saturated = false;
    /// What the same queries would have cost on the last tier alone: `queries` times the first
    /// known of
    ///   1. its fixed price (cascade::price_per_call), known from the first query on;
    ///   2. the mean cost of its answered calls so far (a cost computed per answer, cost_from);
    ///   3. the estimate stated for it (Tier::with_cost_estimate), until it has answered: state
    ///      one to know saving() from the first query on.
    /// Empty when none is known: a last tier with a computed cost, no estimate, not yet answered.
    std::optional<double> baseline_cost;
    /// Summed over queries, each query's wall time (Result::latency()): a hedge race's two calls,
    /// which run at once, count once here and each in its own tier's TierStats::latency.
    std::chrono::nanoseconds latency{0};
    /// Percentiles of a query's latency, to within 12.5% (log-linear buckets).
    std::chrono::nanoseconds latency_p50{0}, latency_p90{0}, latency_p99{0};
    /// Streamed queries (Cascade::stream) whose caller got a first token, the time to it summed
    /// over them from each query's start, and its percentiles (to within 12.5%).
    std::uint64_t first_tokens = 0;
    std::chrono::nanoseconds first_token_total{0};
    std::chrono::nanoseconds first_token_p50{0}, first_token_p90{0}, first_token_p99{0};
    std::vector<TierStats> tiers;

    /// The fraction of the baseline cost saved, in [0, 1] when cheaper (negative when dearer).
    /// Empty, never 0, when there is no baseline to compare with (see baseline_cost) or it is 0
    /// (no query yet, or a free last tier).
    ///
    ///     if (auto saved = s.saving()) std::printf("saved %.0f%%\n", *saved * 100);
    [[nodiscard]] std::optional<double> saving() const {
        if (!baseline_cost || *baseline_cost <= 0.0) return std::nullopt;
        return 1.0 - cost / *baseline_cost;
    }
    [[nodiscard]] double mean_cost() const { return queries ? cost / static_cast<double>(queries) : 0.0; }
    [[nodiscard]] std::chrono::nanoseconds mean_latency() const {
        return queries ? latency / static_cast<std::int64_t>(queries) : std::chrono::nanoseconds{0};
    }
};

/// One route's counters in a Router's stats snapshot.
struct RouteStats {
    std::string name;
    std::uint64_t queries = 0;
    std::uint64_t unanswered = 0;
    double cost = 0.0;
    std::chrono::nanoseconds latency{0};
};

/// A snapshot of a Router's counters (same consistency as Stats).
struct RouterStats {
    std::uint64_t queries = 0;
    std::uint64_t scorer_errors = 0;  ///< scorer threw or gave NaN / out of [0, 1]: sent to the last route
    std::uint64_t unanswered = 0;
    double cost = 0.0;            ///< as Stats::cost
    bool cost_saturated = false;  ///< as Stats::cost_saturated
    /// What the same queries would have cost all on the last route: `queries` times the first
    /// known of its fixed price (a route of one fixed-price tier), the mean cost of the queries it
    /// served so far, and the price stated for it: Router::set_baseline_price, else (a route of
    /// one tier) its Tier::with_cost_estimate. Empty when none is known.
    std::optional<double> baseline_cost;
    std::chrono::nanoseconds latency{0};
    /// Percentiles of a query's latency (scoring included), to within 12.5%.
    std::chrono::nanoseconds latency_p50{0}, latency_p90{0}, latency_p99{0};
    /// Streamed queries (Router::stream) whose caller got a first token, the time to it summed
    /// over them from each query's start (scoring included), and its percentiles (to within 12.5%).
    std::uint64_t first_tokens = 0;
    std::chrono::nanoseconds first_token_total{0};
    std::chrono::nanoseconds first_token_p50{0}, first_token_p90{0}, first_token_p99{0};
    std::vector<RouteStats> routes;

    /// As Stats::saving(): empty, never 0, without a baseline.
    [[nodiscard]] std::optional<double> saving() const {
        if (!baseline_cost || *baseline_cost <= 0.0) return std::nullopt;
        return 1.0 - cost / *baseline_cost;
    }
    [[nodiscard]] double mean_cost() const { return queries ? cost / static_cast<double>(queries) : 0.0; }
};

}  // namespace cascade

#endif  // CASCADE_CORE_STATS_HPP
