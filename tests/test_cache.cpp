#include "catch.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/runtime/cache.hpp>
#include <cascade/cascade.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

struct Reply {
    std::string text;
    double confidence;
};

}  // namespace

TEST_CASE("keeps the most recently used entries and evicts the least recently used one") {
    cascade::LruCache<int, std::string> cache{2};
    cache.put(1, "one");
    cache.put(2, "two");
    CHECK(cache.get(1) == std::optional<std::string>("one"));  // 1 is now the most recent
    cache.put(3, "three");                                       // evicts 2
    CHECK_FALSE(cache.get(2).has_value());
    CHECK(cache.get(1) == std::optional<std::string>("one"));
    CHECK(cache.get(3) == std::optional<std::string>("three"));
    const auto s = cache.stats();
    CHECK(s.hits == 3);
    CHECK(s.misses == 1);
    CHECK(s.evictions == 1);
    CHECK(s.size == 2);
    CHECK(s.capacity == 2);
}

TEST_CASE("putting a key again replaces its value without evicting") {
    cascade::LruCache<std::string, int> cache{2};
    cache.put("a", 1);
    cache.put("b", 2);
    cache.put("a", 10);
    CHECK(cache.size() == 2);
    CHECK(cache.get("a") == std::optional<int>(10));
    CHECK(cache.get("b") == std::optional<int>(2));
    CHECK(cache.stats().evictions == 0);
    CHECK(cache.erase("a"));
    CHECK_FALSE(cache.erase("a"));
    cache.clear();
    CHECK(cache.size() == 0);
}

TEST_CASE("entries expire after their time to live") {
    cascade::ManualClock clock;
    cascade::LruCache<int, int, cascade::ManualClock> cache{8, 10s, clock};
    cache.put(1, 100);
    clock.advance(9s);
    CHECK(cache.get(1) == std::optional<int>(100));
    clock.advance(1s);
    CHECK_FALSE(cache.get(1).has_value());
    CHECK(cache.stats().expirations == 1);
    CHECK(cache.size() == 0);
    cache.put(1, 200);  // a new put starts a new time to live
    clock.advance(5s);
    CHECK(cache.get(1) == std::optional<int>(200));
}

TEST_CASE("rejects a capacity of 0 and a time to live that is not positive") {
    CHECK(contains(invalid_argument_message([] { cascade::LruCache<int, int> c{0}; }), "capacity must be >= 1"));
    CHECK(contains(invalid_argument_message([] { cascade::LruCache<int, int> c{4, -1s}; }), "time to live must be > 0"));
    CHECK(contains(invalid_argument_message([] { cascade::LruCache<int, int> c{4, 0s}; }), "no_expiry"));
}

TEST_CASE("a cached model answers a repeated request without calling the model") {
    cascade::LruCache<std::string, Reply> cache{16};
    int calls = 0;
    auto model = cascade::with_cache(
        [&](const std::string& q) {
            ++calls;
            return Reply{"answer to " + q, 0.9};
        },
        cache, [](const std::string& q) { return q; });
    CHECK(model("a").text == "answer to a");
    CHECK(model("a").text == "answer to a");
    CHECK(model("b").text == "answer to b");
    CHECK(calls == 2);
    CHECK(cache.stats().hits == 1);
    CHECK(cache.stats().misses == 2);
}

TEST_CASE("a cached model does not cache what the model throws") {
    cascade::LruCache<int, int> cache{4};
    int calls = 0;
    auto model = cascade::with_cache(
        [&](int x) {
            if (++calls == 1) throw std::runtime_error("timeout");
            return x;
        },
        cache, [](int x) { return x; });
    CHECK_THROWS_AS(model(1), std::runtime_error);
    CHECK(model(1) == 1);
    CHECK(model(1) == 1);
    CHECK(calls == 2);
}

TEST_CASE("a result cache serves a repeated query at no cost without running the cascade") {
    int mini_calls = 0;
    cascade::Cascade c{cascade::tier(
                           "mini",
                           [&](int x) {
                               ++mini_calls;
                               return Reply{std::to_string(x), x % 2 ? 0.9 : 0.1};
                           },
                           [](const Reply& r) { return r.confidence; }, 0.5, cascade::price_per_call(0.001)),
                       cascade::tier("big", [](int x) { return Reply{"big " + std::to_string(x), 1.0}; },
                                     cascade::price_per_call(0.01))};
    cascade::LruCache<int, cascade::Result<Reply>> results{100};
    auto cached = cascade::with_result_cache(c, results, [](int x) { return x; });

    auto first = cached.run(2);
    CHECK(first.value().text == "big 2");
    CHECK(first.cost() == Approx(0.011));
    CHECK_FALSE(cascade::served_from_cache(first));

    auto again = cached.run(2);
    CHECK(again.value().text == "big 2");
    CHECK(again.tier() == "big");
    CHECK(again.cost() == 0.0);
    CHECK(again.latency() == 0ns);
    CHECK(again.trace()[0].cost == 0.0);
    CHECK(again.trace()[1].status == cascade::AttemptStatus::accepted);
    CHECK(cascade::served_from_cache(again));
    CHECK(mini_calls == 1);
    CHECK(c.stats().queries == 1);
    CHECK(results.stats().hits == 1);
}

TEST_CASE("a result cache does not keep unanswered results") {
    int calls = 0;
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::no_answer},
                       cascade::tier(
                           "only",
                           [&](int x) {
                               ++calls;
                               return x;
                           },
                           [](int) { return false; })};
    cascade::LruCache<int, cascade::Result<int>> results{4};
    auto cached = cascade::with_result_cache(c, results, [](int x) { return x; });
    CHECK_FALSE(cached.run(1).has_value());
    CHECK_FALSE(cached.run(1).has_value());
    CHECK(calls == 2);
    CHECK(results.size() == 0);
}

TEST_CASE("a result cache wraps a router and keeps its route and score") {
    cascade::Router router{[](int x) { return x > 5 ? 0.9 : 0.1; }, {0.5}, cascade::tier("easy", [](int x) { return x; }),
                           cascade::tier("hard", [](int x) { return -x; }, cascade::price_per_call(0.5))};
    cascade::LruCache<int, cascade::Routed<int>> results{4};
    auto cached = cascade::with_result_cache(std::move(router), results, [](int x) { return x; });
    CHECK(cached.run(9).value() == -9);
    auto hit = cached.run(9);
    CHECK(hit.value() == -9);
    CHECK(hit.route() == 1);
    CHECK(hit.score() == std::optional<double>(0.9));
    CHECK(hit.cost() == 0.0);
    CHECK(cascade::served_from_cache(hit));
    CHECK(cached.runner().stats().queries == 1);
}

TEST_CASE("many threads share one cache and every lookup is counted once") {
    cascade::LruCache<int, int> cache{64};
    std::atomic<int> calls{0};
    auto model = cascade::with_cache(
        [&](int x) {
            calls.fetch_add(1);
            return x * 3;
        },
        cache, [](int x) { return x; });
    constexpr int threads = 8;
    constexpr int per_thread = 5000;
    std::atomic<int> wrong{0};
    cascade_test::on_threads(threads, per_thread, [&](int t, int i) {
        const int key = (i * 7 + t) % 100;  // more keys than room: hits, misses and evictions
        if (model(key) != key * 3) wrong.fetch_add(1);
    });
    const auto s = cache.stats();
    CHECK(wrong.load() == 0);
    CHECK(s.hits + s.misses == threads * per_thread);
    CHECK(s.misses == static_cast<std::uint64_t>(calls.load()));
    CHECK(s.size <= 64);
    CHECK(s.evictions >= 1);
}
