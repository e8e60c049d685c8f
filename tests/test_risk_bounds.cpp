#include "catch.hpp"

#include <cascade/eval/detail/risk_bounds.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

namespace {

using cascade::detail::WeightedValue;

// A fixed-seed generator: the coverage checks below must give the same verdict on every run.
struct Random {
    std::uint64_t state;
    double unit() {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    }
};

// A quality loss as calibration sees it: 0 for most queries, a loss (+1) or a gain (-1) on a few.
struct Ternary {
    double loss;
    double gain;
    [[nodiscard]] double mean() const { return loss - gain; }
};

std::vector<WeightedValue> draw(const Ternary& d, std::size_t n, Random& random) {
    double losses = 0;
    double gains = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double u = random.unit();
        if (u < d.loss) {
            losses += 1;
        } else if (u < d.loss + d.gain) {
            gains += 1;
        }
    }
    return {{1.0, losses}, {-1.0, gains}, {0.0, static_cast<double>(n) - losses - gains}};
}

using Bound = std::function<double(const std::vector<WeightedValue>&, double delta)>;

// The share of samples whose upper bound falls below the true mean.
double miss_rate(const Bound& bound, const Ternary& d, std::size_t n, double delta, int reps) {
    Random random{12345};
    int misses = 0;
    for (int r = 0; r < reps; ++r) misses += bound(draw(d, n, random), delta) < d.mean() ? 1 : 0;
    return static_cast<double>(misses) / reps;
}

const Bound betting = [](const std::vector<WeightedValue>& s, double delta) {
    return cascade::detail::betting_upper_bound(s, -1.0, 1.0, delta);
};
const Bound bernstein = [](const std::vector<WeightedValue>& s, double delta) {
    return cascade::detail::bernstein_upper_bound(s, -1.0, 1.0, delta);
};
const Bound kl = [](const std::vector<WeightedValue>& s, double delta) {
    double n = 0;
    double sum = 0;
    for (const auto& v : s) {
        n += v.weight;
        sum += v.weight * v.value;
    }
    const double x = cascade::detail::kl_upper_bound((sum / n + 1.0) / 2.0, static_cast<std::size_t>(n), delta);
    return 2.0 * x - 1.0;
};

// Each bound with its width (above the sample mean) cut by a factor: must miss too often.
Bound narrowed(const Bound& b, double factor) {
    return [b, factor](const std::vector<WeightedValue>& s, double delta) {
        double n = 0;
        double sum = 0;
        for (const auto& v : s) {
            n += v.weight;
            sum += v.weight * v.value;
        }
        const double mean = sum / n;
        return mean + (b(s, delta) - mean) / factor;
    };
}

}  // namespace

TEST_CASE("each bound covers the true mean at least 1 - delta of the time, and a narrowed one does not") {
    // Mostly zeros, a positive mean: the regime of a cascade that mostly answers as the reference.
    const Ternary d{0.06, 0.03};
    const double delta = 0.1;
    const int reps = 2000;
    const std::size_t n = 200;
    for (const Bound& b : {betting, bernstein, kl}) {
        // Three standard errors of slack over delta for 2000 repetitions.
        CHECK(miss_rate(b, d, n, delta, reps) <= delta + 0.02);
    }
    // Each is conservative, but not so much that a bound half as wide would still cover: the
    // test can tell a broken bound.
    CHECK(miss_rate(narrowed(betting, 2.5), d, n, delta, reps) > delta + 0.02);
    CHECK(miss_rate(narrowed(kl, 8.0), d, n, delta, reps) > delta + 0.02);
    CHECK(miss_rate(narrowed(bernstein, 8.0), d, n, delta, reps) > delta + 0.02);
}

TEST_CASE("the betting bound is tighter than KL and Bernstein where most values are zero") {
    const std::vector<WeightedValue> s = {{1.0, 12}, {-1.0, 6}, {0.0, 282}};
    const double b = betting(s, 0.1);
    CHECK(b > 6.0 / 300.0);
    CHECK(b < kl(s, 0.1));
    CHECK(b < bernstein(s, 0.1));
}

