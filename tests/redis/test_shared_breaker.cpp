// The fleet-wide circuit breaker against a real redis-server. Two SharedBreaker objects with
// Clients of their own on one name stand in for two replicas: one's failures open it for the
// other, one probe goes out after the cool-down, and its outcome decides for all.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/integration/redis/shared_breaker.hpp>

#include "catch.hpp"
#include "own_redis_server.hpp"
#include "redis_test_server.hpp"

using namespace std::chrono_literals;
using cascade::redis::SharedBreaker;
using cascade::redis::SharedBreakerOptions;
using cascade::redis::WhenUnavailable;
using cascade_test::fixture_server;
using cascade_test::Recorder;
using cascade_test::unique_name;

namespace {

SharedBreakerOptions options_for(int threshold, std::chrono::milliseconds cool_down,
                                 std::chrono::milliseconds sync_interval) {
    SharedBreakerOptions options;
    options.policy = cascade::BreakerPolicy{threshold, cool_down, 1};
    options.sync_interval = sync_interval;
    return options;
}

// A replica: its own Client, its own breaker object, the shared name. The Client comes first, so
// that it outlives the breaker that refers to it.
struct Replica {
    Replica(const std::string& name, const SharedBreakerOptions& options)
        : client(fixture_server()),
          breaker(client, name, options) {}
    cascade::redis::Client client;
    SharedBreaker breaker;
};

int failing(int) { throw std::runtime_error("service down"); }
int answering(int x) { return x; }

// Opens the breaker through `breaker` with `threshold` failures.
void open_through(SharedBreaker& breaker, int threshold) {
    auto model = cascade::redis::with_shared_breaker(failing, breaker);
    for (int i = 0; i < threshold; ++i) CHECK_THROWS_WITH(model(i), "service down");
}

// Waits, without a bound on the time, until the shared cool-down is over, on the server and in
// the end of it that `breaker` noted when it opened it (a round trip later than the server's).
void wait_for_half_open(SharedBreaker& breaker) {
    while (breaker.state() == cascade::BreakerState::open || breaker.stats().state == cascade::BreakerState::open) {
        std::this_thread::sleep_for(5ms);
    }
}

}  // namespace

TEST_CASE("one replica's failures open the shared breaker for another, with the event from the first only") {
    const std::string name = unique_name("opens");
    const auto options = options_for(3, 60s, 100ms);
    Replica a(name, options);
    Replica b(name, options);
    Recorder heard_a;
    Recorder heard_b;
    a.breaker.set_event_hook(heard_a.hook());
    b.breaker.set_event_hook(heard_b.hook());
    open_through(a.breaker, 3);
    CHECK(heard_a.count(cascade::EventKind::breaker_opened) == 1);
    CHECK(a.breaker.stats().opened == 1);

    bool called = false;
    auto model_b = cascade::redis::with_shared_breaker(
        [&](int x) {
            called = true;
            return x;
        },
        b.breaker);
    try {
        model_b(1);
        FAIL("replica b called through an open breaker");
    } catch (const cascade::BreakerOpen& e) {
        CHECK(e.retry_after() > 0ns);
        CHECK(e.retry_after() <= 60s);  // the rest of the shared cool-down
        CHECK(std::string(e.what()).find("it is open") != std::string::npos);
    }
    CHECK_FALSE(called);
    CHECK(b.breaker.state() == cascade::BreakerState::open);
    CHECK(heard_b.count(cascade::EventKind::breaker_opened) == 0);
    CHECK(b.breaker.stats().rejected == 1);
}

TEST_CASE("a replica may call within its sync window after another opened the breaker, and learns on its failure") {
    const std::string name = unique_name("window");
    const auto options = options_for(2, 60s, 1h);  // a window that does not end during the test
    Replica a(name, options);
    Replica b(name, options);
    int calls_b = 0;
    auto model_b = cascade::redis::with_shared_breaker(
        [&](int x) -> int {
            ++calls_b;
            if (x < 0) throw std::runtime_error("service down");
            return x;
        },
        b.breaker);
    CHECK(model_b(1) == 1);  // b has read the state: closed
    open_through(a.breaker, 2);
    CHECK(model_b(2) == 2);  // the documented window: b still trusts what it read
    CHECK_THROWS_WITH(model_b(-1), "service down");
    CHECK_THROWS_AS(model_b(3), cascade::BreakerOpen);  // its failure's report told it the state
    CHECK(calls_b == 3);
    CHECK(b.breaker.stats().opened == 0);  // it did not open it: a had
}

TEST_CASE("a success resets the shared count of consecutive failures") {
    const std::string name = unique_name("reset");
    const auto options = options_for(2, 60s, 1h);
    Replica a(name, options);
    Replica b(name, options);
    auto failing_a = cascade::redis::with_shared_breaker(failing, a.breaker);
    auto answering_b = cascade::redis::with_shared_breaker(answering, b.breaker);
    CHECK_THROWS(failing_a(1));
    CHECK(answering_b(1) == 1);  // b reads the count, 1, so reports its success
    CHECK(b.breaker.stats().syncs == 2);
    CHECK_THROWS(failing_a(2));  // 1 again, not 2
    CHECK(a.breaker.state() == cascade::BreakerState::closed);
    CHECK(answering_b(2) == 2);
}

