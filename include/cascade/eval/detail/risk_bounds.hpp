// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP
#define CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../detail/number.hpp"

// Confidence bounds on the mean of a bounded variable from n independent samples: the
// Chernoff-Hoeffding (KL) bound, the empirical Bernstein bound and a betting bound. The last two
// adapt to the sample's variance, which matters when most samples sit at one value.
namespace cascade::detail {

// Bernoulli Kullback-Leibler divergence kl(p || q), with 0 log 0 = 0.
inline double bernoulli_kl(double p, double q) {
    auto term = [](double a, double b) { return a <= 0.0 ? 0.0 : a * std::log(a / b); };
    return term(p, q) + term(1.0 - p, 1.0 - q);
}

// The Chernoff-Hoeffding (KL) upper bound: the largest mean m >= `mean` with
// n * kl(mean || m) <= log(1 / delta). With probability >= 1 - delta over n independent samples of
// any variable in [0, 1] (not only 0/1), the true mean is at most this. For 0/1 data it is close
// to the exact Clopper-Pearson bound, and far tighter than Hoeffding's for rare events.
inline double kl_upper_bound(double mean, std::size_t n, double delta) {
    if (std::isnan(mean) || !(delta > 0.0 && delta < 1.0)) {
        throw std::invalid_argument("cascade::kl_upper_bound: the mean must not be NaN and delta must be in (0, 1), got " +
                                    format_number(mean) + " and " + format_number(delta));
    }
    mean = std::clamp(mean, 0.0, 1.0);
    if (n == 0) return 1.0;
    const double budget = std::log(1.0 / delta) / static_cast<double>(n);
    if (mean >= 1.0) return 1.0;
    double lo = mean;
    double hi = 1.0;
    for (int i = 0; i < 60; ++i) {
        const double mid = (lo + hi) / 2.0;
        if (bernoulli_kl(mean, mid) > budget) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

// The matching lower bound: the true mean is at least this with probability >= 1 - delta.
inline double kl_lower_bound(double mean, std::size_t n, double delta) {
    return 1.0 - kl_upper_bound(1.0 - std::clamp(mean, 0.0, 1.0), n, delta);
}

// A sample summarised by its distinct values: `weight` observations equal to `value`. Weights
// need not be whole; see betting_upper_bound() for what a negative one means.
struct WeightedValue {
    double value = 0.0;
    double weight = 0.0;
};

// Refuses what would make a bound meaningless: delta outside (0, 1), a NaN, an empty or inverted
// range, a value outside it.
inline void check_bound_input(const char* where, const std::vector<WeightedValue>& sample, double lo, double hi,
                              double delta) {
    if (!(delta > 0.0 && delta < 1.0)) {
        throw std::invalid_argument(std::string(where) + ": delta must be in (0, 1), got " + format_number(delta));
    }
    if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi)) {
        throw std::invalid_argument(std::string(where) + ": the range must be finite with lo < hi, got [" + format_number(lo) +
                                    ", " + format_number(hi) + "]");
    }
    for (const WeightedValue& v : sample) {
        if (!(v.value >= lo && v.value <= hi) || !std::isfinite(v.weight)) {
            throw std::invalid_argument(std::string(where) + ": sample value " + format_number(v.value) + " (weight " +
                                        format_number(v.weight) + ") is NaN or outside [" + format_number(lo) + ", " +
                                        format_number(hi) + "]");
        }
    }
}

// The betting bound's wagers: fractions c of the most a bettor can stake without risking ruin.
// A mixture over fixed wagers (each a constant bet, so chosen before any sample is seen) keeps
// the wealth a test supermartingale whatever the data, and its value depends on the sample only
// through its distinct values and their weights, never on their order.
inline constexpr int betting_wagers = 50;
inline constexpr double betting_most_wager = 0.95;

// Logarithm of the betting wealth against "the mean of x is >= m" after the sample, x scaled to
// [0, 1]: the average over the wagers c of prod (1 + c (m - x_i) / (1 - m)). Under that null each
// factor has expectation <= 1, so the wealth reaches 1 / delta with probability <= delta (Markov;
// Ville's inequality makes it hold at every sample size at once). It grows with m.
inline double betting_log_wealth(const std::vector<WeightedValue>& scaled, double m) {
    double terms[betting_wagers];
    double top = -std::numeric_limits<double>::infinity();
    for (int g = 0; g < betting_wagers; ++g) {
        const double c = betting_most_wager * (g + 1) / betting_wagers;
        double log_wealth = 0.0;
        for (const WeightedValue& v : scaled) {
            if (v.weight == 0.0) continue;
            const double factor = 1.0 + c * (m - v.value) / (1.0 - m);
            log_wealth += v.weight * std::log(factor);
        }
        terms[g] = log_wealth;
        top = std::max(top, log_wealth);
    }
    if (!std::isfinite(top)) return top;
    double sum = 0.0;
    for (const double t : terms) sum += std::exp(t - top);
    return top + std::log(sum / betting_wagers);
}

inline std::vector<WeightedValue> scale_sample(const std::vector<WeightedValue>& sample, double lo, double hi,
                                               double& count, double& mean) {
    std::vector<WeightedValue> out;
    out.reserve(sample.size());
    count = 0.0;
    double sum = 0.0;
    for (const WeightedValue& v : sample) {
        const double x = std::clamp((v.value - lo) / (hi - lo), 0.0, 1.0);
        out.push_back({x, v.weight});
        count += v.weight;
        sum += v.weight * x;
    }
    mean = count > 0.0 ? std::clamp(sum / count, 0.0, 1.0) : 0.0;
    return out;
}

// True when the betting test rejects "the mean is >= m" at level delta: the sample shows, with
// error probability <= delta, that the mean of the variable (in [lo, hi]) is below m.
inline bool betting_rejects(const std::vector<WeightedValue>& sample, double lo, double hi, double m, double delta) {
    check_bound_input("cascade::betting_rejects", sample, lo, hi, delta);
    if (std::isnan(m)) throw std::invalid_argument("cascade::betting_rejects: m is NaN");
    double count = 0.0;
    double mean = 0.0;
    const auto scaled = scale_sample(sample, lo, hi, count, mean);
    const double at = (m - lo) / (hi - lo);
    if (at > 1.0) return true;  // no variable in [lo, hi] has a mean > hi
    if (!(at > 0.0) || !(count > 0.0)) return false;
    return betting_log_wealth(scaled, at) >= std::log(1.0 / delta);
}

// The betting upper confidence bound (in the manner of Waudby-Smith and Ramdas, "Estimating means
// of bounded random variables by betting", 2023, with a mixture of constant bets): the smallest
// m whose null "mean >= m" the bettor rejects at level delta. With probability >= 1 - delta over
// independent samples of a variable in [lo, hi], its mean is at most this. Where most samples
// share one value its width shrinks with the variance, as Bernstein's does, without Bernstein's
// large second-order term; it is never above the range.
//
// The wealth is computed from the weighted values alone, so a sample may also be summarised
// conservatively: any weights whose log-wealth is at most the true sample's, for every wager,
// keep the bound valid (a negative weight may arise that way).
inline double betting_upper_bound(const std::vector<WeightedValue>& sample, double lo, double hi, double delta) {
    check_bound_input("cascade::betting_upper_bound", sample, lo, hi, delta);
    double count = 0.0;
    double mean = 0.0;
    const auto scaled = scale_sample(sample, lo, hi, count, mean);
    if (!(count > 0.0)) return hi;
    const double level = std::log(1.0 / delta);
    // The wealth at the sample mean is <= 1 (Jensen), so the bound is above the mean; bisect
    // for where the wealth crosses 1 / delta.
    double below = mean;
    double above = 1.0;
    for (int i = 0; i < 60; ++i) {
        const double mid = (below + above) / 2.0;
        if (mid >= 1.0 || mid <= below) break;
        if (betting_log_wealth(scaled, mid) >= level) {
            above = mid;
        } else {
            below = mid;
        }
    }
    return lo + above * (hi - lo);
}

// The constant wager c in [0, most] under which the sample's wealth against "the mean of x is
// >= m" (x scaled to [0, 1]) grows fastest: the log-wealth sum w log(1 + c (m - x) / (1 - m)) is
// concave in c, so its slope is bisected. 0 when no wager gains (the sample's mean is >= m).
inline double growth_optimal_wager(const std::vector<WeightedValue>& scaled, double m, double most) {
    auto slope = [&](double c) {
        double d = 0.0;
        for (const WeightedValue& v : scaled) {
            const double g = (m - v.value) / (1.0 - m);
            d += v.weight * g / (1.0 + c * g);
        }
        return d;
    };
    if (!(slope(0.0) > 0.0)) return 0.0;
    if (slope(most) >= 0.0) return most;
    double lo = 0.0;
    double hi = most;
    for (int i = 0; i < 50; ++i) {
        const double mid = (lo + hi) / 2.0;
        (slope(mid) > 0.0 ? lo : hi) = mid;
    }
    return lo;
}

// A betting test whose wager is chosen afresh before each sample, from a prior sample and the
// samples before it (a predictable plug-in, in the manner of Waudby-Smith and Ramdas): the
// fraction `kelly_fraction` of the growth-optimal constant wager on them against "the mean is
// >= m0". Each wager is fixed before its sample is seen, so the wealth prod (1 + c_i (m - x_i) /
// (1 - m)) is a test supermartingale under "the mean is >= m", for every m; the test rejects when
// it reaches 1 / delta at any point of the sequence (Ville's inequality). The prior must not
// depend on the sequence (e.g. other queries' view of the same setting); it only steers the
// wagers. The wagers depend on m0 alone, not on the m tested, so the wealth grows with m and the
// set of m not rejected is an interval: betting_sequence_upper_bound() gives its end.
class BettingSequence {
public:
    // `prior` and every sample in [lo, hi]; m0 in (lo, hi).
    BettingSequence(const std::vector<WeightedValue>& prior, const std::vector<double>& sequence, double lo, double hi,
                    double m0, double kelly_fraction)
        : lo_(lo), hi_(hi) {
        check_bound_input("cascade::BettingSequence", prior, lo, hi, 0.5);
        for (const double value : sequence) {
            if (!(value >= lo && value <= hi)) {
                throw std::invalid_argument("cascade::BettingSequence: sample value " + format_number(value) +
                                            " is NaN or outside [" + format_number(lo) + ", " + format_number(hi) + "]");
            }
        }
        double count = 0.0;
        double mean = 0.0;
        std::vector<WeightedValue> seen = scale_sample(prior, lo, hi, count, mean);
        const std::size_t kept = std::max<std::size_t>(seen.size(), 16);
        const double at = (m0 - lo) / (hi - lo);
        xs_.reserve(sequence.size());
        wagers_.reserve(sequence.size());
        for (const double value : sequence) {
            const double x = std::clamp((value - lo) / (hi - lo), 0.0, 1.0);
            const bool usable = at > 0.0 && at < 1.0;
            wagers_.push_back(usable ? kelly_fraction * growth_optimal_wager(seen, at, betting_most_wager) : 0.0);
            xs_.push_back(x);
            // What the bettor has seen, merged with an equal value (0/1 quality has four), or, past
            // `kept` distinct values (graded quality), with the nearest: the wager only steers and
            // any predictable one is valid, while the wealth takes every value exactly. Each wager
            // then costs a bounded amount, not one growing with the queries.
            auto merge = std::find_if(seen.begin(), seen.end(), [&](const WeightedValue& v) { return v.value == x; });
            if (merge == seen.end() && seen.size() >= kept) {
                merge = std::min_element(seen.begin(), seen.end(), [&](const WeightedValue& a, const WeightedValue& b) {
                    return std::fabs(a.value - x) < std::fabs(b.value - x);
                });
            }
            if (merge != seen.end()) {
                merge->weight += 1.0;
            } else {
                seen.push_back({x, 1.0});
            }
        }
    }

