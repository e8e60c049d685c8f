#include "catch.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/cascade.hpp>
#include <cascade/runtime/retry.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A clock that records every wait it is asked for and returns at once.
struct RecordingClock {
    std::shared_ptr<std::vector<std::chrono::nanoseconds>> waits = std::make_shared<std::vector<std::chrono::nanoseconds>>();
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept { return {}; }
    void sleep_for(std::chrono::nanoseconds d) const { waits->push_back(d); }
};

struct RateLimited : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Fails its first `failures` calls with `Error`, then answers the request doubled.
template <class Error = std::runtime_error>
struct FailsFirst {
    int failures;
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    int operator()(int x) {
        ++*calls;
        if (*calls <= failures) throw Error("failure " + std::to_string(*calls));
        return 2 * x;
    }
};

cascade::RetryPolicy no_jitter(int attempts, std::chrono::nanoseconds base = 100ms, std::chrono::nanoseconds max = 10s,
                               double multiplier = 2.0) {
    return cascade::RetryPolicy{attempts, base, max, multiplier, 0.0};
}

}  // namespace

TEST_CASE("retries a failing model until it answers, waiting with exponential backoff") {
    cascade::ManualClock clock;
    FailsFirst<> model{2};
    auto retrying = cascade::with_retry(model, no_jitter(3), cascade::retry_any_error, clock);
    CHECK(retrying(21) == 42);
    CHECK(*model.calls == 3);
    CHECK(clock.elapsed() == 300ms);  // 100 ms, then 200 ms
    const auto s = retrying.stats();
    CHECK(s.calls == 3);
    CHECK(s.retries == 2);
    CHECK(s.successes == 1);
    CHECK(s.give_ups == 0);
    CHECK(s.waited == 300ms);
}

