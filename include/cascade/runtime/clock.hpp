// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_CLOCK_HPP
#define CASCADE_RUNTIME_CLOCK_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace cascade {

/// The time source of the runtime wrappers (retry, breaker, cache TTL). A clock is a small value
/// with
///
///     std::chrono::steady_clock::time_point now();
///     void sleep_for(std::chrono::nanoseconds d);
///
/// Wrappers store their clock by value, so a clock is a handle: SteadyClock is stateless and
/// ManualClock's copies share one timeline.

/// Real time: std::chrono::steady_clock and std::this_thread::sleep_for.
/// Thread-safety: every member may be called from any thread.
struct SteadyClock {
    using time_point = std::chrono::steady_clock::time_point;
    [[nodiscard]] time_point now() const noexcept { return std::chrono::steady_clock::now(); }
    void sleep_for(std::chrono::nanoseconds d) const {
        if (d > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(d);
    }
};

/// Time that moves only when told to: advance(d), or sleep_for(d), which returns at once after
/// advancing. Tests of backoff, cool-downs and TTLs run instantly and exactly with it.
///
///     cascade::ManualClock clock;
///     auto retrying = cascade::with_retry(model, policy, cascade::retry_any_error, clock);
///     retrying(request);                  // sleeps between attempts advance `clock`
///     clock.elapsed();                    // how long those sleeps would have taken
///
/// Copies share one timeline, so the clock handed to a wrapper and the one kept by the test are
/// the same. It starts at the epoch of std::chrono::steady_clock::time_point.
/// Thread-safety: every member may be called from any thread; concurrent sleeps add up.
class ManualClock {
public:
    using time_point = std::chrono::steady_clock::time_point;

    ManualClock() : ticks_(std::make_shared<std::atomic<std::int64_t>>(0)) {}

    [[nodiscard]] time_point now() const noexcept {
        return time_point(std::chrono::nanoseconds(ticks_->load(std::memory_order_acquire)));
    }
    /// Advances the time by `d`, at once.
    void sleep_for(std::chrono::nanoseconds d) const {
        if (d > std::chrono::nanoseconds::zero()) advance(d);
    }
    /// Moves the time forward by `d`; throws std::invalid_argument for a negative `d` (steady
    /// time never goes back).
    void advance(std::chrono::nanoseconds d) const {
        if (d < std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::ManualClock::advance: the time cannot go back; got a negative duration");
        }
        ticks_->fetch_add(d.count(), std::memory_order_acq_rel);
    }
    /// The time since the clock was made.
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept {
        return std::chrono::nanoseconds(ticks_->load(std::memory_order_acquire));
    }

private:
    std::shared_ptr<std::atomic<std::int64_t>> ticks_;
};

namespace detail {

template <class Clock, class = void>
struct is_clock : std::false_type {};
template <class Clock>
struct is_clock<Clock, std::void_t<decltype(std::declval<const Clock&>().now()),
                                   decltype(std::declval<const Clock&>().sleep_for(std::chrono::nanoseconds{}))>>
    : std::is_convertible<decltype(std::declval<const Clock&>().now()), std::chrono::steady_clock::time_point> {};
template <class Clock>
inline constexpr bool is_clock_v = is_clock<Clock>::value;

}  // namespace detail
}  // namespace cascade

#endif  // CASCADE_RUNTIME_CLOCK_HPP