TEST_CASE("a closed breaker costs no round trip per call within the sync interval") {
    Replica replica(unique_name("cheap"), options_for(2, 60s, 1h));
    SharedBreaker& breaker = replica.breaker;
    auto model = cascade::redis::with_shared_breaker(answering, breaker);
    for (int i = 0; i < 100; ++i) CHECK(model(i) == i);
    CHECK(breaker.stats().syncs == 1);
    CHECK(breaker.stats().calls == 100);
}

TEST_CASE(
    "after the cool-down exactly one of many concurrent callers across replicas probes, and its success closes for "
    "all") {
    const std::string name = unique_name("probe");
    const auto options = options_for(1, 200ms, 0ms);
    std::vector<std::unique_ptr<Replica>> replicas;
    for (int r = 0; r < 4; ++r) replicas.push_back(std::make_unique<Replica>(name, options));
    open_through(replicas[0]->breaker, 1);
    wait_for_half_open(replicas[0]->breaker);

    std::atomic<int> entered{0};
    std::atomic<int> rejected{0};
    std::atomic<int> other{0};
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> go;
    std::shared_future<void> start = go.get_future().share();
    std::vector<std::thread> callers;
    for (int r = 0; r < 4; ++r) {
        for (int t = 0; t < 4; ++t) {
            auto model = cascade::redis::with_shared_breaker(
                [&entered, released](int x) {
                    ++entered;
                    released.wait();
                    return x;
                },
                replicas[static_cast<std::size_t>(r)]->breaker);
            callers.emplace_back([model, start, &rejected, &other]() mutable {
                start.wait();
                try {
                    model(1);
                } catch (const cascade::BreakerOpen&) {
                    ++rejected;
                } catch (...) {
                    ++other;
                }
            });
        }
    }
    go.set_value();
    // Every caller has either entered the model (where it waits) or been turned away.
    while (entered.load() + rejected.load() + other.load() < 16) std::this_thread::sleep_for(1ms);
    CHECK(entered.load() == 1);
    CHECK(rejected.load() == 15);
    CHECK(other.load() == 0);
    release.set_value();
    for (auto& c : callers) c.join();
    for (const auto& r : replicas) {
        CHECK(r->breaker.state() == cascade::BreakerState::closed);
        auto model = cascade::redis::with_shared_breaker(answering, r->breaker);
        CHECK(model(5) == 5);
    }
}

TEST_CASE("a failed probe opens the shared breaker again for a whole cool-down, reported by the prober") {
    const std::string name = unique_name("reopen");
    const auto options = options_for(1, 200ms, 0ms);
    Replica a(name, options);
    Replica b(name, options);
    Recorder heard_b;
    b.breaker.set_event_hook(heard_b.hook());
    open_through(a.breaker, 1);
    wait_for_half_open(a.breaker);
    auto failing_b = cascade::redis::with_shared_breaker(failing, b.breaker);
    CHECK_THROWS_WITH(failing_b(1), "service down");  // b probed, and failed
    CHECK(heard_b.count(cascade::EventKind::breaker_opened) == 1);
    CHECK(b.breaker.stats().opened == 1);
    CHECK(a.breaker.state() == cascade::BreakerState::open);
    auto answering_a = cascade::redis::with_shared_breaker(answering, a.breaker);
    CHECK_THROWS_AS(answering_a(1), cascade::BreakerOpen);
}

TEST_CASE("a probe that ends with an error saying nothing of the service gives the probe back") {
    const std::string name = unique_name("neutral");
    const auto options = options_for(1, 200ms, 0ms);
    Replica a(name, options);
    Replica b(name, options);
    open_through(a.breaker, 1);
    wait_for_half_open(a.breaker);
    auto refused =
        cascade::redis::with_shared_breaker([](int) -> int { throw cascade::NotRetryable("bad request"); }, a.breaker);
    CHECK_THROWS_AS(refused(1), cascade::NotRetryable);  // a took the probe and gave it back
    auto answering_b = cascade::redis::with_shared_breaker(answering, b.breaker);
    CHECK(answering_b(2) == 2);  // so b may probe at once, and closes it
    CHECK(a.breaker.state() == cascade::BreakerState::closed);
}

TEST_CASE("in a cascade, a shared breaker opened elsewhere records the tier as failed and the query escalates") {
    const std::string name = unique_name("cascade");
    const auto options = options_for(1, 60s, 0ms);
    Replica a(name, options);
    open_through(a.breaker, 1);
    Replica b(name, options);
    cascade::Cascade c{cascade::tier("mini", cascade::redis::with_shared_breaker(answering, b.breaker)),
                       cascade::tier("big", [](int x) { return x + 100; })};
    auto r = c.run(1);
    CHECK(r.value() == 101);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    CHECK(r.trace()[0].error.find("shared circuit breaker \"" + name + "\"") != std::string::npos);
}

