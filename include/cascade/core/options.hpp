// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_OPTIONS_HPP
#define CASCADE_CORE_OPTIONS_HPP

#include <chrono>
#include <optional>

#include "call_context.hpp"
#include "event.hpp"

namespace cascade {

/// What a cascade answers when no tier's answer passes its check.
enum class NoPassPolicy {
    accept_last,     ///< the answer of the last tier that gave one (usually the last tier)
    most_confident,  ///< the answer with the highest confidence seen (later tiers win ties)
    no_answer,       ///< no answer: Result::value() throws CascadeError with each tier's reason
};

/// Per-query limits; set them for every query in CascadeOptions, or for one in run(request, limits).
struct Limits {
    /// The query's deadline, from the start of run(): once it has passed no further tier is
    /// started, and the query settles with the answers it has (see NoPassPolicy). Models that
    /// take a CallContext see it. Must be > 0.
    std::optional<std::chrono::nanoseconds> timeout;
    /// The most one query may spend: a tier whose cost estimate (Tier::cost_estimate(), else its
    /// mean cost so far) would take the query past it is not called. Must be >= 0.
    std::optional<double> max_cost;
};

struct CascadeOptions {
    NoPassPolicy when_none_pass = NoPassPolicy::accept_last;
    /// Keep the counters behind stats(); off saves a few atomic additions per tier called.
    bool collect_stats = true;
    /// Read the clock around each tier for latencies and percentiles. Off saves two clock reads
    /// a query (about 10 ns each on the tick clock, see `now`) and reports zero latencies;
    /// deadlines and time limits read the clock regardless.
    bool measure_latency = true;
    /// Limits for every query; run(request, limits) overrides them for one query.
    Limits limits{};
    /// Called for every event (see EventKind). A hook that throws is counted in
    /// Stats::hook_errors; the query goes on.
    EventHook on_event{};
    /// The clock behind latencies, time limits and deadlines. Must be callable from any thread.
    /// A hedged tier's delay (with_hedge_after) is waited in real time, not on this clock.
    /// Left at its default, steady_clock is read directly, without a call through std::function;
    /// a clock set here (a test's manual clock) is called for every read. At the default, a query
    /// with no deadline (no timeout, no tier time limit) and not streamed is timed on the CPU's
    /// time-stamp counter where the kernel keeps time with it (x86-64 Linux), scaled against
    /// steady_clock once per process when the first such cascade is built (about 0.5 ms): a read
    /// costs less than half as much, and its latencies agree with steady_clock's to about 1e-4.
    /// Define CASCADE_NO_TICK_CLOCK to read steady_clock always.
    NowFn now = detail::steady_now;
};

}  // namespace cascade

#endif  // CASCADE_CORE_OPTIONS_HPP
