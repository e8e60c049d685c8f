// Tests for detail/tick_clock.hpp and its use: queries without a deadline are timed on the CPU's
// time-stamp counter, scaled against steady_clock; queries with one keep steady_clock.
#include "catch.hpp"

#include <cascade/cascade.hpp>

#include <chrono>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;
using cascade::detail::TickClock;
using namespace std::chrono_literals;

// How far a duration on the tick clock may stray from steady_clock's: the calibration is good to
// about 1e-4, and a reading error of a microsecond or so is added.
constexpr double scale_tolerance = 0.01;

// Something that takes a few milliseconds of real time.
void take_a_while() { std::this_thread::sleep_for(3ms); }

}  // namespace

TEST_CASE("the tick clock measures what steady_clock measures") {
    INFO("counting ticks: " << TickClock::counts_ticks());
#ifdef CASCADE_NO_TICK_CLOCK
    CHECK_FALSE(TickClock::counts_ticks());  // turned off: steady_clock itself
#endif
    // Read in nested order both ways, so that each comparison holds however long a read waits.
    const auto steady_before = Clock::now();
    const auto ticks_before = TickClock::now();
    take_a_while();
    const auto ticks_after = TickClock::now();
    const auto steady_after = Clock::now();
    const auto inner = ticks_after - ticks_before;
    CHECK(inner > 0ns);
    CHECK(inner <= (steady_after - steady_before) * (1.0 + scale_tolerance));

    const auto ticks_outer_before = TickClock::now();
    const auto steady_inner_before = Clock::now();
    take_a_while();
    const auto steady_inner_after = Clock::now();
    const auto ticks_outer_after = TickClock::now();
    CHECK(ticks_outer_after - ticks_outer_before >= (steady_inner_after - steady_inner_before) * (1.0 - scale_tolerance));
}

TEST_CASE("the tick clock's time points count from an epoch of their own") {
    // So that a deadline made from one by mistake is decades off, not a drift too small to see.
    const auto steady = Clock::now();
    const auto ticks = TickClock::now();
    if (TickClock::counts_ticks()) {
        CHECK(ticks - steady > std::chrono::hours(24 * 365 * 30));
    } else {
        CHECK(ticks - steady < 1s);
        CHECK(steady - ticks < 1s);
    }
}

TEST_CASE("a cascade at the default clock times its tiers in real nanoseconds") {
    cascade::Cascade c{cascade::tier("mini", [](int q) { take_a_while(); return q; }, [](int) { return 0.2; }, 0.5,
                                     cascade::price_per_call(0.001)),
                       cascade::tier("big", [](int q) { take_a_while(); return q; }, cascade::price_per_call(0.01))};
    const auto before = Clock::now();
    const auto r = c.run(1);
    const auto elapsed = Clock::now() - before;
    REQUIRE(r.trace().size() == 2);
    for (const auto& a : r.trace()) {
        CHECK(a.latency >= 3ms * (1.0 - scale_tolerance));
        CHECK(a.latency <= elapsed * (1.0 + scale_tolerance));
    }
    CHECK(r.latency() >= 6ms * (1.0 - scale_tolerance));
    CHECK(r.latency() <= elapsed * (1.0 + scale_tolerance));
    CHECK(r.latency() == r.trace()[0].latency + r.trace()[1].latency);
    const auto s = c.stats();
    CHECK(s.latency_p50 >= 5ms);  // a histogram's bucket, not the exact figure
}

TEST_CASE("a router at the default clock times its scoring and its route in real nanoseconds") {
    cascade::Router r{[](int) { take_a_while(); return 0.1; }, {0.5},
                      cascade::tier("mini", [](int q) { take_a_while(); return q; }, cascade::price_per_call(0.001)),
                      cascade::tier("big", [](int q) { return q; }, cascade::price_per_call(0.01))};
    const auto before = Clock::now();
    const auto routed = r.run(1);
    const auto elapsed = Clock::now() - before;
    CHECK(routed.scorer_latency() >= 3ms * (1.0 - scale_tolerance));
    CHECK(routed.latency() >= 3ms * (1.0 - scale_tolerance));
    CHECK(routed.scorer_latency() + routed.latency() <= elapsed * (1.0 + scale_tolerance));
}

TEST_CASE("a query with a deadline gives its model a deadline on steady_clock") {
    Clock::time_point seen{};
    auto model = [&seen](int q, const cascade::CallContext& context) {
        seen = context.deadline;
        return q;
    };
    const auto timeout = std::chrono::nanoseconds(5s);
    // The deadline the model saw is `timeout` after some steady_clock time during `run`.
    auto check_deadline_of = [&](auto run) {
        const auto before = Clock::now();
        run();
        const auto after = Clock::now();
        CHECK(seen >= before + timeout);
        CHECK(seen <= after + timeout);
    };

    SECTION("a cascade with a timeout for one query") {
        cascade::Cascade c{cascade::tier("only", model, cascade::price_per_call(0.001))};
        check_deadline_of([&] { (void)c.run(1, cascade::Limits{timeout, std::nullopt}); });
    }
    SECTION("a tier with a time limit") {
        cascade::Cascade c{cascade::tier("only", model, cascade::price_per_call(0.001)).with_time_limit(timeout)};
        check_deadline_of([&] { (void)c.run(1); });
    }
    SECTION("a router with a timeout for one query") {
        cascade::Router r{[](int) { return 0.1; }, {0.5}, cascade::tier("mini", model, cascade::price_per_call(0.001)),
                          cascade::tier("big", model, cascade::price_per_call(0.01))};
        check_deadline_of([&] { (void)r.run(1, cascade::Limits{timeout, std::nullopt}); });
    }
    SECTION("no deadline without a limit") {
        cascade::Cascade c{cascade::tier("only", model, cascade::price_per_call(0.001))};
        (void)c.run(1);
        CHECK(seen == Clock::time_point::max());
    }
}
