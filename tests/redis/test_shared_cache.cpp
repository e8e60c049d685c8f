// cascade::redis::SharedCache against the fixture's redis-server: replicas share entries, the
// time to live and the size bound hold, undecodable values are misses, the runtime's cache
// wrappers take it, and an unreachable server is handled by each policy.
#include "catch.hpp"
#include "redis_test_server.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/cascade.hpp>
#include <cascade/integration/redis/shared_cache.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace std::string_literals;
namespace redis = cascade::redis;
using cascade_test::fixture_server;

namespace {

struct Reply {
    std::string text;
    double confidence = 0.0;
};

struct ReplyCodec {
    std::string encode(const Reply& r) const {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%a|", r.confidence);
        return buf + r.text;
    }
    std::optional<Reply> decode(std::string_view bytes) const {
        const auto bar = bytes.find('|');
        if (bar == std::string_view::npos) return std::nullopt;
        const std::string number(bytes.substr(0, bar));
        char* end = nullptr;
        const double confidence = std::strtod(number.c_str(), &end);
        if (end != number.c_str() + number.size() || number.empty()) return std::nullopt;
        return Reply{std::string(bytes.substr(bar + 1)), confidence};
    }
};

// Strings as they are; a value that starts with "bad" does not decode.
struct TextCodec {
    std::string encode(const std::string& s) const { return s; }
    std::optional<std::string> decode(std::string_view bytes) const {
        if (bytes.substr(0, 3) == "bad") return std::nullopt;
        return std::string(bytes);
    }
};

// A codec built on a parser that throws on what it cannot read.
struct ThrowingCodec {
    std::string encode(const int& v) const { return std::to_string(v); }
    std::optional<int> decode(std::string_view bytes) const { return std::stoi(std::string(bytes)); }
};

using TextCache = redis::SharedCache<std::string, TextCodec>;

template <class Value>
redis::SharedCacheOptions<Value> options_for(std::size_t max_entries,
                                             std::chrono::milliseconds ttl = std::chrono::milliseconds::max()) {
    redis::SharedCacheOptions<Value> options;
    options.max_entries = max_entries;
    options.ttl = ttl;
    return options;
}

bool exists(redis::Client& client, const std::string& key) { return client.command({"EXISTS", key}).integer() == 1; }

// Records the events a hook hears, from any thread.
struct Heard {
    std::mutex mutex;
    std::vector<std::pair<cascade::EventKind, std::string>> events;

    cascade::EventHook hook() {
        return [this](const cascade::Event& e) {
            std::lock_guard<std::mutex> lock(mutex);
            events.emplace_back(e.kind, std::string(e.detail));
        };
    }
    std::size_t count(cascade::EventKind kind, std::string_view detail_part) {
        std::lock_guard<std::mutex> lock(mutex);
        std::size_t n = 0;
        for (const auto& e : events) n += e.first == kind && contains(e.second, detail_part) ? 1U : 0U;
        return n;
    }
};

}  // namespace

TEST_CASE("two replicas on separate clients share the entries and the order of use") {
    redis::Client a_client{fixture_server()};
    redis::Client b_client{fixture_server()};
    const std::string name = cascade_test::unique_name("replicas");
    const auto options = options_for<std::string>(2);
    TextCache a{a_client, name, options};
    TextCache b{b_client, name, options};

    a.put("one", "1");
    a.put("two", "2");
    CHECK(b.get("one") == std::optional<std::string>("1"));  // "one" is now the most recently used
    b.put("three", "3");                                      // evicts "two", the least recently used
    CHECK_FALSE(a.get("two").has_value());
    CHECK(a.get("one") == std::optional<std::string>("1"));
    CHECK(a.get("three") == std::optional<std::string>("3"));
    CHECK_FALSE(exists(a_client, a.value_key("two")));
    CHECK(a.entries() == 2);
    CHECK(b.stats().evictions == 1);
    CHECK(a.stats().hits == 2);
    CHECK(a.stats().misses == 1);
    CHECK(a.stats().stores == 2);

    b.put("one", "uno");  // replaces without evicting
    CHECK(a.get("one") == std::optional<std::string>("uno"));
    CHECK(b.stats().evictions == 1);
}

