#include "catch.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/core/stream_state.hpp>
#include <cascade/eval/early_exit_replay.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>
#include <cascade/eval/token_trace.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using Catch::Matchers::ContainsSubstring;

namespace {

// Four queries, "small" then "big" (threshold 0.5 on small's confidence), small priced at $0.001
// a token in and out, 4 tokens in:
//   q1: small right, confidence 0.9 (accepted), tokens 0.9 0.9 0.9 0.9;       big right
//   q2: small wrong, confidence 0.2 (rejected), tokens 0.9 0.1 0.1 0.1;       big right
//   q3: small right, confidence 0.6 (accepted), tokens 0.5 0.3 0.9 0.9;       big wrong
//   q4: small wrong, confidence 0.1 (rejected), 6 tokens out but no trace;    big right
// The rule below (stop once 2 tokens are in and their mean is below 0.5) lets q1 finish, stops
// q2 after 3 tokens (0.5 after 2 is not below) and q3 after 2 (0.4): a good answer the cascade
// would have given, lost.
std::string lp(double p) { return cascade::detail::format_number(std::log(p)); }

std::string fixture_jsonl() {
    auto row = [](const char* q, const char* model, int quality, const char* cost, const char* conf,
                  const char* tokens_out, const char* latency, const std::string& tokens) {
        std::string r = std::string("{\"query_id\":\"") + q + "\",\"model\":\"" + model +
                        "\",\"quality\":" + std::to_string(quality) + ",\"cost\":" + cost + ",\"confidence\":" + conf +
                        ",\"tokens_in\":4,\"tokens_out\":" + tokens_out + ",\"latency_ms\":" + latency;
        if (!tokens.empty()) r += ",\"token_logprobs\":[" + tokens + "]";
        return r + "}\n";
    };
    const std::string t1 = lp(0.9) + "," + lp(0.9) + "," + lp(0.9) + "," + lp(0.9);
    const std::string t2 = lp(0.9) + "," + lp(0.1) + "," + lp(0.1) + "," + lp(0.1);
    const std::string t3 = lp(0.5) + "," + lp(0.3) + "," + lp(0.9) + "," + lp(0.9);
    return row("q1", "small", 1, "0.008", "0.9", "4", "80", t1) + row("q1", "big", 1, "0.1", "0.99", "9", "900", "") +
           row("q2", "small", 0, "0.008", "0.2", "4", "400", t2) + row("q2", "big", 1, "0.1", "0.99", "9", "900", "") +
           row("q3", "small", 1, "0.008", "0.6", "4", "200", t3) + row("q3", "big", 0, "0.1", "0.99", "9", "900", "") +
           row("q4", "small", 0, "0.010", "0.1", "6", "600", "") + row("q4", "big", 1, "0.1", "0.99", "9", "900", "");
}

cascade::OutcomeLog fixture_log() {
    std::istringstream in(fixture_jsonl());
    return cascade::read_outcomes_jsonl(in, "fixture.jsonl");
}

cascade::TokenTraces fixture_traces() {
    std::istringstream in(fixture_jsonl());
    return cascade::read_token_traces(in, "fixture.jsonl");
}

// Stop once `min_tokens` are in and their mean probability is below `threshold`.
cascade::EarlyExitRule mean_below(double threshold, std::size_t min_tokens) {
    return [=](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.tokens() >= min_tokens && s.mean_prob() && *s.mean_prob() < threshold) return "mean below";
        return std::nullopt;
    };
}

cascade::TokenTraces traces_of(const std::string& text, const char* source = "traces.jsonl") {
    std::istringstream in(text);
    return cascade::read_token_traces(in, source);
}

}  // namespace

