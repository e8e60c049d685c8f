#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/cascade.hpp>
#include <cascade/runtime/clock.hpp>
#include <cascade/runtime/prometheus.hpp>

#include <chrono>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

cascade::Stats fixture_stats() {
    cascade::Stats s;
    s.queries = 10;
    s.accepted = 8;
    s.fallbacks = 1;
    s.unanswered = 1;
    s.escalations = 4;
    s.errors = 2;
    s.hedges = 1;
    s.cost = 0.0125;
    s.baseline_cost = 0.05;
    s.latency = 1500ms;
    cascade::TierStats mini;
    mini.name = "mini";
    mini.calls = 11;
    mini.accepted = 6;
    mini.rejected = 3;
    mini.model_errors = 1;
    mini.cancelled = 1;
    mini.cost = 0.0025;
    mini.latency = 500ms;
    cascade::TierStats big;
    big.name = "big \"v2\"";
    big.calls = 4;
    big.accepted = 2;
    big.model_errors = 1;
    big.verifier_errors = 1;
    big.cost_errors = 1;
    big.cost = 0.01;
    big.latency = 1s;
    s.tiers = {mini, big};
    return s;
}

}  // namespace

TEST_CASE("renders a cascade's stats in the text exposition format") {
    const std::string text = cascade::prometheus_text(fixture_stats(), "qa", {{"env", "prod"}});
    const std::string expected =
        "# HELP qa_queries_total Queries run through the cascade.\n"
        "# TYPE qa_queries_total counter\n"
        "qa_queries_total{env=\"prod\"} 10\n"
        "# HELP qa_accepted_total Queries whose answer passed a tier's check.\n"
        "# TYPE qa_accepted_total counter\n"
        "qa_accepted_total{env=\"prod\"} 8\n"
        "# HELP qa_fallbacks_total Queries no tier passed, answered by the no-pass policy.\n"
        "# TYPE qa_fallbacks_total counter\n"
        "qa_fallbacks_total{env=\"prod\"} 1\n"
        "# HELP qa_unanswered_total Queries left without an answer.\n"
        "# TYPE qa_unanswered_total counter\n"
        "qa_unanswered_total{env=\"prod\"} 1\n"
        "# HELP qa_escalations_total Calls to tiers past the first.\n"
        "# TYPE qa_escalations_total counter\n"
        "qa_escalations_total{env=\"prod\"} 4\n"
        "# HELP qa_errors_total Model and verifier errors, over all tiers.\n"
        "# TYPE qa_errors_total counter\n"
        "qa_errors_total{env=\"prod\"} 2\n"
        "# HELP qa_hedges_total Backups started by hedged tiers.\n"
        "# TYPE qa_hedges_total counter\n"
        "qa_hedges_total{env=\"prod\"} 1\n"
        "# HELP qa_cost_dollars_total Dollars spent, over all tiers.\n"
        "# TYPE qa_cost_dollars_total counter\n"
        "qa_cost_dollars_total{env=\"prod\"} 0.0125\n"
        "# HELP qa_cost_saturated 1 when the dollars spent reached the most the counters hold and stopped there.\n"
        "# TYPE qa_cost_saturated gauge\n"
        "qa_cost_saturated{env=\"prod\"} 0\n"
        "# HELP qa_baseline_cost_dollars What the same queries would have cost on the last tier alone.\n"
        "# TYPE qa_baseline_cost_dollars gauge\n"
        "qa_baseline_cost_dollars{env=\"prod\"} 0.05\n"
        "# HELP qa_latency_seconds_total Query time, summed over queries.\n"
        "# TYPE qa_latency_seconds_total counter\n"
        "qa_latency_seconds_total{env=\"prod\"} 1.5\n"
        "# HELP qa_first_tokens_total Streamed queries whose caller got a first token.\n"
        "# TYPE qa_first_tokens_total counter\n"
        "qa_first_tokens_total{env=\"prod\"} 0\n"
        "# HELP qa_first_token_seconds_total Time from a streamed query's start to its caller's first token, summed "
        "over those queries.\n"
        "# TYPE qa_first_token_seconds_total counter\n"
        "qa_first_token_seconds_total{env=\"prod\"} 0\n"
        "# HELP qa_first_token_quantile_seconds Quantiles of the time to a streamed query's first token, to within "
        "12.5%.\n"
        "# TYPE qa_first_token_quantile_seconds gauge\n"
        "qa_first_token_quantile_seconds{env=\"prod\",quantile=\"0.5\"} 0\n"
        "qa_first_token_quantile_seconds{env=\"prod\",quantile=\"0.9\"} 0\n"
        "qa_first_token_quantile_seconds{env=\"prod\",quantile=\"0.99\"} 0\n"
        "# HELP qa_tier_calls_total Calls to the tier's model.\n"
        "# TYPE qa_tier_calls_total counter\n"
        "qa_tier_calls_total{env=\"prod\",tier=\"mini\"} 11\n"
        "qa_tier_calls_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 4\n"
        "# HELP qa_tier_accepted_total Answers that passed the tier's check.\n"
        "# TYPE qa_tier_accepted_total counter\n"
        "qa_tier_accepted_total{env=\"prod\",tier=\"mini\"} 6\n"
        "qa_tier_accepted_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 2\n"
        "# HELP qa_tier_rejected_total Answers below the tier's threshold.\n"
        "# TYPE qa_tier_rejected_total counter\n"
        "qa_tier_rejected_total{env=\"prod\",tier=\"mini\"} 3\n"
        "qa_tier_rejected_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_model_errors_total Calls whose model threw.\n"
        "# TYPE qa_tier_model_errors_total counter\n"
        "qa_tier_model_errors_total{env=\"prod\",tier=\"mini\"} 1\n"
        "qa_tier_model_errors_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 1\n"
        "# HELP qa_tier_verifier_errors_total Calls whose verifier failed.\n"
        "# TYPE qa_tier_verifier_errors_total counter\n"
        "qa_tier_verifier_errors_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_verifier_errors_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 1\n"
        "# HELP qa_tier_cost_errors_total Calls whose cost function failed.\n"
        "# TYPE qa_tier_cost_errors_total counter\n"
        "qa_tier_cost_errors_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_cost_errors_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 1\n"
        "# HELP qa_tier_timeouts_total Calls past the tier's time limit, or streams that stalled.\n"
        "# TYPE qa_tier_timeouts_total counter\n"
        "qa_tier_timeouts_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_timeouts_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_cancelled_total Calls that lost a hedge race.\n"
        "# TYPE qa_tier_cancelled_total counter\n"
        "qa_tier_cancelled_total{env=\"prod\",tier=\"mini\"} 1\n"
        "qa_tier_cancelled_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_stopped_early_total Streams the tier's early-exit rule stopped mid-answer.\n"
        "# TYPE qa_tier_stopped_early_total counter\n"
        "qa_tier_stopped_early_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_stopped_early_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_streamed_total Calls that streamed.\n"
        "# TYPE qa_tier_streamed_total counter\n"
        "qa_tier_streamed_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_streamed_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_tokens_total Chunks the tier's streams produced.\n"
        "# TYPE qa_tier_tokens_total counter\n"
        "qa_tier_tokens_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_tokens_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_first_tokens_total Streamed calls that produced a first chunk.\n"
        "# TYPE qa_tier_first_tokens_total counter\n"
        "qa_tier_first_tokens_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_first_tokens_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_first_token_seconds_total Time from a streamed call's start to its first chunk, summed over those calls.\n"
        "# TYPE qa_tier_first_token_seconds_total counter\n"
        "qa_tier_first_token_seconds_total{env=\"prod\",tier=\"mini\"} 0\n"
        "qa_tier_first_token_seconds_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0\n"
        "# HELP qa_tier_cost_dollars_total Dollars spent at the tier.\n"
        "# TYPE qa_tier_cost_dollars_total counter\n"
        "qa_tier_cost_dollars_total{env=\"prod\",tier=\"mini\"} 0.0025\n"
        "qa_tier_cost_dollars_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 0.01\n"
        "# HELP qa_tier_latency_seconds_total Time spent at the tier, summed over calls.\n"
        "# TYPE qa_tier_latency_seconds_total counter\n"
        "qa_tier_latency_seconds_total{env=\"prod\",tier=\"mini\"} 0.5\n"
        "qa_tier_latency_seconds_total{env=\"prod\",tier=\"big \\\"v2\\\"\"} 1\n";
    CHECK(text == expected);
}

