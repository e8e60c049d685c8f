// SPDX-License-Identifier: MIT
//
// Running a query allocates nothing of the library's own when the user's Response and callables
// do not: the trace lives inside the result and the counters are preallocated. This file counts
// every allocation the program makes (support/count_allocations.hpp).

#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/runtime/cache.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "count_allocations.hpp"

#if CASCADE_TEST_COUNTS_ALLOCATIONS
using cascade_test::allocations;

namespace {

struct Question {
    std::uint64_t id;
    double confidence;  // what the cheap model will report for it
};
struct Reply {
    std::uint64_t token;
    double confidence;
};
static_assert(std::is_trivially_copyable_v<Reply>, "the replies under test must not own memory");

constexpr Question easy{7, 0.9};
constexpr Question hard{8, 0.1};
constexpr std::size_t runs = 50;

auto make_cascade() {
    cascade::CascadeOptions options;
    options.collect_stats = true;
    return cascade::Cascade{
        options,
        cascade::tier(
            "cheap", [](const Question& q) { return Reply{q.id * 3, q.confidence}; },
            [](const Question&, const Reply& r) { return r.confidence; }, 0.5, cascade::price_per_call(0.0002)),
        cascade::tier(
            "big", [](const Question& q) { return Reply{q.id * 5, 1.0}; }, cascade::price_per_call(0.005))};
}

// The allocations made while `fn` runs `runs` times. `fn` runs once before counting, so that
// whatever a first call sets up (the thread's counter stripe) is not counted.
template <class Fn>
std::uint64_t allocations_in_runs(Fn&& fn) {
    fn();
    const std::uint64_t before = allocations.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < runs; ++i) fn();
    return allocations.load(std::memory_order_relaxed) - before;
}

}  // namespace

TEST_CASE("the allocation counter sees what a model allocates") {
    // Proves the zeros below are measured: a model whose answer owns heap memory is counted.
    cascade::Cascade c{cascade::tier("talkative", [](const Question& q) {
        return std::string(64 + q.id % 2, 'x');  // longer than any small-string buffer
    })};
    std::size_t length = 0;
    const auto counted = allocations_in_runs([&] {
        auto r = c.run(easy);
        length += r->size();
    });
    CHECK(counted >= runs);
    CHECK(length == (runs + 1) * 65);
}

TEST_CASE("a cascade answered by its first tier allocates nothing, stats on") {
    auto c = make_cascade();
    std::size_t answered_by_cheap = 0;
    const auto counted = allocations_in_runs([&] {
        auto r = c.run(easy);
        if (r.tier_index() == std::size_t{0}) ++answered_by_cheap;
    });
    CHECK(counted == 0);
    CHECK(answered_by_cheap == runs + 1);
    const cascade::Stats s = c.stats();
    CHECK(s.tiers[0].accepted == runs + 1);
}

TEST_CASE("a cascade that escalates to its second tier allocates nothing, stats on") {
    auto c = make_cascade();
    std::size_t answered_by_big = 0;
    const auto counted = allocations_in_runs([&] {
        auto r = c.run(hard);
        if (r.tier_index() == std::size_t{1} && r.trace()[0].status == cascade::AttemptStatus::rejected) {
            ++answered_by_big;
        }
    });
    CHECK(counted == 0);
    CHECK(answered_by_big == runs + 1);
    const cascade::Stats s = c.stats();
    CHECK(s.tiers[0].rejected == runs + 1);
    CHECK(s.tiers[1].accepted == runs + 1);
}

TEST_CASE("a cascade answered by the first of six tiers allocates nothing for the five skipped") {
    auto big = [](const Question& q) { return Reply{q.id * 5, 1.0}; };
    cascade::Cascade c{
        cascade::tier(
            "cheap", [](const Question& q) { return Reply{q.id * 3, q.confidence}; },
            [](const Question&, const Reply& r) { return r.confidence; }, 0.5, cascade::price_per_call(0.0002)),
        cascade::tier("second-tier-with-a-name-longer-than-sso", big), cascade::tier("third", big),
        cascade::tier("fourth", big), cascade::tier("fifth", big), cascade::tier("sixth", big)};
    std::size_t full_traces = 0;
    const auto counted = allocations_in_runs([&] {
        auto r = c.run(easy);
        if (r.tier_index() == std::size_t{0} && r.trace().size() == 6) ++full_traces;
    });
    CHECK(counted == 0);
    CHECK(full_traces == runs + 1);
}

TEST_CASE("a cascade on a clock of the user's allocates nothing") {
    cascade::CascadeOptions options;
    std::uint64_t ticks = 0;
    options.now = [&ticks] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(++ticks)); };
    cascade::Cascade c{options,
                       cascade::tier(
                           "cheap", [](const Question& q) { return Reply{q.id * 3, q.confidence}; },
                           [](const Question&, const Reply& r) { return r.confidence; }, 0.5)};
    const auto counted = allocations_in_runs([&] { (void)c.run(easy); });
    CHECK(counted == 0);
    CHECK(ticks == 2 * (runs + 1));
}

TEST_CASE("a router allocates nothing, on a cascade route and on a tier route") {
    cascade::Router router{[](const Question& q) { return 1.0 - q.confidence; }, {0.5}, make_cascade(),
                           cascade::tier(
                               "big only", [](const Question& q) { return Reply{q.id * 5, 1.0}; },
                               cascade::price_per_call(0.005))};

    std::size_t on_route = 0;
    SECTION("the easy route: a cascade answered by its first tier") {
        const auto counted = allocations_in_runs([&] {
            auto r = router.run(easy);
            if (r.route() == 0 && r.tier_index() == std::size_t{0}) ++on_route;
        });
        CHECK(counted == 0);
    }
    SECTION("the hard route: a single tier") {
        const auto counted = allocations_in_runs([&] {
            auto r = router.run(hard);
            if (r.route() == 1) ++on_route;
        });
        CHECK(counted == 0);
    }
    CHECK(on_route == runs + 1);
    CHECK(router.stats().queries == runs + 1);
}

TEST_CASE("a cascade whose hook hears a wrapped tier's events allocates nothing for them") {
    cascade::LruCache<std::uint64_t, Reply> replies{16};
    std::size_t hits = 0;
    cascade::CascadeOptions options;
    options.on_event = [&hits](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::cache_hit) ++hits;
    };
    cascade::Cascade c{options, cascade::tier("cached",
                                              cascade::with_cache([](const Question& q) { return Reply{q.id, 1.0}; },
                                                                  replies, [](const Question& q) { return q.id; }),
                                              cascade::price_per_call(0.0002))};
    const auto counted = allocations_in_runs([&] { (void)c.run(easy); });
    CHECK(counted == 0);
    CHECK(hits == runs);  // every run but the first, which filled the cache
}

#else

TEST_CASE("allocation counting is skipped under ThreadSanitizer") {
    WARN("skipped: ThreadSanitizer's runtime defines the global operator new, which this test must "
         "replace to count allocations");
    SUCCEED();
}

#endif

