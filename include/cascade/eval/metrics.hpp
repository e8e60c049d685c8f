// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_METRICS_HPP
#define CASCADE_EVAL_METRICS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// Scalar figures of merit for routers and cascades, as the literature reports them.
namespace cascade {

/// One point of a router's curve: the share of queries sent to the strong model and the mean
/// quality that gives.
struct RoutingCurvePoint {
    double strong_share;  ///< in [0, 1]
    double quality;       ///< mean quality over all queries
};

/// How well a two-model router ranks queries (RouteLLM's figures).
struct RouterEval {
    /// Average performance gap recovered: the area under PGR(strong share), where PGR is 0 at
    /// the weak model's quality and 1 at the strong model's. A random router scores 0.5, a
    /// perfect ranking of a 0/1 outcome close to 1 (more when the weak model beats the strong
    /// one on some queries).
    double apgr;
    /// Call-performance threshold: the smallest share of strong calls (0..1, not percent) that
    /// recovers 50% (80%) of the weak-to-strong gap.
    double cpt50;
    double cpt80;
    /// Quality against strong share, from share 0 (all weak) to 1 (all strong); one point per
    /// group of tied scores.
    std::vector<RoutingCurvePoint> curve;
};

namespace detail {

inline void require_finite(const std::vector<double>& v, const char* what, const char* name) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (!std::isfinite(v[i])) {
            throw std::invalid_argument(std::string(what) + ": " + name + "[" + std::to_string(i) +
                                        "] is " + std::to_string(v[i]) + "; every value must be finite");
        }
    }
}

// The first share at which the piecewise-linear curve of PGR reaches `target`.
inline double share_reaching(const std::vector<RoutingCurvePoint>& curve, double q0, double gap, double target) {
    auto pgr = [&](const RoutingCurvePoint& p) { return (p.quality - q0) / gap; };
    if (pgr(curve.front()) >= target) return curve.front().strong_share;
    for (std::size_t i = 1; i < curve.size(); ++i) {
        const double a = pgr(curve[i - 1]);
        const double b = pgr(curve[i]);
        if (b >= target) {
            const double t = b > a ? (target - a) / (b - a) : 1.0;
            return curve[i - 1].strong_share + t * (curve[i].strong_share - curve[i - 1].strong_share);
        }
    }
    return 1.0;
}

}  // namespace detail

/// RouteLLM's APGR and CPT for a router that sends the queries with the highest `scores` to the
/// strong model, from each query's logged quality on the weak and the strong model.
///
///     auto e = cascade::evaluate_router(weak_q, strong_q, scores);   // e.apgr, e.cpt50, e.cpt80
///
/// Queries with equal scores cannot be separated by a threshold, so they move to the strong
/// model together: the curve has a point after each group of ties and is linear across it,
/// which is also the expected curve if ties were broken at random. The result thus does not
/// depend on the order of the queries. The area is exact (trapezoids between those points), not
/// sampled at fixed call shares.
///
/// Throws std::invalid_argument when the sizes differ, the input is empty, a value is NaN or
/// infinite (scores may be +-infinity), or both models have the same mean quality (the gap that
/// PGR divides by is zero).
inline RouterEval evaluate_router(const std::vector<double>& weak_quality, const std::vector<double>& strong_quality,
                                  const std::vector<double>& scores) {
    constexpr const char* where = "cascade::evaluate_router";
    const std::size_t n = scores.size();
    if (weak_quality.size() != n || strong_quality.size() != n) {
        throw std::invalid_argument(std::string(where) + ": sizes differ: " + std::to_string(weak_quality.size()) +
                                    " weak, " + std::to_string(strong_quality.size()) + " strong, " +
                                    std::to_string(n) + " scores");
    }
    if (n == 0) throw std::invalid_argument(std::string(where) + ": no queries");
    detail::require_finite(weak_quality, where, "weak_quality");
    detail::require_finite(strong_quality, where, "strong_quality");
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(scores[i])) {
            throw std::invalid_argument(std::string(where) + ": scores[" + std::to_string(i) + "] is NaN");
        }
    }
    const double count = static_cast<double>(n);
    const double weak_sum = std::accumulate(weak_quality.begin(), weak_quality.end(), 0.0);
    const double strong_sum = std::accumulate(strong_quality.begin(), strong_quality.end(), 0.0);
    const double q0 = weak_sum / count;
    const double q1 = strong_sum / count;
    const double gap = q1 - q0;
    if (!(std::fabs(gap) > 1e-12 * std::max(1.0, std::fabs(q1)))) {
        throw std::invalid_argument(std::string(where) +
                                    ": the weak and the strong model have the same mean quality (" +
                                    std::to_string(q0) + "); there is no gap to recover");
    }

    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

    RouterEval out{};
    out.curve.reserve(n + 1);
    out.curve.push_back({0.0, q0});
    double gain = 0.0;  // summed strong - weak over the queries sent to the strong model
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && scores[order[j]] == scores[order[i]]) {
            gain += strong_quality[order[j]] - weak_quality[order[j]];
            ++j;
        }
        // The last point is set exactly so that rounding cannot leave the curve short of q1.
        const double quality = j == n ? q1 : (weak_sum + gain) / count;
        out.curve.push_back({static_cast<double>(j) / count, quality});
        i = j;
    }

    double area = 0.0;
    for (std::size_t i = 1; i < out.curve.size(); ++i) {
        const double width = out.curve[i].strong_share - out.curve[i - 1].strong_share;
        area += width * ((out.curve[i].quality - q0) + (out.curve[i - 1].quality - q0)) / 2.0;
    }
    out.apgr = area / gap;
    out.cpt50 = detail::share_reaching(out.curve, q0, gap, 0.5);
    out.cpt80 = detail::share_reaching(out.curve, q0, gap, 0.8);
    return out;
}

