// Every shared component across a Redis restart mid-run, on a server of the test's own that keeps
// its data in an append-only file (synced on every write), as a production Redis does: what each
// policy does while Redis is down, and that nothing is lost or charged twice once it is back.
#include <cascade/integration/redis/shared_breaker.hpp>
#include <cascade/integration/redis/shared_budget.hpp>
#include <cascade/integration/redis/shared_cache.hpp>
#include <cascade/integration/redis/shared_concurrency_limit.hpp>
#include <cascade/runtime/budget.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "own_redis_server.hpp"

namespace redis = cascade::redis;
using namespace std::chrono_literals;

namespace {

struct Priced {
    std::uint64_t micro_dollars;
};

cascade_test::OwnRedisServer persistent_server() {
    return cascade_test::OwnRedisServer({"--appendonly", "yes", "--appendfsync", "always"});
}

redis::ServerOptions quick_to_notice(const cascade_test::OwnRedisServer& server) {
    redis::ServerOptions o = server.options();
    o.command_timeout = 500ms;
    o.connect_timeout = 500ms;
    o.reconnect_backoff = 10ms;
    return o;
}

// Runs `calls` on 4 threads while the server goes down for a moment and comes back.
template <class Call>
void run_through_a_restart(cascade_test::OwnRedisServer& server, Call call) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::uint64_t i = static_cast<std::uint64_t>(t);
            while (!stop.load()) {
                call(i);
                i += 4;
                std::this_thread::sleep_for(200us);
            }
        });
    }
    std::this_thread::sleep_for(200ms);
    server.stop();
    std::this_thread::sleep_for(300ms);
    server.start();
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("a shared budget across a restart: fail_closed refuses while Redis is down, and every cost is charged once",
          "[concurrency]") {
    auto server = persistent_server();
    redis::Client client{quick_to_notice(server)};
    redis::SharedBudget budget{client, "restart-closed", 1000.0};
    std::atomic<std::uint64_t> paid_nano{0};
    std::atomic<int> answered{0};
    std::atomic<int> refused{0};
    int other_errors = 0;  // Catch's checks are not thread-safe: the threads count, the test checks
    std::mutex first_error_mutex;
    std::string first_error;
    auto model = cascade::with_budget([](std::uint64_t i) { return Priced{1 + i % 97}; }, budget, 0.001,
                                      [](const Priced& p) { return static_cast<double>(p.micro_dollars) * 1e-6; });
    run_through_a_restart(server, [&](std::uint64_t i) {
        try {
            const Priced p = model(i);
            paid_nano += cascade::detail::to_nano_dollars_up(static_cast<double>(p.micro_dollars) * 1e-6);
            ++answered;
        } catch (const redis::RedisError& e) {
            if (e.unavailable()) {
                ++refused;
            } else {
                std::lock_guard<std::mutex> lock(first_error_mutex);
                if (other_errors++ == 0) first_error = e.what();
            }
        }
    });
    CHECK(answered > 0);
    CHECK(refused > 0);  // fail_closed: while Redis was down no call went out unchecked
    INFO(first_error);
    CHECK(other_errors == 0);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    // Exact: every answered call is charged once, whether its settle went before the stop, was
    // retried after it, or was delivered and then retried because its answer was lost.
    CHECK(cascade::detail::to_nano_dollars_up(s.spent) == paid_nano.load());
    CHECK(s.undelivered_settles == 0);
    CHECK(s.local_fallbacks == 0);
    CHECK(s.unavailable >= static_cast<std::uint64_t>(refused.load()));
}

TEST_CASE("a shared budget across a restart: use_local spends from the twin while Redis is down, and the two add up",
          "[concurrency]") {
    auto server = persistent_server();
    redis::Client client{quick_to_notice(server)};
    cascade::Budget twin{1.0};
    redis::SharedBudgetOptions options;
    options.when_unavailable = redis::WhenUnavailable::use_local;
    options.local = &twin;
    std::atomic<int> events{0};
    options.on_event = [&](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::shared_state_unavailable) ++events;
    };
    redis::SharedBudget budget{client, "restart-local", 1000.0, options};
    std::atomic<std::uint64_t> paid_nano{0};
    std::atomic<int> failed{0};
    auto model = cascade::with_budget([](std::uint64_t i) { return Priced{1 + i % 89}; }, budget, 0.001,
                                      [](const Priced& p) { return static_cast<double>(p.micro_dollars) * 1e-6; });
    run_through_a_restart(server, [&](std::uint64_t i) {
        try {
            const Priced p = model(i);
            paid_nano += cascade::detail::to_nano_dollars_up(static_cast<double>(p.micro_dollars) * 1e-6);
        } catch (const std::exception&) {
            ++failed;
        }
    });
    CHECK(failed == 0);  // no call was refused: the twin answered for Redis
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(s.local_fallbacks > 0);
    CHECK(events > 0);
    CHECK(twin.stats().reserved == 0.0);
    CHECK(cascade::detail::to_nano_dollars_up(s.spent) + cascade::detail::to_nano_dollars_up(twin.spent()) ==
          paid_nano.load());
}

