// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_RISK_CONTROL_HPP
#define CASCADE_EVAL_RISK_CONTROL_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../detail/number.hpp"
#include "detail/risk_bounds.hpp"
#include "outcome_log.hpp"

// What a calibration guarantees about new traffic, and the statistical test behind it.
namespace cascade {

/// The confidence bound that tests whether a setting keeps the quality target.
enum class RiskBound {
    /// A betting bound (a mixture of constant bets, after Waudby-Smith and Ramdas): adapts to the
    /// small variance of a cascade that mostly answers as the reference does. The tightest here.
    betting,
    /// The empirical Bernstein bound (Maurer and Pontil): variance-adaptive too, but its
    /// second-order term makes it loose below a few thousand queries.
    bernstein,
    /// Chernoff-Hoeffding (KL) bounds on the share of queries where the cascade and the reference
    /// differ and on the loss among them (a McNemar-style test), and on the reference's quality.
    kl,
};

/// Which statement about new traffic holds for a calibration's choice.
enum class CalibrationGuarantee {
    /// None: the choice met the target on the labelled queries only (naive mode, a budget, or no
    /// setting passed the test).
    none,
    /// Each setting was tested on its own; the search then kept the cheapest that passed, which
    /// the test does not account for, so the stated risk holds only approximately.
    per_setting,
    /// With probability >= 1 - delta over the labelled queries, the chosen setting's expected
    /// quality on new traffic from the same distribution is >= target x the reference's.
    family_wise,
};

/// The share of `labelled` queries that family-wise calibration spends on choosing what to test,
/// when the options leave it unset: 0.5, down to 0.3 when the target allows so little loss that
/// the test needs more queries. A setting that never loses against the reference gains about
/// (1 - target) a query in the test's log-wealth, so certifying it at level delta takes about
/// ln(1 / delta) / (1 - target) test queries (230 at 0.99 and delta 0.1, 46 at 0.95); the test
/// part gets twice that where the labelled queries allow. It depends on the options and the
/// number of queries alone, never on their labels, so the guarantee is unchanged.
inline double default_selection_fraction(double target, double delta, std::size_t labelled) {
    if (labelled == 0 || !(target > 0.0 && target < 1.0) || !(delta > 0.0 && delta < 1.0)) return 0.5;
    const double wanted = 2.0 * std::log(1.0 / delta) / (1.0 - target);
    const double fraction = std::clamp(1.0 - wanted / static_cast<double>(labelled), 0.3, 0.5);
    // A handful of queries: the choosing part must not be empty where half of them would do.
    return std::floor(fraction * static_cast<double>(labelled)) >= 1.0 ? fraction : 0.5;
}

/// "betting", "bernstein", "kl".
inline const char* risk_bound_name(RiskBound b) noexcept {
    switch (b) {
        case RiskBound::betting: return "betting";
        case RiskBound::bernstein: return "bernstein";
        case RiskBound::kl: return "kl";
    }
    return "?";
}

/// "none", "per_setting", "family_wise".
inline const char* guarantee_name(CalibrationGuarantee g) noexcept {
    switch (g) {
        case CalibrationGuarantee::none: return "none";
        case CalibrationGuarantee::per_setting: return "per_setting";
        case CalibrationGuarantee::family_wise: return "family_wise";
    }
    return "?";
}

namespace detail {

// The sums SettingTest takes, for one setting whose per-query quality is `quality` against the
// reference's `ref`.
struct Disagreement {
    double disagree = 0.0;
    double excess = 0.0;
};
inline void add_disagreement(Disagreement& d, double ref, double quality) {
    if (quality != ref) {
        d.disagree += 1.0;
        d.excess += (1.0 + ref - quality) / 2.0;
    }
}

// A setting's losses target x ref - quality on the queries that test it, in test_order(), with
// the sums the fixed-sample bounds take.
struct SettingLosses {
    Disagreement sums;
    std::vector<double> in_order;
};

// The order in which the sequential test takes the test part's queries: drawn from the split's
// seed and the ids alone. Not the log's order: a log grouped by benchmark or by time, easy
// queries first, would raise the wealth early, and the test may stop at its peak.
inline std::vector<std::size_t> test_order(const OutcomeTable& test_part, std::uint64_t split_seed) {
    return shuffled_queries(test_part, split_seed ^ 0x9e3779b97f4a7c15ull);
}
inline void add_loss(SettingLosses& l, double target, double ref, double quality) {
    add_disagreement(l.sums, ref, quality);
    l.in_order.push_back(std::clamp(target * ref - quality, -1.0, target));
}

// The share of the growth-optimal wager the sequential betting test stakes: a full one overbets
// on a setting the choosing queries flattered and loses more than it gains (measured in
// benchmarks/README.md, "Calibration on real outcomes").
inline constexpr double plug_in_kelly_fraction = 0.7;

// The test of one setting against the quality target, from sums over n queries: `disagree`, the
// queries where the setting's quality differs from the reference's, and `excess`, the sum over
// them of (1 + ref - quality) / 2 (a loss counts 1, a gain 0, for 0/1 quality).
//
// betting and bernstein test one mean: per query L = target x ref - quality, in [-1, target],
// and the target holds on new traffic exactly when E[L] <= 0. The four values L takes for 0/1
// quality (a loss: target; a gain: -1; both right: -(1 - target); both wrong: 0) get the weights
// excess, disagree - excess, ref_sum - excess and n - ref_sum - (disagree - excess). For graded
// quality this is conservative: splitting each query's (ref, quality) into the four corners
// bounds the betting log-wealth from below (it is concave in L) and the sum of L^2 from above,
// and counting each disagreement as a whole one only lowers the one and raises the other.
// kl bounds E[ref - quality] <= (1 - target) x a lower bound on E[ref] (see kl_loss_bound).
//
// passes() caches by (disagree, excess rounded up): exact for 0/1 quality and conservative for
// graded, since every bound here grows with the losses.
//
// On the queries that test a setting chosen on others, the betting bound is sequential: the
// losses come one by one in test_order(), and before each one the bettor stakes
// plug_in_kelly_fraction of the growth-optimal wager on what it has seen, starting from the
// choosing queries' view of the same setting (loss_corners() there). It adapts to a setting the
// choosing queries flattered, and the wealth may reach 1 / delta at any point (BettingSequence).
class SettingTest {
public:
    SettingTest(RiskBound bound, std::size_t n, double reference_sum, double target, double delta)
        : bound_(bound), n_(n), ref_sum_(reference_sum), target_(target), delta_(delta) {
        const double count = static_cast<double>(n);
        if (bound == RiskBound::kl) {
            delta_kl_ = delta / 4.0;
            allowed_ = n == 0 ? 0.0 : (1.0 - target) * kl_lower_bound(reference_sum / count, n, delta_kl_);
        } else {
            allowed_ = n == 0 ? 0.0 : (1.0 - target) * reference_sum / count;
        }
    }