TEST_CASE("the bounds grow as delta shrinks and as the losses grow, and shrink with more samples") {
    for (const Bound& b : {betting, bernstein, kl}) {
        const std::vector<WeightedValue> s = {{1.0, 10}, {-1.0, 5}, {0.0, 185}};
        CHECK(b(s, 0.01) > b(s, 0.1));
        CHECK(b(s, 0.1) > b(s, 0.5));
        const std::vector<WeightedValue> worse = {{1.0, 14}, {-1.0, 5}, {0.0, 181}};
        CHECK(b(worse, 0.1) > b(s, 0.1));
        const std::vector<WeightedValue> more = {{1.0, 40}, {-1.0, 20}, {0.0, 740}};
        CHECK(b(more, 0.1) < b(s, 0.1));
    }
}

TEST_CASE("the bounds at the edges: no samples, all zeros, delta near 0 and 1") {
    using cascade::detail::betting_upper_bound;
    using cascade::detail::bernstein_upper_bound;
    CHECK(betting_upper_bound({}, -1.0, 1.0, 0.1) == 1.0);
    CHECK(bernstein_upper_bound(std::vector<WeightedValue>{}, -1.0, 1.0, 0.1) == 1.0);
    CHECK(cascade::detail::kl_upper_bound(0.0, 0, 0.1) == 1.0);
    // All zeros: the bound is above 0 and falls with n.
    const double b100 = betting_upper_bound({{0.0, 100}}, -1.0, 1.0, 0.1);
    const double b1000 = betting_upper_bound({{0.0, 1000}}, -1.0, 1.0, 0.1);
    CHECK(b100 > 0.0);
    CHECK(b1000 < b100);
    // delta near 0: near the top of the range; near 1: near the sample mean.
    CHECK(betting_upper_bound({{0.0, 100}}, -1.0, 1.0, 1e-300) > 0.9);
    CHECK(betting_upper_bound({{0.0, 100}}, -1.0, 1.0, 1.0 - 1e-9) < 0.01);
    // Every value at the top: the bound is the top.
    CHECK(betting_upper_bound({{1.0, 50}}, -1.0, 1.0, 0.1) == Approx(1.0));
    CHECK(cascade::detail::betting_rejects({{0.0, 1000}}, -1.0, 1.0, 0.2, 0.1));
    CHECK_FALSE(cascade::detail::betting_rejects({{0.0, 1000}}, -1.0, 1.0, 0.0, 0.1));
}

