// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_PROMETHEUS_HPP
#define CASCADE_RUNTIME_PROMETHEUS_HPP

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "breaker.hpp"
#include "budget.hpp"
#include "cache.hpp"
#include "retry.hpp"
#include "../core/stats.hpp"
#include "../detail/prometheus_format.hpp"

namespace cascade {

/// Label pairs added to every sample, e.g. {{"service", "qa"}, {"env", "prod"}}.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

namespace detail {

inline double seconds(std::chrono::nanoseconds d) noexcept { return static_cast<double>(d.count()) / 1e9; }

}  // namespace detail

/// Collects samples into metric families and renders them in the Prometheus text exposition
/// format, version 0.0.4 (Content-Type: text/plain; version=0.0.4). Families come out in the
/// order first added, each with its HELP and TYPE lines and all its samples together, so several
/// cascades can share metric names and differ by label:
///
///     cascade::PrometheusWriter w;
///     w.add(qa.stats(), "cascade", {{"cascade", "qa"}});
///     w.add(chat.stats(), "cascade", {{"cascade", "chat"}});
///     w.add(budget.stats(), "cascade");
///     serve(w.str());
///
/// Names are sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*, label values escaped. Throws
/// std::invalid_argument for a label name used twice in one sample (the ones the writer adds,
/// `tier` and `route`, included) or a family re-added with another type.
/// Thread-safety: none; build one per scrape.
class PrometheusWriter {
public:
    /// One sample of the family `name` (sanitised), made with `type` "counter" or "gauge".
    template <class Number>
    void sample(std::string_view name, std::string_view type, std::string_view help, const MetricLabels& labels,
                Number value) {
        Family& f = family(detail::sanitize_metric_name(name, true), type, help);
        std::string line = f.name;
        if (!labels.empty()) {
            line += '{';
            std::vector<std::string> seen;
            for (const auto& [key, val] : labels) {
                std::string clean = detail::sanitize_metric_name(key, false);
                for (const std::string& s : seen) {
                    if (s == clean) {
                        throw std::invalid_argument("cascade::PrometheusWriter: the label \"" + clean +
                                                    "\" appears twice in a sample of " + f.name +
                                                    "; rename yours (\"tier\" and \"route\" are set by cascade)");
                    }
                }
                if (!seen.empty()) line += ',';
                line += clean + "=\"" + detail::escape_label_value(val) + '"';
                seen.push_back(std::move(clean));
            }
            line += '}';
        }
        line += ' ';
        line += detail::metric_number(value);
        f.samples.push_back(std::move(line));
    }

    /// A cascade's stats: query totals, and per tier (label `tier`) calls, outcomes, cost, time.
    void add(const Stats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        counter(p + "_queries_total", "Queries run through the cascade.", labels, s.queries);
        counter(p + "_accepted_total", "Queries whose answer passed a tier's check.", labels, s.accepted);
        counter(p + "_fallbacks_total", "Queries no tier passed, answered by the no-pass policy.", labels, s.fallbacks);
        counter(p + "_unanswered_total", "Queries left without an answer.", labels, s.unanswered);
        counter(p + "_escalations_total", "Calls to tiers past the first.", labels, s.escalations);
        counter(p + "_errors_total", "Model and verifier errors, over all tiers.", labels, s.errors);
        counter(p + "_hedges_total", "Backups started by hedged tiers.", labels, s.hedges);
        counter(p + "_cost_dollars_total", "Dollars spent, over all tiers.", labels, s.cost);
        gauge(p + "_cost_saturated", "1 when the dollars spent reached the most the counters hold and stopped there.",
              labels, s.cost_saturated ? 1.0 : 0.0);
        if (s.baseline_cost) {
            gauge(p + "_baseline_cost_dollars", "What the same queries would have cost on the last tier alone.",
                  labels, *s.baseline_cost);
        }
        counter(p + "_latency_seconds_total", "Query time, summed over queries.", labels, detail::seconds(s.latency));
        counter(p + "_first_tokens_total", "Streamed queries whose caller got a first token.", labels, s.first_tokens);
        counter(p + "_first_token_seconds_total",
                "Time from a streamed query's start to its caller's first token, summed over those queries.", labels,
                detail::seconds(s.first_token_total));
        const std::pair<const char*, std::chrono::nanoseconds> first_token_quantiles[] = {
            {"0.5", s.first_token_p50}, {"0.9", s.first_token_p90}, {"0.99", s.first_token_p99}};
        for (const auto& [q, value] : first_token_quantiles) {
            gauge(p + "_first_token_quantile_seconds",
                  "Quantiles of the time to a streamed query's first token, to within 12.5%.",
                  with(labels, "quantile", q), detail::seconds(value));
        }
        for (const TierStats& t : s.tiers) {
            const MetricLabels l = with(labels, "tier", t.name);
            counter(p + "_tier_calls_total", "Calls to the tier's model.", l, t.calls);
            counter(p + "_tier_accepted_total", "Answers that passed the tier's check.", l, t.accepted);
            counter(p + "_tier_rejected_total", "Answers below the tier's threshold.", l, t.rejected);
            counter(p + "_tier_model_errors_total", "Calls whose model threw.", l, t.model_errors);
            counter(p + "_tier_verifier_errors_total", "Calls whose verifier failed.", l, t.verifier_errors);
            counter(p + "_tier_cost_errors_total", "Calls whose cost function failed.", l, t.cost_errors);
            counter(p + "_tier_timeouts_total", "Calls past the tier's time limit, or streams that stalled.", l,
                    t.timeouts);
            counter(p + "_tier_cancelled_total", "Calls that lost a hedge race.", l, t.cancelled);
            counter(p + "_tier_stopped_early_total", "Streams the tier's early-exit rule stopped mid-answer.", l,
                    t.stopped_early);
            counter(p + "_tier_streamed_total", "Calls that streamed.", l, t.streamed);
            counter(p + "_tier_tokens_total", "Chunks the tier's streams produced.", l, t.tokens);
            counter(p + "_tier_first_tokens_total", "Streamed calls that produced a first chunk.", l, t.first_tokens);
            counter(p + "_tier_first_token_seconds_total",
                    "Time from a streamed call's start to its first chunk, summed over those calls.", l,
                    detail::seconds(t.first_token_total));
            counter(p + "_tier_cost_dollars_total", "Dollars spent at the tier.", l, t.cost);
            counter(p + "_tier_latency_seconds_total", "Time spent at the tier, summed over calls.", l,
                    detail::seconds(t.latency));
        }
    }

