// cascade-eval stream: early-exit rules on logged token streams, on a log small enough to work
// out by hand.
#include "catch.hpp"

#include <cascade/detail/json.hpp>
#include <cascade/detail/number.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "tool_run.hpp"

using cascade::detail::JsonValue;
using cascade::detail::parse_json;
using namespace cascade_eval_tests;  // run, write, at: the tool's test kit

namespace {

std::string lp(double p) { return cascade::detail::format_number(std::log(p)); }
std::string tokens(std::vector<double> probs) {
    std::string out;
    for (const double p : probs) out += (out.empty() ? "" : ",") + lp(p);
    return out;
}

// "small" then "big", threshold 0.5 on small's confidence, small at $0.001 a token, 4 tokens in:
//   q1: small right, confidence 0.9 (accepted), tokens 0.9 0.9 0.9 0.9, 80 ms
//   q2: small wrong, confidence 0.2 (rejected), tokens 0.9 0.1 0.1 0.1, 400 ms
//   q3: small right, confidence 0.6 (accepted), tokens 0.5 0.3 0.9 0.9, 200 ms; big wrong
//   q4: small wrong, confidence 0.1 (rejected), 6 tokens without a trace, 600 ms
// mean:0.5:2 stops q2 after 3 tokens and q3 after 2 (a good answer the cascade would have given).
struct Small {
    const char* q;
    int quality;
    const char* cost;
    const char* confidence;
    const char* tokens_out;
    const char* latency;
    std::vector<double> probs;
};
const std::vector<Small> smalls = {
    {"q1", 1, "0.008", "0.9", "4", "80", {0.9, 0.9, 0.9, 0.9}},
    {"q2", 0, "0.008", "0.2", "4", "400", {0.9, 0.1, 0.1, 0.1}},
    {"q3", 1, "0.008", "0.6", "4", "200", {0.5, 0.3, 0.9, 0.9}},
    {"q4", 0, "0.010", "0.1", "6", "600", {}},
};
const int big_quality[] = {1, 1, 0, 1};

std::string log_jsonl() {
    std::string out;
    for (std::size_t i = 0; i < smalls.size(); ++i) {
        const Small& s = smalls[i];
        out += std::string("{\"query_id\":\"") + s.q +
               "\",\"model\":\"small\",\"quality\":" + std::to_string(s.quality) + ",\"cost\":" + s.cost +
               ",\"confidence\":" + s.confidence + ",\"tokens_in\":4,\"tokens_out\":" + s.tokens_out +
               ",\"latency_ms\":" + s.latency;
        if (!s.probs.empty()) out += ",\"token_logprobs\":[" + tokens(s.probs) + "]";
        out += "}\n";
        out += std::string("{\"query_id\":\"") + s.q +
               "\",\"model\":\"big\",\"quality\":" + std::to_string(big_quality[i]) +
               ",\"cost\":0.1,\"confidence\":0.99}\n";
    }
    return out;
}

std::string log_csv() {
    std::string out = "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms\n";
    for (std::size_t i = 0; i < smalls.size(); ++i) {
        const Small& s = smalls[i];
        out += std::string(s.q) + ",small," + std::to_string(s.quality) + "," + s.cost + "," + s.confidence + ",t,4," +
               s.tokens_out + "," + s.latency + "\n";
        out += std::string(s.q) + ",big," + std::to_string(big_quality[i]) + ",0.1,0.99,t,,,\n";
    }
    return out;
}

std::string side_file() {
    std::string out;
    for (const Small& s : smalls) {
        if (s.probs.empty()) continue;
        out += std::string("{\"query_id\":\"") + s.q + "\",\"model\":\"small\",\"token_logprobs\":[" + tokens(s.probs) +
               "]}\n";
    }
    return out;
}

const std::string jsonl = write("stream.jsonl", log_jsonl()).string();
const std::string csv = write("stream.csv", log_csv()).string();
const std::string side = write("stream_traces.jsonl", side_file()).string();

std::vector<std::string> stream(std::vector<std::string> more) {
    std::vector<std::string> args = {"stream", "--chain", "small,big", "--thresholds", "0.5"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// The figures of the fixture worked out above, whichever way the traces came.
void check_figures(const JsonValue& v) {
    CHECK(at(v, "queries").as_number() == 4);
    REQUIRE(at(v, "traced_calls").as_array().size() == 1);
    CHECK(at(v, "traced_calls").as_array()[0].as_number() == 3);
    const auto& policies = at(v, "policies").as_array();
    REQUIRE(policies.size() == 3);
    const JsonValue& whole = policies[0];
    CHECK(at(whole, "rule").is_null());
    CHECK(at(whole, "quality").as_number() == 1);
    CHECK(at(whole, "cost").as_number() == Approx(0.234 / 4));
    CHECK(at(whole, "tokens_on_escalated").as_number() == 10);
    CHECK(at(whole, "time_to_escalation_ms").as_number() == Approx(500));
    CHECK(at(whole, "stopped").as_number() == 0);

    const JsonValue& mean = policies[1];
    CHECK(at(mean, "rule").as_string() == "mean:0.5:2");
    CHECK(at(mean, "quality").as_number() == 0.75);
    CHECK(at(mean, "quality_change_points").as_number() == Approx(-25));
    const double cost = (0.008 + 0.008 * 7 / 8 + 0.1 + 0.008 * 6 / 8 + 0.1 + 0.010 + 0.1) / 4;
    CHECK(at(mean, "cost").as_number() == Approx(cost));
    CHECK(at(mean, "cost_ratio").as_number() == Approx(cost / (0.234 / 4)));
    CHECK(at(mean, "tokens_on_escalated").as_number() == 11);
    CHECK(at(mean, "tokens_ratio").as_number() == Approx(1.1));
    CHECK(at(mean, "stopped").as_number() == 2);
    CHECK(at(mean, "stopped_good").as_number() == 1);
    CHECK(at(mean, "stopped_good_accepted").as_number() == 1);
    CHECK(at(mean, "time_to_escalation_ms").as_number() == Approx((300.0 + 100.0 + 600.0) / 3));
    CHECK(at(at(mean, "tiers").as_array()[0], "untraced").as_number() == 1);

    // After one token every traced answer stops: q1 and q3 were good, both accepted whole.
    const JsonValue& first = policies[2];
    CHECK(at(first, "rule").as_string() == "tokens:1");
    CHECK(at(first, "stopped").as_number() == 3);
    CHECK(at(first, "stopped_good").as_number() == 2);
    CHECK(at(first, "stopped_good_accepted").as_number() == 2);
    CHECK(at(first, "tokens_on_escalated").as_number() == 3 + 6);
}

}  // namespace

TEST_CASE("stream --json reports each rule against the whole-answer cascade on a JSON Lines log with traces") {
    const Run r = run(stream({"--log", jsonl, "--rule", "mean:0.5:2", "--rule", "tokens:1", "--json"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    check_figures(parse_json(r.out));
}

TEST_CASE("stream reads the traces of a CSV log from a side file, with the same figures") {
    const Run r = run(stream({"--log", csv, "--traces", side, "--rule", "mean:0.5:2", "--rule", "tokens:1", "--json"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    check_figures(parse_json(r.out));
}

TEST_CASE("stream prints one row per rule after the whole-answer row, and the reference") {
    const Run r =
        run(stream({"--log", jsonl, "--rule", "min:0.2:1", "--rule", "quantile:0.5:0.5:2", "--reference", "big"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto whole = r.out.find("whole answer");
    const auto min = r.out.find("min:0.2:1");
    const auto quantile = r.out.find("quantile:0.5:0.5:2");
    REQUIRE(whole != std::string::npos);
    REQUIRE(min != std::string::npos);
    REQUIRE(quantile != std::string::npos);
    CHECK(whole < min);
    CHECK(min < quantile);
    CHECK(r.out.find("small: 3 of 4 answers traced") != std::string::npos);
    CHECK(r.out.find("reference big: quality 0.7500") != std::string::npos);
}

TEST_CASE("stream refuses a CSV log without traces, a bad rule, and traces that do not fit") {
    const Run no_traces = run(stream({"--log", csv, "--rule", "mean:0.5:2"}));
    CHECK(no_traces.code == 2);
    CHECK(no_traces.err.find("a CSV log carries no token data: give --traces") != std::string::npos);

    const Run no_rule = run(stream({"--log", jsonl}));
    CHECK(no_rule.code == 2);
    CHECK(no_rule.err.find("needs at least one --rule") != std::string::npos);

    const Run bad_rule = run(stream({"--log", jsonl, "--rule", "mean:1.5:2"}));
    CHECK(bad_rule.code == 2);
    CHECK(bad_rule.err.find("\"mean:1.5:2\": the threshold \"1.5\" is not a number in [0, 1]") != std::string::npos);
    const Run unknown_rule = run(stream({"--log", jsonl, "--rule", "median:0.5"}));
    CHECK(unknown_rule.code == 2);
    CHECK(unknown_rule.err.find("unknown rule \"median\"; the forms are mean:T:N") != std::string::npos);

    const std::string malformed =
        write("malformed_traces.jsonl",
              side_file() + "{\"query_id\":\"q4\",\"model\":\"small\",\"token_logprobs\":[-1,0.3]}\n")
            .string();
    const Run bad = run(stream({"--log", csv, "--traces", malformed, "--rule", "mean:0.5:2"}));
    CHECK(bad.code == 1);
    CHECK(bad.err.find(malformed + ":4: token_logprobs[1] is 0.3, not a log-probability") != std::string::npos);

    const std::string stranger =
        write("stranger_traces.jsonl",
              side_file() + "{\"query_id\":\"q9\",\"model\":\"small\",\"token_logprobs\":[-1]}\n")
            .string();
    const Run unmatched = run(stream({"--log", csv, "--traces", stranger, "--rule", "mean:0.5:2"}));
    CHECK(unmatched.code == 1);
    CHECK(unmatched.err.find(stranger + ":4: a token trace for query \"q9\"") != std::string::npos);
}