TEST_CASE("a JSON Lines outcome log carries its token traces, read beside its rows") {
    const cascade::TokenTraces traces = fixture_traces();
    CHECK(traces.size() == 3);
    CHECK(traces.rows_without_tokens() == 5);  // q4's small and the four big rows
    CHECK(traces.tokens() == 12);
    const cascade::TokenTrace* t = traces.find("q2", "small");
    REQUIRE(t != nullptr);
    REQUIRE(t->logprobs.size() == 4);
    CHECK(std::exp(t->logprobs[1]) == approx(0.1));
    CHECK(t->line == 3);
    CHECK(traces.find("q2", "big") == nullptr);
    CHECK(traces.find("q4", "small") == nullptr);
    // The outcome reader ignores the field: the same rows as without it.
    CHECK(fixture_log().rows.size() == 8);
}

TEST_CASE("token traces read \"-inf\" and null as probability 0, and a tiny positive value as 0") {
    const cascade::TokenTraces traces =
        traces_of("{\"query_id\":\"a\",\"model\":\"m\",\"token_logprobs\":[-0.5,\"-inf\",null,1e-7]}\n");
    const cascade::TokenTrace* t = traces.find("a", "m");
    REQUIRE(t != nullptr);
    REQUIRE(t->logprobs.size() == 4);
    CHECK(t->logprobs[0] == -0.5);
    CHECK(t->logprobs[1] == -std::numeric_limits<double>::infinity());
    CHECK(t->logprobs[2] == -std::numeric_limits<double>::infinity());
    CHECK(t->logprobs[3] == 0.0);
    // As a stream: the probability-0 tokens count in the statistics.
    cascade::StreamState s;
    for (const double x : t->logprobs) s.observe(cascade::TokenChunk{{}, x}, std::chrono::nanoseconds(0));
    CHECK(s.scored_tokens() == 4);
    CHECK(*s.min_prob() == 0.0);
}

TEST_CASE("malformed token data is refused with its line and what is wrong") {
    const std::string ok = "{\"query_id\":\"a\",\"model\":\"m\",\"token_logprobs\":[-0.1]}\n";
    auto refused = [&](const std::string& second_line) {
        try {
            (void)traces_of(ok + second_line);
        } catch (const cascade::ParseError& e) {
            return std::string(e.what());
        }
        FAIL("accepted: " << second_line);
        return std::string();
    };
    CHECK_THAT(
        refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":[-0.1,0.5]}"),
        ContainsSubstring("traces.jsonl:2") && ContainsSubstring("token_logprobs[1] is 0.5, not a log-probability"));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":[-0.1,\"low\"]}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("token_logprobs[1] is \"low\""));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":[true]}"),
               ContainsSubstring("token_logprobs[0] is a bool"));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":-0.1}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("must be an array"));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":[]}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("token_logprobs is empty"));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"token_logprobs\":[-1]}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("no \"model\""));
    CHECK_THAT(refused("{\"query_id\":\"a\",\"model\":\"m\",\"token_logprobs\":[-1]}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("second token trace") &&
                   ContainsSubstring("first on line 1"));
    CHECK_THAT(refused("{\"query_id\":\"b\",\"model\":\"m\",\"token_logprobs\":[-1,]}"),
               ContainsSubstring("traces.jsonl:2") && ContainsSubstring("invalid JSON"));
    CHECK_THROWS_WITH(traces_of(""), ContainsSubstring("empty"));
}

TEST_CASE("with no rule, the early-exit replay is replay_cascade's cascade") {
    // A larger log, every small answer traced: the whole-answer policy must decide as replay_cascade.
    const std::string csv = cascade_test::tiered_outcomes(300, 7, [](cascade_test::Lcg& random) {
        return std::to_string(static_cast<double>(random.next() % 21) / 20.0);
    });
    std::istringstream in(csv);
    const cascade::OutcomeLog log = cascade::read_outcomes_csv(in, "tiered.csv");
    const cascade::OutcomeTable table(log);
    cascade::TokenTraces traces("side.jsonl");
    for (const cascade::Outcome& o : log.rows) traces.add(o.query_id, o.model, {-0.1, -0.2, -3.0});
    const std::vector<std::string> chain(table.models().begin(), table.models().end());
    REQUIRE(chain.size() >= 2);
    const std::vector<double> thresholds(chain.size() - 1, 0.5);
    const cascade::ReplayResult expected = cascade::replay_cascade(table, chain, thresholds);
    const cascade::EarlyExitReplay replay(log, traces, chain, thresholds);
    const cascade::EarlyExitReplayResult whole = replay.whole_answer();
    CHECK(whole.quality == expected.quality);
    CHECK(whole.total_cost == expected.total_cost);
    CHECK(whole.answered == expected.answered);
    CHECK(whole.stopped == 0);
    // A rule that never fires changes nothing; one per tier but the last.
    std::vector<cascade::EarlyExitRule> never(chain.size() - 1,
                                              [](const cascade::StreamState&) { return std::optional<std::string>(); });
    const cascade::EarlyExitReplayResult same = replay.run(never);
    CHECK(same.quality == whole.quality);
    CHECK(same.total_cost == whole.total_cost);
    CHECK(same.tokens_passed_on == whole.tokens_passed_on);
}

