// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_EVENT_HPP
#define CASCADE_CORE_EVENT_HPP

#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include "call_context.hpp"
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
    budget_refused,       ///< a budget (with_budget) could not cover a call's estimate: not called
    concurrency_limited,  ///< no slot of a concurrency limit came free in time: not called
    /// a shared limit's store (Redis) could not be reached in time: `detail` says whether the call
    /// was refused (fail closed) or checked by the component's local twin instead
    shared_state_unavailable,
    /// a streamed query's caller was told to take back the tokens it was shown of the tier at
    /// `tier_index` (StreamEventKind::discard, pass-through mode): `detail` says how many
    stream_discarded,
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
        case EventKind::budget_refused: return "budget_refused";
        case EventKind::concurrency_limited: return "concurrency_limited";
        case EventKind::shared_state_unavailable: return "shared_state_unavailable";
        case EventKind::stream_discarded: return "stream_discarded";
    }
    return "unknown";
}

/// One event. Views are valid only during the hook's call: copy what you keep.
struct Event {
    EventKind kind = EventKind::tier_started;
    /// the tier's name; for a wrapper's event, the source given to its with_event_hook, else the
    /// name of the tier it serves (empty when called outside a cascade)
    std::string_view source;
    std::size_t tier_index = 0;            ///< the tier's position, for tier and wrapper events
    const Attempt* attempt = nullptr;      ///< for tier_finished and tier_skipped
    Resolution resolution = Resolution::unanswered;  ///< for query_finished
    double cost = 0.0;                     ///< dollars, for query_finished
    std::chrono::nanoseconds latency{0};   ///< for query_finished
    /// for retried: the error that is retried; for shared_state_unavailable: what was done about it
    std::string_view detail;
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
/// A cascade's hook also hears the runtime wrappers inside its tiers (retried, breaker_opened,
/// cache_hit, budget_refused, concurrency_limited, shared_state_unavailable), through
/// CallContext::report.
using EventHook = std::function<void(const Event&)>;

namespace detail {
// A runtime wrapper's event: from its own source when it was given one, else from the tier whose
// call it serves.
inline Event wrapper_event(EventKind kind, std::string_view own_source, const CallContext* context) noexcept {
    Event e;
    e.kind = kind;
    e.source = !own_source.empty() || context == nullptr ? own_source : context->tier;
    e.tier_index = context != nullptr ? context->tier_index : 0;
    return e;
}

// Hands a wrapper's event to its own hook, when it has one, and to the query's (CallContext::
// report). What the wrapper's hook throws is dropped: the wrapper's work must not depend on it,
// and it has nowhere else to report.
inline void report_wrapper_event(const Event& e, const EventHook* own_hook, const CallContext* context) noexcept {
    if (own_hook != nullptr && *own_hook) {
        try {
            (*own_hook)(e);
        } catch (...) {
            // Dropped: see above. The query's hook, reached below, counts its own errors.
        }
    }
    if (context != nullptr) context->report(e);
}
}  // namespace detail

}  // namespace cascade

#endif  // CASCADE_CORE_EVENT_HPP