    // The loss the target allows, in quality units (see CalibrationResult::allowed_loss).
    [[nodiscard]] double allowed() const noexcept { return allowed_; }

    // True when the setting is shown, at level delta, to keep the target.
    bool passes(double disagree, double excess) {
        if (n_ == 0) return false;
        const std::size_t k = to_count(std::round(disagree), n_);
        if (bound_ == RiskBound::bernstein) return loss_bound_exact(static_cast<double>(k), excess) <= allowed_;
        const std::size_t s = to_count(std::ceil(excess - 1e-9), k);
        const std::uint64_t key = static_cast<std::uint64_t>(k) * (static_cast<std::uint64_t>(n_) + 1) + s;
        const auto it = cache_.find(key);
        if (it != cache_.end()) return it->second;
        bool pass = false;
        if (bound_ == RiskBound::kl) {
            pass = kl_loss_bound(k, s) <= allowed_;
        } else {
            pass = betting_rejects(weights(static_cast<double>(k), static_cast<double>(s)), -1.0, target_, 0.0, delta_);
        }
        cache_.emplace(key, pass);
        return pass;
    }

    // The four values of the loss, with their weights on these queries (no weight below 0): what
    // a test of the same setting on other queries starts from.
    [[nodiscard]] std::vector<WeightedValue> loss_corners(double disagree, double excess) const {
        std::vector<WeightedValue> w = weights(disagree, excess);
        for (WeightedValue& v : w) v.weight = std::max(0.0, v.weight);
        return w;
    }

