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

// Money is counted in whole nano-dollars, plus what is left under a nano-dollar in femto-dollars
// (1e-15), so that totals are exact and do not depend on the order in which threads add them
// (floating-point sums would), and a price of a fraction of a nano-dollar still adds up.

// The most one amount may be, in dollars: a 64-bit count of nano-dollars holds 1.8e10, and the
// margin lets two such amounts be compared and subtracted without a wrap.
inline constexpr double max_money_dollars = 1e10;
inline constexpr std::uint64_t max_count = ~std::uint64_t{0};
inline constexpr std::uint64_t femto_per_nano = 1'000'000;

// Rounds half up, and holds at max_count instead of overflowing (a conversion of a double at or
// above 2^64 to uint64 is undefined). Costs are never negative here; NaN counts as 0.
inline std::uint64_t to_nano_dollars(double dollars) noexcept {
    if (!(dollars > 0.0)) return 0U;
    const double nano = dollars * 1e9 + 0.5;
    return nano < 18446744073709551616.0 ? static_cast<std::uint64_t>(nano) : max_count;
}
// A division, not a product with 1e-9 (which is not exact): whole dollars come back whole.
inline double from_nano_dollars(std::uint64_t nano) noexcept { return static_cast<double>(nano) / 1e9; }

// Whole nano-dollars, rounded up (`up`) or down. A product a few ulps off a whole number
// (0.07 * 1e9, 0.29 * 1e9) is that number, not its neighbour.
inline std::uint64_t to_whole_nano_dollars(double dollars, bool up) noexcept {
    if (!(dollars > 0.0)) return 0U;
    const double nano = dollars * 1e9;
    const double nearest = std::round(nano);
    const double whole = std::fabs(nano - nearest) <= 1e-6 + nano * 1e-15 ? nearest
                         : up                                             ? std::ceil(nano)
                                                                          : std::floor(nano);
    return whole < 18446744073709551616.0 ? static_cast<std::uint64_t>(whole) : max_count;
}
// What a reservation must hold so that it is never less than the amount.
inline std::uint64_t to_nano_dollars_up(double dollars) noexcept { return to_whole_nano_dollars(dollars, true); }
// What a limit may grant without passing the amount.
inline std::uint64_t to_nano_dollars_down(double dollars) noexcept { return to_whole_nano_dollars(dollars, false); }

// An amount of money as the counters hold it: whole nano-dollars and the femto-dollars under one.
struct Money {
    std::uint64_t nano = 0;
    std::uint64_t femto = 0;    // below femto_per_nano in an amount; a sum carries it at the end
    bool saturated = false;     // a sum reached max_count and stopped there

    // `dollars` split into its parts; amounts above max_money_dollars must be clamped before.
    static Money of(double dollars) noexcept {
        Money m;
        if (!(dollars > 0.0)) return m;
        const double nano = std::floor(dollars * 1e9);
        m.nano = nano < 18446744073709551616.0 ? static_cast<std::uint64_t>(nano) : max_count;
        m.femto = static_cast<std::uint64_t>((dollars * 1e9 - nano) * 1e6 + 0.5);
        if (m.femto >= femto_per_nano) {
            m.femto -= femto_per_nano;
            m = m.plus_nano(1);
        }
        return m;
    }

    [[nodiscard]] Money plus_nano(std::uint64_t n) const noexcept {
        Money m = *this;
        if (m.nano > max_count - n) {
            m.nano = max_count;
            m.saturated = true;
        } else {
            m.nano += n;
        }
        return m;
    }

    // The sum, held at max_count (and marked) instead of wrapping.
    [[nodiscard]] Money plus(const Money& other) const noexcept {
        Money m = plus_nano(other.nano);
        m.saturated = m.saturated || other.saturated;
        if (m.femto > max_count - other.femto) {
            m.femto = max_count;
            m.saturated = true;
        } else {
            m.femto += other.femto;
        }
        return m;
    }

    [[nodiscard]] double dollars() const noexcept {
        const Money m = plus_nano(femto / femto_per_nano);
        return static_cast<double>(m.nano) / 1e9 + static_cast<double>(femto % femto_per_nano) / 1e15;
    }
};

// A stripe per thread: each thread adds to its own cache line, so threads that run the same
// cascade do not fight over one counter, and a stripe with one writer is added to without a
// locked instruction (a plain load and store: a locked addition costs several nanoseconds, a
// large share of what a query costs the library). Threads beyond `owned_stripes` alive at once
// share the last stripe, which is added to atomically. A snapshot sums the stripes.
inline constexpr std::size_t owned_stripes = 16;
inline constexpr std::size_t counter_stripes = owned_stripes + 1;
inline constexpr std::size_t shared_stripe = owned_stripes;