TEST_CASE("a rule stops answers mid-stream: quality, pro rata cost, tokens and lost good answers") {
    const cascade::EarlyExitReplay replay(fixture_log(), fixture_traces(), {"small", "big"}, {0.5});
    const cascade::EarlyExitReplayResult whole = replay.whole_answer();
    // Small answers q1 and q3; q2 and q4 go to big. $0.008 * 3 + $0.010 + $0.1 * 2.
    CHECK(whole.quality == 1.0);
    CHECK(whole.total_cost == approx(0.234));
    CHECK(whole.answered == std::vector<double>{0.5, 0.5});
    CHECK(whole.tokens_passed_on == 10);  // q2's 4 and q4's 6
    CHECK(whole.tiers[0].passed_on == 2);
    CHECK(whole.tiers[0].untraced == 1);
    CHECK(whole.tiers[0].time_to_pass_ms == approx(500));  // (400 + 600) / 2

    const cascade::EarlyExitReplayResult early = replay.run({mean_below(0.5, 2)});
    REQUIRE(early.tiers.size() == 1);
    const cascade::EarlyExitReplayTier& small = early.tiers[0];
    CHECK(small.called == 4);
    CHECK(small.stopped == 2);
    CHECK(small.stopped_good == 1);           // q3
    CHECK(small.stopped_good_accepted == 1);  // q3 would have been answered, right
    CHECK(small.passed_on == 3);
    CHECK(small.untraced == 1);
    CHECK(early.stopped == 2);
    // q3 goes to big, which is wrong there.
    CHECK(early.quality == 0.75);
    CHECK(early.answered == std::vector<double>{0.25, 0.75});
    // q2 stopped after 3 of 4 tokens, 4 in: 0.008 * 7/8; q3 after 2: 0.008 * 6/8.
    CHECK(early.total_cost == approx(0.008 + (0.007 + 0.1) + (0.006 + 0.1) + (0.010 + 0.1)));
    CHECK(early.tokens_passed_on == 3 + 2 + 6);
    CHECK(small.tokens == 4 + 3 + 2 + 6);
    // 100 ms a token for q2 (400 ms over 4), 50 for q3, q4 whole.
    CHECK(small.time_to_pass_ms == approx((300.0 + 100.0 + 600.0) / 3));
    CHECK(small.timed_passes == 3);
}

TEST_CASE("the output price ratio keeps the input paid in full; tokens_per_second times every token alike") {
    cascade::EarlyExitReplayOptions options;
    options.output_price_ratio = {3.0};
    options.tokens_per_second = 10.0;
    const cascade::EarlyExitReplay replay(fixture_log(), fixture_traces(), {"small", "big"}, {0.5}, options);
    const cascade::EarlyExitReplayResult early = replay.run({mean_below(0.5, 2)});
    // q2: (4 + 3*3) / (4 + 3*4); q3: (4 + 3*2) / (4 + 3*4).
    CHECK(early.total_cost == approx(0.008 + 0.008 * 13 / 16 + 0.1 + 0.008 * 10 / 16 + 0.1 + 0.010 + 0.1));
    // 100 ms a token: q2 300, q3 200, q4's 6 tokens 600.
    CHECK(early.tiers[0].time_to_pass_ms == approx(1100.0 / 3));
    CHECK(replay.whole_answer().tiers[0].time_to_pass_ms == approx(500));  // q2's 4 tokens, q4's 6
}

