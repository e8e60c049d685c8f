// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_TICK_CLOCK_HPP
#define CASCADE_DETAIL_TICK_CLOCK_HPP

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

// The time-stamp counter is read on x86-64 Linux only: there the kernel says whether it keeps
// time with the counter itself, which it does only once it has found the counter invariant and
// the cores in step. Define CASCADE_NO_TICK_CLOCK (in every translation unit of the program
// alike) to read steady_clock everywhere.
#if !defined(CASCADE_NO_TICK_CLOCK) && defined(__linux__) && defined(__x86_64__) && \
    (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define CASCADE_DETAIL_TICK_CLOCK 1
#else
#define CASCADE_DETAIL_TICK_CLOCK 0
#endif

namespace cascade::detail {

// A clock for the latencies of queries that have no deadline: the CPU's time-stamp counter, scaled
// to nanoseconds by a calibration against steady_clock made once per process. A read costs less
// than half of a steady_clock read, which through the vDSO reads the same counter and then scales
// it under a sequence lock; a query reads the clock two or three times, a large share of what the
// library adds to it.
//
// Durations between its time points are right to the calibration's error (about 1e-4), but the
// points must never be compared with steady_clock's: nothing that decides a deadline reads this
// clock. They count from an epoch of their own, decades away from steady_clock's, so that a
// deadline made from one by mistake is plainly wrong rather than off by the clocks' drift. The
// kernel's choice of clock source is read once: a kernel that later gives up on the counter (as
// a virtual machine's may after a migration) leaves latencies measured on it.
class TickClock {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // Where the counter's time points start: about 31.7 years after steady_clock's epoch, which
    // leaves two centuries before the nanosecond count could overflow.
    static constexpr std::chrono::nanoseconds epoch{1'000'000'000'000'000'000};

    // Whether now() reads the counter; false (steady_clock) where it cannot be trusted. The first
    // call calibrates, spinning for about half a millisecond.
    static bool counts_ticks() noexcept { return scale().ns_per_tick > 0.0; }

    // The time from the counter, counted from `epoch`, when counts_ticks(); steady_clock's otherwise.
    static time_point now() noexcept {
#if CASCADE_DETAIL_TICK_CLOCK
        const Scale& s = scale();
        if (s.ns_per_tick > 0.0) {
            const auto ticks = static_cast<std::int64_t>(__builtin_ia32_rdtsc() - s.origin_ticks);
            return time_point(epoch) +
                   std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(ticks) * s.ns_per_tick));
        }
#endif
        return std::chrono::steady_clock::now();
    }

private:
    struct Scale {
        double ns_per_tick = 0.0;  // 0: not counting ticks
        std::uint64_t origin_ticks = 0;
    };

    static const Scale& scale() noexcept {
        static const Scale s = calibrate();
        return s;
    }

#if CASCADE_DETAIL_TICK_CLOCK
    // One reading of both clocks: the counter read just before and just after steady_clock, so
    // that `spread` says how far apart in time the two readings may be.
    struct Pair {
        std::uint64_t ticks = 0;
        std::uint64_t spread = ~std::uint64_t{0};
        time_point steady{};
    };

    static Pair tightest_pair() noexcept {
        Pair best;
        for (int i = 0; i < 5; ++i) {
            const std::uint64_t before = __builtin_ia32_rdtsc();
            const time_point steady = std::chrono::steady_clock::now();
            const std::uint64_t after = __builtin_ia32_rdtsc();
            if (after >= before && after - before < best.spread) {
                best.ticks = before + (after - before) / 2;
                best.spread = after - before;
                best.steady = steady;
            }
        }
        return best;
    }

    // The CPU says the counter runs at a constant rate through power states (CPUID 0x80000007,
    // EDX bit 8), and the kernel keeps time with it.
    static bool trusted() noexcept {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (__get_cpuid(0x80000007U, &eax, &ebx, &ecx, &edx) == 0 || (edx & (1U << 8)) == 0) return false;
        std::FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
        if (f == nullptr) return false;
        char name[32] = {};
        const bool read = std::fgets(name, sizeof name, f) != nullptr;
        std::fclose(f);
        return read && std::strncmp(name, "tsc\n", sizeof "tsc\n") == 0;
    }

    static Scale calibrate() noexcept {
        Scale s;
        if (!trusted()) return s;
        const Pair first = tightest_pair();
        Pair last = first;
        while (last.steady - first.steady < std::chrono::microseconds(500)) last = tightest_pair();
        if (last.ticks <= first.ticks) return s;
        const double ns = static_cast<double>(std::chrono::nanoseconds(last.steady - first.steady).count());
        const double per_tick = ns / static_cast<double>(last.ticks - first.ticks);
        // A counter between 100 MHz and 100 GHz; anything else is a reading gone wrong.
        if (!(per_tick > 0.01 && per_tick < 10.0)) return s;
        s.ns_per_tick = per_tick;
        s.origin_ticks = last.ticks;
        return s;
    }
#else
    static Scale calibrate() noexcept { return {}; }
#endif
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_TICK_CLOCK_HPP
