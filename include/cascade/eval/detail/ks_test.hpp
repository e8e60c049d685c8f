// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_KS_TEST_HPP
#define CASCADE_EVAL_DETAIL_KS_TEST_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

// The two-sample Kolmogorov-Smirnov test on values with ties, infinities and missing entries.
namespace cascade::detail {

// Strict weak order of confidences as a cascade sees them: a missing value (NaN) rejects at any
// threshold, so it sorts below -inf, which rejects at any finite one.
inline bool confidence_less(double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
    return a < b;
}

inline bool confidence_equal(double a, double b) { return !confidence_less(a, b) && !confidence_less(b, a); }

// The Kolmogorov distribution's upper tail, P(K > x), K = sup |B(t)| of a Brownian bridge. Two
// series, each used where it converges fast: the theta-function form below 1.18, the alternating
// one above (both to below 1e-16 in a few terms).
inline double kolmogorov_upper_tail(double x) {
    if (!(x > 0.0)) return 1.0;
    constexpr double pi = 3.14159265358979323846;
    if (x < 1.18) {
        const double w = pi * pi / (8.0 * x * x);
        double sum = 0.0;
        for (int j = 1; j <= 11; j += 2) sum += std::exp(-static_cast<double>(j * j) * w);
        return std::clamp(1.0 - std::sqrt(2.0 * pi) / x * sum, 0.0, 1.0);
    }
    double sum = 0.0;
    for (int j = 1; j <= 100; ++j) {
        const double term = std::exp(-2.0 * static_cast<double>(j * j) * x * x);
        sum += (j % 2 == 1 ? term : -term);
        if (term < 1e-18) break;
    }
    return std::clamp(2.0 * sum, 0.0, 1.0);
}

struct KsResult {
    double statistic = 0.0;  // D = sup |F_a - F_b|, in [0, 1]
    double p_value = 1.0;
    bool exact = false;
};

// The tie blocks of the pooled sample in increasing order: after block k, `a_before[k]` values of
// a and `b_before[k]` of b lie at or below it. D can only be attained at these boundaries.
struct TieBlocks {
    std::vector<std::size_t> a_before;
    std::vector<std::size_t> b_before;
};

inline TieBlocks tie_blocks(std::vector<double> a, std::vector<double> b) {
    std::sort(a.begin(), a.end(), confidence_less);
    std::sort(b.begin(), b.end(), confidence_less);
    TieBlocks t;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < a.size() || j < b.size()) {
        const double v = j == b.size() || (i < a.size() && confidence_less(a[i], b[j])) ? a[i] : b[j];
        while (i < a.size() && confidence_equal(a[i], v)) ++i;
        while (j < b.size() && confidence_equal(b[j], v)) ++j;
        t.a_before.push_back(i);
        t.b_before.push_back(j);
    }
    return t;
}

// The cell updates the exact computation below would make, counted without making them.
inline std::uint64_t ks_exact_work(const TieBlocks& t, std::uint64_t m, std::uint64_t n, std::uint64_t d_num) {
    std::uint64_t work = 0;
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    std::size_t step = 0;
    for (std::size_t k = 0; k < t.a_before.size(); ++k) {
        const std::size_t end = t.a_before[k] + t.b_before[k];
        for (; step < end; ++step) {
            const auto next = static_cast<std::int64_t>(step + 1);
            lo = std::max<std::int64_t>(lo, next - static_cast<std::int64_t>(n));
            hi = std::min<std::int64_t>(hi + 1, static_cast<std::int64_t>(m));
            work += static_cast<std::uint64_t>(hi - lo + 1);
        }
        // States still inside the band: |i (m + n) - t m| < d_num.
        const auto total = static_cast<std::int64_t>(m + n);
        const auto centre = static_cast<std::int64_t>(end * m);
        const auto d = static_cast<std::int64_t>(d_num);
        lo = std::max(lo, (centre - d) / total + 1 - ((centre - d) % total < 0 ? 1 : 0));
        hi = std::min(hi, (centre + d - 1) / total);
        if (lo > hi) break;
    }
    return work;
}

