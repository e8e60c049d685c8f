// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_CURVE_HPP
#define CASCADE_EVAL_CURVE_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/threshold_grid.hpp"
#include "metrics.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"

// The cost/quality trade-off of a cascade as its thresholds sweep, and the points to judge it by.
namespace cascade {

/// One threshold setting of a cascade and what it gives: mean dollars per query, mean quality.
struct CurvePoint {
    double cost = 0.0;
    double quality = 0.0;
    std::vector<double> thresholds;  ///< one per tier but the last
};

/// A single model's operating point.
struct ModelPoint {
    std::string model;
    double cost = 0.0;
    double quality = 0.0;
};

/// How finely cascade_curve() sweeps.
struct CurveOptions {
    /// At most about this many settings: a chain of k tiers gets max_points^(1/(k-1)) candidate
    /// thresholds per tier, at quantiles of its confidences.
    std::size_t max_points = 10000;
};

/// The cost/quality points of the cascade `chain` as its thresholds sweep over candidates
/// (every distinct confidence when there are few enough, else quantiles), on every query of
/// `table`. A one-model chain gives its single point. Evaluated from prefix sums, not by replaying
/// each setting; each point equals replay_cascade() with its thresholds.
///
/// Throws std::invalid_argument for an empty or repeated chain, an unknown model, or a tier
/// before the last without any confidence in the log (it could never accept);
/// cascade::ParseError when a query lacks one of the chain's models.
inline std::vector<CurvePoint> cascade_curve(const OutcomeTable& table, const std::vector<std::string>& chain,
                                             const CurveOptions& options = {}) {
    constexpr const char* where = "cascade::cascade_curve";
    const std::vector<std::size_t> models = detail::chain_indices(table, chain, where);
    table.require(models);
    const std::size_t k = models.size();
    const double count = static_cast<double>(table.query_count());
    std::vector<CurvePoint> out;
    if (k == 1) {
        out.push_back({table.mean_cost(models[0]), table.mean_quality(models[0]), {}});
        return out;
    }
    const double dims = static_cast<double>(k - 1);
    const auto per_tier = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::floor(std::pow(static_cast<double>(std::max<std::size_t>(options.max_points, 1)), 1.0 / dims) + 1e-9)));
    std::vector<std::vector<double>> candidates(k - 1);
    std::vector<std::vector<std::uint32_t>> bins(k - 1);
    std::vector<detail::GridTier> tiers(k);
    for (std::size_t i = 0; i < k; ++i) {
        tiers[i].quality = &table.quality_column(models[i]);
        tiers[i].cost = &table.cost_column(models[i]);
        if (i + 1 == k) break;
        candidates[i] = detail::candidate_thresholds(table.confidence_column(models[i]), per_tier);
        if (candidates[i].empty()) {
            throw std::invalid_argument(std::string(where) + ": model \"" + chain[i] +
                                        "\" has no confidence in the log, so it could never accept; it can only be the last tier");
        }
        bins[i] = detail::bin_values(table.confidence_column(models[i]), candidates[i]);
        tiers[i].bins = &bins[i];
        tiers[i].candidates = candidates[i].size();
    }
    detail::ChainGrid grid;
    grid.build(tiers, nullptr);
    grid.visit([&](const std::size_t* j, const detail::GridSums& s) {
        CurvePoint p;
        p.cost = s.cost / count;
        p.quality = s.quality / count;
        for (std::size_t i = 0; i + 1 < k; ++i) p.thresholds.push_back(candidates[i][j[i]]);
        out.push_back(std::move(p));
    });
    return out;
}

/// The points no other point beats: sorted by cost, each strictly better in quality than every
/// cheaper one (of equal costs, the best quality). Works for any type with `cost` and `quality`.
template <class Point>
std::vector<Point> pareto_frontier(std::vector<Point> points) {
    std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
        return a.cost != b.cost ? a.cost < b.cost : a.quality > b.quality;
    });
    std::vector<Point> out;
    for (Point& p : points) {
        if (out.empty() || p.quality > out.back().quality) out.push_back(std::move(p));
    }
    return out;
}

/// Each model's own point (mean cost, mean quality) on the queries; `models` empty: all models
/// in the table. Throws cascade::ParseError when a query lacks one of them.
inline std::vector<ModelPoint> model_points(const OutcomeTable& table, const std::vector<std::string>& models = {}) {
    std::vector<ModelPoint> out;
    const std::vector<std::string>& names = models.empty() ? table.models() : models;
    for (const std::string& name : names) {
        const std::size_t m = table.model_index(name);
        out.push_back({name, table.mean_cost(m), table.mean_quality(m)});
    }
    return out;
}

/// The oracle router: per query, the best quality any of `models` (empty: all) reached, from the
/// cheapest model reaching it (for 0/1 quality: the cheapest model that got it right, or the
/// cheapest model when none did). The limit no router or cascade over those models can beat.
inline CostQuality oracle_point(const OutcomeTable& table, const std::vector<std::string>& models = {}) {
    std::vector<std::size_t> idx;
    const std::vector<std::string>& names = models.empty() ? table.models() : models;
    for (const std::string& name : names) idx.push_back(table.model_index(name));
    if (idx.empty()) throw std::invalid_argument("cascade::oracle_point: no models");
    table.require(idx);
    double quality = 0.0;
    double cost = 0.0;
    for (std::size_t q = 0; q < table.query_count(); ++q) {
        double best_q = -1.0;
        double best_c = 0.0;
        for (const std::size_t m : idx) {
            const double v = table.quality(m, q);
            const double c = table.cost(m, q);
            if (v > best_q || (v == best_q && c < best_c)) {
                best_q = v;
                best_c = c;
            }
        }
        quality += best_q;
        cost += best_c;
    }
    const double count = static_cast<double>(table.query_count());
    return {cost / count, quality / count};
}

/// A random router between two models: sending a share s of queries to `strong` at random gives
/// (1 - s) * weak + s * strong in both cost and quality. The `steps + 1` points from s = 0 to 1;
/// any router or cascade worth having lies above this line.
inline std::vector<CostQuality> random_router_curve(CostQuality weak, CostQuality strong, std::size_t steps = 10) {
    std::vector<CostQuality> out;
    steps = std::max<std::size_t>(steps, 1);
    for (std::size_t i = 0; i <= steps; ++i) {
        const double s = static_cast<double>(i) / static_cast<double>(steps);
        out.push_back({(1.0 - s) * weak.cost + s * strong.cost, (1.0 - s) * weak.quality + s * strong.quality});
    }
    return out;
}

/// The mean IBC lift (see ibc_lift) over `points` that cost more than the weak model, e.g. a
/// Pareto frontier: how much more quality per extra dollar than the random mix of the two models
/// the settings give, on average. Empty when no point costs more than the weak model.
template <class Point>
std::optional<double> mean_ibc_lift(const std::vector<Point>& points, CostQuality weak, CostQuality strong) {
    double sum = 0.0;
    std::size_t count = 0;
    for (const Point& p : points) {
        if (!(p.cost > weak.cost)) continue;
        sum += ibc_lift({p.cost, p.quality}, weak, strong);
        ++count;
    }
    if (count == 0) return std::nullopt;
    return sum / static_cast<double>(count);
}

}  // namespace cascade

#endif  // CASCADE_EVAL_CURVE_HPP