    /// A router's stats: query totals (time to first token of streamed queries too), and per route
    /// (label `route`) queries, cost, time.
    void add(const RouterStats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        counter(p + "_queries_total", "Queries routed.", labels, s.queries);
        counter(p + "_scorer_errors_total", "Queries whose difficulty scorer failed (sent to the last route).", labels,
                s.scorer_errors);
        counter(p + "_unanswered_total", "Queries left without an answer.", labels, s.unanswered);
        counter(p + "_cost_dollars_total", "Dollars spent, over all routes.", labels, s.cost);
        gauge(p + "_cost_saturated", "1 when the dollars spent reached the most the counters hold and stopped there.",
              labels, s.cost_saturated ? 1.0 : 0.0);
        if (s.baseline_cost) {
            gauge(p + "_baseline_cost_dollars", "What the same queries would have cost on the last route alone.",
                  labels, *s.baseline_cost);
        }
        counter(p + "_latency_seconds_total", "Query time with scoring, summed over queries.", labels,
                detail::seconds(s.latency));
        counter(p + "_first_tokens_total", "Streamed queries whose caller got a first token.", labels, s.first_tokens);
        counter(p + "_first_token_seconds_total",
                "Time from a streamed query's start to its caller's first token, with scoring, summed over those "
                "queries.",
                labels, detail::seconds(s.first_token_total));
        const std::pair<const char*, std::chrono::nanoseconds> first_token_quantiles[] = {
            {"0.5", s.first_token_p50}, {"0.9", s.first_token_p90}, {"0.99", s.first_token_p99}};
        for (const auto& [q, value] : first_token_quantiles) {
            gauge(p + "_first_token_quantile_seconds",
                  "Quantiles of the time to a streamed query's first token, with scoring, to within 12.5%.",
                  with(labels, "quantile", q), detail::seconds(value));
        }
        for (const RouteStats& r : s.routes) {
            const MetricLabels l = with(labels, "route", r.name);
            counter(p + "_route_queries_total", "Queries sent to the route.", l, r.queries);
            counter(p + "_route_unanswered_total", "The route's queries left without an answer.", l, r.unanswered);
            counter(p + "_route_cost_dollars_total", "Dollars spent on the route.", l, r.cost);
            counter(p + "_route_latency_seconds_total", "Time spent on the route, summed over queries.", l,
                    detail::seconds(r.latency));
        }
    }

    /// A retry wrapper's counters (cascade::with_retry).
    void add(const RetryStats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        counter(p + "_retry_calls_total", "Model calls made by the retry wrapper, retries included.", labels, s.calls);
        counter(p + "_retry_retries_total", "Calls made after a failed one.", labels, s.retries);
        counter(p + "_retry_successes_total", "Requests answered at some attempt.", labels, s.successes);
        counter(p + "_retry_give_ups_total", "Requests that failed after the retries ran out.", labels, s.give_ups);
        counter(p + "_retry_not_retried_total", "Requests that failed with an error not retried.", labels,
                s.not_retried);
        counter(p + "_retry_wait_seconds_total", "Time waited between attempts.", labels, detail::seconds(s.waited));
    }