// P(D >= observed) over the C(m + n, m) equally likely ways to split the pooled sample, ties kept
// together (the permutation distribution: exact under exchangeability, with any ties). The pooled
// values are walked in order; the state is how many of the first t came from a, and a walk is
// dropped, its probability added to the p-value, at the first block boundary where
// |i/m - j/n| >= D. Mass is added up, not subtracted from 1, so small p-values keep their digits.
inline double ks_exact_p(const TieBlocks& t, std::uint64_t m, std::uint64_t n, std::uint64_t d_num) {
    const auto total = static_cast<std::int64_t>(m + n);
    const auto d = static_cast<std::int64_t>(d_num);
    std::vector<double> mass{1.0};
    std::vector<double> next_mass;
    std::int64_t lo = 0;  // mass[x] is the probability of i = lo + x
    double p = 0.0;
    std::size_t step = 0;
    for (std::size_t k = 0; k < t.a_before.size(); ++k) {
        const std::size_t end = t.a_before[k] + t.b_before[k];
        for (; step < end; ++step) {
            const auto s = static_cast<std::int64_t>(step);
            const std::int64_t next_lo = std::max<std::int64_t>(lo, s + 1 - static_cast<std::int64_t>(n));
            const std::int64_t hi = lo + static_cast<std::int64_t>(mass.size()) - 1;
            const std::int64_t next_hi = std::min<std::int64_t>(hi + 1, static_cast<std::int64_t>(m));
            next_mass.assign(static_cast<std::size_t>(next_hi - next_lo + 1), 0.0);
            const double left = static_cast<double>(total - s);
            for (std::int64_t i = lo; i <= hi; ++i) {
                const double w = mass[static_cast<std::size_t>(i - lo)];
                if (w == 0.0) continue;
                const double to_a = static_cast<double>(static_cast<std::int64_t>(m) - i) / left;
                if (i + 1 <= next_hi) next_mass[static_cast<std::size_t>(i + 1 - next_lo)] += w * to_a;
                if (i >= next_lo) next_mass[static_cast<std::size_t>(i - next_lo)] += w * (1.0 - to_a);
            }
            mass.swap(next_mass);
            lo = next_lo;
        }
        if (k + 1 == t.a_before.size()) break;  // the last boundary has D = 0
        const auto centre = static_cast<std::int64_t>(end * m);
        std::vector<double> kept;
        std::int64_t kept_lo = -1;
        for (std::size_t x = 0; x < mass.size(); ++x) {
            const std::int64_t i = lo + static_cast<std::int64_t>(x);
            const std::int64_t gap = i * total - centre;
            if ((gap < 0 ? -gap : gap) >= d) {
                p += mass[x];
            } else {
                if (kept_lo < 0) kept_lo = i;
                kept.resize(static_cast<std::size_t>(i - kept_lo + 1), 0.0);
                kept.back() = mass[x];
            }
        }
        if (kept_lo < 0) return 1.0;  // every split reaches D: the observed one is as likely as any
        mass.swap(kept);
        lo = kept_lo;
    }
    return std::clamp(p, 0.0, 1.0);
}

// The two-sample KS test. NaN entries are missing values, a category of their own below -inf;
// -inf and inf are ordinary values at the ends. Exact (permutation distribution, ties included)
// when that takes at most `exact_work` cell updates, which covers thousands of values on each side;
// otherwise the asymptotic Kolmogorov distribution with Stephens' small-sample correction, which
// assumes continuous values: ties make D stochastically smaller (merged values drop boundaries
// from the supremum), so with ties the asymptotic p-value errs on the large side and a test at
// level alpha keeps its level. Both samples must be non-empty.
inline KsResult ks_test(const std::vector<double>& a, const std::vector<double>& b,
                        std::uint64_t exact_work = 40'000'000) {
    const auto m = static_cast<std::uint64_t>(a.size());
    const auto n = static_cast<std::uint64_t>(b.size());
    const TieBlocks t = tie_blocks(a, b);
    // D x m x n, an integer, so that boundaries compare exactly.
    std::uint64_t d_num = 0;
    for (std::size_t k = 0; k < t.a_before.size(); ++k) {
        const std::uint64_t x = t.a_before[k] * n;
        const std::uint64_t y = t.b_before[k] * m;
        d_num = std::max(d_num, x > y ? x - y : y - x);
    }
    KsResult r;
    r.statistic = static_cast<double>(d_num) / (static_cast<double>(m) * static_cast<double>(n));
    if (d_num == 0) {
        r.exact = true;
        r.p_value = 1.0;
        return r;
    }
    if (ks_exact_work(t, m, n, d_num) <= exact_work) {
        r.exact = true;
        r.p_value = ks_exact_p(t, m, n, d_num);
        return r;
    }
    const double root = std::sqrt(static_cast<double>(m) * static_cast<double>(n) / static_cast<double>(m + n));
    r.p_value = kolmogorov_upper_tail((root + 0.12 + 0.11 / root) * r.statistic);
    return r;
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_KS_TEST_HPP
