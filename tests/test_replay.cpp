#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/cascade.hpp>
#include <cascade/eval/replay.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A reproducible fixture with confidences in [0, 1], some missing and some exactly on the
// thresholds tried below; every sum is exact (see tiered_outcomes), so that replay and a real
// Cascade can be compared with ==.
std::string random_fixture(std::size_t queries, std::uint64_t seed) {
    return cascade_test::tiered_outcomes(queries, seed, [](cascade_test::Lcg& random) {
        const std::uint32_t c = random.next() % 22;
        return c == 21 ? std::string() : std::to_string(static_cast<double>(c) / 20.0);  // 0, 0.05, ..., 1
    });
}

struct Answer {
    double quality;
    double cost;
    double confidence;  // NaN when the log has none
};

// A model that answers from the table, as a real client would call an API.
auto model_of(const cascade::OutcomeTable& t, std::size_t m) {
    return [&t, m](std::size_t q) { return Answer{t.quality(m, q), t.cost(m, q), t.confidence(m, q)}; };
}
// The logged confidence as the verifier; NaN is a verifier error, which escalates.
double confidence_of(const Answer& a) { return a.confidence; }
auto cost_of() {
    return cascade::cost_from([](const Answer& a) { return a.cost; });
}

struct Totals {
    double quality = 0;
    double cost = 0;
    std::vector<std::size_t> tier;
    std::vector<std::size_t> called;
};

template <class C>
Totals run_all(C& c, const cascade::OutcomeTable& t, std::size_t tiers) {
    Totals out;
    out.called.assign(tiers, 0);
    for (std::size_t q = 0; q < t.query_count(); ++q) {
        auto r = c.run(q);
        out.quality += r.value().quality;
        out.cost += r.cost();
        out.tier.push_back(*r.tier_index());
        for (std::size_t i = 0; i < tiers; ++i) out.called[i] += r.trace()[i].called() ? 1u : 0u;
    }
    return out;
}

void check_same(const cascade::ReplayResult& r, const Totals& real, const cascade::OutcomeTable& t) {
    const double n = static_cast<double>(t.query_count());
    CHECK(r.answered_by == real.tier);
    CHECK(r.quality == real.quality / n);
    CHECK(r.total_cost == real.cost);
    for (std::size_t i = 0; i < real.called.size(); ++i) {
        CHECK(r.called[i] == static_cast<double>(real.called[i]) / n);
    }
}

}  // namespace

TEST_CASE("replay agrees exactly with a real two-tier Cascade on the same outcomes") {
    const auto t = table_of(random_fixture(300, 11));
    for (const double threshold : {0.0, 0.05, 0.5, 0.55, 0.95, 1.0}) {
        INFO("threshold " << threshold);
        cascade::Cascade c{cascade::tier("tiny", model_of(t, t.model_index("tiny")), confidence_of, threshold, cost_of()),
                           cascade::tier("large", model_of(t, t.model_index("large")), cost_of())};
        const Totals real = run_all(c, t, 2);
        check_same(cascade::replay_cascade(t, {"tiny", "large"}, {threshold}, true), real, t);
    }
}

TEST_CASE("replay agrees exactly with a real three-tier Cascade, last tier verified too") {
    const auto t = table_of(random_fixture(300, 12));
    const double settings[][2] = {{0.5, 0.5}, {0.8, 0.3}, {0.0, 1.0}, {1.0, 0.0}, {0.65, 0.9}};
    for (const auto& th : settings) {
        INFO("thresholds " << th[0] << ", " << th[1]);
        // The last tier's verifier may reject; accept_last still answers with it.
        cascade::Cascade c{cascade::tier("mid", model_of(t, t.model_index("mid")), confidence_of, th[0], cost_of()),
                           cascade::tier("tiny", model_of(t, t.model_index("tiny")), confidence_of, th[1], cost_of()),
                           cascade::tier("large", model_of(t, t.model_index("large")), confidence_of, 0.7, cost_of())};
        const Totals real = run_all(c, t, 3);
        check_same(cascade::replay_cascade(t, {"mid", "tiny", "large"}, {th[0], th[1]}, true), real, t);
    }
}

