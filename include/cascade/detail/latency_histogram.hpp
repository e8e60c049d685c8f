// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_LATENCY_HISTOGRAM_HPP
#define CASCADE_DETAIL_LATENCY_HISTOGRAM_HPP

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace cascade::detail {

// Latencies land in log-linear buckets: four per doubling, so a percentile read back is within
// 12.5% of the true value, from 1 ns to over an hour, in a fixed 170 counters. Adding one is
// a single counter increment, cheap enough for every query.
struct LatencyBuckets {
    static constexpr std::size_t sub_buckets = 4;  // per doubling
    static constexpr std::size_t doublings = 42;   // 2^42 ns is about 73 minutes
    static constexpr std::size_t count = sub_buckets * doublings + 2;

    // The position of the highest set bit of v > 0; one instruction where the compiler has it,
    // since this runs for every query.
    static std::size_t highest_bit(std::uint64_t v) noexcept {
#if defined(__GNUC__) || defined(__clang__)
        return static_cast<std::size_t>(63 - __builtin_clzll(v));
#else
        std::size_t top = 0;
        for (std::size_t step = 32; step > 0; step /= 2) {
            if (v >> step) {
                v >>= step;
                top += step;
            }
        }
        return top;
#endif
    }

    static std::size_t index(std::chrono::nanoseconds latency) noexcept {
        const auto ns = latency.count();
        if (ns < 4) return ns <= 0 ? 0 : static_cast<std::size_t>(ns);
        const auto v = static_cast<std::uint64_t>(ns);
        const std::size_t top = highest_bit(v);  // >= 2
        const std::size_t fraction = static_cast<std::size_t>((v >> (top - 2)) & 3U);
        const std::size_t i = top * sub_buckets + fraction;
        return i < count ? i : count - 1;
    }

    // The middle of a bucket, the value a percentile in it is reported as.
    static std::chrono::nanoseconds middle(std::size_t i) noexcept {
        if (i < 4) return std::chrono::nanoseconds(static_cast<std::int64_t>(i));
        const std::size_t top = i / sub_buckets;
        const double low = std::ldexp(1.0 + static_cast<double>(i % sub_buckets) / 4.0, static_cast<int>(top));
        const double width = std::ldexp(0.25, static_cast<int>(top));
        return std::chrono::nanoseconds(static_cast<std::int64_t>(low + width / 2.0));
    }

    // The q-quantile (q in [0, 1]) of the counts; zero when nothing was counted.
    static std::chrono::nanoseconds quantile(double q, const std::array<std::uint64_t, count>& buckets,
                                             std::uint64_t total) noexcept {
        if (total == 0) return std::chrono::nanoseconds{0};
        const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < count; ++i) {
            seen += buckets[i];
            if (seen >= rank && seen > 0) return middle(i);
        }
        return middle(count - 1);
    }

    struct Percentiles {
        std::chrono::nanoseconds p50{0}, p90{0}, p99{0};
    };

    // The percentiles of the buckets kept at `first` in `counters`.
    template <class Counters>
    static Percentiles read(const Counters& counters, std::size_t first) {
        std::array<std::uint64_t, count> buckets{};
        std::uint64_t total = 0;  // from the same reads, so the ranks are consistent
        for (std::size_t i = 0; i < count; ++i) total += buckets[i] = counters.total(first + i);
        return Percentiles{quantile(0.50, buckets, total), quantile(0.90, buckets, total),
                           quantile(0.99, buckets, total)};
    }

    // Fills a stats snapshot's latency percentiles from the buckets kept at `first` in `counters`.
    template <class Counters, class Snapshot>
    static void read_percentiles(const Counters& counters, std::size_t first, Snapshot& s) {
        const Percentiles p = read(counters, first);
        s.latency_p50 = p.p50;
        s.latency_p90 = p.p90;
        s.latency_p99 = p.p99;
    }
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_LATENCY_HISTOGRAM_HPP
