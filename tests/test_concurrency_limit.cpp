// Per-tier concurrency limits: never more calls in flight than allowed, and a call that cannot
// get a slot in time fails the tier (the query escalates) instead of hanging.
#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/runtime/concurrency_limit.hpp>

#include "catch.hpp"
#include "slot_holder.hpp"

using namespace std::chrono_literals;

using cascade_test::SlotHolder;

TEST_CASE("no more calls than the limit run at once, and every call completes") {
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::atomic<int> done{0};
    auto model = cascade::with_concurrency_limit(
        [&](int x) {
            const int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(1ms);
            --running;
            ++done;
            return x;
        },
        2);
    cascade::Cascade c{cascade::tier("limited", model)};
    std::atomic<int> wrong{0};  // Catch2's assertions are not for worker threads: count, check after
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&c, &wrong, t] {
            for (int i = 0; i < 10; ++i)
                if (c.run(t * 100 + i).value() != t * 100 + i) ++wrong;
        });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(done == 80);
    CHECK(most.load() <= 2);
    CHECK(most.load() >= 1);
    CHECK(model.in_flight() == 0);
}

TEST_CASE("a call that finds every slot busy past its wait fails the tier and the query escalates") {
    SlotHolder slot_holder;
    auto limited = cascade::with_concurrency_limit(slot_holder.model(), 1, 0ns);
    cascade::Cascade c{cascade::tier("mini", limited), cascade::tier("big", [](int x) { return -x; })};
    std::thread holder([&c] { c.run(1); });
    slot_holder.wait_until_held();  // the only slot is taken
    auto r = c.run(2);
    CHECK(r.value() == -2);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    CHECK(r.trace()[0].error.find("the only slot stayed busy for 0 ns") != std::string::npos);
    slot_holder.release();
    holder.join();
    CHECK(c.run(3).value() == 3);  // the slot is free again
}

TEST_CASE("waiting for a slot stops at the query's deadline") {
    SlotHolder slot_holder;
    // No wait limit of its own: only the deadline ends the wait.
    auto limited = cascade::with_concurrency_limit(slot_holder.model(), 1);
    cascade::CascadeOptions options;
    options.limits.timeout = 20ms;
    cascade::Cascade c{options, cascade::tier("mini", limited), cascade::tier("big", [](int x) { return -x; })};
    std::thread holder([&c] { c.run(1, cascade::Limits{}); });
    slot_holder.wait_until_held();
    auto r = c.run(2);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    // The wait used up the query's time, so the next tier was not started either.
    CHECK(r.trace()[1].status == cascade::AttemptStatus::deadline_passed);
    CHECK(r.resolution() == cascade::Resolution::unanswered);
    slot_holder.release();
    holder.join();
}

TEST_CASE("a concurrency limit that cannot work is rejected") {
    auto model = [](int x) { return x; };
    CHECK_THROWS_WITH(cascade::with_concurrency_limit(model, 0), Catch::Matchers::ContainsSubstring("at least 1"));
    CHECK_THROWS_WITH(cascade::with_concurrency_limit(model, 1, -1ms), Catch::Matchers::ContainsSubstring(">= 0"));
}

TEST_CASE("a slot wait that runs out says how many slots, in the right number, and the wait readably") {
    SlotHolder slot_holder;
    auto limited = cascade::with_concurrency_limit(slot_holder.model(), 1, 1ms);
    std::vector<cascade::EventKind> seen;
    cascade::CascadeOptions options;
    options.on_event = [&seen](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::concurrency_limited) seen.push_back(e.kind);  // the caller's thread only
    };
    cascade::Cascade c{options, cascade::tier("mini", limited), cascade::tier("big", [](int x) { return -x; })};
    std::thread holder([&limited] { limited(1); });
    slot_holder.wait_until_held();
    auto r = c.run(2);
    CHECK_THAT(r.trace()[0].error, Catch::Matchers::ContainsSubstring("the only slot stayed busy for 1 ms"));
    CHECK(seen.size() == 1);
    slot_holder.release();
    holder.join();
}

TEST_CASE("with two slots busy, the message counts them in the plural") {
    SlotHolder first, second;
    auto both = [a = first.model(), b = second.model()](int x) mutable { return x == 1 ? a(1) : b(1); };
    auto limited = cascade::with_concurrency_limit(both, 2, 1ms);
    std::thread t1([&limited] { limited(1); });
    first.wait_until_held();
    std::thread t2([&limited] { limited(2); });
    second.wait_until_held();
    std::string message;
    try {
        limited(3);
    } catch (const cascade::ConcurrencyLimitReached& e) {
        message = e.what();
    }
    CHECK_THAT(message, Catch::Matchers::ContainsSubstring("all 2 slots stayed busy for 1 ms"));
    first.release();
    second.release();
    t1.join();
    t2.join();
}