TEST_CASE("the order of use holds when the server's clock steps back") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("clock-step"), options_for<std::string>(2)};
    // An entry last used "in the future", as after the server's clock was set back a minute.
    client.command({"SET", cache.value_key("earlier"), "e"});
    const auto later = std::to_string(client.command({"TIME"})[0].integer() * 1000000 + 60'000'000);
    client.command({"ZADD", cache.set_key(), later, "earlier"});
    cache.put("a", "1");  // used after "earlier", whatever the clock says
    cache.put("b", "2");  // evicts "earlier", the least recently used
    CHECK_FALSE(cache.get("earlier").has_value());
    CHECK(cache.get("a") == std::optional<std::string>("1"));
    CHECK(cache.get("b") == std::optional<std::string>("2"));
}

TEST_CASE("keys are arbitrary bytes") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("bytes"), options_for<std::string>(16)};
    const std::vector<std::string> keys{"a", "a\0b"s, "{brace}", "with space\nand newline", "\xff\xfe", ""};
    for (std::size_t i = 0; i < keys.size(); ++i) cache.put(keys[i], "value " + std::to_string(i));
    for (std::size_t i = 0; i < keys.size(); ++i) {
        INFO("key " << i);
        CHECK(cache.get(keys[i]) == std::optional<std::string>("value " + std::to_string(i)));
    }
    CHECK(cache.entries() == keys.size());
    CHECK(cache.erase("a\0b"s));
    CHECK_FALSE(cache.erase("a\0b"s));
    CHECK(cache.get("a") == std::optional<std::string>("value 0"));
}

TEST_CASE("entries expire after their time to live") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("ttl"), options_for<std::string>(16, 300ms)};
    cache.put("k", "v");
    const std::string value_key = cache.value_key("k");
    const auto ttl_ms = client.command({"PTTL", value_key}).integer();
    CHECK(ttl_ms > 0);
    CHECK(ttl_ms <= 300);

    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (exists(client, value_key) && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(20ms);
    CHECK_FALSE(cache.get("k").has_value());
    CHECK(cache.entries() == 0);  // the sorted set is cleared of expired entries too

    cache.put("k", "again");  // a new store starts a new time to live
    CHECK(client.command({"PTTL", value_key}).integer() > 0);
}

TEST_CASE("a store clears expired entries out of the sorted set") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("ttl-prune"), options_for<std::string>(16, 100ms)};
    cache.put("old", "v");
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (cache.stats().expirations == 0 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(20ms);
        cache.put("new", "v");
    }
    CHECK(cache.stats().expirations >= 1);
    CHECK_FALSE(client.command({"ZSCORE", cache.set_key(), "old"}).is_string());
}

TEST_CASE("the size bound holds while many threads store distinct keys", "[concurrency]") {
    redis::Client a_client{fixture_server()};
    redis::Client b_client{fixture_server()};
    constexpr std::size_t max_entries = 40;
    const std::string name = cascade_test::unique_name("bound");
    const auto options = options_for<std::string>(max_entries);
    TextCache a{a_client, name, options};
    TextCache b{b_client, name, options};
    constexpr int threads = 8;
    constexpr int per_thread = 150;
    std::atomic<int> wrong{0};
    cascade_test::on_threads(threads, per_thread, [&](int t, int i) {
        TextCache& cache = t % 2 ? a : b;
        const std::string key = std::to_string(t) + ":" + std::to_string(i);
        cache.put(key, "value of " + key);
        const auto found = cache.get(key);  // may be evicted already by the others; never wrong
        if (found && *found != "value of " + key) wrong.fetch_add(1);
    });
    CHECK(wrong.load() == 0);
    const auto zcard = static_cast<std::size_t>(a_client.command({"ZCARD", a.set_key()}).integer());
    const auto value_keys = a_client.command({"KEYS", a.value_key("*")}).size();
    CHECK(zcard == max_entries);
    CHECK(value_keys == max_entries);
    CHECK(a.stats().evictions + b.stats().evictions == threads * per_thread - max_entries);
    CHECK(a.stats().stores + b.stats().stores == threads * per_thread);
}

