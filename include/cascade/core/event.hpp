// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_EVENT_HPP
#define CASCADE_CORE_EVENT_HPP

#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include "result.hpp"

namespace cascade {

/// What an event hook is told about.
enum class EventKind {
    tier_started,    ///< a tier's model is about to be called
    tier_finished,   ///< a tier's call ended: `attempt` says accepted, rejected, failed or timed out
    tier_skipped,    ///< a tier was not called: deadline passed or over the cost cap (`attempt` says which)
    escalated,       ///< the query moves on from `tier_index` to a later tier
    query_finished,  ///< the query is settled: `resolution`, `cost`, `latency`
    retried,         ///< a retry wrapper is calling its model again (`detail` holds the error)
    breaker_opened,  ///< a circuit breaker stopped calling its model
    cache_hit,       ///< a cache answered without calling its model
    /// a hedged tier had not answered after its delay: the tier at `tier_index` (the next one)
    /// is started alongside it, on a helper thread; its tier_started and tier_finished follow
    hedge_started,
};

constexpr std::string_view to_string(EventKind k) noexcept {
    switch (k) {
        case EventKind::tier_started: return "tier_started";
        case EventKind::tier_finished: return "tier_finished";
        case EventKind::tier_skipped: return "tier_skipped";
        case EventKind::escalated: return "escalated";
        case EventKind::query_finished: return "query_finished";
        case EventKind::retried: return "retried";
        case EventKind::breaker_opened: return "breaker_opened";
        case EventKind::cache_hit: return "cache_hit";
        case EventKind::hedge_started: return "hedge_started";
    }
    return "unknown";
}

/// One event. Views are valid only during the hook's call: copy what you keep.
struct Event {
    EventKind kind = EventKind::tier_started;
    std::string_view source;               ///< the tier's (or wrapper's) name
    std::size_t tier_index = 0;            ///< the tier's position, for tier events
    const Attempt* attempt = nullptr;      ///< for tier_finished and tier_skipped
    Resolution resolution = Resolution::unanswered;  ///< for query_finished
    double cost = 0.0;                     ///< dollars, for query_finished
    std::chrono::nanoseconds latency{0};   ///< for query_finished
    std::string_view detail;               ///< for retried: the error that is retried
};

namespace detail {
inline Event tier_event(EventKind kind, std::string_view tier, std::size_t index, const Attempt* attempt = nullptr) {
    Event e;
    e.kind = kind;
    e.source = tier;
    e.tier_index = index;
    e.attempt = attempt;
    return e;
}
}  // namespace detail

/// A hook called for every event, from the thread that runs the query, or, for the backup of a
/// hedged tier (hedge_started and the backup's tier events), from the helper thread that runs it,
/// while the query's thread may be reporting too. It must be thread-safe when queries run
/// concurrently or a tier is hedged, and should be quick. An empty hook costs one branch per event.
using EventHook = std::function<void(const Event&)>;

}  // namespace cascade

#endif  // CASCADE_CORE_EVENT_HPP