TEST_CASE("renders a router's stats with a line per route") {
    cascade::RouterStats s;
    s.queries = 5;
    s.scorer_errors = 1;
    s.cost = 0.25;
    s.latency = 2s;
    cascade::RouteStats easy;
    easy.name = "mini>big";
    easy.queries = 3;
    easy.cost = 0.05;
    cascade::RouteStats hard;
    hard.name = "big";
    hard.queries = 2;
    hard.unanswered = 1;
    hard.cost = 0.2;
    s.routes = {easy, hard};
    s.cost_saturated = true;
    const std::string text = cascade::prometheus_text(s, "router");
    CHECK(contains(text, "# TYPE router_cost_saturated gauge\nrouter_cost_saturated 1\n"));
    CHECK(contains(text, "# TYPE router_queries_total counter\nrouter_queries_total 5\n"));
    CHECK(contains(text, "router_scorer_errors_total 1\n"));
    CHECK(contains(text, "router_route_queries_total{route=\"mini>big\"} 3\nrouter_route_queries_total{route=\"big\"} 2\n"));
    CHECK(contains(text, "router_route_unanswered_total{route=\"big\"} 1\n"));
    CHECK_FALSE(contains(text, "baseline"));  // unknown yet: left out rather than made up
}

TEST_CASE("renders a router's time to first token as a cascade's is") {
    cascade::RouterStats s;
    s.queries = 3;
    s.first_tokens = 2;
    s.first_token_total = 13ms;
    s.first_token_p50 = 3ms;
    s.first_token_p90 = 10ms;
    s.first_token_p99 = 10ms;
    const std::string text = cascade::prometheus_text(s, "router", {{"env", "prod"}});
    CHECK(contains(text, "# TYPE router_first_tokens_total counter\nrouter_first_tokens_total{env=\"prod\"} 2\n"));
    CHECK(contains(text, "# TYPE router_first_token_seconds_total counter\n"
                         "router_first_token_seconds_total{env=\"prod\"} 0.013\n"));
    CHECK(contains(text, "# TYPE router_first_token_quantile_seconds gauge\n"
                         "router_first_token_quantile_seconds{env=\"prod\",quantile=\"0.5\"} 0.003\n"
                         "router_first_token_quantile_seconds{env=\"prod\",quantile=\"0.9\"} 0.01\n"
                         "router_first_token_quantile_seconds{env=\"prod\",quantile=\"0.99\"} 0.01\n"));
}

