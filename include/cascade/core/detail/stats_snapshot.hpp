// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_STATS_SNAPSHOT_HPP
#define CASCADE_CORE_DETAIL_STATS_SNAPSHOT_HPP

#include <cstddef>
#include <cstdint>
#include <optional>

#include "../../detail/counters.hpp"
#include "../../detail/latency_histogram.hpp"

namespace cascade::detail {

// What one query would cost on the last tier (or route) alone, from the best knowledge there is:
// a fixed price; else the mean of what its measured calls cost; else the estimate its user
// stated. Empty when none of these is known, so that no saving is reported against a guess of 0.
inline std::optional<double> baseline_per_query(std::optional<double> fixed_price, double measured_cost,
                                                std::uint64_t measured_calls,
                                                std::optional<double> stated_estimate) noexcept {
    if (fixed_price) return fixed_price;
    if (measured_calls > 0) return measured_cost / static_cast<double>(measured_calls);
    return stated_estimate;
}

// The totals a Cascade's and a Router's snapshots derive alike once their per-tier (per-route)
// counters are summed: the cost, the latency percentiles and the baseline.
template <class Snapshot, class Counters>
void finish_snapshot(Snapshot& s, const Money& cost, const Counters& counters, std::size_t first_bucket,
                     std::optional<double> baseline_query_cost) {
    s.cost = cost.dollars();
    s.cost_saturated = cost.saturated;
    LatencyBuckets::read_percentiles(counters, first_bucket, s);
    if (baseline_query_cost) s.baseline_cost = *baseline_query_cost * static_cast<double>(s.queries);
}

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_STATS_SNAPSHOT_HPP
