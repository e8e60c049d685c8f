#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/core/parse_error.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>
#include <cascade/eval/shift.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
const double missing = std::numeric_limits<double>::quiet_NaN();

// C(n, k) as a double, by the multiplicative formula (exact for the sizes used here).
double choose(int n, int k) {
    if (k < 0 || k > n) return 0.0;
    double c = 1.0;
    for (int i = 1; i <= k; ++i) c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
    return c;
}

// Gnedenko and Korolyuk's closed form for two samples of n distinct values each:
// P(D >= k/n) = 2 sum_{j >= 1} (-1)^(j+1) C(2n, n - jk) / C(2n, n).
double gnedenko_korolyuk(int n, int k) {
    double sum = 0.0;
    for (int j = 1; n - j * k >= 0; ++j) sum += (j % 2 == 1 ? 1.0 : -1.0) * choose(2 * n, n - j * k);
    return 2.0 * sum / choose(2 * n, n);
}

// The value order a cascade uses, written out on its own: missing, then -inf, then the rest.
int rank_class(double x) { return std::isnan(x) ? 0 : (x == -inf ? 1 : 2); }
bool before_or_equal(double x, double t) {
    if (rank_class(x) != rank_class(t)) return rank_class(x) < rank_class(t);
    return rank_class(x) < 2 || x <= t;
}

// D by definition: the largest gap between the two empirical distribution functions, at every
// value of the pooled sample.
double ks_distance(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> pooled = a;
    pooled.insert(pooled.end(), b.begin(), b.end());
    double d = 0.0;
    for (const double t : pooled) {
        double fa = 0.0;
        double fb = 0.0;
        for (const double x : a) fa += before_or_equal(x, t) ? 1.0 : 0.0;
        for (const double x : b) fb += before_or_equal(x, t) ? 1.0 : 0.0;
        d = std::max(d, std::fabs(fa / static_cast<double>(a.size()) - fb / static_cast<double>(b.size())));
    }
    return d;
}

// The permutation p-value by brute force: every way of choosing which |a| of the pooled values
// form the first sample, counted when its D reaches the observed one.
double brute_force_ks_p(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> pooled = a;
    pooled.insert(pooled.end(), b.begin(), b.end());
    const std::size_t n = pooled.size();
    const double observed = ks_distance(a, b);
    double hits = 0.0;
    double all = 0.0;
    for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
        std::vector<double> x;
        std::vector<double> y;
        for (std::size_t i = 0; i < n; ++i) ((mask >> i) & 1u ? x : y).push_back(pooled[i]);
        if (x.size() != a.size()) continue;
        all += 1.0;
        if (ks_distance(x, y) >= observed - 1e-12) hits += 1.0;
    }
    return hits / all;
}

double normal(cascade_test::Lcg& random) {
    const double u = 1.0 - random.unit();
    const double v = random.unit();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

// Log-probability-like confidences: rounded (so many ties), with -inf and missing ones.
std::vector<double> confidences(cascade_test::Lcg& random, std::size_t n, double shift = 0.0) {
    std::vector<double> out;
    for (std::size_t i = 0; i < n; ++i) {
        const double u = random.unit();
        if (u < 0.05) {
            out.push_back(missing);
        } else if (u < 0.15) {
            out.push_back(-inf);
        } else {
            out.push_back(std::round((normal(random) + shift) * 4.0) / 4.0 - 3.0);
        }
    }
    return out;
}

std::vector<std::size_t> multinomial(cascade_test::Lcg& random, std::size_t n, const std::vector<double>& shares) {
    std::vector<std::size_t> counts(shares.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
        double u = random.unit();
        std::size_t c = 0;
        while (c + 1 < shares.size() && u >= shares[c]) u -= shares[c++];
        ++counts[c];
    }
    return counts;
}

// A two-sided binomial bound: the most rejections `alpha` x `runs` can plausibly differ by, at
// four standard deviations (a chance of about 6e-5 of a false failure per check).
double binomial_slack(double alpha, double runs) { return 4.0 * std::sqrt(alpha * (1.0 - alpha) / runs); }

}  // namespace