    // The test of a setting from its losses on these queries, and the bound it compares with
    // allowed() (computed only for a setting that passed): sequential for the betting bound,
    // steered by `prior` (see the class comment), and from the sums for the others.
    struct Verdict {
        bool passed = false;
        double loss_bound = std::numeric_limits<double>::infinity();
    };
    Verdict judge(const SettingLosses& losses, const std::vector<WeightedValue>& prior) {
        Verdict v;
        if (n_ == 0) return v;
        if (bound_ != RiskBound::betting) {
            v.passed = passes(losses.sums.disagree, losses.sums.excess);
            if (v.passed) v.loss_bound = loss_bound(losses.sums.disagree, losses.sums.excess);
            return v;
        }
        const BettingSequence sequence(prior, losses.in_order, -1.0, target_, 0.0, plug_in_kelly_fraction);
        v.passed = sequence.rejects(0.0, delta_);
        if (v.passed) v.loss_bound = allowed_ + sequence.upper_bound(delta_);
        return v;
    }

    // The bound the test compares with allowed(): an upper bound on E[ref - quality] for kl;
    // allowed() + an upper bound on E[target x ref - quality] for the others.
    double loss_bound(double disagree, double excess) const {
        if (n_ == 0) return std::numeric_limits<double>::infinity();
        const std::size_t k = to_count(std::round(disagree), n_);
        if (bound_ == RiskBound::kl) return kl_loss_bound(k, to_count(std::ceil(excess - 1e-9), k));
        if (bound_ == RiskBound::betting) excess = static_cast<double>(to_count(std::ceil(excess - 1e-9), k));
        return loss_bound_exact(static_cast<double>(k), excess);
    }

    // A cheap guess of the upper bound on E[target x ref - quality] that the same queries' mix
    // would get from `future` queries: their mean plus a normal-approximation margin. Used only
    // to order settings before they are tested.
    [[nodiscard]] double predicted_bound(double disagree, double excess, std::size_t future) const {
        const double count = static_cast<double>(n_);
        if (n_ == 0 || future == 0) return std::numeric_limits<double>::infinity();
        // Called for every setting of a search: no allocation.
        const double values[4] = {target_, -1.0, -(1.0 - target_), 0.0};
        const double weight[4] = {excess, disagree - excess, ref_sum_ - excess, count - ref_sum_ - (disagree - excess)};
        double mean = 0.0;
        double squares = 0.0;
        for (int i = 0; i < 4; ++i) {
            const WeightedValue v{values[i], weight[i]};
            mean += v.weight * v.value;
            squares += v.weight * v.value * v.value;
        }
        mean /= count;
        const double variance = std::max(0.0, squares / count - mean * mean);
        return mean + std::sqrt(2.0 * std::log(1.0 / delta_) * variance / static_cast<double>(future));
    }

private:
    static std::size_t to_count(double x, std::size_t most) {
        if (!(x > 0.0)) return 0;
        return std::min(static_cast<std::size_t>(x), most);
    }

    std::vector<WeightedValue> weights(double k, double s) const {
        const double count = static_cast<double>(n_);
        return {{target_, s},
                {-1.0, k - s},
                {-(1.0 - target_), ref_sum_ - s},
                {0.0, count - ref_sum_ - (k - s)}};
    }

    // Upper bound on E[D] (D = ref - quality) as P(disagree) x E[D | disagree]. For 0/1 quality
    // E[D | disagree] = 2 P(loss | disagree) - 1: a disagreement is a loss or a gain. Bounding the
    // two factors apart (a McNemar-style test) is far tighter than bounding D over all queries,
    // because disagreements are few. Each factor gets a KL bound, valid for any variable in
    // [0, 1]; given the number of disagreements, (1 + D) / 2 over them is an independent sample.
    // delta is split evenly over four bounds: the share of disagreements (above and below, as the
    // sign of the second factor decides which is used), the loss rate among them, and the
    // reference's quality (in allowed()).
    double kl_loss_bound(std::size_t k, std::size_t s) const {
        const double share = static_cast<double>(k) / static_cast<double>(n_);
        const double loss_rate = k == 0 ? 1.0 : kl_upper_bound(static_cast<double>(s) / static_cast<double>(k), k, delta_kl_);
        const double per_disagreement = 2.0 * loss_rate - 1.0;
        return per_disagreement >= 0.0 ? kl_upper_bound(share, n_, delta_kl_) * per_disagreement
                                       : kl_lower_bound(share, n_, delta_kl_) * per_disagreement;
    }

