// SPDX-License-Identifier: MIT
//
// Running a query allocates nothing of the library's own when the user's Response and callables
// do not: the trace lives inside the result and the counters are preallocated. This file replaces
// the global operator new and delete to count every allocation the program makes.

#include "catch.hpp"

#include <cascade/cascade.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <type_traits>

// Under ThreadSanitizer the test is skipped: clang's runtime, linked statically, defines the global
// operator new itself, so a second definition here does not link (and the test has no threads for
// it to check). AddressSanitizer allows the replacement: it still sees every block through malloc
// and free.
#if defined(__SANITIZE_THREAD__)
#define CASCADE_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CASCADE_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef CASCADE_TEST_COUNTS_ALLOCATIONS
#define CASCADE_TEST_COUNTS_ALLOCATIONS 1
#endif

#if CASCADE_TEST_COUNTS_ALLOCATIONS

namespace {
std::atomic<std::uint64_t> allocations{0};

void* allocate(std::size_t size, std::size_t align = 0) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (align == 0) return std::malloc(size == 0 ? 1 : size);
#if defined(_WIN32)
    return _aligned_malloc(size, align);
#else
    return std::aligned_alloc(align, (size + align - 1) / align * align);  // a multiple of `align`
#endif
}
void* or_throw(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
// Kept out of line so that GCC does not see the library's operator new meet this free() and warn.
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void release(void* p, bool aligned = false) noexcept {
#if defined(_WIN32)
    if (aligned) return _aligned_free(p);
#endif
    static_cast<void>(aligned);
    std::free(p);
}
std::size_t to_size(std::align_val_t a) { return static_cast<std::size_t>(a); }
}  // namespace

// Every form is replaced, not only those the others forward to by default: a sanitizer's runtime
// may provide the others itself, and they would then escape the count (or free memory from
// malloc as if from its own operator new).
void* operator new(std::size_t n) { return or_throw(allocate(n)); }
void* operator new[](std::size_t n) { return or_throw(allocate(n)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return or_throw(allocate(n, to_size(a))); }
void* operator new[](std::size_t n, std::align_val_t a) { return or_throw(allocate(n, to_size(a))); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate(n, to_size(a)); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate(n, to_size(a)); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p, true); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p, true); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p, true); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p, true); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p, true); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p, true); }

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

#else

TEST_CASE("allocation counting is skipped under ThreadSanitizer") {
    WARN("skipped: ThreadSanitizer's runtime defines the global operator new, which this test must "
         "replace to count allocations");
    SUCCEED();
}

#endif

#undef CASCADE_TEST_COUNTS_ALLOCATIONS
