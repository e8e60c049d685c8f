// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_CALIBRATE_ROUTER_HPP
#define CASCADE_EVAL_CALIBRATE_ROUTER_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../detail/number.hpp"
#include "detail/threshold_grid.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"
#include "risk_control.hpp"

// Choosing a two-model router's threshold for a quality target, with a stated risk.
namespace cascade {

/// What calibrate_router() chooses and for what.
struct RouterCalibrateOptions {
    /// The model a query goes to when its score is below the threshold. Required.
    std::string weak;
    /// The model a query goes to when its score is at or above the threshold, and the one whose
    /// quality the target is a fraction of. Required.
    std::string strong;
    /// Quality to keep, as a fraction in (0, 1] of the strong model's mean quality.
    double target = 0.95;
    /// The router misses the target on new traffic with probability <= delta (over the labelled
    /// queries).
    double delta = 0.1;
    /// The confidence bound of the test.
    RiskBound bound = RiskBound::betting;
    /// The share of the labelled queries that proposes the thresholds to test; the rest tests them.
    /// Unset: default_selection_fraction() (0.5, less for a target that allows little loss).
    std::optional<double> selection_fraction;
    /// The seed of that split (split_by_query()).
    std::uint64_t split_seed = 1;
    /// At most this many thresholds are tested, spread along the path, after the start
    /// (threshold 0, always the strong model), which is tested too.
    std::size_t max_tested = 200;
    /// At most this many candidate thresholds (at quantiles of the choosing part's scores).
    std::size_t max_candidates = 1024;
};

/// The threshold calibrate_router() chose, and how the router did on all labelled queries.
struct RouterCalibration {
    std::string weak;
    std::string strong;
    /// Queries whose score is >= threshold (or NaN, or outside [0, 1]) go to the strong model,
    /// as in cascade::Router and replay_router(); 0 sends every query there.
    double threshold = 0.0;
    /// Always true: when no lower threshold passes, the strong model alone (threshold 0) meets
    /// the target by definition. There for the same report as CalibrationResult's.
    bool target_met = false;
    ReplayResult train;              ///< the router replayed on all labelled queries
    double strong_share = 1.0;       ///< share of labelled queries sent to the strong model
    double reference_quality = 0.0;  ///< the strong model's mean quality on the labelled queries
    double reference_cost = 0.0;     ///< and its mean cost per query
    double saving = 0.0;             ///< 1 - train.cost / reference_cost
    CalibrationGuarantee guarantee = CalibrationGuarantee::none;
    std::string guarantee_text;
    double delta = 0.0;
    RiskBound bound = RiskBound::betting;
    std::size_t selection_queries = 0;  ///< queries that proposed and ordered the thresholds
    std::size_t test_queries = 0;       ///< queries that tested them
    std::size_t tested = 0;             ///< thresholds tested (the last one failed unless all passed)
    /// The chosen threshold's test on the test queries, as CalibrationResult's: it passed because
    /// loss_bound <= allowed_loss; 0 and allowed when the strong model alone was kept.
    double loss_bound = 0.0;
    double allowed_loss = 0.0;
};

namespace detail {

inline void check_router_calibrate_options(const RouterCalibrateOptions& o) {
    const std::string where = "cascade::calibrate_router: ";
    if (o.weak.empty() || o.strong.empty()) throw std::invalid_argument(where + "name both the weak and the strong model");
    if (o.weak == o.strong) throw std::invalid_argument(where + "the weak and the strong model are both \"" + o.weak + "\"");
    if (!(o.target > 0.0 && o.target <= 1.0)) {
        throw std::invalid_argument(where + "the target must be a fraction in (0, 1] of the strong model's quality, got " +
                                    format_number(o.target));
    }
    check_family_wise_options(where, o.delta, o.bound, o.selection_fraction.value_or(0.5), o.max_tested);
    if (o.max_candidates < 1) throw std::invalid_argument(where + "max_candidates must be >= 1");
}

// The disagreement sums of the router at `threshold` against the strong model.
inline Disagreement router_disagreement(const OutcomeTable& table, const std::vector<double>& scores, double threshold,
                                        std::size_t weak, std::size_t strong) {
    Disagreement d;
    for (std::size_t q = 0; q < table.query_count(); ++q) {
        const double s = scores[q];
        const bool to_strong = !(s >= 0.0 && s <= 1.0) || s >= threshold;
        add_disagreement(d, table.quality(strong, q), table.quality(to_strong ? strong : weak, q));
    }
    return d;
}

// The same, with each query's loss target x strong - quality in `order` (test_order()).
inline SettingLosses router_losses(const OutcomeTable& table, const std::vector<double>& scores, double threshold,
                                   std::size_t weak, std::size_t strong, double target,
                                   const std::vector<std::size_t>& order) {
    SettingLosses l;
    l.in_order.reserve(order.size());
    for (const std::size_t q : order) {
        const double s = scores[q];
        const bool to_strong = !(s >= 0.0 && s <= 1.0) || s >= threshold;
        add_loss(l, target, table.quality(strong, q), table.quality(to_strong ? strong : weak, q));
    }
    return l;
}

}  // namespace detail

/// Chooses the threshold of a two-model router (a query goes to `strong` when its score is >=
/// the threshold) that meets a quality target at the least cost, with the family-wise
/// guarantee of calibrate(): with probability >= 1 - delta over the labelled queries, the
/// router's expected quality on new traffic from their distribution is >= target x the strong
/// model's.
///
///     cascade::RouterCalibrateOptions o;
///     o.weak = "llama3.1-8b";
///     o.strong = "gpt-4o";
///     o.target = 0.95;
///     auto r = cascade::calibrate_router(labelled, scores, o);  // r.threshold, r.saving, r.guarantee_text
///
/// `scores` has one entry per query of `labelled`, in its order: the router's score, in [0, 1],
/// higher meaning the query needs the strong model more. The scorer must not have been trained
/// on these queries, or the test is of a flattered router.
///
/// Learn-then-Test with fixed-sequence testing: the labelled queries are split by query id
/// (selection_fraction, split_seed). The first part proposes candidate thresholds (its scores
/// at quantiles) and drops those whose predicted bound says they would fail by more than the
/// allowed loss; the rest, at most max_tested, are ordered along the monotone path from 0
/// (every query to the strong model, which cannot miss) upward, each step sending more queries
/// to the weak model. The second part tests them in that order, each at level delta with
/// `bound`, and the first failure ends the walk; the highest threshold that passed is returned.
/// The order depends on the first part alone, so the statement holds however many thresholds
/// were tested. When none passes (target 1 with no query where the weak model does better, or
/// a test part that disagrees with the first), the threshold is 0: the strong model alone,
/// which meets the target by definition (target_met stays true, loss_bound 0).
///
/// Throws std::invalid_argument for invalid options, an unknown model, a wrong number of
/// scores, or too few queries to split; cascade::ParseError when a query lacks one of the two
/// models (naming both).
inline RouterCalibration calibrate_router(const OutcomeTable& labelled, const std::vector<double>& scores,
                                          const RouterCalibrateOptions& options) {
    constexpr const char* where = "cascade::calibrate_router";
    detail::check_router_calibrate_options(options);
    const std::size_t weak = labelled.model_index(options.weak);
    const std::size_t strong = labelled.model_index(options.strong);
    labelled.require({weak, strong});
    const std::size_t all = labelled.query_count();
    if (scores.size() != all) {
        throw std::invalid_argument(std::string(where) + ": " + std::to_string(scores.size()) + " scores for " +
                                    std::to_string(all) + " queries");
    }
    const auto [choose, check] =
        detail::split_for_testing(labelled,
                                  options.selection_fraction.value_or(
                                      default_selection_fraction(options.target, options.delta, labelled.query_count())),
                                  options.split_seed, std::string(where) + ": ");
    // Each part's scores, in its own order (the parts keep the table's order; ids are unique).
    std::unordered_map<std::string, std::size_t> row;
    for (std::size_t q = 0; q < all; ++q) row.emplace(labelled.queries()[q], q);
    auto scores_of = [&](const OutcomeTable& part) {
        std::vector<double> out;
        out.reserve(part.query_count());
        for (const std::string& id : part.queries()) out.push_back(scores[row.at(id)]);
        return out;
    };
    const std::vector<double> choose_scores = scores_of(choose);
    const std::vector<double> check_scores = scores_of(check);
    const std::size_t n = choose.query_count();
    const std::size_t n_test = check.query_count();

    // Candidates: the first part's scores in [0, 1], ascending; each one sends the queries that
    // score below it to the weak model. Those predicted to fail by more than the allowed loss
    // are left out.
    std::vector<double> in_range;
    for (const double s : choose_scores) {
        if (s >= 0.0 && s <= 1.0) in_range.push_back(s);
    }
    std::vector<double> candidates = detail::candidate_thresholds(in_range, options.max_candidates);
    candidates.erase(std::remove(candidates.begin(), candidates.end(), 0.0), candidates.end());  // 0 is the start
    const detail::SettingTest predict(options.bound, n, choose.mean_quality(strong) * static_cast<double>(n), options.target,
                                      options.delta);
    detail::SettingTest test(options.bound, n_test, check.mean_quality(strong) * static_cast<double>(n_test), options.target,
                             options.delta);
    // Which thresholds are walked depends on the first part alone (its allowed loss, not the
    // test part's): fixed-sequence testing is valid only for such an order.
    const double slack = predict.allowed();
    // Each threshold walked keeps the first part's view of it, which steers its test.
    std::vector<std::pair<double, detail::Disagreement>> walk;
    for (const double t : candidates) {
        const detail::Disagreement d = detail::router_disagreement(choose, choose_scores, t, weak, strong);
        if (predict.predicted_bound(d.disagree, d.excess, n_test) <= slack) walk.emplace_back(t, d);
    }
    walk = detail::spread_along(std::move(walk), options.max_tested);

    RouterCalibration out;
    out.weak = options.weak;
    out.strong = options.strong;
    out.delta = options.delta;
    out.bound = options.bound;
    out.selection_queries = n;
    out.test_queries = n_test;
    out.allowed_loss = test.allowed();
    out.tested = 1;  // the strong model alone, which passes by definition
    const std::vector<std::size_t> check_order = detail::test_order(check, options.split_seed);
    for (const auto& [t, chosen_view] : walk) {
        ++out.tested;
        const detail::SettingLosses losses =
            detail::router_losses(check, check_scores, t, weak, strong, options.target, check_order);
        const auto verdict = test.judge(losses, predict.loss_corners(chosen_view.disagree, chosen_view.excess));
        if (!verdict.passed) break;
        out.threshold = t;
        out.loss_bound = verdict.loss_bound;
    }
    out.target_met = true;
    out.guarantee = CalibrationGuarantee::family_wise;
    out.train = replay_router(labelled, scores, {out.threshold}, {options.weak, options.strong});
    out.strong_share = out.train.answered[1];
    out.reference_quality = labelled.mean_quality(strong);
    out.reference_cost = labelled.mean_cost(strong);
    out.saving = out.reference_cost > 0.0 ? 1.0 - out.train.cost / out.reference_cost : 0.0;
    out.guarantee_text = detail::guarantee_statement(out.guarantee, options.target, options.strong, options.delta,
                                                     options.bound, n, n_test, out.tested);
    return out;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_CALIBRATE_ROUTER_HPP
