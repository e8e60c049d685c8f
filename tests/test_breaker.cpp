#include "catch.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/runtime/breaker.hpp>
#include <cascade/cascade.hpp>
#include <cascade/runtime/retry.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

// A model that fails while `failing` is set, and counts its calls.
struct Switchable {
    std::shared_ptr<bool> failing = std::make_shared<bool>(false);
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    int operator()(int x) {
        ++*calls;
        if (*failing) throw std::runtime_error("503 service unavailable");
        return x;
    }
};

template <class Wrapper>
void fail_times(Wrapper& w, int n) {
    for (int i = 0; i < n; ++i) CHECK_THROWS_AS(w(i), std::runtime_error);
}

}  // namespace

TEST_CASE("opens after the threshold of consecutive failures and then fails fast with BreakerOpen") {
    cascade::ManualClock clock;
    Switchable model;
    auto guarded = cascade::with_breaker(model, cascade::BreakerPolicy{3, 10s, 1}, clock);
    *model.failing = true;
    fail_times(guarded, 2);
    CHECK(guarded.state() == cascade::BreakerState::closed);
    fail_times(guarded, 1);
    CHECK(guarded.state() == cascade::BreakerState::open);

    std::chrono::nanoseconds hint{0};
    try {
        (void)guarded(1);
    } catch (const cascade::BreakerOpen& e) {
        hint = e.retry_after();
        CHECK(contains(e.what(), "circuit breaker"));
    }
    CHECK(hint == 10s);
    CHECK(*model.calls == 3);  // the refused call never reached the model
    const auto s = guarded.stats();
    CHECK(s.opened == 1);
    CHECK(s.rejected == 1);
    CHECK(s.failures == 3);
    CHECK(s.calls == 3);
}

TEST_CASE("a success resets the count of consecutive failures") {
    cascade::ManualClock clock;
    Switchable model;
    auto guarded = cascade::with_breaker(model, cascade::BreakerPolicy{3, 10s, 1}, clock);
    *model.failing = true;
    fail_times(guarded, 2);
    *model.failing = false;
    CHECK(guarded(1) == 1);
    *model.failing = true;
    fail_times(guarded, 2);
    CHECK(guarded.state() == cascade::BreakerState::closed);
    CHECK(guarded.stats().opened == 0);
}

TEST_CASE("after the cool-down a probe goes through and a success closes the breaker") {
    cascade::ManualClock clock;
    Switchable model;
    auto guarded = cascade::with_breaker(model, cascade::BreakerPolicy{2, 10s, 1}, clock);
    *model.failing = true;
    fail_times(guarded, 2);
    clock.advance(9s);
    CHECK(guarded.state() == cascade::BreakerState::open);
    CHECK_THROWS_AS(guarded(1), cascade::BreakerOpen);
    clock.advance(1s);
    CHECK(guarded.state() == cascade::BreakerState::half_open);
    *model.failing = false;
    CHECK(guarded(5) == 5);
    CHECK(guarded.state() == cascade::BreakerState::closed);
    CHECK(guarded(6) == 6);
}

TEST_CASE("a failed probe opens the breaker again for a whole cool-down") {
    cascade::ManualClock clock;
    Switchable model;
    auto guarded = cascade::with_breaker(model, cascade::BreakerPolicy{2, 10s, 1}, clock);
    *model.failing = true;
    fail_times(guarded, 2);
    clock.advance(10s);
    fail_times(guarded, 1);  // the probe
    CHECK(guarded.state() == cascade::BreakerState::open);
    CHECK(guarded.stats().opened == 2);
    clock.advance(4s);
    try {
        (void)guarded(1);
        FAIL("the breaker let a call through");
    } catch (const cascade::BreakerOpen& e) {
        CHECK(e.retry_after() == 6s);
    }
}

TEST_CASE("while half-open, lets only half_open_probes calls through at once") {
    cascade::ManualClock clock;
    cascade::CircuitBreaker<cascade::ManualClock> breaker{cascade::BreakerPolicy{1, 1s, 2}, clock};
    breaker.record_failure(breaker.admit());
    CHECK(breaker.state() == cascade::BreakerState::open);
    clock.advance(1s);
    const auto first = breaker.admit();
    const auto second = breaker.admit();
    CHECK(first.probe);
    CHECK(second.probe);
    CHECK_THROWS_AS(breaker.admit(), cascade::BreakerOpen);
    breaker.record_success(first);
    CHECK(breaker.state() == cascade::BreakerState::closed);
    breaker.record_failure(second);  // a late probe failure does not reopen a closed breaker
    CHECK(breaker.state() == cascade::BreakerState::closed);
    CHECK_FALSE(breaker.admit().probe);
}

TEST_CASE("errors that say nothing of the service's health do not count") {
    cascade::ManualClock clock;
    auto guarded = cascade::with_breaker([](int) -> int { throw cascade::NotRetryable("400 bad request"); },
                                         cascade::BreakerPolicy{2, 10s, 1}, clock);
    for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(guarded(i), cascade::NotRetryable);
    CHECK(guarded.state() == cascade::BreakerState::closed);
    CHECK(guarded.stats().failures == 0);
}

