#include "catch.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/runtime/budget.hpp>
#include <cascade/cascade.hpp>
#include <cascade/runtime/retry.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

struct Reply {
    int value;
    double cost;
};

}  // namespace

TEST_CASE("grants reservations while they fit and refuses the one that does not") {
    cascade::Budget budget{1.0};
    auto a = budget.reserve(0.4);
    auto b = budget.reserve(0.4);
    REQUIRE(a);
    REQUIRE(b);
    CHECK_FALSE(budget.reserve(0.4));
    CHECK(budget.remaining() == Approx(0.2));
    auto c = budget.reserve(0.2);  // exactly what is left
    CHECK(c);
    const auto s = budget.stats();
    CHECK(s.reservations == 3);
    CHECK(s.refusals == 1);
    CHECK(s.reserved == Approx(1.0));
    CHECK(s.spent == 0.0);
}

TEST_CASE("settling replaces the estimate with the actual cost") {
    cascade::Budget budget{1.0};
    auto r = budget.reserve(0.5);
    REQUIRE(r);
    budget.settle(std::move(*r), 0.125);
    CHECK_FALSE(r->active());
    CHECK(budget.spent() == Approx(0.125));
    CHECK(budget.remaining() == Approx(0.875));
    budget.settle(std::move(*r), 0.5);  // settling twice does nothing
    CHECK(budget.spent() == Approx(0.125));
}

TEST_CASE("a reservation let go without settling gives its amount back") {
    cascade::Budget budget{1.0};
    {
        auto r = budget.reserve(0.75);
        REQUIRE(r);
        CHECK(budget.remaining() == Approx(0.25));
    }
    CHECK(budget.remaining() == Approx(1.0));
    auto r = budget.reserve(0.5);
    REQUIRE(r);
    r->release();
    CHECK(budget.remaining() == Approx(1.0));
    CHECK(budget.spent() == 0.0);
}

TEST_CASE("an actual cost above the estimate is charged, counted as an overrun, and blocks what no longer fits") {
    cascade::Budget budget{1.0};
    auto r = budget.reserve(0.25);
    REQUIRE(r);
    budget.settle(std::move(*r), 1.5);
    CHECK(budget.spent() == Approx(1.5));
    CHECK(budget.remaining() == 0.0);
    CHECK_FALSE(budget.reserve(0.01));
    const auto s = budget.stats();
    CHECK(s.overruns == 1);
    CHECK(s.overrun == Approx(1.25));
}

TEST_CASE("an actual cost that is NaN or negative is charged as the estimate") {
    cascade::Budget budget{1.0};
    auto a = budget.reserve(0.25);
    budget.settle(std::move(*a), std::numeric_limits<double>::quiet_NaN());
    auto b = budget.reserve(0.25);
    budget.settle(std::move(*b), -1.0);
    CHECK(budget.spent() == Approx(0.5));
}

TEST_CASE("rejects a budget or an estimate that is NaN, infinite or negative") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(contains(invalid_argument_message([&] { cascade::Budget b{nan}; }),
                   "cascade::Budget: the budget must be a finite number of dollars >= 0, got nan"));
    CHECK(contains(invalid_argument_message([] { cascade::Budget b{-1.0}; }), "got -1"));
    CHECK(contains(invalid_argument_message([] { cascade::Budget b{std::numeric_limits<double>::infinity()}; }), "got inf"));
    cascade::Budget budget{1.0};
    CHECK(contains(invalid_argument_message([&] { (void)budget.reserve(nan); }), "the estimate must be"));
    CHECK(contains(invalid_argument_message([&] { (void)cascade::with_budget([](int x) { return x; }, budget, 0.0); }),
                   "estimate_per_call must be a finite number of dollars > 0"));
    CHECK(contains(invalid_argument_message([&] { (void)cascade::with_budget([](int x) { return x; }, budget, nan); }),
                   "got nan"));
}

TEST_CASE("a budget that is not a whole number of nano-dollars never grants more than it holds") {
    cascade::Budget budget{1.5e-9};
    CHECK_FALSE(budget.reserve(2e-9));  // $2e-9 does not fit in $1.5e-9
    CHECK(budget.stats().refusals == 1);
    CHECK(budget.limit() <= 1.5e-9);
    CHECK_FALSE(cascade::Budget{4e-10}.reserve(4e-10));  // held as $1e-9: more than the budget
    // A product a few ulps below a whole number of nano-dollars is that number.
    cascade::Budget whole{0.29};
    CHECK(whole.limit() == 0.29);
    CHECK(whole.reserve(0.29));
}

TEST_CASE("with_budget refuses an estimate above cascade::max_dollars when it is made, not on every call") {
    cascade::Budget budget{1.0};
    CHECK(contains(invalid_argument_message([&] { (void)cascade::with_budget([](int x) { return x; }, budget, 2e10); }),
                   "estimate_per_call must be"));
}

