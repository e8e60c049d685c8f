// Time limits, deadlines and cost caps: what a cascade does when a query runs out of time or
// money, measured on a manual clock so that no test sleeps.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <cascade/cascade.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

std::atomic<std::int64_t> manual_ns{1'000'000'000};

std::chrono::steady_clock::time_point manual_now() {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(manual_ns.load()));
}
void spend(std::chrono::nanoseconds d) { manual_ns += d.count(); }

struct Answer {
    std::string text;
    double confidence = 0.0;
};

// A model that takes `duration` of manual time and answers with `confidence`.
auto slow_model(std::string text, std::chrono::nanoseconds duration, double confidence) {
    return [=](const std::string&) {
        spend(duration);
        return Answer{text, confidence};
    };
}

double confidence_of(const Answer& a) { return a.confidence; }

cascade::CascadeOptions manual_clock(cascade::Limits limits = {}) {
    cascade::CascadeOptions options;
    options.now = &manual_now;
    options.limits = limits;
    return options;
}

}  // namespace

TEST_CASE("a call over its tier's time limit is dropped and the query escalates") {
    cascade::Cascade c{manual_clock(),
                       cascade::tier("mini", slow_model("late", 300ms, 0.99), confidence_of, 0.5)
                           .with_time_limit(200ms),
                       cascade::tier("big", slow_model("big", 10ms, 1.0))};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r->text == "big");
    CHECK(r.trace()[0].status == cascade::AttemptStatus::timed_out);
    CHECK(r.trace()[0].error.find("time limit of 200.0") != std::string::npos);
    CHECK(r.trace()[0].latency == 300ms);
    CHECK(c.stats().tiers[0].timeouts == 1);
    CHECK(c.stats().errors == 1);
}

TEST_CASE("a call within its time limit is kept") {
    cascade::Cascade c{manual_clock(),
                       cascade::tier("mini", slow_model("quick", 100ms, 0.99), confidence_of, 0.5)
                           .with_time_limit(200ms),
                       cascade::tier("big", slow_model("big", 10ms, 1.0))};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "quick");
    CHECK(r.trace()[0].status == cascade::AttemptStatus::accepted);
}

TEST_CASE("once the query's deadline passes no tier is started and the best answer so far is returned") {
    cascade::Cascade c{manual_clock(cascade::Limits{1s, {}}),
                       cascade::tier("mini", slow_model("doubtful", 1500ms, 0.3), confidence_of, 0.8),
                       cascade::tier("big", slow_model("big", 10ms, 1.0))};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r->text == "doubtful");
    CHECK(r.resolution() == cascade::Resolution::fallback);
    CHECK(r.trace()[1].status == cascade::AttemptStatus::deadline_passed);
    CHECK_FALSE(r.trace()[1].called());
    CHECK(c.stats().tiers[1].skipped_deadline == 1);
    CHECK(c.stats().tiers[1].calls == 0);
}

TEST_CASE("a model taking a CallContext sees the earlier of its time limit and the query's deadline") {
    std::chrono::nanoseconds seen_remaining{0};
    std::string seen_tier;
    auto model = [&](const std::string&, const cascade::CallContext& ctx) {
        seen_remaining = ctx.remaining();
        seen_tier = std::string(ctx.tier);
        return Answer{"ok", 1.0};
    };
    cascade::Cascade with_deadline{manual_clock(cascade::Limits{5s, {}}),
                                   cascade::tier("mini", model).with_time_limit(2s)};
    with_deadline.run(std::string("q"));
    CHECK(seen_remaining == 2s);
    CHECK(seen_tier == "mini");

    cascade::Cascade tight{manual_clock(cascade::Limits{500ms, {}}), cascade::tier("mini", model).with_time_limit(2s)};
    tight.run(std::string("q"));
    CHECK(seen_remaining == 500ms);

    cascade::Cascade unlimited{manual_clock(), cascade::tier("mini", model)};
    unlimited.run(std::string("q"));
    CHECK(seen_remaining == std::chrono::nanoseconds::max());
}

TEST_CASE("a huge timeout does not overflow the deadline") {
    cascade::Cascade c{manual_clock(cascade::Limits{std::chrono::nanoseconds::max(), {}}),
                       cascade::tier("mini", slow_model("ok", 1ms, 1.0)).with_time_limit(std::chrono::nanoseconds::max())};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "ok");
    CHECK(r.trace()[0].status == cascade::AttemptStatus::accepted);
}