TEST_CASE("a value the codec cannot decode is a miss and is deleted") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("decode"), options_for<std::string>(8)};
    cache.put("k", "bad bytes from another version");
    CHECK(exists(client, cache.value_key("k")));
    CHECK_FALSE(cache.find("k"));
    CHECK(cache.stats().decode_errors == 1);
    CHECK(cache.stats().misses == 1);
    CHECK(cache.stats().hits == 0);
    CHECK_FALSE(exists(client, cache.value_key("k")));
    CHECK(cache.entries() == 0);

    SECTION("a codec that throws on bad input counts the same") {
        redis::SharedCache<int, ThrowingCodec> numbers{client, cascade_test::unique_name("decode-throws"), options_for<int>(8)};
        numbers.put("n", 7);
        CHECK(numbers.get("n") == std::optional<int>(7));
        client.command({"SET", numbers.value_key("n"), "not a number"});
        CHECK_FALSE(numbers.get("n").has_value());
        CHECK(numbers.stats().decode_errors == 1);
        CHECK_FALSE(exists(client, numbers.value_key("n")));
    }
}

TEST_CASE("with_cache on a shared cache answers a repeated request without calling the model, on every replica") {
    redis::Client a_client{fixture_server()};
    redis::Client b_client{fixture_server()};
    const std::string name = cascade_test::unique_name("with-cache");
    const auto options = options_for<Reply>(16);
    redis::SharedCache<Reply, ReplyCodec> a{a_client, name, options};
    redis::SharedCache<Reply, ReplyCodec> b{b_client, name, options};
    std::atomic<int> calls{0};
    const auto call_model = [&](const std::string& q) {
        calls.fetch_add(1);
        return Reply{"answer to " + q, 0.75};
    };
    auto on_a = cascade::with_cache(call_model, a, [](const std::string& q) { return q; });
    auto on_b = cascade::with_cache(call_model, b, [](const std::string& q) { return q; });
    CHECK(on_a("q1").text == "answer to q1");
    CHECK(on_a("q1").text == "answer to q1");
    const Reply from_b = on_b("q1");
    CHECK(from_b.text == "answer to q1");
    CHECK(from_b.confidence == 0.75);
    CHECK(on_b("q2").text == "answer to q2");
    CHECK(calls.load() == 2);
    CHECK(a.stats().hits == 1);
    CHECK(b.stats().hits == 1);
}