    // True when some prefix of the sequence makes the wealth against "the mean is >= m" reach
    // 1 / delta.
    [[nodiscard]] bool rejects(double m, double delta) const {
        const double at = (m - lo_) / (hi_ - lo_);
        if (at > 1.0) return true;  // no variable in [lo, hi] has a mean above hi
        if (!(at > 0.0 && at < 1.0)) return false;
        const double level = std::log(1.0 / delta);
        double log_wealth = 0.0;
        for (std::size_t i = 0; i < xs_.size(); ++i) {
            log_wealth += std::log1p(wagers_[i] * (at - xs_[i]) / (1.0 - at));
            if (log_wealth >= level) return true;
        }
        return false;
    }

    // The smallest m whose null the sequence rejects: with probability >= 1 - delta the mean is
    // at most this (hi when even hi is not rejected).
    [[nodiscard]] double upper_bound(double delta) const {
        double below = 0.0;
        double above = 1.0;
        for (int i = 0; i < 60; ++i) {
            const double mid = (below + above) / 2.0;
            if (rejects(lo_ + mid * (hi_ - lo_), delta)) {
                above = mid;
            } else {
                below = mid;
            }
        }
        return lo_ + above * (hi_ - lo_);
    }

private:
    double lo_;
    double hi_;
    std::vector<double> xs_;
    std::vector<double> wagers_;
};

// The empirical Bernstein bound of Maurer and Pontil (2009, theorem 4): with probability
// >= 1 - delta over n >= 2 independent samples of a variable in [lo, hi], its mean is at most
// mean + sqrt(2 V ln(2 / delta) / n) + 7 (hi - lo) ln(2 / delta) / (3 (n - 1)), V the unbiased
// sample variance. Tight for large n and small variance; the second term makes it loose below a
// few thousand samples. `variance` may be an upper bound on the sample variance.
inline double bernstein_upper_bound(double mean, double variance, double n, double lo, double hi, double delta) {
    check_bound_input("cascade::bernstein_upper_bound", {}, lo, hi, delta);
    if (std::isnan(mean) || std::isnan(variance) || std::isnan(n)) {
        throw std::invalid_argument("cascade::bernstein_upper_bound: mean, variance and n must not be NaN");
    }
    if (!(n >= 2.0)) return hi;
    const double range = hi - lo;
    const double v = std::max(0.0, variance) / (range * range);
    const double x = std::clamp((mean - lo) / range, 0.0, 1.0);
    const double log_term = std::log(2.0 / delta);
    const double bound = x + std::sqrt(2.0 * v * log_term / n) + 7.0 * log_term / (3.0 * (n - 1.0));
    return lo + std::min(1.0, bound) * range;
}

// The same from a sample of weighted values.
inline double bernstein_upper_bound(const std::vector<WeightedValue>& sample, double lo, double hi, double delta) {
    check_bound_input("cascade::bernstein_upper_bound", sample, lo, hi, delta);
    double n = 0.0;
    double sum = 0.0;
    double squares = 0.0;
    for (const WeightedValue& v : sample) {
        n += v.weight;
        sum += v.weight * v.value;
        squares += v.weight * v.value * v.value;
    }
    if (!(n >= 2.0)) return hi;
    const double mean = sum / n;
    const double variance = (squares - n * mean * mean) / (n - 1.0);
    return bernstein_upper_bound(mean, variance, n, lo, hi, delta);
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP
