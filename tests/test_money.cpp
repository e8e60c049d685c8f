// Money at its edges: amounts too large to count are refused up front or counted at their most
// and recorded, never wrapped or left to undefined behaviour; amounts under a nano-dollar still add
// up; and a cost function that fails is charged by one rule in a Cascade and in with_budget.
#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/runtime/budget.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

struct Usage {
    std::uint64_t prompt_tokens = 0;
};

constexpr double per_token = 1e-6;

double price_of(const Usage& u) { return static_cast<double>(u.prompt_tokens) * per_token; }

auto reporting(std::uint64_t tokens) {
    return [tokens](int) { return Usage{tokens}; };
}

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

}  // namespace

TEST_CASE("max_dollars is the most one amount may be: $1e10") { CHECK(cascade::max_dollars == 1e10); }

TEST_CASE("a call whose cost is beyond any count is counted at max_dollars and recorded as a cost error") {
    cascade::Cascade c{cascade::tier("huge", reporting(std::numeric_limits<std::uint64_t>::max()),
                                     cascade::cost_from(price_of))};
    auto r = c.run(1);
    REQUIRE(r.has_value());
    CHECK(r.cost() == 1e10);
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("above the most one call may cost"));
    const cascade::Stats s = c.stats();
    CHECK(s.tiers[0].cost_errors == 1);
    CHECK(s.cost == Approx(1e10));
    CHECK(s.tiers[0].cost == Approx(1e10));
}

TEST_CASE("costs that are each finite but sum past any double are counted at their most, not as infinity") {
    auto rejected = [](int) { return 0.0; };
    cascade::Cascade c{
        cascade::tier("a", [](int) { return 1.0; }, rejected, 0.5, cascade::cost_from([](double) { return 1e308; })),
        cascade::tier("b", [](int) { return 1.0; }, cascade::cost_from([](double) { return 1e308; }))};
    auto r = c.run(1);
    CHECK(std::isfinite(r.cost()));
    CHECK(r.cost() == Approx(2e10));
    const cascade::Stats s = c.stats();
    CHECK(std::isfinite(s.cost));
    CHECK(s.tiers[0].cost_errors == 1);
    CHECK(s.tiers[1].cost_errors == 1);
}

TEST_CASE("a price, an estimate or a budget above max_dollars is refused, naming the maximum") {
    CHECK_THAT(message_of([] { (void)cascade::price_per_call(1e308); }),
               Catch::Matchers::ContainsSubstring("at most $1e+10"));
    CHECK_THAT(message_of([] { (void)cascade::tier("t", [](int) { return 1; }).with_cost_estimate(2e10); }),
               Catch::Matchers::ContainsSubstring("at most $1e+10"));
    CHECK_THAT(message_of([] { cascade::Budget b{2e10}; }), Catch::Matchers::ContainsSubstring("at most $1e+10"));
    cascade::Budget ok{1e10};
    CHECK(ok.limit() == 1e10);
    CHECK_THAT(message_of([&] { (void)ok.reserve(2e10); }), Catch::Matchers::ContainsSubstring("at most $1e+10"));
    CHECK_THAT(message_of([] { (void)cascade::price_per_call(std::numeric_limits<double>::infinity()); }),
               Catch::Matchers::ContainsSubstring("finite number >= 0"));
}

TEST_CASE("a total that would pass what its counter holds stops at its most and says so") {
    cascade::Cascade c{cascade::tier("dear", [](int) { return 1; }, cascade::price_per_call(1e10))};
    c.run(1);
    CHECK_FALSE(c.stats().cost_saturated);
    c.run(2);  // $2e10 in all: past the 1.8e10 a 64-bit count of nano-dollars holds
    const cascade::Stats s = c.stats();
    CHECK(s.cost_saturated);
    CHECK(s.tiers[0].cost_saturated);
    CHECK(s.cost >= 1.8e10);  // held at the most, not wrapped to a small number
    CHECK(std::isfinite(s.cost));
}

TEST_CASE("prices under a nano-dollar add up: 911 calls of $4e-10 are $3.644e-7") {
    // Stated tolerance: each call is counted to 1e-15 dollars, so 911 calls to 1e-12 at worst.
    constexpr double tolerance = 911 * 1e-15;
    cascade::Cascade c{cascade::tier("tiny", [](int) { return 1; }, cascade::price_per_call(4e-10))};
    for (int i = 0; i < 911; ++i) c.run(i);
    const cascade::Stats s = c.stats();
    CHECK(s.cost == Approx(3.644e-7).margin(tolerance));
    CHECK(s.tiers[0].cost == Approx(3.644e-7).margin(tolerance));
    REQUIRE(s.baseline_cost);
    CHECK(*s.baseline_cost == Approx(3.644e-7).margin(tolerance));
    REQUIRE(s.saving());
    CHECK(*s.saving() == Approx(0.0).margin(1e-6));  // the last tier alone: nothing saved
}

