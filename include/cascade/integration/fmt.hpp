// SPDX-License-Identifier: MIT
//
// Optional {fmt} integration: formatters for cascade's results and stats. Not included by
// cascade/cascade.hpp; include it yourself and link {fmt} (CMake: find_package(fmt), fmt::fmt).
//
//     fmt::print("{}\n", result);     // accepted by mini, $0.000200, 1.234 ms
//     fmt::print("{:t}\n", result);   // the same, then one line per tier (Result::explain)
//     fmt::print("{:t}\n", stats);    // totals, then one line per tier
#ifndef CASCADE_INTEGRATION_FMT_HPP
#define CASCADE_INTEGRATION_FMT_HPP

#if !__has_include(<fmt/format.h>)
#error "cascade/integration/fmt.hpp needs {fmt} (<fmt/format.h> was not found): install it (Debian: libfmt-dev) and link fmt::fmt, or do not include this header"
#endif

#include <fmt/format.h>

#include <chrono>
#include <cstddef>

#include "../core/result.hpp"
#include "../core/router.hpp"
#include "../core/stats.hpp"

namespace cascade::detail {

// The one format option: "t" adds a line per tier or route after the summary.
struct TraceSpec {
    bool trace = false;

    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it == 't') {
            trace = true;
            ++it;
        }
        if (it != ctx.end() && *it != '}') {
            throw fmt::format_error("cascade: invalid format for a cascade type; use {} or {:t} (with the trace)");
        }
        return it;
    }
};

inline double millis(std::chrono::nanoseconds d) noexcept { return std::chrono::duration<double, std::milli>(d).count(); }

template <class Out, class Response>
Out format_result_line(Out out, const Result<Response>& r) {
    out = fmt::format_to(out, "{}", to_string(r.resolution()));
    if (r.tier_index()) out = fmt::format_to(out, " by {}", r.tier());
    if (const auto c = r.confidence()) out = fmt::format_to(out, " (confidence {:.3f})", *c);
    return fmt::format_to(out, ", ${:.6f}, {:.3f} ms", r.cost(), millis(r.latency()));
}

template <class Out, class Response>
Out format_trace(Out out, const Result<Response>& r) {
    for (const Attempt& a : r.trace()) out = fmt::format_to(out, "\n  {}", a.describe());
    return out;
}

}  // namespace cascade::detail

/// `mini: rejected (confidence 0.420 < 0.800), $0.000200, 1.234 ms` (Attempt::describe).
template <>
struct fmt::formatter<cascade::Attempt> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::Attempt& a, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{}", a.describe());
    }
    cascade::detail::TraceSpec spec;
};

/// `accepted by mini (confidence 0.910), $0.000200, 1.234 ms`; `{:t}` adds a line per tier.
/// The answer itself is not printed (its type need not be formattable).
template <class Response>
struct fmt::formatter<cascade::Result<Response>> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::Result<Response>& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = cascade::detail::format_result_line(ctx.out(), r);
        return spec.trace ? cascade::detail::format_trace(out, r) : out;
    }
    cascade::detail::TraceSpec spec;
};

/// As a Result, with the route and the difficulty score: `... [route 1, score 0.730]`.
template <class Response>
struct fmt::formatter<cascade::Routed<Response>> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::Routed<Response>& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = cascade::detail::format_result_line(ctx.out(), r);
        if (const auto s = r.score()) {
            out = fmt::format_to(out, " [route {}, score {:.3f}]", r.route(), *s);
        } else {
            out = fmt::format_to(out, " [route {}, {}]", r.route(), r.scorer_error());
        }
        return spec.trace ? cascade::detail::format_trace(out, r) : out;
    }
    cascade::detail::TraceSpec spec;
};

/// `mini: 100 calls, 80 accepted, 15 rejected, 5 model errors, 0 verifier errors, $0.020000, 12.345 ms`;
/// timeouts, cost errors, hedge backups, cancelled calls, early stops and streamed calls are listed
/// when there are any.
template <>
struct fmt::formatter<cascade::TierStats> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::TierStats& t, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = fmt::format_to(ctx.out(), "{}: {} calls, {} accepted, {} rejected, {} model errors, {} verifier errors",
                                  t.name, t.calls, t.accepted, t.rejected, t.model_errors, t.verifier_errors);
        // Counts that only some cascades have (time limits, cost functions, hedging) when not zero.
        if (t.timeouts) out = fmt::format_to(out, ", {} timed out", t.timeouts);
        if (t.cost_errors) out = fmt::format_to(out, ", {} cost errors", t.cost_errors);
        if (t.hedges) out = fmt::format_to(out, ", {} as hedge backup", t.hedges);
        if (t.cancelled) out = fmt::format_to(out, ", {} cancelled", t.cancelled);
        if (t.stopped_early) out = fmt::format_to(out, ", {} stopped early", t.stopped_early);
        if (t.streamed) {
            out = fmt::format_to(out, ", {} streamed ({} tokens, first after {:.3f} ms on average)", t.streamed,
                                 t.tokens, cascade::detail::millis(t.mean_first_token()));
        }
        return fmt::format_to(out, ", ${:.6f}, {:.3f} ms", t.cost, cascade::detail::millis(t.latency));
    }
    cascade::detail::TraceSpec spec;
};

/// `100 queries: 90 accepted, 5 fallbacks, 5 unanswered; 20 escalations, 3 errors; $0.123400
/// (saving 45.0%)`, with `; N hedges` before the saving when tiers are hedged; `{:t}` adds a line
/// per tier.
template <>
struct fmt::formatter<cascade::Stats> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::Stats& s, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = fmt::format_to(ctx.out(), "{} queries: {} accepted, {} fallbacks, {} unanswered; {} escalations, {} errors; ${:.6f}",
                                  s.queries, s.accepted, s.fallbacks, s.unanswered, s.escalations, s.errors, s.cost);
        if (s.hedges) out = fmt::format_to(out, "; {} hedges", s.hedges);
        if (const auto saving = s.saving()) out = fmt::format_to(out, " (saving {:.1f}%)", *saving * 100.0);
        if (spec.trace) {
            for (const cascade::TierStats& t : s.tiers) out = fmt::format_to(out, "\n  {}", t);
        }
        return out;
    }
    cascade::detail::TraceSpec spec;
};

/// `mini>big: 70 queries, 1 unanswered, $0.014000, 85.000 ms`.
template <>
struct fmt::formatter<cascade::RouteStats> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::RouteStats& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{}: {} queries, {} unanswered, ${:.6f}, {:.3f} ms", r.name, r.queries,
                              r.unanswered, r.cost, cascade::detail::millis(r.latency));
    }
    cascade::detail::TraceSpec spec;
};

/// `100 queries: 2 unanswered, 3 scorer errors; $0.050000 (saving 60.0%)`; `{:t}` adds a line per
/// route.
template <>
struct fmt::formatter<cascade::RouterStats> {
    constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return spec.parse(ctx); }
    template <class FormatContext>
    auto format(const cascade::RouterStats& s, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = fmt::format_to(ctx.out(), "{} queries: {} unanswered, {} scorer errors; ${:.6f}", s.queries,
                                  s.unanswered, s.scorer_errors, s.cost);
        if (const auto saving = s.saving()) out = fmt::format_to(out, " (saving {:.1f}%)", *saving * 100.0);
        if (spec.trace) {
            for (const cascade::RouteStats& r : s.routes) out = fmt::format_to(out, "\n  {}", r);
        }
        return out;
    }
    cascade::detail::TraceSpec spec;
};

#endif  // CASCADE_INTEGRATION_FMT_HPP