    double loss_bound_exact(double k, double s) const {
        const auto w = weights(k, s);
        const double excess_bound = bound_ == RiskBound::betting ? betting_upper_bound(w, -1.0, target_, delta_)
                                                                 : bernstein_upper_bound(w, -1.0, target_, delta_);
        return allowed_ + excess_bound;
    }

    RiskBound bound_;
    std::size_t n_;
    double ref_sum_;
    double target_;
    double delta_;
    double delta_kl_ = 0.0;
    double allowed_ = 0.0;
    std::unordered_map<std::uint64_t, bool> cache_;
};


// The checks of the family-wise options that calibrate() and calibrate_router() share; `where`
// starts each message ("cascade::calibrate: ").
inline void check_family_wise_options(const std::string& where, double delta, RiskBound bound, double selection_fraction,
                                      std::size_t max_tested) {
    if (!(delta > 0.0 && delta < 1.0)) {
        throw std::invalid_argument(where + "delta must be in (0, 1), got " + format_number(delta));
    }
    if (bound != RiskBound::betting && bound != RiskBound::bernstein && bound != RiskBound::kl) {
        throw std::invalid_argument(where + "unknown bound");
    }
    if (!(selection_fraction > 0.0 && selection_fraction < 1.0)) {
        throw std::invalid_argument(where + "selection_fraction must be in (0, 1), got " + format_number(selection_fraction));
    }
    if (max_tested < 1) throw std::invalid_argument(where + "max_tested must be >= 1");
}

// The labelled queries split by id into the part that chooses and orders what is tested, and
// the part that tests it; throws when either part would be empty.
inline std::pair<OutcomeTable, OutcomeTable> split_for_testing(const OutcomeTable& labelled, double selection_fraction,
                                                               std::uint64_t seed, const std::string& where) {
    const std::size_t all = labelled.query_count();
    const auto first = static_cast<std::size_t>(std::floor(selection_fraction * static_cast<double>(all)));
    if (first == 0 || first == all) {
        throw std::invalid_argument(where + "family-wise calibration splits the labelled queries into a part that "
                                    "chooses what to test and a part that tests it; " + std::to_string(all) +
                                    " queries cannot be split at selection_fraction " +
                                    format_number(selection_fraction) +
                                    ": give more queries or use another selection_fraction");
    }
    return split_by_query(labelled, selection_fraction, seed);
}

// At most `count` of `walk`, spread evenly along it, the first and the last kept.
template <class T>
std::vector<T> spread_along(std::vector<T> walk, std::size_t count) {
    if (walk.size() <= count) return walk;
    std::vector<T> kept;
    for (std::size_t i = 0; i < count; ++i) {
        kept.push_back(walk[count == 1 ? walk.size() - 1 : i * (walk.size() - 1) / (count - 1)]);
    }
    return kept;
}

inline std::string percent_text(double x) {
    const double p = std::round(x * 1000.0) / 10.0;
    return format_number(p) + "%";
}

// The sentence a result carries for its guarantee.
inline std::string guarantee_statement(CalibrationGuarantee g, double target, const std::string& reference, double delta,
                                       RiskBound bound, std::size_t selection, std::size_t test, std::size_t tested) {
    const std::string level = "with probability >= " + format_number(1.0 - delta) + " over the labelled queries";
    const std::string claim = "the expected quality on new traffic from their distribution is >= " + percent_text(target) +
                              " of " + reference + "'s";
    switch (g) {
        case CalibrationGuarantee::family_wise:
            return "family-wise: " + level + ", " + claim + " (Learn-then-Test: settings ordered on " +
                   std::to_string(selection) + " queries, " + std::to_string(tested) +
                   " tested in that order on the other " + std::to_string(test) + " with the " +
                   risk_bound_name(bound) + " bound, stopping at the first failure)";
        case CalibrationGuarantee::per_setting:
            return "per setting: the chosen setting passed a test at level " + format_number(delta) + " (" +
                   risk_bound_name(bound) + " bound) on all " + std::to_string(selection) +
                   " labelled queries, but the search kept the cheapest of many that passed: no stated risk for the choice";
        case CalibrationGuarantee::none: break;
    }
    return "none: the target was met on the labelled queries only";
}

}  // namespace detail
}  // namespace cascade

#endif  // CASCADE_EVAL_RISK_CONTROL_HPP