TEST_CASE("a budgeted model settles each call with its actual cost") {
    cascade::Budget budget{1.0};
    auto model = cascade::with_budget([](int x) { return Reply{x, 0.01 * x}; }, budget, 0.1,
                                      [](const Reply& r) { return r.cost; });
    CHECK(model(2).value == 2);
    CHECK(model(3).value == 3);
    CHECK(budget.spent() == Approx(0.05));
    auto two_args = cascade::with_budget([](int x) { return x; }, budget, 0.1,
                                         [](int request, int) { return 0.001 * request; });
    CHECK(two_args(50) == 50);
    CHECK(budget.spent() == Approx(0.1));
    auto fixed = cascade::with_budget([](int x) { return x; }, budget, 0.1);
    CHECK(fixed(1) == 1);
    CHECK(budget.spent() == Approx(0.2));
}

TEST_CASE("a budgeted model refuses with BudgetExhausted before calling the model") {
    cascade::Budget budget{0.25};
    int calls = 0;
    auto model = cascade::with_budget(
        [&](int x) {
            ++calls;
            return x;
        },
        budget, 0.1);
    CHECK(model(1) == 1);
    CHECK(model(1) == 1);
    try {
        (void)model(1);
        FAIL("the budget let a call through");
    } catch (const cascade::BudgetExhausted& e) {
        CHECK(e.estimate() == Approx(0.1));
        CHECK(e.remaining() == Approx(0.05));
        CHECK(contains(e.what(), "budget exhausted"));
    }
    CHECK(calls == 2);
}

TEST_CASE("a call that throws is not charged; a cost function that throws charges the estimate") {
    cascade::Budget budget{1.0};
    auto failing = cascade::with_budget([](int) -> int { throw std::runtime_error("500"); }, budget, 0.5);
    CHECK_THROWS_AS(failing(1), std::runtime_error);
    CHECK(budget.spent() == 0.0);
    CHECK(budget.remaining() == Approx(1.0));
    auto bad_cost = cascade::with_budget([](int x) { return x; }, budget, 0.5,
                                         [](int) -> double { throw std::runtime_error("no usage field"); });
    CHECK(bad_cost(1) == 1);
    CHECK(budget.spent() == Approx(0.5));
}

TEST_CASE("in a cascade, an exhausted budget escalates to the next tier and is not retried") {
    cascade::Budget budget{0.01};
    auto big = cascade::with_retry(cascade::with_budget([](int x) { return x * 10; }, budget, 0.01),
                                   cascade::RetryPolicy{3, std::chrono::milliseconds(1), std::chrono::seconds(1), 2.0, 0.0});
    auto retry_counters = big.counters();
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::no_answer},
                       cascade::tier("big", std::move(big)),
                       cascade::tier("local", [](int x) { return x; })};
    CHECK(c.run(1).value() == 10);
    auto r = c.run(2);
    CHECK(r.value() == 2);
    CHECK(r.tier() == "local");
    CHECK(contains(r.trace()[0].error, "budget exhausted"));
    CHECK(retry_counters->stats().not_retried == 1);
    CHECK(retry_counters->stats().calls == 2);
}

TEST_CASE("8 threads never spend more than the budget") {
    constexpr double limit = 10.0;
    constexpr double estimate = 0.01;
    cascade::Budget budget{limit};
    std::atomic<std::uint64_t> charged_nano{0};
    std::atomic<int> calls{0};
    // Actual costs vary from a tenth of the estimate to all of it.
    auto model = cascade::with_budget(
        [&](int x) {
            calls.fetch_add(1);
            return Reply{x, estimate * (0.1 + 0.9 * static_cast<double>((x * 37) % 10) / 9.0)};
        },
        budget, estimate,
        [&](const Reply& r) {
            charged_nano.fetch_add(static_cast<std::uint64_t>(std::llround(r.cost * 1e9)));
            return r.cost;
        });
    constexpr int threads = 8;
    constexpr int per_thread = 20000;  // far more calls than the budget covers
    std::atomic<int> refused{0};
    std::atomic<int> over{0};
    cascade_test::on_threads(threads, per_thread, [&](int t, int i) {
        try {
            (void)model(t * per_thread + i);
        } catch (const cascade::BudgetExhausted&) {
            refused.fetch_add(1);
        }
        // Checked while others run: what is settled never passes the limit.
        if (budget.spent() > limit) over.fetch_add(1);
    });
    const auto s = budget.stats();
    CHECK(over.load() == 0);
    CHECK(s.spent <= limit);
    CHECK(s.spent == Approx(static_cast<double>(charged_nano.load()) * 1e-9));
    CHECK(s.reserved == 0.0);
    CHECK(s.overruns == 0);
    CHECK(refused.load() > 0);
    CHECK(static_cast<std::uint64_t>(calls.load()) == s.reservations);
    CHECK(s.reservations + s.refusals == threads * per_thread);
    // Nothing is refused while an estimate still fits: with no call in flight, the calls that
    // still fit go through and stop only when less than one estimate is left.
    int drained = 0;
    while (drained < 10000) {
        try {
            (void)model(drained);
            ++drained;
        } catch (const cascade::BudgetExhausted&) {
            break;
        }
    }
    CHECK(budget.remaining() < estimate);
    CHECK(budget.spent() <= limit);
}
