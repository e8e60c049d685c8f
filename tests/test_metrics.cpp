#include "catch.hpp"

#include <cascade/eval/metrics.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

using cascade::CostQuality;
using cascade::evaluate_router;

TEST_CASE("a router that ranks every gain first recovers the gap fastest") {
    // Queries 0 and 1 gain from the strong model, 2 and 3 do not.
    const std::vector<double> weak{0, 0, 1, 0};
    const std::vector<double> strong{1, 1, 1, 0};
    const auto e = evaluate_router(weak, strong, {0.9, 0.8, 0.2, 0.1});
    // PGR: 0 -> 0.5 at share 0.25 -> 1 at 0.5, then flat: area 0.125 + 0.375 + 0.5 = 0.875 + ...
    // 0.25*(0+0.5)/2 + 0.25*(0.5+1)/2 + 0.5*1 = 0.0625 + 0.1875 + 0.5 = 0.75
    CHECK(e.apgr == approx(0.75));
    CHECK(e.cpt50 == approx(0.25));
    CHECK(e.cpt80 == approx(0.25 + 0.25 * 0.6));
    REQUIRE(e.curve.size() == 5);
    CHECK(e.curve.front().strong_share == 0.0);
    CHECK(e.curve.front().quality == approx(0.25));
    CHECK(e.curve.back().strong_share == 1.0);
    CHECK(e.curve.back().quality == approx(0.75));
}

TEST_CASE("a reversed ranking recovers the gap last") {
    const std::vector<double> weak{0, 0, 1, 0};
    const std::vector<double> strong{1, 1, 1, 0};
    const auto e = evaluate_router(weak, strong, {0.1, 0.2, 0.8, 0.9});
    // PGR stays 0 up to share 0.5, then rises linearly to 1.
    CHECK(e.apgr == approx(0.25));
    CHECK(e.cpt50 == approx(0.75));
}

TEST_CASE("tied scores move together, which scores like a random router") {
    const std::vector<double> weak{0, 1, 0, 0, 1};
    const std::vector<double> strong{1, 1, 1, 0, 0};
    const auto e = evaluate_router(weak, strong, std::vector<double>(5, 0.3));
    CHECK(e.apgr == approx(0.5));
    CHECK(e.cpt50 == approx(0.5));
    CHECK(e.cpt80 == approx(0.8));
    REQUIRE(e.curve.size() == 2);
}

TEST_CASE("the result does not depend on the order of the queries") {
    const std::vector<double> weak{0, 1, 0, 0, 1, 0};
    const std::vector<double> strong{1, 1, 1, 0, 0, 1};
    const std::vector<double> scores{0.5, 0.5, 0.7, 0.2, 0.5, 0.9};
    const auto a = evaluate_router(weak, strong, scores);
    const std::vector<std::size_t> perm{5, 3, 0, 4, 2, 1};
    std::vector<double> w2, s2, sc2;
    for (std::size_t i : perm) {
        w2.push_back(weak[i]);
        s2.push_back(strong[i]);
        sc2.push_back(scores[i]);
    }
    const auto b = evaluate_router(w2, s2, sc2);
    CHECK(a.apgr == approx(b.apgr));
    CHECK(a.cpt50 == approx(b.cpt50));
    CHECK(a.cpt80 == approx(b.cpt80));
}

TEST_CASE("infinite scores are ranked, NaN and bad sizes are refused") {
    const std::vector<double> weak{0, 1};
    const std::vector<double> strong{1, 1};
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(evaluate_router(weak, strong, {inf, -inf}).apgr == approx(0.75));
    CHECK_THROWS_AS(evaluate_router(weak, strong, {std::nan(""), 0.0}), std::invalid_argument);
    CHECK_THROWS_AS(evaluate_router(weak, strong, {0.0}), std::invalid_argument);
    CHECK_THROWS_AS(evaluate_router({}, {}, {}), std::invalid_argument);
    CHECK_THROWS_AS(evaluate_router({std::nan("")}, {1.0}, {0.0}), std::invalid_argument);
    CHECK_THROWS_AS(evaluate_router({1.0, 0.0}, {0.0, 1.0}, {0.0, 1.0}), std::invalid_argument);
}

TEST_CASE("aiq is the area under the rising convex hull over the cost range") {
    // Two models and a point below their line: the hull is the line, area = mean quality.
    CHECK(cascade::aiq({{0.0, 0.5}, {1.0, 0.9}, {0.5, 0.6}}) == approx(0.7));
    // A point above the line lifts the hull: (0,0.5)-(0.5,0.9)-(1,0.9).
    CHECK(cascade::aiq({{0.0, 0.5}, {1.0, 0.9}, {0.5, 0.9}}) == approx((0.5 * 0.7 + 0.5 * 0.9)));
    // A dearer worse model does not pull the hull down.
    CHECK(cascade::aiq({{0.0, 0.5}, {0.5, 0.9}, {1.0, 0.6}}) == approx((0.5 * 0.7 + 0.5 * 0.9)));
    CHECK_THROWS_AS(cascade::aiq({{1.0, 0.5}}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::aiq({{1.0, 0.5}, {1.0, 0.6}}), std::invalid_argument);
}

TEST_CASE("ibc_lift compares benefit per cost with the line between the two models") {
    const CostQuality weak{1.0, 0.5};
    const CostQuality strong{3.0, 0.9};  // 0.2 quality per dollar
    CHECK(cascade::ibc_lift({2.0, 0.7}, weak, strong) == approx(0.0).margin(1e-12));
    CHECK(cascade::ibc_lift({2.0, 0.8}, weak, strong) == approx(0.5));
    CHECK(cascade::ibc_lift({2.0, 0.6}, weak, strong) == approx(-0.5));
    CHECK_THROWS_AS(cascade::ibc_lift({1.0, 0.6}, weak, strong), std::invalid_argument);
}

TEST_CASE("saving_at_target takes the cheapest point meeting the target") {
    const std::vector<CostQuality> pts{{1.0, 0.80}, {2.0, 0.95}, {3.0, 0.97}, {10.0, 1.0}};
    const CostQuality ref{10.0, 1.0};
    CHECK(*cascade::saving_at_target(pts, ref, 0.95) == approx(0.8));
    CHECK(*cascade::saving_at_target(pts, ref, 0.96) == approx(0.7));
    CHECK(*cascade::saving_at_target(pts, ref, 1.0) == approx(0.0));
    CHECK_FALSE(cascade::saving_at_target(pts, ref, 1.01).has_value());
}
