// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP
#define CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>

// Confidence bounds on the mean of a variable in [0, 1] from n samples.
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

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_RISK_BOUNDS_HPP
