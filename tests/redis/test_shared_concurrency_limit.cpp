// The fleet-wide concurrency limit against a real redis-server: never more calls at once than its
// slots across processes, a dead holder's slot comes back after its lease, a waiting call keeps to
// its deadline, and an unreachable server is handled as the policy says.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cascade/cascade.hpp>
#include <cascade/integration/redis/shared_concurrency_limit.hpp>

#include "catch.hpp"
#include "slot_holder.hpp"
#include "own_redis_server.hpp"
#include "redis_test_server.hpp"

using namespace std::chrono_literals;
using cascade::redis::SharedConcurrencyLimit;
using cascade::redis::SharedConcurrencyLimitOptions;
using cascade::redis::WhenUnavailable;
using cascade_test::fixture_server;
using cascade_test::Recorder;
using cascade_test::unique_name;

namespace {

SharedConcurrencyLimitOptions slots(std::size_t n, std::chrono::milliseconds lease = 10s) {
    SharedConcurrencyLimitOptions options;
    options.max_in_flight = n;
    options.lease = lease;
    return options;
}

using cascade_test::SlotHolder;

// Counters shared by forked processes: a lock-free atomic works across processes in a
// MAP_SHARED mapping.
struct SharedCounters {
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::atomic<int> ran{0};
    std::atomic<int> refused{0};
    std::atomic<int> other_errors{0};
};
static_assert(std::atomic<int>::is_always_lock_free, "the counters must work across processes");

}  // namespace