TEST_CASE("a restart that loses the data is never taken for a fresh budget") {
    cascade_test::OwnRedisServer server;  // no persistence
    redis::Client client{quick_to_notice(server)};
    redis::SharedBudget budget{client, "restart-forgets", 10.0};
    {
        auto r = budget.reserve(1.0);
        REQUIRE(r);
        budget.settle(std::move(*r), 1.0);
        REQUIRE(budget.flush(5s));
    }
    server.restart();
    std::optional<redis::RedisErrorKind> kind;
    for (int i = 0; i < 200 && !kind; ++i) {
        try {
            (void)budget.reserve(1.0);
            FAIL("a reservation was granted from a budget whose state is gone");
        } catch (const redis::RedisError& e) {
            if (e.kind() == redis::RedisErrorKind::lost_state) {
                kind = e.kind();
                CHECK_THAT(e.what(), Catch::Matchers::Contains(budget.state_key()));
            } else {
                std::this_thread::sleep_for(10ms);  // still reconnecting
            }
        }
    }
    CHECK(kind == redis::RedisErrorKind::lost_state);
    // Making it again is the explicit way to start over.
    redis::SharedBudget again{client, "restart-forgets", 10.0};
    CHECK(again.reserve(1.0).has_value());
}

TEST_CASE("a shared concurrency limit across a restart: slots are never exceeded and all come back",
          "[concurrency]") {
    auto server = persistent_server();
    redis::Client client{quick_to_notice(server)};
    redis::SharedConcurrencyLimitOptions options;
    options.max_in_flight = 2;
    options.lease = 1s;
    redis::SharedConcurrencyLimit limit{client, "restart-slots", options};
    std::atomic<int> in_flight{0};
    std::atomic<int> most{0};
    std::atomic<int> ran{0};
    std::atomic<int> refused{0};
    std::atomic<int> other_errors{0};
    auto model = redis::with_shared_concurrency_limit(
        [&](std::uint64_t i) {
            const int now = ++in_flight;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(100us);
            --in_flight;
            return i;
        },
        limit, 5s);
    run_through_a_restart(server, [&](std::uint64_t i) {
        try {
            (void)model(i);
            ++ran;
        } catch (const redis::RedisError& e) {
            ++(e.unavailable() ? refused : other_errors);
        } catch (const cascade::ConcurrencyLimitReached&) {
            ++refused;
        }
    });
    CHECK(most <= 2);
    CHECK(other_errors == 0);
    CHECK(ran > 0);
    CHECK(refused > 0);
    // A release lost in the outage holds its slot until its lease ends, no longer.
    std::optional<std::size_t> left;
    for (int i = 0; i < 300; ++i) {
        left = limit.stats().in_flight;
        if (left == std::size_t{0}) break;
        std::this_thread::sleep_for(10ms);
    }
    CHECK(left == std::size_t{0});
}

TEST_CASE("a shared breaker and a shared cache keep their state across a restart") {
    auto server = persistent_server();
    redis::Client first{quick_to_notice(server)};
    redis::Client second{quick_to_notice(server)};

    redis::SharedBreakerOptions breaker_options;
    breaker_options.policy = cascade::BreakerPolicy{2, 60s, 1};
    breaker_options.sync_interval = 0ms;
    redis::SharedBreaker opener{first, "restart-breaker", breaker_options};
    auto failing = redis::with_shared_breaker([](int) -> int { throw std::runtime_error("503"); }, opener);
    CHECK_THROWS_AS(failing(1), std::runtime_error);
    CHECK_THROWS_AS(failing(2), std::runtime_error);

    struct IntCodec {
        std::string encode(int v) const { return std::to_string(v); }
        std::optional<int> decode(std::string_view s) const { return std::stoi(std::string(s)); }
    };
    redis::SharedCacheOptions<int> cache_options;
    cache_options.max_entries = 16;
    redis::SharedCache<int, IntCodec> cache{first, "restart-cache", cache_options};
    cache.put("answer", 42);

    server.restart();

    // Another replica, after the restart, sees the breaker open and the cache entry.
    redis::SharedBreaker other{second, "restart-breaker", breaker_options};
    int calls = 0;
    auto guarded = redis::with_shared_breaker(
        [&](int x) {
            ++calls;
            return x;
        },
        other);
    std::optional<bool> open;
    for (int i = 0; i < 200 && !open; ++i) {
        try {
            (void)guarded(1);
            open = false;
        } catch (const cascade::BreakerOpen&) {
            open = true;
        } catch (const redis::RedisError&) {
            std::this_thread::sleep_for(10ms);  // still reconnecting
        }
    }
    CHECK(open == true);
    CHECK(calls == 0);
    redis::SharedCache<int, IntCodec> replica{second, "restart-cache", cache_options};
    const auto hit = replica.find("answer");
    REQUIRE(hit);
    CHECK(*hit == 42);
}

TEST_CASE("a shared cache misses while Redis is down, and the model answers") {
    auto server = persistent_server();
    redis::Client client{quick_to_notice(server)};
    struct IntCodec {
        std::string encode(int v) const { return std::to_string(v); }
        std::optional<int> decode(std::string_view s) const { return std::stoi(std::string(s)); }
    };
    redis::SharedCacheOptions<int> options;
    options.max_entries = 16;
    redis::SharedCache<int, IntCodec> cache{client, "down-cache", options};
    int calls = 0;
    auto model = cascade::with_cache(
        [&](int x) {
            ++calls;
            return x * 2;
        },
        cache, [](int x) { return std::to_string(x); });
    CHECK(model(1) == 2);
    CHECK(model(1) == 2);
    CHECK(calls == 1);
    server.stop();
    CHECK(model(1) == 2);  // a miss: the model answers
    CHECK(calls == 2);
    CHECK(cache.stats().unavailable >= 1);
    server.start();
    bool served = false;  // from Redis again, once the client has reconnected
    for (int i = 0; i < 200 && !served; ++i) {
        const int before = calls;
        CHECK(model(1) == 2);
        served = calls == before;
        if (!served) std::this_thread::sleep_for(10ms);
    }
    CHECK(served);
}