TEST_CASE("with_result_cache on a shared cache serves a repeated query from another replica at no cost") {
    int mini_calls = 0;
    const auto make_cascade = [&mini_calls] {
        return cascade::Cascade{cascade::tier(
                                    "mini",
                                    [&mini_calls](int x) {
                                        ++mini_calls;
                                        return Reply{std::to_string(x), x % 2 ? 0.9 : 0.1};
                                    },
                                    [](const Reply& r) { return r.confidence; }, 0.5, cascade::price_per_call(0.001)),
                                cascade::tier("big", [](int x) { return Reply{"big " + std::to_string(x), 1.0}; },
                                              cascade::price_per_call(0.01))};
    };
    auto first_replica = make_cascade();
    auto second_replica = make_cascade();
    using Codec = redis::ResultCodec<ReplyCodec>;
    using Results = redis::SharedCache<cascade::Result<Reply>, Codec>;
    redis::Client a_client{fixture_server()};
    redis::Client b_client{fixture_server()};
    const std::string name = cascade_test::unique_name("results");
    const auto options = options_for<cascade::Result<Reply>>(16);
    Results a{a_client, name, options, Codec{first_replica}};
    Results b{b_client, name, options, Codec{second_replica}};
    auto on_a = cascade::with_result_cache(first_replica, a, [](int x) { return std::to_string(x); });
    auto on_b = cascade::with_result_cache(second_replica, b, [](int x) { return std::to_string(x); });

    const auto first = on_a.run(2);
    CHECK(first.value().text == "big 2");
    CHECK_FALSE(cascade::served_from_cache(first));
    const auto again = on_b.run(2);
    CHECK(again.value().text == "big 2");
    CHECK(again.tier() == "big");
    CHECK(again.cost() == 0.0);
    CHECK(again.trace().size() == 2);
    CHECK(again.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(again.trace()[0].confidence == std::optional<double>(0.1));
    CHECK(again.trace()[1].status == cascade::AttemptStatus::accepted);
    CHECK(cascade::served_from_cache(again));
    CHECK(on_a.run(2).value().text == "big 2");
    CHECK(mini_calls == 1);
    CHECK(second_replica.stats().queries == 0);

    SECTION("a result stored by a cascade with other tiers does not decode") {
        cascade::Cascade other{cascade::tier("only", [](int x) { return Reply{"only " + std::to_string(x), 1.0}; })};
        Results c{a_client, name, options, Codec{other}};
        CHECK_FALSE(c.find("2"));
        CHECK(c.stats().decode_errors == 1);
    }
}

TEST_CASE("an unreachable server under each policy") {
    redis::ServerOptions nowhere;
    nowhere.port = cascade_test::free_loopback_port();
    nowhere.reconnect_backoff = 0ms;
    redis::Client client{nowhere};
    Heard heard;
    const std::string name = cascade_test::unique_name("unreachable");
    auto options = options_for<std::string>(8);
    options.on_event = heard.hook();
    using Kind = cascade::EventKind;

    SECTION("the default is use_local; without a twin a lookup misses and a store is skipped") {
        CHECK(options.when_unavailable == redis::WhenUnavailable::use_local);
        CHECK(options.local == nullptr);
        TextCache cache{client, name, options};
        cache.put("k", "v");
        CHECK_FALSE(cache.find("k"));
        const auto s = cache.stats();
        CHECK(s.unavailable == 2);
        CHECK(s.misses == 1);
        CHECK(s.stores == 0);
        CHECK(s.local_fallbacks == 0);
        CHECK(heard.count(Kind::shared_state_unavailable, "skipped the store (no local twin)") == 1);
        CHECK(heard.count(Kind::shared_state_unavailable, "missed (no local twin)") == 1);
        CHECK(heard.count(Kind::shared_state_unavailable, client.address()) == 2);  // the error is in the detail
        CHECK_THROWS_AS(cache.entries(), redis::RedisError);
    }
    SECTION("use_local with a twin serves lookups and takes stores") {
        cascade::LruCache<std::string, std::string> twin{4};
        options.local = &twin;
        TextCache cache{client, name, options};
        cache.put("k", "v");
        CHECK(twin.get("k") == std::optional<std::string>("v"));
        CHECK(cache.get("k") == std::optional<std::string>("v"));
        const auto s = cache.stats();
        CHECK(s.unavailable == 2);
        CHECK(s.local_fallbacks == 2);
        CHECK(s.hits == 1);
        CHECK(s.stores == 1);
        CHECK(heard.count(Kind::shared_state_unavailable, "used the local twin: ") == 1);
        CHECK(heard.count(Kind::shared_state_unavailable, "used the local twin for a store") == 1);
    }
    SECTION("fail_closed fails a lookup, and skips a store") {
        options.when_unavailable = redis::WhenUnavailable::fail_closed;
        TextCache cache{client, name, options};
        try {
            (void)cache.find("k");
            FAIL("expected RedisError");
        } catch (const redis::RedisError& e) {
            CHECK(e.unavailable());
        }
        CHECK_NOTHROW(cache.put("k", "v"));
        CHECK(cache.stats().unavailable == 2);
        CHECK(heard.count(Kind::shared_state_unavailable, "refused (fail closed)") == 1);
        CHECK(heard.count(Kind::shared_state_unavailable, "skipped the store (fail closed)") == 1);
    }
    SECTION("inside a cascade, the query's hook hears it and the model answers") {
        TextCache cache{client, cascade_test::unique_name("unreachable-cascade"), options_for<std::string>(8)};
        int calls = 0;
        Heard query_events;
        cascade::CascadeOptions cascade_options;
        cascade_options.on_event = query_events.hook();
        cascade::Cascade c{cascade_options,
                           cascade::tier("mini", cascade::with_cache(
                                                     [&calls](const std::string& q) {
                                                         ++calls;
                                                         return "answer to " + q;
                                                     },
                                                     cache, [](const std::string& q) { return q; }))};
        CHECK(c.run("q"s).value() == "answer to q");
        CHECK(calls == 1);
        CHECK(query_events.count(Kind::shared_state_unavailable, "missed (no local twin)") == 1);
        CHECK(query_events.count(Kind::shared_state_unavailable, "skipped the store") == 1);
    }
}

TEST_CASE("a call whose deadline has passed does not wait for a reachable server") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("deadline"), options_for<std::string>(8)};
    cache.put("k", "v");
    cascade::CallContext late;
    late.deadline = std::chrono::steady_clock::now() - 1ms;
    CHECK_FALSE(cache.find("k", &late));
    CHECK(cache.stats().unavailable == 1);
    CHECK(cache.find("k") != nullptr);
}

