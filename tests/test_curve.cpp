#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/eval/curve.hpp>
#include <cascade/detail/number.hpp>

#include <cmath>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Every sum is exact (see tiered_outcomes), so the grid's prefix sums and a replay's running sums
// agree with ==. Confidences take `levels` values, 0, -0.25, -0.5, ... (log-probabilities), or are
// missing.
std::string random_fixture(std::size_t queries, std::uint64_t seed, std::size_t levels) {
    return cascade_test::tiered_outcomes(queries, seed, [levels](cascade_test::Lcg& random) {
        const std::uint32_t c = random.next() % static_cast<std::uint32_t>(levels + 1);
        return c == levels ? std::string() : cascade::detail::format_number(-static_cast<double>(c) / 4.0);
    });
}

}  // namespace

TEST_CASE("each curve point is what replay gives with its thresholds") {
    const auto t = table_of(random_fixture(250, 3, 12));
    for (const std::vector<std::string>& chain :
         {std::vector<std::string>{"tiny", "large"}, std::vector<std::string>{"tiny", "mid", "large"},
          std::vector<std::string>{"mid", "tiny", "large"}}) {
        const auto curve = cascade::cascade_curve(t, chain);
        // Few distinct confidences: every one is a candidate, for every tier but the last.
        std::size_t expected = 1;
        for (std::size_t i = 0; i + 1 < chain.size(); ++i) expected *= 12;
        REQUIRE(curve.size() == expected);
        for (const auto& p : curve) {
            const auto r = cascade::replay_cascade(t, chain, p.thresholds);
            CHECK(p.cost == r.cost);
            CHECK(p.quality == r.quality);
        }
    }
}

TEST_CASE("the sweep is capped at about max_points settings, at quantiles") {
    const auto t = table_of(random_fixture(400, 4, 60));
    cascade::CurveOptions o;
    o.max_points = 100;
    const auto two = cascade::cascade_curve(t, {"tiny", "large"}, o);
    CHECK(two.size() <= 100);
    CHECK(two.size() >= 50);
    const auto three = cascade::cascade_curve(t, {"tiny", "mid", "large"}, o);
    CHECK(three.size() <= 100);
    std::set<double> first;
    for (const auto& p : three) first.insert(p.thresholds[0]);
    CHECK(first.size() == 10);
}

TEST_CASE("a one-model chain is its single point") {
    const auto t = table_of("query_id,model,quality,cost\nq1,a,1,2\nq2,a,0,4\n");
    const auto c = cascade::cascade_curve(t, {"a"});
    REQUIRE(c.size() == 1);
    CHECK(c[0].cost == 3.0);
    CHECK(c[0].quality == 0.5);
    CHECK(c[0].thresholds.empty());
}

TEST_CASE("a tier before the last needs confidences") {
    const auto t = table_of("query_id,model,quality,cost,confidence\nq1,a,1,2,\nq1,b,1,3,0.5\n");
    CHECK_THROWS_AS(cascade::cascade_curve(t, {"a", "b"}), std::invalid_argument);
    CHECK(cascade::cascade_curve(t, {"b", "a"}).size() == 1);
}

TEST_CASE("the Pareto frontier keeps only points no cheaper point matches") {
    const std::vector<cascade::CostQuality> pts{{3, 0.9}, {1, 0.5}, {2, 0.4}, {2, 0.7}, {4, 0.9}, {1, 0.6}, {5, 0.95}};
    const auto f = cascade::pareto_frontier(pts);
    REQUIRE(f.size() == 4);
    CHECK(f[0].cost == 1);
    CHECK(f[0].quality == 0.6);
    CHECK(f[1].cost == 2);
    CHECK(f[1].quality == 0.7);
    CHECK(f[2].cost == 3);
    CHECK(f[3].cost == 5);
}

TEST_CASE("model points, oracle and random router") {
    const auto t = table_of(
        "query_id,model,quality,cost\n"
        "q1,cheap,1,1\nq1,dear,1,10\nq1,mid,1,4\n"
        "q2,cheap,0,1\nq2,dear,1,10\nq2,mid,1,4\n"
        "q3,cheap,0,1\nq3,dear,0,10\nq3,mid,0,4\n"
        "q4,cheap,0,1\nq4,dear,1,10\nq4,mid,0,4\n");
    const auto pts = cascade::model_points(t);
    REQUIRE(pts.size() == 3);
    CHECK(pts[0].model == "cheap");
    CHECK(pts[0].quality == 0.25);
    CHECK(pts[1].cost == 10.0);
    // Oracle: q1 cheap, q2 mid, q3 nobody right (cheapest), q4 dear.
    const auto o = cascade::oracle_point(t);
    CHECK(o.quality == 0.75);
    CHECK(o.cost == (1.0 + 4.0 + 1.0 + 10.0) / 4.0);
    const auto two = cascade::oracle_point(t, {"cheap", "mid"});
    CHECK(two.quality == 0.5);
    const auto line = cascade::random_router_curve({1.0, 0.25}, {10.0, 0.75}, 4);
    REQUIRE(line.size() == 5);
    CHECK(line[2].cost == 5.5);
    CHECK(line[2].quality == 0.5);
    // Lifts 0.4 and 0 (on the line); the weak model's own point is left out.
    const std::vector<cascade::CostQuality> pts2{{5.5, 0.6}, {5.5, 0.5}, {1.0, 0.25}};
    CHECK(*cascade::mean_ibc_lift(pts2, {1.0, 0.25}, {10.0, 0.75}) == approx(0.2));
    CHECK_FALSE(cascade::mean_ibc_lift(std::vector<cascade::CostQuality>{{1.0, 0.25}}, {1.0, 0.25}, {10.0, 0.75}).has_value());
}
