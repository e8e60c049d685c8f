// Latency percentiles: the buckets behind Stats::latency_p50/p90/p99.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <cascade/cascade.hpp>
#include <cascade/detail/latency_histogram.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;
using Buckets = cascade::detail::LatencyBuckets;

namespace {
std::atomic<std::int64_t> manual_ns{0};
std::chrono::steady_clock::time_point manual_now() {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(manual_ns.load()));
}
}  // namespace

TEST_CASE("a latency read back from its bucket is within 13% of the original") {
    for (std::int64_t ns : {5LL, 17LL, 999LL, 123'456LL, 7'654'321LL, 2'000'000'000LL, 3'600'000'000'000LL}) {
        const auto back = Buckets::middle(Buckets::index(std::chrono::nanoseconds(ns))).count();
        CHECK(static_cast<double>(back) == Approx(static_cast<double>(ns)).epsilon(0.13));
    }
}

TEST_CASE("bucket indices grow with latency and stay in range") {
    std::size_t previous = 0;
    for (std::int64_t ns = 1; ns < (std::int64_t{1} << 50); ns = ns * 3 / 2 + 1) {
        const std::size_t i = Buckets::index(std::chrono::nanoseconds(ns));
        CHECK(i >= previous);
        CHECK(i < Buckets::count);
        previous = i;
    }
    CHECK(Buckets::index(std::chrono::nanoseconds(-5)) == 0);
    CHECK(Buckets::index(std::chrono::nanoseconds::max()) == Buckets::count - 1);
}

TEST_CASE("a cascade's stats report its query latency percentiles") {
    cascade::CascadeOptions options;
    options.now = &manual_now;
    std::int64_t next_ms = 0;
    cascade::Cascade c{options, cascade::tier("mini", [&](const std::string&) {
                           manual_ns += std::chrono::nanoseconds(std::chrono::milliseconds(++next_ms)).count();
                           return 1;
                       })};
    CHECK(c.stats().latency_p50 == 0ns);  // nothing yet
    for (int i = 0; i < 100; ++i) c.run(std::string("q"));  // latencies 1, 2, ... 100 ms
    const auto s = c.stats();
    CHECK(static_cast<double>(s.latency_p50.count()) == Approx(50e6).epsilon(0.13));
    CHECK(static_cast<double>(s.latency_p90.count()) == Approx(90e6).epsilon(0.13));
    CHECK(static_cast<double>(s.latency_p99.count()) == Approx(99e6).epsilon(0.13));
    c.reset_stats();
    CHECK(c.stats().latency_p99 == 0ns);
}
