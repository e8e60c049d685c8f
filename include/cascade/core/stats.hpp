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
    std::uint64_t cost_errors = 0;      ///< cost function threw or gave NaN / negative
    std::uint64_t skipped_deadline = 0; ///< not called: the query's deadline had passed
    std::uint64_t skipped_budget = 0;   ///< not called: over the query's cost cap
    std::uint64_t hedges = 0;           ///< calls started as the backup of a hedged tier before it
    std::uint64_t cancelled = 0;        ///< calls that lost a hedge race (AttemptStatus::cancelled)
    double cost = 0.0;                  ///< dollars, including what verifiers spent
    std::chrono::nanoseconds latency{0};  ///< summed over calls
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
    double cost = 0.0;              ///< dollars spent, over all tiers
    /// What the same queries would have cost on the last tier alone: `queries` times the first
    /// known of
    ///   1. its fixed price (cascade::price_per_call), known from the first query on;
    ///   2. the mean cost of its answered calls so far (a cost computed per answer, cost_from);
    ///   3. the estimate stated for it (Tier::with_cost_estimate), until it has answered.
    /// Empty when none is known: a last tier with a computed cost, no estimate, not yet answered.
    std::optional<double> baseline_cost;
    std::chrono::nanoseconds latency{0};  ///< summed over queries
    /// Percentiles of a query's latency, to within 12.5% (log-linear buckets).
    std::chrono::nanoseconds latency_p50{0}, latency_p90{0}, latency_p99{0};
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
    double cost = 0.0;
    /// What the same queries would have cost all on the last route: `queries` times the first
    /// known of its fixed price (a route of one fixed-price tier), the mean cost of the queries it
    /// served so far, and the estimate stated for it (a route of one tier made
    /// with Tier::with_cost_estimate). Empty when none is known.
    std::optional<double> baseline_cost;
    std::chrono::nanoseconds latency{0};
    /// Percentiles of a query's latency (scoring included), to within 12.5%.
    std::chrono::nanoseconds latency_p50{0}, latency_p90{0}, latency_p99{0};
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