TEST_CASE("a tier whose cost estimate would pass the query's cost cap is not called") {
    int big_calls = 0;
    cascade::Cascade c{manual_clock(cascade::Limits{{}, 0.004}),
                       cascade::tier("mini", slow_model("doubtful", 1ms, 0.2), confidence_of, 0.8,
                                     cascade::price_per_call(0.001)),
                       cascade::tier("big", [&](const std::string&) { ++big_calls; return Answer{"big", 1.0}; },
                                     cascade::price_per_call(0.005))};
    auto r = c.run(std::string("q"));
    CHECK(big_calls == 0);
    CHECK(r->text == "doubtful");
    CHECK(r.resolution() == cascade::Resolution::fallback);
    CHECK(r.trace()[1].status == cascade::AttemptStatus::over_budget);
    CHECK(r.trace()[1].error.find("exceeds the cap") != std::string::npos);
    CHECK(r.cost() == Approx(0.001));
    CHECK(c.stats().tiers[1].skipped_budget == 1);

    // The same cascade with a per-query cap that allows it.
    auto rich = c.run(std::string("q"), cascade::Limits{{}, 0.01});
    CHECK(rich->text == "big");
    CHECK(big_calls == 1);
}

TEST_CASE("a computed cost is capped by its estimate, or by its mean so far") {
    auto priced = cascade::cost_from([](const Answer&) { return 0.003; });
    cascade::Cascade estimated{manual_clock(cascade::Limits{{}, 0.002}),
                               cascade::tier("big", slow_model("big", 1ms, 1.0), priced).with_cost_estimate(0.003)};
    CHECK(estimated.run(std::string("q")).trace()[0].status == cascade::AttemptStatus::over_budget);

    // Without an estimate, the first call goes through (nothing is known yet); later calls are
    // judged by the mean cost observed.
    cascade::Cascade observed{manual_clock(cascade::Limits{{}, 0.002}),
                              cascade::tier("big", slow_model("big", 1ms, 1.0), priced)};
    CHECK(observed.run(std::string("q")).trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(observed.run(std::string("q")).trace()[0].status == cascade::AttemptStatus::over_budget);
}

TEST_CASE("limits that cannot be met are rejected with what to fix") {
    auto model = slow_model("x", 1ms, 1.0);
    CHECK_THROWS_WITH(cascade::Cascade(manual_clock(cascade::Limits{0ms, {}}), cascade::tier("m", model)),
                      Catch::Matchers::ContainsSubstring("timeout must be > 0"));
    CHECK_THROWS_WITH(cascade::Cascade(manual_clock(cascade::Limits{{}, -1.0}), cascade::tier("m", model)),
                      Catch::Matchers::ContainsSubstring("cost cap must be a finite number >= 0"));
    CHECK_THROWS_WITH(cascade::Cascade(manual_clock(cascade::Limits{{}, std::nan("")}), cascade::tier("m", model)),
                      Catch::Matchers::ContainsSubstring("cost cap"));
    cascade::Cascade c{manual_clock(), cascade::tier("m", model)};
    CHECK_THROWS_AS(c.run(std::string("q"), cascade::Limits{-5ms, {}}), std::invalid_argument);
    CHECK_THROWS_WITH(cascade::tier("m", model).with_time_limit(0ms), Catch::Matchers::ContainsSubstring("\"m\""));
    CHECK_THROWS_WITH(cascade::tier("m", model).with_cost_estimate(-0.1),
                      Catch::Matchers::ContainsSubstring("estimate must be a finite number >= 0"));
    cascade::CascadeOptions no_clock;
    no_clock.now = nullptr;
    CHECK_THROWS_WITH(cascade::Cascade(no_clock, cascade::tier("m", model)), Catch::Matchers::ContainsSubstring("clock"));
}

TEST_CASE("a router passes per-query limits to its route") {
    cascade::Router router{[](const std::string&) { return 0.1; }, {0.5},
                           cascade::Cascade{manual_clock(),
                                            cascade::tier("mini", slow_model("doubtful", 2s, 0.1), confidence_of, 0.9),
                                            cascade::tier("big", slow_model("big", 1ms, 1.0))},
                           cascade::tier("frontier", slow_model("frontier", 1ms, 1.0))};
    auto r = router.run(std::string("q"), cascade::Limits{1s, {}});
    CHECK(r.route() == 0);
    CHECK(r->text == "doubtful");
    CHECK(r.trace()[1].status == cascade::AttemptStatus::deadline_passed);
    CHECK(router.run(std::string("q"))->text == "big");
}