TEST_CASE("rethrows the last error once the attempts run out") {
    cascade::ManualClock clock;
    FailsFirst<> model{100};
    auto retrying = cascade::with_retry(model, no_jitter(3), cascade::retry_any_error, clock);
    std::string what;
    try {
        (void)retrying(1);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    CHECK(what == "failure 3");
    CHECK(retrying.stats().give_ups == 1);
    CHECK(retrying.stats().calls == 3);
    CHECK(clock.elapsed() == 300ms);
}

TEST_CASE("a single attempt never retries nor waits") {
    cascade::ManualClock clock;
    FailsFirst<> model{1};
    auto retrying = cascade::with_retry(model, no_jitter(1), cascade::retry_any_error, clock);
    CHECK_THROWS_AS(retrying(1), std::runtime_error);
    CHECK(retrying(1) == 2);
    CHECK(clock.elapsed() == 0ns);
    CHECK(retrying.stats().retries == 0);
}

TEST_CASE("caps each wait at max_delay") {
    RecordingClock clock;
    FailsFirst<> model{3};
    auto retrying = cascade::with_retry(model, no_jitter(4, 100ms, 300ms, 10.0), cascade::retry_any_error, clock);
    CHECK(retrying(1) == 2);
    CHECK(*clock.waits == std::vector<std::chrono::nanoseconds>{100ms, 300ms, 300ms});
}

TEST_CASE("jitter takes at most its fraction off each wait, and a seed fixes the waits") {
    auto waits_with = [](std::uint64_t seed) {
        RecordingClock clock;
        cascade::RetryPolicy policy{6, 1s, 1s, 1.0, 0.5, seed};
        auto retrying = cascade::with_retry(FailsFirst<>{5}, policy, cascade::retry_any_error, clock);
        (void)retrying(1);
        return *clock.waits;
    };
    const auto a = waits_with(7);
    REQUIRE(a.size() == 5);
    bool varied = false;
    for (const auto w : a) {
        CHECK(w >= 500ms);
        CHECK(w <= 1s);
        varied = varied || w != a.front();
    }
    CHECK(varied);
    CHECK(waits_with(7) == a);
    CHECK(waits_with(8) != a);
}

TEST_CASE("waits as long as a RetryAfter hint asks when it is longer than the backoff") {
    cascade::ManualClock clock;
    int calls = 0;
    auto retrying = cascade::with_retry(
        [&](int x) {
            if (++calls == 1) throw cascade::RetryAfter("429", 2s);
            return x;
        },
        no_jitter(3, 100ms, 5s), cascade::retry_any_error, clock);
    CHECK(retrying(5) == 5);
    CHECK(clock.elapsed() == 2s);
}

TEST_CASE("a RetryAfter hint shorter than the backoff keeps the backoff") {
    cascade::ManualClock clock;
    int calls = 0;
    auto retrying = cascade::with_retry(
        [&](int x) {
            if (++calls == 1) throw cascade::RetryAfter("429", 10ms);
            return x;
        },
        no_jitter(3, 100ms, 5s), cascade::retry_any_error, clock);
    CHECK(retrying(5) == 5);
    CHECK(clock.elapsed() == 100ms);
}

TEST_CASE("gives up at once when a RetryAfter hint is longer than max_delay") {
    cascade::ManualClock clock;
    int calls = 0;
    auto retrying = cascade::with_retry(
        [&](int x) {
            ++calls;
            if (x > 0) throw cascade::RetryAfter("429: come back in a minute", 60s);
            return x;
        },
        no_jitter(5, 100ms, 5s), cascade::retry_any_error, clock);
    CHECK_THROWS_AS(retrying(1), cascade::RetryAfter);
    CHECK(calls == 1);
    CHECK(clock.elapsed() == 0ns);
    CHECK(retrying.stats().give_ups == 1);
}

TEST_CASE("retries only what the predicate accepts") {
    cascade::ManualClock clock;
    SECTION("retry_on lists the types to retry") {
        auto limited = cascade::with_retry(FailsFirst<RateLimited>{2}, no_jitter(3), cascade::retry_on<RateLimited>, clock);
        CHECK(limited(1) == 2);
        auto logic = cascade::with_retry(FailsFirst<std::logic_error>{2}, no_jitter(3), cascade::retry_on<RateLimited>, clock);
        CHECK_THROWS_AS(logic(1), std::logic_error);
        CHECK(logic.stats().calls == 1);
        CHECK(logic.stats().not_retried == 1);
    }
    SECTION("the default retries std::exception but not NotRetryable") {
        auto bad_request = cascade::with_retry(FailsFirst<cascade::NotRetryable>{1}, no_jitter(3), cascade::retry_any_error, clock);
        CHECK_THROWS_AS(bad_request(1), cascade::NotRetryable);
        CHECK(bad_request.stats().calls == 1);
        auto not_std = cascade::with_retry([](int) -> int { throw 42; }, no_jitter(3), cascade::retry_any_error, clock);
        CHECK_THROWS_AS(not_std(1), int);
        CHECK(not_std.stats().not_retried == 1);
    }
    SECTION("a predicate on std::exception_ptr sees exceptions of any type") {
        int calls = 0;
        auto retrying = cascade::with_retry(
            [&](int x) {
                if (++calls < 3) throw 42;
                return x;
            },
            no_jitter(3), [](const std::exception_ptr& e) { return e != nullptr; }, clock);
        CHECK(retrying(7) == 7);
        CHECK(calls == 3);
    }
    SECTION("a predicate on std::exception decides from the error") {
        auto retrying = cascade::with_retry(
            FailsFirst<>{2}, no_jitter(3),
            [](const std::exception& e) { return std::string(e.what()) != "failure 2"; }, clock);
        CHECK_THROWS_WITH(retrying(1), "failure 2");
    }
}

TEST_CASE("rejects a policy that cannot work, naming the field to fix") {
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    auto rejects = [](cascade::RetryPolicy p) {
        return invalid_argument_message([&] { (void)cascade::with_retry([](int x) { return x; }, p); });
    };
    CHECK(contains(rejects({0, 1ms, 1s, 2.0, 0.1}), "attempts must be >= 1"));
    CHECK(contains(rejects({-3, 1ms, 1s, 2.0, 0.1}), "got -3"));
    CHECK(contains(rejects({3, -1ms, 1s, 2.0, 0.1}), "base_delay must be >= 0"));
    CHECK(contains(rejects({3, 2s, 1s, 2.0, 0.1}), "max_delay (1 s) must be >= base_delay (2 s)"));
    CHECK(contains(rejects({3, 1ms, 1s, nan, 0.1}), "multiplier must be a finite number >= 1, got nan"));
    CHECK(contains(rejects({3, 1ms, 1s, 0.5, 0.1}), "multiplier"));
    CHECK(contains(rejects({3, 1ms, 1s, std::numeric_limits<double>::infinity(), 0.1}), "multiplier"));
    CHECK(contains(rejects({3, 1ms, 1s, 2.0, nan}), "jitter must be in [0, 1]"));
    CHECK(contains(rejects({3, 1ms, 1s, 2.0, 1.5}), "got 1.5"));
    CHECK_NOTHROW(cascade::validate(cascade::RetryPolicy{}));
}

TEST_CASE("in a cascade, a model that keeps failing is recorded with its last error and the query escalates") {
    cascade::ManualClock clock;
    auto mini = cascade::with_retry(FailsFirst<RateLimited>{100}, no_jitter(2), cascade::retry_any_error, clock);
    auto counters = mini.counters();
    cascade::Cascade c{cascade::tier("mini", std::move(mini)), cascade::tier("big", [](int x) { return x + 1000; })};
    auto r = c.run(1);
    CHECK(r.value() == 1001);
    CHECK(r.tier() == "big");
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    CHECK(contains(r.trace()[0].error, "failure 2"));
    CHECK(counters->stats().give_ups == 1);
    CHECK(c.tier<0>().model().stats().calls == 2);
}

TEST_CASE("passes the call context on to a model that takes one") {
    auto retrying = cascade::with_retry(
        [](int x, const cascade::CallContext& ctx) { return x + static_cast<int>(ctx.tier_index); }, no_jitter(2));
    cascade::CallContext ctx;
    ctx.tier_index = 41;
    CHECK(retrying(1, ctx) == 42);
    CHECK(retrying(1) == 1);  // called on its own, the model gets an empty context
}

TEST_CASE("stops retrying when the next wait would pass the call's deadline") {
    cascade::ManualClock clock;
    const cascade::NowFn now = [clock] { return clock.now(); };
    cascade::CallContext ctx;
    ctx.deadline = clock.now() + 250ms;
    ctx.now = &now;
    FailsFirst<> model{100};
    auto retrying = cascade::with_retry(model, no_jitter(5), cascade::retry_any_error, clock);
    CHECK_THROWS_WITH(retrying(1, ctx), "failure 2");
    CHECK(clock.elapsed() == 100ms);  // waited 100 ms; the next 200 ms would pass the deadline
    CHECK(retrying.stats().give_ups == 1);
}

TEST_CASE("does not retry a call whose hedge race is lost, and retries while the race is open") {
    cascade::ManualClock clock;
    std::atomic<bool> lost{true};
    cascade::CallContext ctx;
    ctx.cancel_flag = &lost;
    auto loser = cascade::with_retry(FailsFirst<>{1}, no_jitter(5), cascade::retry_any_error, clock);
    CHECK_THROWS_WITH(loser(1, ctx), "failure 1");
    CHECK(loser.stats().calls == 1);
    CHECK(clock.elapsed() == 0ms);

    lost = false;
    auto racing = cascade::with_retry(FailsFirst<>{1}, no_jitter(5), cascade::retry_any_error, clock);
    CHECK(racing(1, ctx) == 2);
    CHECK(racing.stats().calls == 2);
}

namespace {
// A clock whose every sleep ends with the hedge race lost, as if the other call had just won.
struct LosingClock {
    cascade::ManualClock inner;
    std::atomic<bool>* lost;
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept { return inner.now(); }
    void sleep_for(std::chrono::nanoseconds d) const {
        inner.sleep_for(d);
        lost->store(true);
    }
};
}  // namespace

TEST_CASE("a race lost during the wait before a retry ends the wait, and there is no retry") {
    std::atomic<bool> lost{false};
    cascade::CallContext ctx;
    ctx.cancel_flag = &lost;
    LosingClock clock{cascade::ManualClock{}, &lost};
    auto retrying = cascade::with_retry(FailsFirst<>{1}, no_jitter(5, 100ms), cascade::retry_any_error, clock);
    CHECK_THROWS_WITH(retrying(1, ctx), "failure 1");
    CHECK(retrying.stats().calls == 1);
    CHECK(clock.inner.elapsed() < 100ms);  // the 100 ms backoff was cut short
    CHECK(retrying.stats().waited == clock.inner.elapsed());
}

TEST_CASE("in a cascade with a deadline, retries end in time for the next tier") {
    cascade::ManualClock clock;
    cascade::CascadeOptions options;
    options.limits.timeout = 1s;
    options.now = [clock] { return clock.now(); };
    auto mini = cascade::with_retry(FailsFirst<>{100}, no_jitter(10, 300ms, 10s), cascade::retry_any_error, clock);
    cascade::Cascade c{std::move(options), cascade::tier("mini", std::move(mini)),
                       cascade::tier("big", [](int x) { return x; })};
    auto r = c.run(5);
    CHECK(r.value() == 5);
    CHECK(r.tier() == "big");
    // Waits of 300 and 600 ms fit in the 1 s deadline; the next, 1.2 s, would not: mini gives up
    // and big answers before the deadline.
    CHECK(clock.elapsed() == 900ms);
    CHECK(c.tier<0>().model().stats().calls == 3);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
}

TEST_CASE("reports each retry to an event hook") {
    cascade::ManualClock clock;
    std::vector<std::string> seen;
    auto retrying = cascade::with_retry(FailsFirst<>{2}, no_jitter(3), cascade::retry_any_error, clock)
                        .with_event_hook(
                            [&](const cascade::Event& e) {
                                CHECK(e.kind == cascade::EventKind::retried);
                                seen.push_back(std::string(e.source) + ": " + std::string(e.detail));
                            },
                            "mini");
    CHECK(retrying(1) == 2);
    CHECK(seen == std::vector<std::string>{"mini: failure 1", "mini: failure 2"});
}

TEST_CASE("counters add up when many threads retry at once") {
    cascade::ManualClock clock;
    std::atomic<int> model_calls{0};
    auto retrying = cascade::with_retry(
        [&](int x) {
            // Every third call fails: some requests succeed at once, some after retries.
            if (model_calls.fetch_add(1) % 3 == 0) throw std::runtime_error("flaky");
            return x;
        },
        cascade::RetryPolicy{2, 1ms, 1s, 2.0, 0.5}, cascade::retry_any_error, clock);
    constexpr int threads = 8;
    constexpr int per_thread = 2000;
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    cascade_test::on_threads(threads, per_thread, [&](int, int i) {
        try {
            (void)retrying(i);
            answered.fetch_add(1);
        } catch (const std::runtime_error&) {
            failed.fetch_add(1);
        }
    });
    const auto s = retrying.stats();
    CHECK(s.calls == static_cast<std::uint64_t>(model_calls.load()));
    CHECK(s.calls == threads * per_thread + s.retries);
    CHECK(s.successes == static_cast<std::uint64_t>(answered.load()));
    CHECK(s.give_ups == static_cast<std::uint64_t>(failed.load()));
    CHECK(s.successes + s.give_ups == threads * per_thread);
    CHECK(s.waited == clock.elapsed());
}