TEST_CASE("a timeout of milliseconds::max() means no limit of the cache's own") {
    redis::Client client{fixture_server()};
    auto options = options_for<std::string>(8);
    options.timeout = std::chrono::milliseconds::max();
    TextCache cache{client, cascade_test::unique_name("no-timeout"), options};
    cache.put("k", "v");
    cascade::CallContext far;
    far.deadline = std::chrono::steady_clock::now() + std::chrono::hours(24 * 365);
    const auto found = cache.find("k", &far);
    REQUIRE(found != nullptr);
    CHECK(*found == "v");
    CHECK(cache.stats().unavailable == 0);
}

TEST_CASE("a key of the wrong type is named in the error") {
    redis::Client client{fixture_server()};
    TextCache cache{client, cascade_test::unique_name("wrong-type"), options_for<std::string>(8)};
    const auto error_of = [&](auto&& fn) {
        try {
            fn();
        } catch (const redis::RedisError& e) {
            CHECK(e.kind() == redis::RedisErrorKind::wrong_type);
            return std::string(e.what());
        }
        FAIL("expected RedisError");
        return std::string();
    };
    client.command({"SET", cache.set_key(), "a string"});
    const std::string lookup = error_of([&] { (void)cache.find("k"); });
    CHECK(contains(lookup, "the key " + cache.set_key() + " holds a string"));
    CHECK(contains(error_of([&] { cache.put("k", "v"); }), "the key " + cache.set_key()));
    client.command({"DEL", cache.set_key()});

    client.command({"HSET", cache.value_key("k"), "field", "value"});
    CHECK(contains(error_of([&] { (void)cache.find("k"); }), "the key " + cache.value_key("k") + " holds a hash"));
}

TEST_CASE("a shared cache refuses options that cannot work, naming the field") {
    redis::Client client{fixture_server()};
    const auto make = [&](auto change, std::string name = cascade_test::unique_name("invalid")) {
        return [&client, change, name] {
            auto options = options_for<std::string>(8);
            change(options);
            TextCache cache{client, name, options};
        };
    };
    using Options = redis::SharedCacheOptions<std::string>;
    const auto unchanged = [](Options&) {};
    CHECK(contains(invalid_argument_message(make(unchanged, "")), "is empty"));
    CHECK(contains(invalid_argument_message(make(unchanged, "a{b")), "brace"));
    CHECK(contains(invalid_argument_message(make([](Options& o) { o.max_entries = 0; })), "max_entries must be in 1"));
    CHECK(contains(invalid_argument_message(make([](Options& o) { o.ttl = 0ms; })), "ttl must be > 0"));
    CHECK(contains(invalid_argument_message(make([](Options& o) { o.ttl = -5ms; })), "got -5 ms"));
    CHECK(contains(invalid_argument_message(make([](Options& o) { o.timeout = -1ms; })), "timeout must be >= 0"));
    CHECK(client.stats().round_trips == 0);  // refused before any round trip
}
