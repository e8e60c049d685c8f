// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_DEADLINE_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_DEADLINE_HPP

#include <chrono>
#include <ratio>
#include <type_traits>

namespace cascade::redis::detail {

// `from + wait` on the steady clock, or time_point::max() (no deadline) when that would not fit.
// A wait or a timeout of duration::max() means "no limit": added as it is, it overflows (or, in
// milliseconds, overflows already in the conversion to the clock's nanoseconds) and lands in the
// past, so a call meant to wait forever gives up at once.
template <class Rep, class Period>
std::chrono::steady_clock::time_point later(std::chrono::steady_clock::time_point from,
                                            std::chrono::duration<Rep, Period> wait) {
    using clock = std::chrono::steady_clock;
    static_assert(std::is_integral<Rep>::value && std::ratio_less_equal<clock::period, Period>::value,
                  "cascade::redis::detail::later: an integral duration no finer than the steady clock's tick");
    if (wait <= wait.zero()) return from + std::chrono::duration_cast<clock::duration>(wait);
    if (from == clock::time_point::max()) return from;
    // Compared in the wait's own unit, which holds the room left without overflowing.
    const auto room = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(clock::time_point::max() - from);
    if (wait >= room) return clock::time_point::max();
    return from + std::chrono::duration_cast<clock::duration>(wait);
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_DEADLINE_HPP