TEST_CASE("the bounds refuse NaN, values outside the range and delta outside (0, 1)") {
    using cascade::detail::betting_upper_bound;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(betting_upper_bound({{nan, 1}}, -1.0, 1.0, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(betting_upper_bound({{0.0, nan}}, -1.0, 1.0, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(betting_upper_bound({{2.0, 1}}, -1.0, 1.0, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(betting_upper_bound({{0.0, 1}}, -1.0, 1.0, 0.0), std::invalid_argument);
    CHECK_THROWS_AS(betting_upper_bound({{0.0, 1}}, -1.0, 1.0, 1.0), std::invalid_argument);
    CHECK_THROWS_AS(betting_upper_bound({{0.0, 1}}, 1.0, 1.0, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(cascade::detail::bernstein_upper_bound(nan, 0.1, 100, -1.0, 1.0, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(cascade::detail::kl_upper_bound(nan, 10, 0.1), std::invalid_argument);
    CHECK_THROWS_AS(cascade::detail::kl_upper_bound(0.5, 10, nan), std::invalid_argument);
}

namespace {

std::vector<double> draw_sequence(const Ternary& d, std::size_t n, Random& random) {
    std::vector<double> out;
    for (std::size_t i = 0; i < n; ++i) {
        const double u = random.unit();
        out.push_back(u < d.loss ? 1.0 : u < d.loss + d.gain ? -1.0 : 0.0);
    }
    return out;
}

// The share of sequences whose sequential upper bound, steered by `prior`, falls below the true
// mean, with the bound widened (factor > 1) or narrowed (< 1) around the sample mean.
double sequence_miss_rate(const std::vector<WeightedValue>& prior, const Ternary& d, std::size_t n, double delta, int reps,
                          double narrow = 1.0) {
    Random random{777};
    int misses = 0;
    for (int r = 0; r < reps; ++r) {
        const std::vector<double> xs = draw_sequence(d, n, random);
        double mean = 0.0;
        for (const double x : xs) mean += x / static_cast<double>(n);
        const cascade::detail::BettingSequence s(prior, xs, -1.0, 1.0, 0.0, 0.7);
        const double bound = mean + (s.upper_bound(delta) - mean) / narrow;
        misses += bound < d.mean() ? 1 : 0;
    }
    return static_cast<double>(misses) / reps;
}

}  // namespace

TEST_CASE("the sequential betting bound covers the true mean whatever its prior says, and a narrowed one does not") {
    const Ternary d{0.06, 0.03};
    const double delta = 0.1;
    const int reps = 2000;
    const std::size_t n = 200;
    // A prior that flatters (no losses at all), one that matches, and none.
    const std::vector<WeightedValue> flattering = {{-1.0, 30}, {0.0, 270}};
    const std::vector<WeightedValue> matching = {{1.0, 18}, {-1.0, 9}, {0.0, 273}};
    for (const auto& prior : {flattering, matching, std::vector<WeightedValue>{}}) {
        CHECK(sequence_miss_rate(prior, d, n, delta, reps) <= delta + 0.02);
    }
    CHECK(sequence_miss_rate(flattering, d, n, delta, reps, 2.5) > delta + 0.02);
}

TEST_CASE("the sequential betting test: a good prior certifies sooner, and evidence counts wherever it peaks") {
    using cascade::detail::BettingSequence;
    std::vector<double> good(300, 0.0);
    for (std::size_t i = 0; i < good.size(); i += 10) good[i] = -1.0;  // mean -0.1
    const BettingSequence steered({{-1.0, 10}, {0.0, 90}}, good, -1.0, 1.0, 0.0, 0.7);
    const BettingSequence misled({{1.0, 20}, {0.0, 80}}, good, -1.0, 1.0, 0.0, 0.7);
    CHECK(steered.rejects(0.0, 0.1));
    CHECK(steered.upper_bound(0.1) < misled.upper_bound(0.1));
    // The bound is where the test turns: rejected just above it, not just below.
    const double b = steered.upper_bound(0.1);
    CHECK(steered.rejects(b + 1e-6, 0.1));
    CHECK_FALSE(steered.rejects(b - 1e-6, 0.1));
    // Gains first, then more losses (a mean of +0.2 in all): the wealth peaks after the gains and
    // that peak is evidence (Ville's inequality holds at every point of the sequence), which the
    // whole sample's mean no longer shows.
    std::vector<double> peaked(60, -1.0);
    peaked.insert(peaked.end(), 90, 1.0);
    const BettingSequence early({{-1.0, 50}, {0.0, 50}}, peaked, -1.0, 1.0, 0.0, 0.7);
    CHECK(early.rejects(0.0, 0.1));
    CHECK_FALSE(cascade::detail::betting_rejects({{-1.0, 60}, {1.0, 90}}, -1.0, 1.0, 0.0, 0.1));
}

TEST_CASE("the growth-optimal wager is the best of a fine grid, and 0 when nothing gains") {
    using cascade::detail::growth_optimal_wager;
    const std::vector<WeightedValue> scaled = {{1.0, 5}, {0.0, 12}, {0.5, 83}};  // mean 0.445, below 0.5
    const double m = 0.5;
    const double c = growth_optimal_wager(scaled, m, 0.95);
    auto log_wealth = [&](double w) {
        double sum = 0.0;
        for (const auto& v : scaled) sum += v.weight * std::log1p(w * (m - v.value) / (1.0 - m));
        return sum;
    };
    double best = 0.0;
    for (int i = 0; i <= 9500; ++i) {
        const double w = i / 10000.0;
        if (log_wealth(w) > log_wealth(best)) best = w;
    }
    CHECK(c == Approx(best).margin(2e-4));
    CHECK(growth_optimal_wager({{0.6, 10}}, m, 0.95) == 0.0);
    CHECK(growth_optimal_wager({{0.0, 10}}, m, 0.95) == 0.95);  // every sample gains: the most allowed
}

TEST_CASE("the sequential betting test refuses NaN and values outside the range, naming them") {
    using cascade::detail::BettingSequence;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(BettingSequence({}, {0.0, nan}, -1.0, 1.0, 0.0, 0.7), Catch::Contains("sample value nan"));
    CHECK_THROWS_WITH(BettingSequence({}, {1.5}, -1.0, 1.0, 0.0, 0.7), Catch::Contains("outside [-1, 1]"));
    CHECK_THROWS_AS(BettingSequence({{nan, 1}}, {}, -1.0, 1.0, 0.0, 0.7), std::invalid_argument);
}
