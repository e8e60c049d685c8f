#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/eval/outcome_sink.hpp>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Answer {
    double confidence;
};

auto make_cascade() {
    auto small = cascade::tier(
        "small", [](int q) { return Answer{q % 2 == 0 ? 0.9 : 0.1}; }, [](const Answer& a) { return a.confidence; }, 0.5,
        cascade::price_per_call(0.25));
    auto big = cascade::tier("big", [](int) { return Answer{1.0}; }, cascade::price_per_call(2.0));
    return cascade::Cascade{std::move(small), std::move(big)};
}

}  // namespace

TEST_CASE("the sink writes one unlabelled row per called tier, readable as an outcome log") {
    auto c = make_cascade();
    std::stringstream out;
    cascade::OutcomeSink sink(out);
    CHECK(sink.record("q0", c.run(0), "demo") == 1);
    CHECK(sink.record("q1", c.run(1), "demo") == 2);
    CHECK(sink.rows() == 3);

    cascade::ReadOptions o;
    o.allow_unlabelled = true;
    const auto log = cascade::read_outcomes_csv(out, "sink.csv", o);
    REQUIRE(log.rows.size() == 3);
    CHECK(log.rows[0].query_id == "q0");
    CHECK(log.rows[0].model == "small");
    CHECK(log.rows[0].cost == 0.25);
    CHECK(*log.rows[0].confidence == 0.9);
    CHECK_FALSE(log.rows[0].quality.has_value());
    CHECK(log.rows[0].benchmark == "demo");
    CHECK(log.rows[0].latency_ms.has_value());
    CHECK(log.rows[1].model == "small");
    CHECK(*log.rows[1].confidence == 0.1);
    CHECK(log.rows[2].model == "big");
    CHECK(log.rows[2].cost == 2.0);
    CHECK_FALSE(log.rows[2].confidence.has_value());
}

TEST_CASE("labelled rows recorded through the sink can be replayed") {
    std::stringstream out;
    cascade::OutcomeSink sink(out, cascade::OutcomeSink::Format::jsonl);
    cascade::Outcome o;
    o.query_id = "q";
    o.model = "m";
    o.quality = 1.0;
    o.cost = 0.5;
    sink.record(o);
    const cascade::OutcomeTable t(cascade::read_outcomes_jsonl(out, "sink.jsonl"));
    CHECK(t.mean_quality(t.model_index("m")) == 1.0);
}

TEST_CASE("records from many threads come out as whole rows") {
    auto c = make_cascade();
    std::stringstream out;
    cascade::OutcomeSink sink(out);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) sink.record("t" + std::to_string(t) + "-" + std::to_string(i), c.run(i));
        });
    }
    for (auto& th : threads) th.join();
    cascade::ReadOptions o;
    o.allow_unlabelled = true;
    const auto log = cascade::read_outcomes_csv(out, "sink.csv", o);
    CHECK(log.rows.size() == 4 * (100 * 1 + 100 * 2));
    CHECK(sink.rows() == log.rows.size());
}