    /// A circuit breaker's state (0 closed, 1 open, 2 half-open) and counters.
    void add(const BreakerStats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        gauge(p + "_breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open.", labels,
              static_cast<std::uint64_t>(s.state == BreakerState::closed ? 0 : s.state == BreakerState::open ? 1 : 2));
        counter(p + "_breaker_calls_total", "Calls let through the breaker.", labels, s.calls);
        counter(p + "_breaker_successes_total", "Calls through the breaker that answered.", labels, s.successes);
        counter(p + "_breaker_failures_total", "Calls through the breaker that failed.", labels, s.failures);
        counter(p + "_breaker_rejected_total", "Calls refused while the breaker was open.", labels, s.rejected);
        counter(p + "_breaker_opened_total", "Times the breaker opened.", labels, s.opened);
    }

    /// A cache's counters (cascade::LruCache).
    void add(const CacheStats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        counter(p + "_cache_hits_total", "Cache lookups that found an entry.", labels, s.hits);
        counter(p + "_cache_misses_total", "Cache lookups that found none.", labels, s.misses);
        counter(p + "_cache_evictions_total", "Entries evicted to make room.", labels, s.evictions);
        counter(p + "_cache_expirations_total", "Entries dropped past their time to live.", labels, s.expirations);
        gauge(p + "_cache_entries", "Entries in the cache.", labels, static_cast<std::uint64_t>(s.size));
        gauge(p + "_cache_capacity", "The most entries the cache holds.", labels, static_cast<std::uint64_t>(s.capacity));
    }

    /// A shared budget (cascade::Budget).
    void add(const BudgetStats& s, std::string_view prefix, const MetricLabels& labels = {}) {
        const std::string p = checked_prefix(prefix);
        gauge(p + "_budget_limit_dollars", "The budget.", labels, s.limit);
        counter(p + "_budget_spent_dollars_total", "Dollars spent from the budget.", labels, s.spent);
        gauge(p + "_budget_reserved_dollars", "Dollars reserved by calls in flight.", labels, s.reserved);
        counter(p + "_budget_reservations_total", "Reservations granted.", labels, s.reservations);
        counter(p + "_budget_refusals_total", "Calls refused because the budget could not cover them.", labels,
                s.refusals);
        counter(p + "_budget_overruns_total", "Calls that cost more than their estimate.", labels, s.overruns);
        counter(p + "_budget_overrun_dollars_total", "Dollars spent above estimates.", labels, s.overrun);
        counter(p + "_budget_cost_errors_total", "Calls whose actual cost was invalid, charged their estimate.", labels,
                s.cost_errors);
        gauge(p + "_budget_saturated", "1 when an amount reached the most the budget's counters hold.", labels,
              s.saturated ? 1.0 : 0.0);
    }

    /// The exposition text: families in the order first added.
    [[nodiscard]] std::string str() const {
        std::string out;
        for (const Family& f : families_) {
            out += "# HELP " + f.name + ' ' + detail::escape_help(f.help) + '\n';
            out += "# TYPE " + f.name + ' ' + f.type + '\n';
            for (const std::string& s : f.samples) out += s + '\n';
        }
        return out;
    }

private:
    struct Family {
        std::string name;
        std::string type;
        std::string help;
        std::vector<std::string> samples;
    };

    static std::string checked_prefix(std::string_view prefix) {
        if (prefix.empty()) {
            throw std::invalid_argument("cascade::PrometheusWriter: the metric name prefix is empty; give one, e.g. \"cascade\"");
        }
        return detail::sanitize_metric_name(prefix, true);
    }

    static MetricLabels with(const MetricLabels& labels, const char* key, const std::string& value) {
        MetricLabels out = labels;
        out.emplace_back(key, value);
        return out;
    }

    template <class Number>
    void counter(const std::string& name, std::string_view help, const MetricLabels& labels, Number v) {
        sample(name, "counter", help, labels, v);
    }
    template <class Number>
    void gauge(const std::string& name, std::string_view help, const MetricLabels& labels, Number v) {
        sample(name, "gauge", help, labels, v);
    }

    Family& family(std::string name, std::string_view type, std::string_view help) {
        for (Family& f : families_) {
            if (f.name != name) continue;
            if (f.type != type) {
                throw std::invalid_argument("cascade::PrometheusWriter: the metric " + name + " was added as a " + f.type +
                                            " and now as a " + std::string(type));
            }
            return f;
        }
        families_.push_back(Family{std::move(name), std::string(type), std::string(help), {}});
        return families_.back();
    }

    std::vector<Family> families_;
};

/// The Prometheus text (format 0.0.4) of one snapshot: cascade::Stats, RouterStats, RetryStats,
/// BreakerStats, CacheStats or BudgetStats, with metric names starting with `prefix`.
///
///     std::string body = cascade::prometheus_text(my_cascade.stats(), "qa_cascade", {{"env", "prod"}});
///
/// To put several snapshots on one page, use a PrometheusWriter.
template <class Snapshot>
std::string prometheus_text(const Snapshot& snapshot, std::string_view prefix, const MetricLabels& labels = {}) {
    PrometheusWriter w;
    w.add(snapshot, prefix, labels);
    return w.str();
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_PROMETHEUS_HPP