TEST_CASE("the Kolmogorov tail matches the table's critical values") {
    // Smirnov's table: P(K > 1.2238) = 0.10, P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01, and
    // P(K <= 1) = 0.7300003.
    CHECK(cascade::detail::kolmogorov_upper_tail(1.2238) == Approx(0.10).margin(2e-4));
    CHECK(cascade::detail::kolmogorov_upper_tail(1.3581) == Approx(0.05).margin(1e-4));
    CHECK(cascade::detail::kolmogorov_upper_tail(1.6276) == Approx(0.01).margin(1e-4));
    CHECK(cascade::detail::kolmogorov_upper_tail(1.0) == Approx(1.0 - 0.7300003).margin(1e-6));
    // Where the two series meet, they agree.
    CHECK(cascade::detail::kolmogorov_upper_tail(1.18 - 1e-12) ==
          Approx(cascade::detail::kolmogorov_upper_tail(1.18 + 1e-12)).margin(1e-12));
    CHECK(cascade::detail::kolmogorov_upper_tail(0.0) == 1.0);
    CHECK(cascade::detail::kolmogorov_upper_tail(0.1) == Approx(1.0).margin(1e-12));
}

TEST_CASE("the exact KS p-value of equal samples without ties matches Gnedenko and Korolyuk's closed form") {
    // Completely separated samples of 5: D = 1, P = 2 / C(10, 5).
    const auto separated = cascade::confidence_shift_test({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
    CHECK(separated.statistic == 1.0);
    CHECK(separated.method == "exact permutation");
    CHECK(separated.p_value == Approx(2.0 / 252.0).epsilon(1e-12));

    cascade_test::Lcg random(42);
    for (const int n : {8, 20, 60}) {
        std::vector<double> a;
        std::vector<double> b;
        for (int i = 0; i < n; ++i) a.push_back(normal(random));
        for (int i = 0; i < n; ++i) b.push_back(normal(random) + 0.4);
        const auto t = cascade::confidence_shift_test(a, b);
        const double d = ks_distance(a, b);
        const int k = static_cast<int>(std::lround(d * n));
        CHECK(t.statistic == Approx(d).epsilon(1e-12));
        CHECK(t.p_value == Approx(gnedenko_korolyuk(n, k)).epsilon(1e-10));
        CHECK(t.tested);
    }
}

TEST_CASE("the exact KS p-value with ties, -inf and missing values matches brute-force enumeration") {
    // Two values only: D is the gap in the share of the lower one, and P(D >= 1/2) for 4 + 4
    // values, 4 of each kind, is that of a hypergeometric count of 0, 1, 3 or 4: 34/70 (the tea
    // tasting table).
    CHECK(cascade::confidence_shift_test({0, 0, 0, 1}, {1, 1, 1, 0}).p_value == Approx(34.0 / 70.0).epsilon(1e-12));
    CHECK(cascade::confidence_shift_test({missing, missing, missing, -inf}, {-inf, -inf, -inf, missing}).p_value ==
          Approx(34.0 / 70.0).epsilon(1e-12));
    CHECK(cascade::confidence_shift_test({-inf, -inf, -inf, 2.5}, {2.5, 2.5, 2.5, -inf}).p_value ==
          Approx(34.0 / 70.0).epsilon(1e-12));
    // Missing sorts below -inf, -inf below every number, inf above.
    const std::vector<std::vector<double>> as = {
        {missing, -inf, -inf, 0.5, 0.5, inf},
        {0.0, 0.0, 0.0, 1.0, 1.0, 2.0},
        {missing, missing, 1.0, 1.0, -inf},
        {-inf, -inf, -inf},
    };
    const std::vector<std::vector<double>> bs = {
        {missing, missing, missing, -inf, 0.5, 0.5, 1.0, inf},
        {0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0},
        {-inf, -inf, 1.0, 1.0, 2.0, 2.0, missing, -inf, 3.0},
        {-inf, 0.0, -inf, -inf, -inf, 1.0},
    };
    for (std::size_t i = 0; i < as.size(); ++i) {
        const auto t = cascade::confidence_shift_test(as[i], bs[i]);
        CHECK(t.statistic == Approx(ks_distance(as[i], bs[i])).epsilon(1e-12));
        CHECK(t.p_value == Approx(brute_force_ks_p(as[i], bs[i])).epsilon(1e-10));
        CHECK(t.reference_size == as[i].size());
        CHECK(t.other_size == bs[i].size());
    }
}

TEST_CASE("the KS test reports the shares of missing and -inf confidences") {
    const auto t = cascade::confidence_shift_test({missing, -inf, -inf, 1.0}, {1.0, 2.0, missing, 3.0, 4.0});
    CHECK(t.reference_missing == 0.25);
    CHECK(t.reference_minus_inf == 0.5);
    CHECK(t.other_missing == 0.2);
    CHECK(t.other_minus_inf == 0.0);
}

TEST_CASE("the asymptotic KS p-value agrees with the exact one on large samples and errs high with ties") {
    cascade_test::Lcg random(7);
    std::vector<double> a;
    std::vector<double> b;
    for (int i = 0; i < 500; ++i) a.push_back(normal(random));
    for (int i = 0; i < 700; ++i) b.push_back(normal(random) + 0.15);
    const auto exact = cascade::confidence_shift_test(a, b);
    const auto asymptotic = cascade::confidence_shift_test(a, b, 0);
    CHECK(exact.method == "exact permutation");
    CHECK(asymptotic.method == "asymptotic Kolmogorov");
    CHECK(exact.statistic == asymptotic.statistic);
    CHECK(asymptotic.p_value == Approx(exact.p_value).margin(0.01));

    // Heavy ties (a third of each sample missing or -inf): the continuous approximation is
    // conservative.
    const std::vector<double> ta = confidences(random, 400);
    const std::vector<double> tb = confidences(random, 400, 0.2);
    const auto tied_exact = cascade::confidence_shift_test(ta, tb);
    const auto tied_asymptotic = cascade::confidence_shift_test(ta, tb, 0);
    CHECK(tied_asymptotic.p_value >= tied_exact.p_value);
}

TEST_CASE("the chi-square tail matches closed forms and the table's critical values") {
    using cascade::detail::chi_square_upper_tail;
    // Two degrees of freedom: exp(-x/2); one: erfc(sqrt(x/2)); four: exp(-x/2) (1 + x/2).
    for (const double x : {0.1, 0.5, 3.0, 10.0, 40.0, 100.0}) {
        CHECK(chi_square_upper_tail(x, 2) == Approx(std::exp(-x / 2)).epsilon(1e-12));
        CHECK(chi_square_upper_tail(x, 1) == Approx(std::erfc(std::sqrt(x / 2))).epsilon(1e-10));
        CHECK(chi_square_upper_tail(x, 4) == Approx(std::exp(-x / 2) * (1 + x / 2)).epsilon(1e-12));
    }
    CHECK(chi_square_upper_tail(3.841459, 1) == Approx(0.05).epsilon(1e-6));
    CHECK(chi_square_upper_tail(5.991465, 2) == Approx(0.05).epsilon(1e-6));
    CHECK(chi_square_upper_tail(7.814728, 3) == Approx(0.05).epsilon(1e-6));
    CHECK(chi_square_upper_tail(11.344867, 3) == Approx(0.01).epsilon(1e-6));
    CHECK(chi_square_upper_tail(23.209251, 10) == Approx(0.01).epsilon(1e-6));
    CHECK(chi_square_upper_tail(0.0, 3) == 1.0);
}

TEST_CASE("the tier-share test computes Pearson's statistic of a textbook table") {
    // Rows (20, 30, 50) and (30, 30, 40): expected 25, 30, 45 in each row, so
    // X^2 = 2 (25/25 + 0 + 25/45) = 28/9 on 2 degrees of freedom, p = exp(-14/9).
    const auto t = cascade::tier_share_test({20, 30, 50}, {30, 30, 40});
    CHECK(t.tested);
    CHECK(t.method == "chi-square");
    CHECK(t.statistic == Approx(28.0 / 9.0).epsilon(1e-12));
    CHECK(t.degrees_of_freedom == 2);
    CHECK(t.p_value == Approx(std::exp(-14.0 / 9.0)).epsilon(1e-10));
    CHECK(t.reference_size == 100);
    CHECK(t.other_size == 100);
    CHECK(t.reference_shares == std::vector<double>{0.2, 0.3, 0.5});
    CHECK(t.other_shares == std::vector<double>{0.3, 0.3, 0.4});
}

TEST_CASE("the tier-share test is exact for small counts") {
    // Fisher's tea tasting: (3, 1) against (1, 3), two-sided p = 34/70.
    const auto tea = cascade::tier_share_test({3, 1}, {1, 3});
    CHECK(tea.method == "exact Freeman-Halton");
    CHECK(tea.p_value == Approx(34.0 / 70.0).epsilon(1e-9));

    // A 2 x 3 table against the sum over every table with its margins, written out here.
    const std::vector<std::size_t> a = {2, 0, 3};
    const std::vector<std::size_t> b = {0, 4, 1};
    const int columns[3] = {2, 4, 4};
    const int first = 5;
    const int total = 10;
    auto probability = [&](int x0, int x1, int x2) {
        return choose(columns[0], x0) * choose(columns[1], x1) * choose(columns[2], x2) / choose(total, first);
    };
    const double observed = probability(2, 0, 3);
    double p = 0.0;
    for (int x0 = 0; x0 <= columns[0]; ++x0) {
        for (int x1 = 0; x1 <= columns[1]; ++x1) {
            const int x2 = first - x0 - x1;
            if (x2 < 0 || x2 > columns[2]) continue;
            const double q = probability(x0, x1, x2);
            if (q <= observed * (1 + 1e-9)) p += q;
        }
    }
    const auto t = cascade::tier_share_test(a, b);
    CHECK(t.method == "exact Freeman-Halton");
    CHECK(t.degrees_of_freedom == 2);
    CHECK(t.p_value == Approx(p).epsilon(1e-9));
}

TEST_CASE("p-values are uniform under the null: rejections at 0.05 stay within a binomial bound") {
    cascade_test::Lcg random(2024);
    const double runs = 2000;
    double ks_rejections = 0;
    double share_rejections = 0;
    double verdicts = 0;
    for (int r = 0; r < static_cast<int>(runs); ++r) {
        // Unequal sizes, so that D takes many values and the exact test's discreteness is small.
        const auto a = confidences(random, 60);
        const auto b = confidences(random, 83);
        if (cascade::confidence_shift_test(a, b).p_value <= 0.05) ++ks_rejections;
        const auto ca = multinomial(random, 200, {0.6, 0.3, 0.1});
        const auto cb = multinomial(random, 150, {0.6, 0.3, 0.1});
        if (cascade::tier_share_test(ca, cb).p_value <= 0.05) ++share_rejections;
        cascade::ShiftSample x{{a, confidences(random, 40)}, ca, {}};
        cascade::ShiftSample y{{b, confidences(random, 30)}, cb, {}};
        x.answered.pop_back();
        y.answered.pop_back();
        cascade::ShiftOptions o;
        o.alpha = 0.05;
        if (cascade::check_shift(x, y, o).premise_in_doubt) ++verdicts;
    }
    INFO("KS rejections " << ks_rejections << ", share rejections " << share_rejections << ", verdicts " << verdicts);
    CHECK(std::fabs(ks_rejections / runs - 0.05) <= binomial_slack(0.05, runs));
    CHECK(std::fabs(share_rejections / runs - 0.05) <= binomial_slack(0.05, runs));
    // Holm keeps the family-wise level (conservatively: it may be well under).
    CHECK(verdicts / runs <= 0.05 + binomial_slack(0.05, runs));
}

TEST_CASE("a clear shift is detected") {
    cascade_test::Lcg random(99);
    const auto a = confidences(random, 300);
    const auto b = confidences(random, 300, 0.6);
    const auto t = cascade::confidence_shift_test(a, b);
    CHECK(t.p_value < 1e-6);

    // More missing confidences alone (5% -> 37%) is a shift too.
    std::vector<double> c = confidences(random, 300);
    for (std::size_t i = 0; i < c.size(); i += 3) c[i] = missing;
    CHECK(cascade::confidence_shift_test(a, c).p_value < 1e-6);

    // Drawn one after the other: the order of a call's arguments is unspecified.
    const auto before = multinomial(random, 500, {0.6, 0.3, 0.1});
    const auto after = multinomial(random, 500, {0.4, 0.4, 0.2});
    const auto shares = cascade::tier_share_test(before, after);
    CHECK(shares.p_value < 1e-6);

    cascade::ShiftSample x{{a, confidences(random, 100)}, {200, 100}, {"mini", "big"}};
    cascade::ShiftSample y{{b, confidences(random, 100)}, {200, 100}, {"mini", "big"}};
    const auto report = cascade::check_shift(x, y);
    CHECK(report.premise_in_doubt);
    REQUIRE(report.tests.size() == 3);
    CHECK(report.tests_made == 3);
    CHECK(report.tests[0].name == "confidences of mini (tier 1)");
    CHECK(report.tests[0].shifted);
    CHECK_FALSE(report.tests[2].shifted);  // the same shares on both sides
    CHECK(report.shifted().size() == 1);
    CHECK(report.p_value == Approx(std::min(1.0, 3 * report.tests[0].p_value)).epsilon(1e-12));
}

TEST_CASE("Holm's adjustment is applied over the tests made only") {
    std::vector<cascade::ShiftTest> tests(4);
    const double p[] = {0.04, 0.01, 0.03, 0.5};
    for (std::size_t i = 0; i < 3; ++i) {
        tests[i].tested = true;
        tests[i].p_value = p[i];
    }
    tests[3].p_value = p[3];  // not tested: left out of the count
    const auto r = cascade::combine_shift_tests(tests, 0.05);
    CHECK(r.tests_made == 3);
    // Sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03; max(0.03, 2 x 0.03) = 0.06; max(0.06, 0.04) = 0.06.
    CHECK(r.tests[1].adjusted_p_value == Approx(0.03));
    CHECK(r.tests[2].adjusted_p_value == Approx(0.06));
    CHECK(r.tests[0].adjusted_p_value == Approx(0.06));
    CHECK(r.tests[3].adjusted_p_value == 1.0);
    CHECK(r.p_value == Approx(0.03));
    CHECK(r.premise_in_doubt);
    CHECK(r.tests[1].shifted);
    CHECK_FALSE(r.tests[0].shifted);
    CHECK_FALSE(cascade::combine_shift_tests(tests, 0.01).premise_in_doubt);
}

TEST_CASE("tiny and empty samples give a clear result, never NaN") {
    const auto empty = cascade::confidence_shift_test({}, {1.0, 2.0});
    CHECK_FALSE(empty.tested);
    CHECK(empty.reason == "not enough data: no confidences on the reference side");
    CHECK(empty.p_value == 1.0);
    CHECK(empty.statistic == 0.0);
    CHECK(cascade::confidence_shift_test({1.0}, {}).reason == "not enough data: no confidences on the other side");

    const auto one_each = cascade::confidence_shift_test({1.0}, {2.0});
    CHECK(one_each.tested);
    CHECK(one_each.statistic == 1.0);
    CHECK(one_each.p_value == 1.0);  // either split gives D = 1

    const auto all_missing = cascade::confidence_shift_test({missing, missing}, {missing});
    CHECK(all_missing.tested);
    CHECK(all_missing.statistic == 0.0);
    CHECK(all_missing.p_value == 1.0);

    const auto one_tier = cascade::tier_share_test({5, 0}, {7, 0});
    CHECK_FALSE(one_tier.tested);
    CHECK(one_tier.reason.find("not enough data") == 0);
    CHECK_FALSE(cascade::tier_share_test({0, 0}, {3, 4}).tested);

    cascade::ShiftSample nothing{{{}, {}}, {0, 0}, {}};
    const auto report = cascade::check_shift(nothing, nothing);
    CHECK_FALSE(report.enough_data());
    CHECK_FALSE(report.premise_in_doubt);
    CHECK(report.p_value == 1.0);
    for (const auto& t : report.tests) {
        CHECK_FALSE(std::isnan(t.p_value));
        CHECK_FALSE(std::isnan(t.statistic));
    }
}

TEST_CASE("the shift check refuses samples of different chains and a bad alpha") {
    cascade::ShiftSample two{{{1.0}, {2.0}}, {1, 0}, {}};
    cascade::ShiftSample three{{{1.0}, {2.0}, {3.0}}, {1, 0, 0}, {}};
    cascade::ShiftSample ragged{{{1.0}}, {1, 0}, {}};
    CHECK_THROWS_AS(cascade::check_shift(two, three), std::invalid_argument);
    CHECK_THROWS_AS(cascade::check_shift(two, ragged), std::invalid_argument);
    CHECK_THROWS_AS(cascade::tier_share_test({1, 2}, {1}), std::invalid_argument);
    cascade::ShiftOptions o;
    o.alpha = 0.0;
    CHECK_THROWS_AS(cascade::check_shift(two, two, o), std::invalid_argument);
    o.alpha = 1.0;
    CHECK_THROWS_AS(cascade::check_shift(two, two, o), std::invalid_argument);
}

TEST_CASE("shift_sample follows the replay: each tier sees the queries that reached it") {
    const auto table = table_of(cascade_test::tiered_outcomes(200, 5, [](cascade_test::Lcg& random) {
        const std::uint32_t c = random.next() % 12;
        return c == 11 ? std::string() : std::to_string(static_cast<double>(c) / 10.0);
    }));
    const std::vector<std::string> chain = {"tiny", "mid", "large"};
    const std::vector<double> thresholds = {0.7, 0.4};
    const auto s = cascade::shift_sample(table, chain, thresholds);
    const auto replay = cascade::replay_cascade(table, chain, thresholds);
    REQUIRE(s.answered.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(static_cast<double>(s.answered[i]) == Approx(replay.answered[i] * 200.0));
        CHECK(static_cast<double>(s.confidences[i].size()) == Approx(replay.called[i] * 200.0));
    }
    // Every first-tier confidence passed on was below the threshold or missing.
    std::size_t passed_on = 0;
    for (const double c : s.confidences[0]) passed_on += !(c >= 0.7) ? 1 : 0;
    CHECK(passed_on == s.confidences[1].size());
    CHECK(s.models == chain);
    CHECK_THROWS_AS(cascade::shift_sample(table, chain, {0.5}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::shift_sample(table, {"tiny", "nope"}, {0.5}), std::invalid_argument);
}

TEST_CASE("shift_sample_from_trace reads what an OutcomeSink recorded") {
    std::istringstream in(
        "query_id,model,quality,cost,confidence\n"
        "a,mini,,0.001,0.9\n"
        "b,mini,,0.001,0.2\n"
        "b,big,,0.01,\n"
        "c,mini,,0.001,-inf\n"
        "c,big,,0.01,0.5\n");
    cascade::ReadOptions ro;
    ro.allow_unlabelled = true;
    const auto log = cascade::read_outcomes_csv(in, "live.csv", ro);
    const auto s = cascade::shift_sample_from_trace(log, {"mini", "big"});
    CHECK(s.answered == std::vector<std::size_t>{1, 2});
    REQUIRE(s.confidences[0].size() == 3);
    CHECK(s.confidences[0][0] == 0.9);
    CHECK(s.confidences[0][2] == -inf);
    REQUIRE(s.confidences[1].size() == 2);
    CHECK(std::isnan(s.confidences[1][0]));

    try {
        (void)cascade::shift_sample_from_trace(log, {"mini", "huge"});
        FAIL("a model outside the chain was accepted");
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()).find("live.csv:4") != std::string::npos);
        CHECK(std::string(e.what()).find("\"big\" is not a tier of the chain mini>huge") != std::string::npos);
    }
    // The readers refuse a repeated (query, model); a log built in code may have one.
    cascade::OutcomeLog twice;
    twice.source = "built";
    twice.rows.resize(2);
    twice.rows[0].query_id = twice.rows[1].query_id = "q";
    twice.rows[0].model = twice.rows[1].model = "mini";
    CHECK_THROWS_AS(cascade::shift_sample_from_trace(twice, {"mini"}), cascade::ParseError);
}