/// A (cost, quality) operating point: mean dollars per query and mean quality.
struct CostQuality {
    double cost;
    double quality;
};

/// RouterBench's AIQ (average improvement in quality): the area under the non-decreasing convex
/// hull of the points, from the cheapest to the dearest point, divided by that cost range; in
/// quality units. Points that a mix of two others beats are ignored, so adding a bad point
/// never lowers it. Needs at least two points with different costs; throws
/// std::invalid_argument otherwise or for a non-finite value.
inline double aiq(std::vector<CostQuality> points) {
    constexpr const char* where = "cascade::aiq";
    for (const CostQuality& p : points) {
        if (!std::isfinite(p.cost) || !std::isfinite(p.quality)) {
            throw std::invalid_argument(std::string(where) + ": every cost and quality must be finite");
        }
    }
    std::sort(points.begin(), points.end(), [](const CostQuality& a, const CostQuality& b) {
        return a.cost != b.cost ? a.cost < b.cost : a.quality > b.quality;
    });
    if (points.size() < 2 || !(points.back().cost > points.front().cost)) {
        throw std::invalid_argument(std::string(where) + ": needs at least two points with different costs");
    }
    const double c_min = points.front().cost;
    const double c_max = points.back().cost;
    // Upper hull, built left to right; a point below the best quality so far never helps a
    // non-decreasing hull, so only rising points enter.
    std::vector<CostQuality> hull;
    for (const CostQuality& p : points) {
        if (!hull.empty() && p.quality <= hull.back().quality) continue;
        while (hull.size() >= 2) {
            const CostQuality& a = hull[hull.size() - 2];
            const CostQuality& b = hull.back();
            // Drop b when it lies on or below the segment a-p.
            const double cross = (b.cost - a.cost) * (p.quality - a.quality) - (b.quality - a.quality) * (p.cost - a.cost);
            if (cross >= 0.0) {
                hull.pop_back();
            } else {
                break;
            }
        }
        hull.push_back(p);
    }
    double area = 0.0;
    for (std::size_t i = 1; i < hull.size(); ++i) {
        area += (hull[i].cost - hull[i - 1].cost) * (hull[i].quality + hull[i - 1].quality) / 2.0;
    }
    area += (c_max - hull.back().cost) * hull.back().quality;  // flat after the best point
    return area / (c_max - c_min);
}

/// AutoMix's IBC lift of an operating point: its incremental benefit per cost over the weak
/// model, (q - q_weak) / (c - c_weak), relative to the straight line from the weak to the strong
/// model: (IBC_point - IBC_line) / IBC_line. Positive means better than mixing the two models at
/// random for the same cost; 0.2 is a 20% lift. Throws std::invalid_argument when the point
/// costs the same as the weak model, the two models cost the same, or the line is flat.
inline double ibc_lift(CostQuality point, CostQuality weak, CostQuality strong) {
    constexpr const char* where = "cascade::ibc_lift";
    if (!(strong.cost != weak.cost)) throw std::invalid_argument(std::string(where) + ": the two models cost the same");
    if (!(point.cost != weak.cost)) {
        throw std::invalid_argument(std::string(where) + ": the point costs the same as the weak model");
    }
    const double base = (strong.quality - weak.quality) / (strong.cost - weak.cost);
    if (!(base != 0.0)) {
        throw std::invalid_argument(std::string(where) + ": the weak and strong models have the same quality");
    }
    const double ibc = (point.quality - weak.quality) / (point.cost - weak.cost);
    return (ibc - base) / base;
}

/// The fraction of the reference's cost saved by the cheapest of `points` whose quality is at
/// least `target` x the reference's quality, e.g. 0.8 when it costs a fifth (negative when even
/// the cheapest qualifying point costs more). Empty when no point reaches the target.
inline std::optional<double> saving_at_target(const std::vector<CostQuality>& points, CostQuality reference,
                                              double target) {
    if (!(reference.cost > 0.0)) {
        throw std::invalid_argument("cascade::saving_at_target: the reference must cost more than 0");
    }
    // A hair of slack so that a point exactly at the target is not lost to rounding.
    const double need = target * reference.quality - 1e-12;
    std::optional<double> best;
    for (const CostQuality& p : points) {
        if (p.quality >= need && (!best || p.cost < *best)) best = p.cost;
    }
    if (!best) return std::nullopt;
    return 1.0 - *best / reference.cost;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_METRICS_HPP
