// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_COUNTERS_HPP
#define CASCADE_DETAIL_COUNTERS_HPP

#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace cascade::detail {

// Money is counted in whole nano-dollars so that totals are exact and do not depend on the order
// in which threads add them (floating-point sums would).
inline std::uint64_t to_nano_dollars(double dollars) noexcept {
    // Rounds half up; costs are never negative here, and a cast is cheaper than llround's call.
    return dollars > 0.0 ? static_cast<std::uint64_t>(dollars * 1e9 + 0.5) : 0U;
}
inline double from_nano_dollars(std::uint64_t nano) noexcept { return static_cast<double>(nano) * 1e-9; }

// A stripe per group of threads: each thread adds to its own cache line, so threads that run the
// same cascade do not fight over one counter. A snapshot sums the stripes.
inline constexpr std::size_t counter_stripes = 16;

// Hands each thread the stripe with the fewest live threads, and takes it back when the thread
// ends, so that threads started and ended over a process's life do not pile onto one stripe.
class StripeRegistry {
public:
    static StripeRegistry& instance() noexcept {
        static StripeRegistry registry;
        return registry;
    }
    std::size_t take() noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t best = 0;
        for (std::size_t i = 1; i < counter_stripes; ++i)
            if (users_[i] < users_[best]) best = i;
        ++users_[best];
        return best;
    }
    void give_back(std::size_t stripe) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        --users_[stripe];
    }

private:
    std::mutex mutex_;
    std::array<std::size_t, counter_stripes> users_{};
};

struct ThreadStripe {
    // The registry is reached before the thread-local is made, so it outlives every thread's stripe.
    StripeRegistry& registry = StripeRegistry::instance();
    std::size_t index = registry.take();
    ~ThreadStripe() { registry.give_back(index); }
};

inline std::size_t this_thread_stripe() noexcept {
    thread_local const ThreadStripe stripe;
    return stripe.index;
}

template <std::size_t Fields>
class StripedCounters {
public:
    struct alignas(64) Stripe {
        std::array<std::atomic<std::uint64_t>, Fields> values{};

        void add(std::size_t field, std::uint64_t delta) noexcept {
            values[field].fetch_add(delta, std::memory_order_relaxed);
        }
    };

    void add(std::size_t field, std::uint64_t delta) noexcept { this_thread().add(field, delta); }

    // The calling thread's stripe, for code that adds several counters in a row: one
    // thread-local lookup serves them all.
    Stripe& this_thread() noexcept { return stripes_[this_thread_stripe()]; }

    // Exact once the threads that add have finished; while they run, a consistent total of each
    // field but not across fields.
    [[nodiscard]] std::uint64_t total(std::size_t field) const noexcept {
        std::uint64_t sum = 0;
        for (const Stripe& s : stripes_) sum += s.values[field].load(std::memory_order_relaxed);
        return sum;
    }

    void reset() noexcept {
        for (Stripe& s : stripes_)
            for (auto& v : s.values) v.store(0, std::memory_order_relaxed);
    }

private:
    std::array<Stripe, counter_stripes> stripes_{};
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_COUNTERS_HPP
