// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_HOMOGENEITY_TEST_HPP
#define CASCADE_EVAL_DETAIL_HOMOGENEITY_TEST_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

// Whether two samples of counts over the same categories are drawn alike: the chi-square test of
// homogeneity of a 2 x k table, or its exact (Freeman-Halton) form when counts are small.
namespace cascade::detail {

// The regularized upper incomplete gamma function Q(s, x) = Gamma(s, x) / Gamma(s): the series
// below s + 1, Lentz's continued fraction above, each to double precision.
inline double gamma_upper_regularized(double s, double x) {
    if (!(x > 0.0)) return 1.0;
    const double log_prefix = s * std::log(x) - x - std::lgamma(s);
    if (x < s + 1.0) {
        double term = 1.0 / s;
        double sum = term;
        for (int k = 1; k < 10000; ++k) {
            term *= x / (s + k);
            sum += term;
            if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
        }
        return std::clamp(1.0 - sum * std::exp(log_prefix), 0.0, 1.0);
    }
    constexpr double tiny = 1e-300;
    double b = x + 1.0 - s;
    double c = 1.0 / tiny;
    double d = 1.0 / b;
    double h = d;
    for (int k = 1; k < 10000; ++k) {
        const double an = -k * (k - s);
        b += 2.0;
        d = an * d + b;
        if (std::fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double delta = d * c;
        h *= delta;
        if (std::fabs(delta - 1.0) < 1e-16) break;
    }
    return std::clamp(std::exp(log_prefix) * h, 0.0, 1.0);
}

// P(chi-square with `df` degrees of freedom >= x).
inline double chi_square_upper_tail(double x, double df) { return gamma_upper_regularized(df / 2.0, x / 2.0); }

struct HomogeneityResult {
    double statistic = 0.0;  // Pearson's X^2
    double p_value = 1.0;
    std::size_t degrees_of_freedom = 0;
    bool exact = false;
};

// The tables with the margins of the observed one number at most this many for the exact test.
inline constexpr double exact_table_limit = 2e6;

inline double log_choose(double n, double k) { return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0); }

// The Freeman-Halton test of a 2 x k table given as its column totals and first row: the sum of
// the probabilities, under the multivariate hypergeometric law of tables with these margins, of
// the tables no more likely than the observed one (Fisher's exact test when k = 2).
inline double freeman_halton_p(const std::vector<double>& column, const std::vector<double>& first, double first_total) {
    const std::size_t k = column.size();
    double total = 0.0;
    for (const double v : column) total += v;
    double log_observed = -log_choose(total, first_total);
    for (std::size_t c = 0; c < k; ++c) log_observed += log_choose(column[c], first[c]);
    std::vector<double> room(k + 1, 0.0);  // room[c]: the most the columns from c on can take
    for (std::size_t c = k; c-- > 0;) room[c] = room[c + 1] + column[c];
    // A relative slack, so that tables exactly as likely as the observed one count despite rounding.
    const double cut = log_observed + 1e-7;
    double p = 0.0;
    std::vector<double> x(k, 0.0);
    // Depth-first over the first row, column by column; `left` is what the row still needs.
    auto visit = [&](auto&& self, std::size_t c, double left, double log_p) -> void {
        if (c + 1 == k) {
            const double lp = log_p + log_choose(column[c], left);
            if (lp <= cut) p += std::exp(lp);
            return;
        }
        const double from = std::max(0.0, left - room[c + 1]);
        const double to = std::min(column[c], left);
        for (double v = from; v <= to; v += 1.0) self(self, c + 1, left - v, log_p + log_choose(column[c], v));
    };
    visit(visit, 0, first_total, -log_choose(total, first_total));
    return std::clamp(p, 0.0, 1.0);
}

// The test of whether rows `a` and `b` (counts per category, same length) are drawn from one
// distribution. Categories empty in both rows are left out; `degrees_of_freedom` is 0 when fewer
// than two remain, or a row is empty, and the test then says nothing (p = 1). Exact when an
// expected count is below 5 (Cochran's rule for the chi-square approximation) and the tables with
// the observed margins number at most exact_table_limit; otherwise chi-square with k - 1 degrees
// of freedom.
inline HomogeneityResult homogeneity_test(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> column;
    std::vector<double> first;
    double a_total = 0.0;
    double b_total = 0.0;
    for (std::size_t c = 0; c < a.size() && c < b.size(); ++c) {
        if (a[c] + b[c] <= 0.0) continue;
        column.push_back(a[c] + b[c]);
        first.push_back(a[c]);
        a_total += a[c];
        b_total += b[c];
    }
    HomogeneityResult r;
    if (column.size() < 2 || a_total <= 0.0 || b_total <= 0.0) return r;
    r.degrees_of_freedom = column.size() - 1;
    const double total = a_total + b_total;
    double smallest_expected = total;
    double tables = 1.0;
    for (std::size_t c = 0; c < column.size(); ++c) {
        const double ea = a_total * column[c] / total;
        const double eb = b_total * column[c] / total;
        smallest_expected = std::min({smallest_expected, ea, eb});
        r.statistic += (first[c] - ea) * (first[c] - ea) / ea + (column[c] - first[c] - eb) * (column[c] - first[c] - eb) / eb;
        if (c + 1 < column.size()) tables *= std::min(column[c], a_total) + 1.0;
    }
    if (smallest_expected < 5.0 && tables <= exact_table_limit) {
        r.exact = true;
        r.p_value = freeman_halton_p(column, first, a_total);
    } else {
        r.p_value = chi_square_upper_tail(r.statistic, static_cast<double>(r.degrees_of_freedom));
    }
    return r;
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_HOMOGENEITY_TEST_HPP