TEST_CASE("the rule sees the stream's timing and stops a three-tier chain only where it is given") {
    // The same fixture with a middle tier that copies big: rules on tier 0 only.
    std::string text = fixture_jsonl();
    std::string mid;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("\"big\"") == std::string::npos) continue;
        std::string copy = line;
        copy.replace(copy.find("\"big\""), 5, "\"mid\"");
        mid += copy + "\n";
    }
    std::istringstream in(text + mid);
    const cascade::OutcomeLog log = cascade::read_outcomes_jsonl(in, "three.jsonl");
    std::vector<double> seen_ms;
    auto timing = [&](const cascade::StreamState& s) -> std::optional<std::string> {
        seen_ms.push_back(std::chrono::duration<double, std::milli>(s.elapsed()).count());
        return mean_below(0.5, 2)(s);
    };
    const cascade::EarlyExitReplay replay(log, fixture_traces(), {"small", "mid", "big"}, {0.5, 2.0});
    const cascade::EarlyExitReplayResult early = replay.run({timing, cascade::EarlyExitRule()});
    CHECK(early.tiers.size() == 2);
    CHECK(early.tiers[0].stopped == 2);
    CHECK(early.tiers[1].stopped == 0);    // no rule, and mid has no traces
    CHECK(early.tiers[1].passed_on == 3);  // its confidence 0.99 is below 2
    // q1: 20 ms a token, 4 tokens; q2: 100 ms, stopped at 3; q3: 50 ms, stopped at 2.
    const std::vector<double> expected = {20, 40, 60, 80, 100, 200, 300, 50, 100};
    REQUIRE(seen_ms.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(seen_ms[i] == approx(expected[i]));
}

TEST_CASE("the early-exit replay refuses traces and settings that do not fit the log") {
    const cascade::OutcomeLog log = fixture_log();
    const cascade::TokenTraces unknown = traces_of(
        "{\"query_id\":\"q1\",\"model\":\"small\",\"token_logprobs\":[-1]}\n"
        "{\"query_id\":\"q9\",\"model\":\"small\",\"token_logprobs\":[-1]}\n",
        "side.jsonl");
    CHECK_THROWS_WITH(cascade::EarlyExitReplay(log, unknown, {"small", "big"}, {0.5}),
                      ContainsSubstring("side.jsonl:2") && ContainsSubstring("\"q9\"") &&
                          ContainsSubstring("fixture.jsonl has no outcome"));
    const cascade::TokenTraces traces = fixture_traces();
    CHECK_THROWS_AS(cascade::EarlyExitReplay(log, traces, {"small"}, {}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::EarlyExitReplay(log, traces, {"small", "big"}, {}), std::invalid_argument);
    CHECK_THROWS_AS(cascade::EarlyExitReplay(log, traces, {"small", "huge"}, {0.5}), std::invalid_argument);
    cascade::EarlyExitReplayOptions bad;
    bad.output_price_ratio = {0.0};
    CHECK_THROWS_WITH(cascade::EarlyExitReplay(log, traces, {"small", "big"}, {0.5}, bad),
                      ContainsSubstring("output_price_ratio[0]"));
    const cascade::EarlyExitReplay replay(log, traces, {"small", "big"}, {0.5});
    CHECK_THROWS_AS(replay.run({mean_below(0.5, 1), mean_below(0.5, 1)}), std::invalid_argument);
}

TEST_CASE("the early-exit replay reports the reference model beside the policies") {
    cascade::EarlyExitReplayOptions options;
    options.reference = "big";
    const cascade::EarlyExitReplay replay(fixture_log(), fixture_traces(), {"small", "big"}, {0.5}, options);
    CHECK(replay.reference_quality() == 0.75);
    CHECK(*replay.reference_cost() == approx(0.1));
    CHECK(replay.traced_calls(0) == 3);
}