TEST_CASE("in a cascade, an open breaker records the tier as failed and the query escalates") {
    cascade::ManualClock clock;
    Switchable model;
    *model.failing = true;
    cascade::Cascade c{cascade::tier("mini", cascade::with_breaker(model, cascade::BreakerPolicy{1, 30s, 1}, clock)),
                       cascade::tier("big", [](int x) { return x + 100; })};
    CHECK(c.run(1).value() == 101);  // the failure that opens it
    auto r = c.run(2);
    CHECK(r.value() == 102);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    CHECK(contains(r.trace()[0].error, "circuit breaker"));
    CHECK(*model.calls == 1);
    CHECK(c.stats().tiers[0].model_errors == 2);
}

TEST_CASE("a retry wrapper outside the breaker waits out the cool-down and probes") {
    cascade::ManualClock clock;
    Switchable model;
    auto guarded = cascade::with_breaker(model, cascade::BreakerPolicy{1, 10s, 1}, clock);
    auto shared = guarded.breaker();
    auto retrying = cascade::with_retry(std::move(guarded), cascade::RetryPolicy{2, 1ms, 30s, 2.0, 0.0},
                                        cascade::retry_any_error, clock);
    *model.failing = true;
    CHECK_THROWS_AS(retrying(1), std::runtime_error);  // fails, opens; the retry is refused with a 10 s hint...
    *model.failing = false;
    CHECK(shared->state() == cascade::BreakerState::open);
    const auto before = clock.elapsed();
    CHECK(retrying(7) == 7);  // ...this time the refusal's hint is waited out and the probe answers
    CHECK(shared->state() == cascade::BreakerState::closed);
    CHECK(clock.elapsed() - before >= 9s);
}

TEST_CASE("wrappers that share a breaker open and close together") {
    cascade::ManualClock clock;
    auto breaker = std::make_shared<cascade::CircuitBreaker<cascade::ManualClock>>(cascade::BreakerPolicy{2, 5s, 1}, clock,
                                                                                  "endpoint");
    auto chat = cascade::with_breaker([](int) -> int { throw std::runtime_error("down"); }, breaker);
    auto embed = cascade::with_breaker([](int x) { return x; }, breaker);
    CHECK_THROWS_AS(chat(1), std::runtime_error);
    CHECK_THROWS_AS(chat(1), std::runtime_error);
    try {
        (void)embed(1);
        FAIL("the shared breaker let a call through");
    } catch (const cascade::BreakerOpen& e) {
        CHECK(contains(e.what(), "\"endpoint\""));
    }
}

TEST_CASE("rejects a breaker policy that cannot work, naming the field to fix") {
    auto rejects = [](cascade::BreakerPolicy p) {
        return invalid_argument_message([&] { (void)cascade::with_breaker([](int x) { return x; }, p); });
    };
    CHECK(contains(rejects({0, 1s, 1}), "failure_threshold must be >= 1"));
    CHECK(contains(rejects({3, 0s, 1}), "cool_down must be > 0"));
    CHECK(contains(rejects({3, -5s, 1}), "got -5 s"));
    CHECK(contains(rejects({3, 1s, 0}), "half_open_probes must be >= 1"));
    CHECK(contains(invalid_argument_message([] {
                       (void)cascade::with_breaker([](int x) { return x; },
                                                   std::shared_ptr<cascade::CircuitBreaker<>>{});
                   }),
                   "must not be null"));
}

TEST_CASE("the counters stay consistent when many threads call through a flapping breaker") {
    cascade::ManualClock clock;
    std::atomic<int> model_calls{0};
    auto guarded = cascade::with_breaker(
        [&](int x) {
            // Bursts: 50 calls fail, 50 succeed, over and over.
            if ((model_calls.fetch_add(1) / 50) % 2 == 0) throw std::runtime_error("burst");
            return x;
        },
        cascade::BreakerPolicy{5, 1ms, 2}, clock);
    constexpr int threads = 8;
    constexpr int per_thread = 3000;
    std::atomic<int> refused{0};
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    cascade_test::on_threads(threads, per_thread, [&](int, int i) {
        try {
            (void)guarded(i);
            answered.fetch_add(1);
        } catch (const cascade::BreakerOpen&) {
            refused.fetch_add(1);
            clock.advance(100us);
        } catch (const std::runtime_error&) {
            failed.fetch_add(1);
        }
    });
    const auto s = guarded.stats();
    CHECK(s.calls == static_cast<std::uint64_t>(model_calls.load()));
    CHECK(s.successes == static_cast<std::uint64_t>(answered.load()));
    CHECK(s.failures == static_cast<std::uint64_t>(failed.load()));
    CHECK(s.rejected == static_cast<std::uint64_t>(refused.load()));
    CHECK(s.calls + s.rejected == threads * per_thread);
    CHECK(s.opened >= 1);
}

TEST_CASE("a breaker given no name is called a circuit breaker, without a name made up for it") {
    cascade::ManualClock clock;
    auto guarded = cascade::with_breaker([](int) -> int { throw std::runtime_error("down"); },
                                         cascade::BreakerPolicy{1, 10s, 1}, clock);
    CHECK_THROWS(guarded(1));
    std::string message;
    try {
        (void)guarded(1);
    } catch (const cascade::BreakerOpen& e) {
        message = e.what();
    }
    CHECK(message == "cascade: circuit breaker refused the call: it is open (retry in 10 s)");
}
