#include "catch.hpp"

#include <cascade/eval/detail/auroc.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

using cascade::detail::auroc;

namespace {

// The definition itself: pairs where the positive scores higher, ties counting half.
double by_pairs(const std::vector<double>& s, const std::vector<bool>& y) {
    double wins = 0.0, pairs = 0.0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        for (std::size_t j = 0; j < s.size(); ++j) {
            if (!y[i] || y[j]) continue;
            pairs += 1.0;
            wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        }
    }
    return wins / pairs;
}

}  // namespace

TEST_CASE("auroc is 1 for a perfect ranking, 0 for a reversed one, 0.5 when all tie") {
    CHECK(auroc({0.1, 0.2, 0.8, 0.9}, {false, false, true, true}) == 1.0);
    CHECK(auroc({0.9, 0.8, 0.2, 0.1}, {false, false, true, true}) == 0.0);
    CHECK(auroc({0.5, 0.5, 0.5}, {true, false, true}) == 0.5);
}

TEST_CASE("auroc counts ties as half and equals the pairwise definition on random data") {
    CHECK(auroc({0.1, 0.5, 0.5, 0.9}, {false, true, false, true}) == Approx(0.875));
    std::mt19937 rng(99);
    for (int round = 0; round < 20; ++round) {
        std::vector<double> s;
        std::vector<bool> y;
        for (int i = 0; i < 60; ++i) {
            s.push_back(static_cast<double>(rng() % 7));  // many ties
            y.push_back(rng() % 3 == 0);
        }
        y[0] = true;
        y[1] = false;
        REQUIRE(auroc(s, y) == Approx(by_pairs(s, y)));
    }
}

TEST_CASE("auroc takes infinite scores and refuses NaN, size mismatch and one class") {
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(auroc({-inf, -inf, 0.0, inf}, {false, true, true, true}) == Approx(by_pairs({-inf, -inf, 0.0, inf}, {false, true, true, true})));
    CHECK_THROWS_AS(auroc({0.1, std::numeric_limits<double>::quiet_NaN()}, {true, false}), std::invalid_argument);
    CHECK_THROWS_AS(auroc({0.1, 0.2}, {true}), std::invalid_argument);
    CHECK_THROWS_AS(auroc({0.1, 0.2}, {true, true}), std::invalid_argument);
    CHECK_THROWS_AS(auroc({}, {}), std::invalid_argument);
}