TEST_CASE("slots are never exceeded across processes, and every call runs or is refused") {
    constexpr int processes = 8;
    constexpr int threads = 4;
    constexpr int calls = 10;
    void* memory = ::mmap(nullptr, sizeof(SharedCounters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    auto* counters = new (memory) SharedCounters();
    const std::string name = unique_name("fleet");
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int status = 0;
            try {
                // Made after fork(): the renewal thread belongs to this process.
                cascade::redis::Client client{fixture_server()};
                SharedConcurrencyLimit limit(client, name, slots(5));
                auto model = cascade::redis::with_shared_concurrency_limit(
                    [counters](int x) {
                        const int now = ++counters->running;
                        int seen = counters->most.load();
                        while (now > seen && !counters->most.compare_exchange_weak(seen, now)) {}
                        std::this_thread::sleep_for(2ms);
                        --counters->running;
                        ++counters->ran;
                        return x;
                    },
                    limit, 30s);
                std::vector<std::thread> workers;
                for (int t = 0; t < threads; ++t) {
                    workers.emplace_back([model, counters]() mutable {
                        for (int i = 0; i < calls; ++i) {
                            try {
                                model(i);
                            } catch (const cascade::ConcurrencyLimitReached&) {
                                ++counters->refused;
                            } catch (...) {
                                ++counters->other_errors;
                            }
                        }
                    });
                }
                for (auto& w : workers) w.join();
            } catch (...) {
                status = 1;
            }
            ::_exit(status);
        }
        children.push_back(pid);
    }
    for (const pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(counters->other_errors.load() == 0);
    CHECK(counters->ran.load() + counters->refused.load() == processes * threads * calls);  // nothing lost
    CHECK(counters->ran.load() > 0);
    CHECK(counters->most.load() <= 5);
    CHECK(counters->most.load() >= 2);  // the processes did overlap
    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit observer(client, name, slots(5));
    CHECK(observer.in_flight() == 0);  // every slot was released
    counters->~SharedCounters();
    ::munmap(memory, sizeof(SharedCounters));
}

TEST_CASE("a long call keeps its slot past its lease, and a killed holder's slot comes back after it") {
    const std::string name = unique_name("killed");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(ready[0]);
        try {
            cascade::redis::Client client{fixture_server()};
            SharedConcurrencyLimit limit(client, name, slots(1, 600ms));
            auto model = cascade::redis::with_shared_concurrency_limit(
                [&](int) {
                    const char byte = 1;
                    if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
                    for (;;) std::this_thread::sleep_for(1s);  // holds the slot until killed
                    return 0;
                },
                limit);
            model(1);
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    ::close(ready[1]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);  // the child holds the only slot
    ::close(ready[0]);

    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit limit(client, name, slots(1, 600ms));
    CHECK_THROWS_AS(limit.acquire(0ns), cascade::ConcurrencyLimitReached);
    // Leases later the slot is still taken: the child's renewals keep it.
    std::this_thread::sleep_for(1500ms);
    CHECK(limit.in_flight() == 1);
    CHECK_THROWS_AS(limit.acquire(0ns), cascade::ConcurrencyLimitReached);

    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    {
        const SharedConcurrencyLimit::Slot slot = limit.acquire(30s);  // once the dead holder's lease ends
        CHECK_FALSE(slot.local());
        CHECK(limit.in_flight() == 1);
    }
    CHECK(limit.in_flight() == 0);
    const auto stats = limit.stats();
    CHECK(stats.reclaimed == 1);
    CHECK(stats.acquired == 1);
    CHECK(stats.refused == 2);
}

TEST_CASE("a call that finds no slot gives up at its deadline, not after the long max_wait") {
    const std::string name = unique_name("deadline");
    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit limit(client, name, slots(1));
    SlotHolder slot_holder;
    Recorder events;
    cascade::CascadeOptions options;
    options.limits.timeout = 50ms;
    options.on_event = events.hook();
    cascade::Cascade c{
        options, cascade::tier("mini", cascade::redis::with_shared_concurrency_limit(slot_holder.model(), limit, 1h)),
        cascade::tier("big", [](int x) { return -x; })};
    std::promise<void> holder_done;
    std::thread holder([&] {
        c.run(1, cascade::Limits{});
        holder_done.set_value();
    });
    slot_holder.wait_until_held();
    auto r = c.run(2);
    // The holder still holds the slot: the call did not wait for it.
    CHECK(holder_done.get_future().wait_for(0s) == std::future_status::timeout);
    CHECK(r.trace()[0].status == cascade::AttemptStatus::model_error);
    INFO(r.trace()[0].error);
    CHECK(r.trace()[0].error.find("the only slot stayed busy") != std::string::npos);
    {
        std::lock_guard<std::mutex> lock(events.mutex);
        CHECK(std::count(events.kinds.begin(), events.kinds.end(), cascade::EventKind::concurrency_limited) == 1);
    }
    slot_holder.release();
    holder.join();
    CHECK(limit.in_flight() == 0);
    CHECK(limit.stats().refused == 1);
}

TEST_CASE("a slot is given back when the call throws") {
    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit limit(client, unique_name("throws"), slots(1));
    auto model = cascade::redis::with_shared_concurrency_limit(
        [](int x) -> int {
            if (x < 0) throw std::runtime_error("down");
            return x;
        },
        limit, 0ns);
    CHECK_THROWS_WITH(model(-1), "down");
    CHECK(limit.in_flight() == 0);
    CHECK(model(7) == 7);  // no wait allowed: the slot must be free at once
}

TEST_CASE("an unreachable server refuses the call under fail_closed, with the event") {
    cascade::redis::ServerOptions server;
    server.port = cascade_test::free_loopback_port();
    cascade::redis::Client client{server};
    SharedConcurrencyLimit limit(client, "down", slots(2));
    Recorder events;
    limit.set_event_hook(events.hook());
    bool called = false;
    auto model = cascade::redis::with_shared_concurrency_limit(
        [&](int x) {
            called = true;
            return x;
        },
        limit);
    try {
        model(1);
        FAIL("the call went through without Redis");
    } catch (const cascade::redis::RedisError& e) {
        CHECK(e.kind() == cascade::redis::RedisErrorKind::unreachable);
    }
    CHECK_FALSE(called);
    REQUIRE(events.kinds.size() == 1);
    CHECK(events.kinds[0] == cascade::EventKind::shared_state_unavailable);
    CHECK(events.details[0].rfind("refused (fail closed): ", 0) == 0);
    const auto stats = limit.stats();
    CHECK_FALSE(stats.in_flight.has_value());
    CHECK(stats.unavailable == 1);
    CHECK(stats.local_fallbacks == 0);
}

TEST_CASE("an unreachable server hands the call to the local limit under use_local, which still limits") {
    cascade::redis::ServerOptions server;
    server.port = cascade_test::free_loopback_port();
    SharedConcurrencyLimitOptions options = slots(5);
    options.when_unavailable = WhenUnavailable::use_local;
    options.local_max_in_flight = 1;
    cascade::redis::Client client{server};
    SharedConcurrencyLimit limit(client, "down", options);
    Recorder events;
    limit.set_event_hook(events.hook());
    SlotHolder slot_holder;
    auto model = cascade::redis::with_shared_concurrency_limit(slot_holder.model(), limit, 0ns);
    std::thread holder([&model] { model(1); });
    slot_holder.wait_until_held();
    CHECK_THROWS_AS(model(2), cascade::ConcurrencyLimitReached);  // the local limit has one slot
    slot_holder.release();
    holder.join();
    CHECK(model(3) == 3);
    {
        std::lock_guard<std::mutex> lock(events.mutex);
        REQUIRE(events.kinds.size() == 4);  // three calls fell back, one of them was refused
        CHECK(std::count(events.kinds.begin(), events.kinds.end(), cascade::EventKind::shared_state_unavailable) == 3);
        CHECK(std::count(events.kinds.begin(), events.kinds.end(), cascade::EventKind::concurrency_limited) == 1);
        for (std::size_t i = 0; i < events.kinds.size(); ++i) {
            if (events.kinds[i] == cascade::EventKind::shared_state_unavailable) {
                CHECK(events.details[i].rfind("used the local twin: ", 0) == 0);
            }
        }
    }
    const auto stats = limit.stats();
    CHECK(stats.local_fallbacks == 3);
    CHECK(stats.refused == 1);
}

TEST_CASE("a server demoted to a read-only replica hands the call to the local limit under use_local") {
    cascade_test::OwnRedisServer server;
    cascade::redis::Client client{server.options()};
    SharedConcurrencyLimitOptions options = slots(2);
    options.when_unavailable = WhenUnavailable::use_local;
    options.local_max_in_flight = 1;
    SharedConcurrencyLimit limit(client, "demoted", options);
    Recorder events;
    limit.set_event_hook(events.hook());
    { CHECK_FALSE(limit.acquire(0ns).local()); }
    // A replica of a primary that is not there: it answers, but refuses every write (READONLY),
    // as a primary does for a moment after a failover demoted it.
    client.command({"REPLICAOF", "127.0.0.1", "1"});
    {
        const SharedConcurrencyLimit::Slot slot = limit.acquire(0ns);
        CHECK(slot.local());
    }
    {
        std::lock_guard<std::mutex> lock(events.mutex);
        REQUIRE(events.kinds.size() == 1);
        CHECK(events.kinds[0] == cascade::EventKind::shared_state_unavailable);
        CHECK(events.details[0].rfind("used the local twin: ", 0) == 0);
        CHECK(events.details[0].find("READONLY") != std::string::npos);
    }
    CHECK(limit.stats().local_fallbacks == 1);
    client.command({"REPLICAOF", "NO", "ONE"});
    CHECK_FALSE(limit.acquire(0ns).local());
}

TEST_CASE("a call that may wait forever waits until a slot frees") {
    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit limit(client, unique_name("forever"), slots(1));
    std::optional<SharedConcurrencyLimit::Slot> held(limit.acquire(0ns));
    std::promise<void> waiting;
    std::thread releaser([&] {
        waiting.get_future().wait();
        std::this_thread::sleep_for(50ms);  // the waiter has polled and found the slot busy
        held.reset();
    });
    waiting.set_value();
    CHECK_NOTHROW(limit.acquire(std::chrono::nanoseconds::max()));
    releaser.join();
    CHECK(limit.stats().refused == 0);
}

TEST_CASE("a replica with a short lease does not cut the key's life below another's longer lease") {
    cascade::redis::Client client{fixture_server()};
    const std::string name = unique_name("leases");
    SharedConcurrencyLimit long_lease(client, name, slots(2, std::chrono::hours(1)));
    SharedConcurrencyLimit short_lease(client, name, slots(2, 100ms));
    const SharedConcurrencyLimit::Slot held = long_lease.acquire(0ns);
    { const SharedConcurrencyLimit::Slot brief = short_lease.acquire(0ns); }
    // The long lease ends in an hour: the key that holds it must last at least that long.
    CHECK(client.command({"PTTL", long_lease.key()}).integer() > 3600 * 1000);
    CHECK(long_lease.in_flight() == 1);
}

TEST_CASE("a key holding another type is reported with its name") {
    cascade::redis::Client client{fixture_server()};
    SharedConcurrencyLimit limit(client, unique_name("wrong-type"), slots(1));
    client.command({"SET", limit.key(), "not a sorted set"});
    try {
        (void)limit.acquire(0ns);
        FAIL("a string key was taken for the leases");
    } catch (const cascade::redis::RedisError& e) {
        CHECK(e.kind() == cascade::redis::RedisErrorKind::wrong_type);
        CHECK(std::string(e.what()).find("the key " + limit.key() + " holds a string") != std::string::npos);
    }
    client.command({"DEL", limit.key()});
}

TEST_CASE("a shared concurrency limit that cannot work is rejected, naming the field") {
    cascade::redis::Client client{fixture_server()};
    using Catch::Matchers::ContainsSubstring;
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "x", slots(0)),
                      ContainsSubstring("max_in_flight must be at least 1"));
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "x", slots(1, 10ms)),
                      ContainsSubstring("lease must be at least 30 ms"));
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "x", slots(1, std::chrono::milliseconds::max())),
                      ContainsSubstring("lease must be at most 7 days"));
    SharedConcurrencyLimitOptions local = slots(1);
    local.when_unavailable = WhenUnavailable::use_local;
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "x", local), ContainsSubstring("local_max_in_flight"));
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "a{b}", slots(1)), ContainsSubstring("hash tag"));
    CHECK_THROWS_WITH(SharedConcurrencyLimit(client, "", slots(1)), ContainsSubstring("is empty"));
    SharedConcurrencyLimit limit(client, "x", slots(1));
    CHECK_THROWS_WITH(cascade::redis::with_shared_concurrency_limit([](int x) { return x; }, limit, -1ms),
                      ContainsSubstring("max_wait must be >= 0"));
}