// Hands each thread a stripe of its own while one is free, else the shared one, and takes it
// back when the thread ends, so that threads started and ended over a process's life reuse the
// owned stripes. The lock orders a stripe's last owner's additions before its next owner's.
class StripeRegistry {
public:
    static StripeRegistry& instance() noexcept {
        static StripeRegistry registry;
        return registry;
    }
    std::size_t take() noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = 0; i < owned_stripes; ++i) {
            if (!owned_[i]) {
                owned_[i] = true;
                return i;
            }
        }
        return shared_stripe;
    }
    void give_back(std::size_t stripe) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stripe < owned_stripes) owned_[stripe] = false;
    }

private:
    std::mutex mutex_;
    std::array<bool, owned_stripes> owned_{};
};

inline constexpr std::size_t no_stripe_yet = ~std::size_t{0};

// The calling thread's stripe. Trivially destructible, so that it is still there when another
// thread_local's destructor runs a query after the stripe went back: it is then the shared stripe,
// never one a new thread may own.
inline std::size_t& thread_stripe_slot() noexcept {
    thread_local std::size_t index = no_stripe_yet;
    return index;
}

// Gives the thread's stripe back when the thread ends, after pointing the thread at the shared one.
struct StripeReleaser {
    StripeRegistry& registry;
    std::size_t index;
    StripeReleaser(StripeRegistry& r, std::size_t i) noexcept : registry(r), index(i) {}
    StripeReleaser(const StripeReleaser&) = delete;
    StripeReleaser& operator=(const StripeReleaser&) = delete;
    ~StripeReleaser() {
        thread_stripe_slot() = shared_stripe;
        registry.give_back(index);
    }
};

inline std::size_t this_thread_stripe() noexcept {
    std::size_t& index = thread_stripe_slot();
    if (index == no_stripe_yet) {
        // The registry is reached before the releaser is made, so it outlives every releaser.
        StripeRegistry& registry = StripeRegistry::instance();
        index = registry.take();
        thread_local const StripeReleaser releaser{registry, index};
        (void)releaser;
    }
    return index;
}

template <std::size_t Fields>
class StripedCounters {
public:
    struct alignas(64) Stripe {
        std::array<std::atomic<std::uint64_t>, Fields> values{};
        bool shared = false;  // written by several threads: added to with fetch_add

        void add(std::size_t field, std::uint64_t delta) noexcept { (void)add_returning_before(field, delta); }

        // Adds and holds the field at max_count instead of wrapping; false when it had to. Costs a
        // plain addition while there is room, which is always but for absurd amounts.
        bool add_saturating(std::size_t field, std::uint64_t delta) noexcept {
            const std::uint64_t before = add_returning_before(field, delta);
            if (before <= max_count - delta) return true;
            values[field].store(max_count, std::memory_order_relaxed);
            return false;
        }

    private:
        // Atomic loads and stores still, so that a snapshot may read while the owner adds.
        std::uint64_t add_returning_before(std::size_t field, std::uint64_t delta) noexcept {
            std::atomic<std::uint64_t>& v = values[field];
            if (shared) return v.fetch_add(delta, std::memory_order_relaxed);
            const std::uint64_t before = v.load(std::memory_order_relaxed);
            v.store(before + delta, std::memory_order_relaxed);
            return before;
        }
    };

    StripedCounters() noexcept { stripes_[shared_stripe].shared = true; }

    void add(std::size_t field, std::uint64_t delta) noexcept { this_thread().add(field, delta); }

    // The calling thread's stripe, for code that adds several counters in a row: one
    // thread-local lookup serves them all. Only while nothing the user wrote runs in between: a
    // call may suspend and resume on another thread. A program whose modules each keep their own
    // copy of the registry (the library built into several shared objects with hidden visibility)
    // hands out each stripe once per module, so a thread of another module than the one that
    // made these counters adds to the shared stripe.
    Stripe& this_thread() noexcept {
        const std::size_t index = this_thread_stripe();
        return stripes_[&StripeRegistry::instance() == registry_ ? index : shared_stripe];
    }

    // Exact once the threads that add have finished; while they run, a consistent total of each
    // field but not across fields.
    [[nodiscard]] std::uint64_t total(std::size_t field) const noexcept {
        std::uint64_t sum = 0;
        for (const Stripe& s : stripes_) sum += s.values[field].load(std::memory_order_relaxed);
        return sum;
    }

    // As total(), for fields added with add_saturating: held at max_count, with `saturated` set,
    // instead of wrapping.
    [[nodiscard]] std::uint64_t saturating_total(std::size_t field, bool& saturated) const noexcept {
        std::uint64_t sum = 0;
        for (const Stripe& s : stripes_) {
            const std::uint64_t v = s.values[field].load(std::memory_order_relaxed);
            if (v == max_count || sum > max_count - v) {
                saturated = true;
                return max_count;
            }
            sum += v;
        }
        return sum;
    }

    void reset() noexcept {
        for (Stripe& s : stripes_)
            for (auto& v : s.values) v.store(0, std::memory_order_relaxed);
    }

private:
    std::array<Stripe, counter_stripes> stripes_{};
    const StripeRegistry* registry_ = &StripeRegistry::instance();  // whose stripes these are
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_COUNTERS_HPP
