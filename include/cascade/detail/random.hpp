// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_RANDOM_HPP
#define CASCADE_DETAIL_RANDOM_HPP

#include <atomic>
#include <cstdint>

namespace cascade::detail {

// SplitMix64: a counter run through a strong mixer. Each draw is one atomic increment, so many
// threads share a stream without a lock, and a seed gives the same sequence on every platform
// (std:: distributions do not promise that).
inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31U);
}

class SharedRandom {
public:
    explicit SharedRandom(std::uint64_t seed) noexcept : seed_(seed) {}

    // Uniform in [0, 1): the top 53 bits of a draw, the precision of a double.
    double next_unit() noexcept {
        const std::uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed);
        return static_cast<double>(splitmix64(seed_ ^ splitmix64(n)) >> 11U) * 0x1.0p-53;
    }

private:
    std::uint64_t seed_;
    std::atomic<std::uint64_t> counter_{0};
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_RANDOM_HPP