TEST_CASE("a sub-nano-dollar first tier shows its share of the saving") {
    cascade::Cascade c{cascade::tier("tiny", [](int) { return 1.0; }, [](double) { return 1.0; }, 0.5,
                                     cascade::price_per_call(4e-10)),
                       cascade::tier("big", [](int) { return 1.0; }, cascade::price_per_call(1e-9))};
    for (int i = 0; i < 911; ++i) c.run(i);
    const cascade::Stats s = c.stats();
    REQUIRE(s.saving());
    CHECK(*s.saving() == Approx(0.6).margin(1e-6));
}

TEST_CASE("a router adds up prices under a nano-dollar too") {
    cascade::Router r{[](int) { return 0.0; }, {},
                      cascade::tier("tiny", [](int) { return 1; }, cascade::price_per_call(4e-10))};
    for (int i = 0; i < 911; ++i) r.run(i);
    const cascade::RouterStats s = r.stats();
    CHECK(s.cost == Approx(3.644e-7).margin(1e-12));
    CHECK(s.routes[0].cost == Approx(3.644e-7).margin(1e-12));
    REQUIRE(s.saving());
    CHECK(*s.saving() == Approx(0.0).margin(1e-6));
}

TEST_CASE("a cost function that throws is charged the tier's stated estimate, recorded as a cost error") {
    cascade::Cascade c{
        cascade::tier("mini", [](int) { return 1.0; },
                      cascade::cost_from([](double) -> double { throw std::runtime_error("no usage field"); }))
            .with_cost_estimate(0.003)};
    auto r = c.run(1);
    REQUIRE(r.has_value());
    CHECK(r.cost() == Approx(0.003));
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("no usage field"));
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("charged the tier's estimate"));
    const cascade::Stats s = c.stats();
    CHECK(s.tiers[0].cost_errors == 1);
    CHECK(s.cost == Approx(0.003));
}

TEST_CASE("without a stated estimate, a cost function that throws is counted as $0 and recorded") {
    cascade::Cascade c{cascade::tier("mini", [](int) { return 1.0; },
                                     cascade::cost_from([](double) -> double { throw std::runtime_error("no usage"); }))};
    auto r = c.run(1);
    CHECK(r.cost() == 0.0);
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("counted as $0"));
    CHECK(c.stats().tiers[0].cost_errors == 1);
}

TEST_CASE("with_budget applies the same rule: a cost function that throws charges the estimate, as an error") {
    cascade::Budget budget{1.0};
    auto model = cascade::with_budget([](int) { return 1.0; }, budget, 0.003,
                                      [](double) -> double { throw std::runtime_error("no usage"); });
    cascade::Cascade c{cascade::tier("mini", std::move(model),
                                     cascade::cost_from([](double) -> double { throw std::runtime_error("no usage"); }))
                           .with_cost_estimate(0.003)};
    auto r = c.run(1);
    CHECK(budget.spent() == Approx(0.003));
    CHECK(budget.stats().cost_errors == 1);
    CHECK(r.cost() == Approx(budget.spent()));  // the cascade and the budget agree
}

TEST_CASE("a budget counts an actual cost above max_dollars as a cost error, charged the estimate") {
    cascade::Budget budget{1.0};
    auto reservation = budget.reserve(0.5);
    REQUIRE(reservation);
    budget.settle(std::move(*reservation), 1e300);
    CHECK(budget.spent() == Approx(0.5));
    CHECK(budget.stats().cost_errors == 1);
}

TEST_CASE("a budget rounds amounts under a nano-dollar up, so a reservation never holds less than asked") {
    cascade::Budget budget{1e-8};
    int granted = 0;
    for (int i = 0; i < 100; ++i) {  // bounded: a budget that counted these as $0 would never refuse
        auto r = budget.reserve(4e-10);
        if (!r) break;
        budget.settle(std::move(*r), 4e-10);
        ++granted;
    }
    CHECK(granted == 10);  // $1e-9 each: the budget is not spent forever on calls counted as $0
    CHECK(budget.spent() == Approx(1e-8));
}

TEST_CASE("a call that answers after its tier's time limit is charged, in the cascade as in a budget") {
    std::int64_t now_ns = 0;
    cascade::CascadeOptions options;
    options.now = [&now_ns] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(now_ns)); };
    cascade::Budget budget{1.0};
    auto slow = cascade::with_budget(
        [&now_ns](int) {
            now_ns += 2'000'000'000;  // two seconds, over the limit of one
            return 1.0;
        },
        budget, 0.002);
    cascade::Cascade c{options,
                       cascade::tier("mini", std::move(slow), cascade::price_per_call(0.002))
                           .with_time_limit(std::chrono::seconds(1)),
                       cascade::tier("big", [](int) { return 2.0; }, cascade::price_per_call(0.01))};
    auto r = c.run(1);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::timed_out);
    CHECK(r.trace()[0].cost == Approx(0.002));
    CHECK(r.cost() == Approx(0.012));
    CHECK(c.stats().tiers[0].cost == Approx(0.002));
    CHECK(budget.spent() == Approx(0.002));
}