TEST_CASE("replay agrees exactly with a real Router over logged scores") {
    const auto t = table_of(random_fixture(200, 13));
    std::vector<double> scores;
    for (std::size_t q = 0; q < t.query_count(); ++q) {
        // Some scores exactly on a threshold, some invalid (the Router sends those to the last route).
        scores.push_back(q % 17 == 0 ? std::nan("") : q % 13 == 0 ? 1.5 : static_cast<double>(q % 10) / 10.0);
    }
    auto scorer = [&scores](std::size_t q) { return scores[q]; };
    cascade::Router router{scorer, {0.3, 0.7}, cascade::tier("tiny", model_of(t, t.model_index("tiny")), cost_of()),
                           cascade::tier("mid", model_of(t, t.model_index("mid")), cost_of()),
                           cascade::tier("large", model_of(t, t.model_index("large")), cost_of())};
    double quality = 0;
    double cost = 0;
    std::vector<std::size_t> routes;
    for (std::size_t q = 0; q < t.query_count(); ++q) {
        auto r = router.run(q);
        quality += r.value().quality;
        cost += r.cost();
        routes.push_back(r.route());
    }
    const auto r = cascade::replay_router(t, scores, {0.3, 0.7}, {"tiny", "mid", "large"}, true);
    CHECK(r.answered_by == routes);
    CHECK(r.quality == quality / static_cast<double>(t.query_count()));
    CHECK(r.total_cost == cost);
}

TEST_CASE("replay reports quality, cost, per-tier shares and escalations") {
    const auto t = table_of(
        "query_id,model,quality,cost,confidence\n"
        "q1,a,1,1,0.9\nq1,b,1,10,\n"
        "q2,a,0,1,0.2\nq2,b,1,10,\n"
        "q3,a,1,1,\nq3,b,0,10,\n"
        "q4,a,0,1,-inf\nq4,b,1,10,\n");
    const auto r = cascade::replay_cascade(t, {"a", "b"}, {0.5});
    CHECK(r.queries == 4);
    CHECK(r.quality == 0.75);   // q1 by a, q2..q4 by b
    CHECK(r.cost == 8.5);       // 4 x 1 + 3 x 10, over 4
    CHECK(r.answered == std::vector<double>{0.25, 0.75});
    CHECK(r.called == std::vector<double>{1.0, 0.75});
    CHECK(r.escalation_rate == 0.75);
    CHECK(r.escalations_per_query == 0.75);
    // -inf accepts everything but the missing confidence.
    const auto all = cascade::replay_cascade(t, {"a", "b"}, {-std::numeric_limits<double>::infinity()});
    CHECK(all.answered == std::vector<double>{0.75, 0.25});
    // A single model.
    const auto b = cascade::replay_cascade(t, {"b"}, {});
    CHECK(b.quality == 0.75);
    CHECK(b.cost == 10.0);
    CHECK(b.escalation_rate == 0.0);
}

TEST_CASE("replay refuses bad chains and thresholds, and queries lacking a chain's model") {
    const auto t = table_of("query_id,model,quality,cost,confidence\nq1,a,1,1,0.9\nq1,b,1,2,\nq2,a,1,1,0.1\n");
    CHECK_THROWS_AS(cascade::replay_cascade(t, {}, {}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_cascade(t, {"a", "zz"}, {0.5}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_cascade(t, {"a", "a"}, {0.5}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_cascade(t, {"a", "b"}, {}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_cascade(t, {"a", "b"}, {std::nan("")}), std::invalid_argument);
    try {
        cascade::replay_cascade(t, {"a", "b"}, {0.5});
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()) == "fixture.csv:4: query \"q2\" has no outcome for model \"b\" (1 queries lack it)");
    }
    CHECK_NOTHROW(cascade::replay_cascade(t, {"a"}, {}));
    CHECK_THROWS_AS(cascade::replay_router(t, {0.1}, {0.5}, {"a", "b"}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_router(t, {0.1, 0.2}, {0.5, 0.4}, {"a", "b", "a"}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::replay_router(t, {0.1, 0.2}, {1.5}, {"a", "b"}), std::invalid_argument);
}