TEST_CASE("escapes label values and sanitises metric and label names") {
    cascade::PrometheusWriter w;
    w.sample("9lives.total-count", "counter", "A help with a \\ and a\nnewline.",
             {{"bad-name", "a\\b\"c\nd"}}, std::uint64_t{3});
    CHECK(w.str() ==
          "# HELP _9lives_total_count A help with a \\\\ and a\\nnewline.\n"
          "# TYPE _9lives_total_count counter\n"
          "_9lives_total_count{bad_name=\"a\\\\b\\\"c\\nd\"} 3\n");
}

TEST_CASE("spells special values as the format does and keeps doubles exact") {
    cascade::PrometheusWriter w;
    w.sample("g", "gauge", "h", {}, std::numeric_limits<double>::quiet_NaN());
    w.sample("g", "gauge", "h", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
    w.sample("g", "gauge", "h", {{"k", "third"}}, 1.0 / 3.0);
    CHECK(w.str() == "# HELP g h\n# TYPE g gauge\ng NaN\ng{k=\"inf\"} +Inf\ng{k=\"third\"} 0.3333333333333333\n");
}

TEST_CASE("several snapshots on one page keep each family together") {
    cascade::PrometheusWriter w;
    auto s = fixture_stats();
    w.add(s, "cascade", {{"cascade", "qa"}});
    w.add(s, "cascade", {{"cascade", "chat"}});
    const std::string text = w.str();
    CHECK(contains(text, "cascade_queries_total{cascade=\"qa\"} 10\ncascade_queries_total{cascade=\"chat\"} 10\n"));
    std::size_t type_lines = 0;
    for (std::size_t at = text.find("# TYPE cascade_queries_total "); at != std::string::npos;
         at = text.find("# TYPE cascade_queries_total ", at + 1)) {
        ++type_lines;
    }
    CHECK(type_lines == 1);
}

TEST_CASE("renders the runtime wrappers' counters") {
    cascade::RetryStats retry;
    retry.calls = 12;
    retry.retries = 2;
    retry.waited = 300ms;
    cascade::BreakerStats breaker;
    breaker.state = cascade::BreakerState::open;
    breaker.opened = 1;
    cascade::CacheStats cache;
    cache.hits = 7;
    cache.size = 3;
    cache.capacity = 100;
    cascade::BudgetStats budget;
    budget.limit = 25.0;
    budget.spent = 1.5;
    budget.refusals = 4;
    budget.cost_errors = 2;
    budget.saturated = true;
    cascade::PrometheusWriter w;
    w.add(retry, "app", {{"tier", "mini"}});
    w.add(breaker, "app", {{"tier", "mini"}});
    w.add(cache, "app");
    w.add(budget, "app");
    const std::string text = w.str();
    CHECK(contains(text, "app_retry_calls_total{tier=\"mini\"} 12\n"));
    CHECK(contains(text, "app_retry_wait_seconds_total{tier=\"mini\"} 0.3\n"));
    CHECK(contains(text, "# TYPE app_breaker_state gauge\napp_breaker_state{tier=\"mini\"} 1\n"));
    CHECK(contains(text, "app_cache_hits_total 7\n"));
    CHECK(contains(text, "app_cache_entries 3\n"));
    CHECK(contains(text, "app_budget_limit_dollars 25\n"));
    CHECK(contains(text, "app_budget_spent_dollars_total 1.5\n"));
    CHECK(contains(text, "app_budget_refusals_total 4\n"));
    CHECK(contains(text, "app_budget_cost_errors_total 2\n"));
    CHECK(contains(text, "# TYPE app_budget_saturated gauge\napp_budget_saturated 1\n"));
}

TEST_CASE("renders a live cascade's stats") {
    cascade::Cascade c{cascade::tier("mini", [](int x) { return x; }, [](int x) { return x > 0; },
                                     cascade::price_per_call(0.001)),
                       cascade::tier("big", [](int x) { return x; }, cascade::price_per_call(0.01))};
    (void)c.run(1);
    (void)c.run(-1);
    const std::string text = cascade::prometheus_text(c.stats(), "live");
    CHECK(contains(text, "live_queries_total 2\n"));
    CHECK(contains(text, "live_tier_calls_total{tier=\"mini\"} 2\n"));
    CHECK(contains(text, "live_tier_calls_total{tier=\"big\"} 1\n"));
    CHECK(contains(text, "live_cost_dollars_total 0.012\n"));
}

TEST_CASE("renders a streamed cascade's early stops, tokens and times to first token") {
    cascade::ManualClock clock;
    cascade::CascadeOptions options;
    options.now = [&clock] { return clock.now(); };
    // The stream's probability falls at its third token when asked for "drop".
    auto stream_mini = [&clock](const std::string& q, cascade::TokenSink& sink) {
        std::string text;
        clock.advance(2ms);  // the first token comes 2 ms into the call
        for (int i = 0; i < 5; ++i) {
            const double logprob = q == "drop" && i >= 2 ? -3.0 : -0.01;
            text += "w";
            if (sink("w", logprob) == cascade::StreamControl::stop) break;
        }
        return text;
    };
    auto stop_on_drop = [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.last_prob() && *s.last_prob() < 0.5) return std::string("a low token");
        return std::nullopt;
    };
    cascade::Cascade c{options,
                       cascade::tier("mini", stream_mini, [](const std::string&) { return true; },
                                     cascade::price_per_call(0.001))
                           .with_early_exit(stop_on_drop),
                       cascade::tier("big", [](const std::string& q) { return q; }, cascade::price_per_call(0.01))};
    auto ignore = [](const cascade::StreamEvent&) {};
    (void)c.stream(std::string("fine"), ignore);
    (void)c.stream(std::string("drop"), ignore);
    const std::string text = cascade::prometheus_text(c.stats(), "s");
    CHECK(contains(text, "s_tier_stopped_early_total{tier=\"mini\"} 1\n"));
    CHECK(contains(text, "s_tier_streamed_total{tier=\"mini\"} 2\n"));
    CHECK(contains(text, "s_tier_streamed_total{tier=\"big\"} 0\n"));
    // 5 tokens of the whole stream, 3 of the stopped one (the third made the rule fire).
    CHECK(contains(text, "s_tier_tokens_total{tier=\"mini\"} 8\n"));
    CHECK(contains(text, "s_tier_first_tokens_total{tier=\"mini\"} 2\n"));
    CHECK(contains(text, "s_tier_first_token_seconds_total{tier=\"mini\"} 0.004\n"));
    CHECK(contains(text, "s_first_tokens_total 2\n"));
    CHECK(contains(text, "s_first_token_quantile_seconds{quantile=\"0.5\"} "));
}

TEST_CASE("refuses a label name twice in a sample, a family with two types, and an empty prefix") {
    CHECK(contains(invalid_argument_message([] { (void)cascade::prometheus_text(fixture_stats(), "qa", {{"tier", "x"}}); }),
                   "the label \"tier\" appears twice"));
    cascade::PrometheusWriter w;
    w.sample("m", "counter", "h", {}, std::uint64_t{1});
    CHECK_THROWS_AS(w.sample("m", "gauge", "h", {}, std::uint64_t{1}), std::invalid_argument);
    CHECK(contains(invalid_argument_message([] { (void)cascade::prometheus_text(fixture_stats(), ""); }), "prefix is empty"));
}
