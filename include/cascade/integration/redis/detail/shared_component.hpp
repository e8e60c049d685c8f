// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_SHARED_COMPONENT_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_SHARED_COMPONENT_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "../../../core/call_context.hpp"
#include "../../../core/event.hpp"
#include "deadline.hpp"

namespace cascade::redis::detail {

// A random 64-bit nonce: with a per-process counter after it, it names a lease holder or a probe
// uniquely across the fleet, so that one replica never releases what another holds. `salt` (the
// address of the object that keeps it) and the clock are mixed in, so that nonces stay distinct
// across the processes of one host even where std::random_device is not available.
inline std::uint64_t random_nonce_value(const void* salt = nullptr) noexcept {
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                         static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(salt));
    try {
        std::random_device device;
        seed ^= (static_cast<std::uint64_t>(device()) << 32) ^ device();
    } catch (...) {
        // The clock and the address alone: still distinct across the processes of one host.
    }
    // splitmix64, so that neighbouring seeds give unrelated nonces.
    seed += 0x9e3779b97f4a7c15ULL;
    seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
    return seed ^ (seed >> 31);
}

// random_nonce_value() as 16 hex digits, for ids that travel as text.
inline std::string random_nonce(const void* salt = nullptr) {
    const std::uint64_t value = random_nonce_value(salt);
    static constexpr char digits[] = "0123456789abcdef";
    std::string text(16, '0');
    for (std::size_t i = 0; i < 16; ++i) text[15 - i] = digits[(value >> (4 * i)) & 0xf];
    return text;
}

// The call's deadline on the steady clock the Client measures with. A cascade may run on a clock
// of its own (CallContext::now), so the deadline is carried over as the time that is left; a
// deadline too far off to fit on the steady clock is none.
inline std::chrono::steady_clock::time_point call_deadline(const CallContext* context) {
    if (context == nullptr) return std::chrono::steady_clock::time_point::max();
    const std::chrono::nanoseconds left = context->remaining();
    if (left == std::chrono::nanoseconds::max()) return std::chrono::steady_clock::time_point::max();
    return later(std::chrono::steady_clock::now(), left);
}

// Reports EventKind::shared_state_unavailable, its detail "<what was done>: <error>", to the
// component's hook and the call's.
inline void report_unavailable(std::string_view source, const EventHook* hook, const CallContext* context,
                               std::string_view done, std::string_view error) noexcept {
    if ((hook == nullptr || !*hook) && (context == nullptr || !context->reports_events())) return;
    try {
        const std::string text = std::string(done) + ": " + std::string(error);
        Event e = cascade::detail::wrapper_event(EventKind::shared_state_unavailable, source, context);
        e.detail = text;
        cascade::detail::report_wrapper_event(e, hook, context);
    } catch (...) {
        // Out of memory for the text: the event is lost, the call's outcome is not.
    }
}

// Whole milliseconds, rounded up, for a Lua script: a duration of 1 ns must not become 0.
inline long long ceil_ms(std::chrono::nanoseconds d) { return std::chrono::ceil<std::chrono::milliseconds>(d).count(); }

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_SHARED_COMPONENT_HPP