TEST_CASE("an unreachable server refuses calls under fail_closed, with the event") {
    cascade::redis::ServerOptions server;
    server.port = cascade_test::free_loopback_port();
    cascade::redis::Client client{server};
    SharedBreaker breaker(client, "down", options_for(2, 60s, 100ms));
    Recorder events;
    cascade::CascadeOptions cascade_options;
    cascade_options.on_event = events.hook();
    bool called = false;
    cascade::Cascade c{cascade_options, cascade::tier("mini", cascade::redis::with_shared_breaker(
                                                                  [&](int x) {
                                                                      called = true;
                                                                      return x;
                                                                  },
                                                                  breaker))};
    auto r = c.run(1);
    CHECK_FALSE(called);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    REQUIRE(events.count(cascade::EventKind::shared_state_unavailable) == 1);
    {
        std::lock_guard<std::mutex> lock(events.mutex);
        const auto at =
            std::find(events.kinds.begin(), events.kinds.end(), cascade::EventKind::shared_state_unavailable);
        CHECK(events.details[static_cast<std::size_t>(at - events.kinds.begin())].rfind("refused (fail closed): ", 0) ==
              0);
    }
    CHECK(breaker.stats().unavailable == 1);
    CHECK(breaker.stats().local_fallbacks == 0);
}

TEST_CASE("an unreachable server hands the decision to the local twin under use_local, which still opens") {
    cascade::redis::ServerOptions server;
    server.port = cascade_test::free_loopback_port();
    auto options = options_for(2, 60s, 100ms);
    options.when_unavailable = WhenUnavailable::use_local;
    cascade::redis::Client client{server};
    SharedBreaker breaker(client, "down", options);
    Recorder events;
    breaker.set_event_hook(events.hook());
    int calls = 0;
    auto model = cascade::redis::with_shared_breaker(
        [&](int) -> int {
            ++calls;
            throw std::runtime_error("service down");
        },
        breaker);
    CHECK_THROWS_WITH(model(1), "service down");
    CHECK_THROWS_WITH(model(2), "service down");  // opens the local twin
    CHECK_THROWS_AS(model(3), cascade::BreakerOpen);
    CHECK(calls == 2);
    CHECK(events.count(cascade::EventKind::breaker_opened) == 1);
    CHECK(events.count(cascade::EventKind::shared_state_unavailable) == 3);
    {
        std::lock_guard<std::mutex> lock(events.mutex);
        for (std::size_t i = 0; i < events.kinds.size(); ++i) {
            if (events.kinds[i] == cascade::EventKind::shared_state_unavailable) {
                CHECK(events.details[i].rfind("used the local twin: ", 0) == 0);
            }
        }
    }
    CHECK(breaker.local().state() == cascade::BreakerState::open);
    CHECK(breaker.stats().local_fallbacks == 3);
}

TEST_CASE("a key holding another type is reported with its name") {
    cascade::redis::Client client{fixture_server()};
    SharedBreaker breaker(client, unique_name("wrong-type"), options_for(2, 60s, 0ms));
    client.command({"RPUSH", breaker.state_key(), "not a hash"});
    auto model = cascade::redis::with_shared_breaker(answering, breaker);
    try {
        model(1);
        FAIL("a list was taken for the breaker's state");
    } catch (const cascade::redis::RedisError& e) {
        CHECK(e.kind() == cascade::redis::RedisErrorKind::wrong_type);
        CHECK(std::string(e.what()).find("the key " + breaker.state_key() + " holds a list") != std::string::npos);
    }
    client.command({"DEL", breaker.state_key()});
}

TEST_CASE("a shared breaker that cannot work is rejected, naming the field") {
    cascade::redis::Client client{fixture_server()};
    using Catch::Matchers::ContainsSubstring;
    SharedBreakerOptions probes = options_for(2, 1s, 0ms);
    probes.policy.half_open_probes = 2;
    CHECK_THROWS_WITH(SharedBreaker(client, "x", probes), ContainsSubstring("half_open_probes must be 1"));
    CHECK_THROWS_WITH(SharedBreaker(client, "x", options_for(0, 1s, 0ms)), ContainsSubstring("failure_threshold"));
    CHECK_THROWS_WITH(SharedBreaker(client, "x", options_for(2, 0s, 0ms)), ContainsSubstring("cool_down"));
    CHECK_THROWS_WITH(SharedBreaker(client, "x", options_for(2, 1s, -1ms)),
                      ContainsSubstring("sync_interval must be >= 0"));
    SharedBreakerOptions lease = options_for(2, 1s, 0ms);
    lease.probe_lease = 0ms;
    CHECK_THROWS_WITH(SharedBreaker(client, "x", lease), ContainsSubstring("probe_lease"));
    CHECK_THROWS_WITH(SharedBreaker(client, "a b", options_for(2, 1s, 0ms)), ContainsSubstring("space"));
}
