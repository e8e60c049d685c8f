// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_CALL_CONTEXT_HPP
#define CASCADE_CORE_CALL_CONTEXT_HPP

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

namespace cascade {

struct Event;  // core/event.hpp
namespace detail {
class StreamChannel;  // core/detail/stream_channel.hpp
}

/// Where a cascade reads the time: steady_clock by default; tests substitute a manual clock,
/// e.g. `[clock] { return clock.now(); }` with a cascade::ManualClock.
using NowFn = std::function<std::chrono::steady_clock::time_point()>;

namespace detail {
inline std::chrono::steady_clock::time_point steady_now() { return std::chrono::steady_clock::now(); }
}  // namespace detail

/// What a model may learn about the call it is serving: take it as a second parameter,
/// `Response(const Request&, const cascade::CallContext&)`, to give your HTTP client the time
/// that is left. cascade cannot interrupt a call; a model that honours `remaining()` ends on time,
/// and one that polls `cancel_requested()` stops as soon as a hedge race it runs in is lost.
struct CallContext {
    using clock = std::chrono::steady_clock;

    std::string_view tier;       ///< the tier's name
    std::size_t tier_index = 0;  ///< its position in the cascade, 0 = cheapest
    /// When this call should be done: the earlier of the tier's time limit and the query's
    /// deadline; time_point::max() when neither is set.
    clock::time_point deadline = clock::time_point::max();
    const NowFn* now = nullptr;  ///< the cascade's clock; steady_clock when null
    /// Set while this call races another (a hedged tier and its backup, see
    /// cascade::with_hedge_after); null otherwise. Read it through cancel_requested().
    const std::atomic<bool>* cancel_flag = nullptr;
    /// Where the events of a call go besides the wrappers' own hooks: set by a cascade whose
    /// CascadeOptions::on_event is set, to that hook (a hook that throws is counted in the
    /// cascade's Stats::hook_errors); null otherwise. Use them through report().
    void (*event_sink)(const void* owner, const Event& event) noexcept = nullptr;
    const void* event_owner = nullptr;
    /// Where a streaming tier's tokens go on to the caller of a streamed query (Cascade::stream);
    /// null otherwise. Internal to cascade.
    detail::StreamChannel* stream_channel = nullptr;

    /// The time left until the deadline (zero once it has passed; nanoseconds::max() without one).
    [[nodiscard]] std::chrono::nanoseconds remaining() const {
        if (deadline == clock::time_point::max()) return std::chrono::nanoseconds::max();
        const auto left = deadline - (now != nullptr ? (*now)() : clock::now());
        return left > clock::duration::zero() ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                                              : std::chrono::nanoseconds::zero();
    }

    /// True once this call has lost a hedge race: the other call's answer was accepted, and this
    /// call's answer will be dropped (its cost still counts). A model that can stop early should,
    /// by returning or throwing; the cascade waits for it either way. Always false outside a race.
    /// One atomic load: safe to poll from any thread, e.g. an HTTP client's progress callback.
    ///
    ///     // in libcurl's progress callback (CURLOPT_XFERINFOFUNCTION), the context as its data:
    ///     return static_cast<const cascade::CallContext*>(data)->cancel_requested() ? 1 : 0;  // 1 aborts
    [[nodiscard]] bool cancel_requested() const noexcept {
        return cancel_flag != nullptr && cancel_flag->load(std::memory_order_acquire);
    }

    /// Whether report() goes anywhere: a model may skip building an event nobody hears.
    [[nodiscard]] bool reports_events() const noexcept { return event_sink != nullptr; }

    /// Hands `event` to the hook of the query this call serves (see event_sink); does nothing
    /// without one. The runtime wrappers (with_retry, with_breaker, with_cache, with_budget,
    /// with_concurrency_limit) report what they do through it, so that one hook sees the query's
    /// events and theirs. Never throws; no allocation.
    void report(const Event& event) const noexcept {
        if (event_sink != nullptr) event_sink(event_owner, event);
    }
};

}  // namespace cascade

#endif  // CASCADE_CORE_CALL_CONTEXT_HPP
