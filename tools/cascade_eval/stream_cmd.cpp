// cascade-eval stream: early-exit rules replayed on logged token streams, against waiting for
// every whole answer.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cascade/core/stream_state.hpp>
#include <cascade/detail/number.hpp>
#include <cascade/eval/early_exit_replay.hpp>
#include <cascade/eval/token_trace.hpp>
#include <cascade/verify/early_exit.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace cascade_eval {

namespace {

// The rules of cascade/verify/early_exit.hpp, N counting tokens with a log-probability (every
// token of a trace has one).
constexpr const char* rule_forms =
    "mean:T:N (mean token probability below T once N tokens are in), min:T:N (a token below T), "
    "quantile:Q:T:N (the Q-quantile of the token probabilities below T), tokens:N (after N tokens)";

struct NamedRule {
    std::string name;
    cascade::EarlyExitRule rule;
};

// One --rule: "mean:0.6:8", "min:0.2:4", "quantile:0.1:0.3:8", "tokens:50".
NamedRule parse_rule(const std::string& spec) {
    std::vector<std::string> parts;
    std::size_t from = 0;
    for (;;) {
        const std::size_t colon = spec.find(':', from);
        parts.push_back(spec.substr(from, colon == std::string::npos ? std::string::npos : colon - from));
        if (colon == std::string::npos) break;
        from = colon + 1;
    }
    auto bad = [&](const std::string& why) -> UsageError {
        return UsageError("option --rule: \"" + spec + "\": " + why + "; the forms are " + rule_forms);
    };
    auto probability = [&](const std::string& text, const char* what) {
        double v = 0.0;
        if (!cascade::detail::parse_number(text, v) || !(v >= 0.0 && v <= 1.0)) {
            throw bad(std::string(what) + " \"" + text + "\" is not a number in [0, 1]");
        }
        return v;
    };
    auto tokens = [&](const std::string& text) {
        double v = 0.0;
        if (!cascade::detail::parse_number(text, v) || !(v >= 1.0 && v <= 1e9) || v != std::floor(v)) {
            throw bad("the token count \"" + text + "\" is not a whole number >= 1");
        }
        return static_cast<std::size_t>(v);
    };
    const std::string& kind = parts.front();
    if (kind == "mean" || kind == "min") {
        if (parts.size() != 3) throw bad("expected " + kind + ":T:N");
        const double t = probability(parts[1], "the threshold");
        const std::size_t n = tokens(parts[2]);
        if (kind == "mean") return {spec, cascade::verify::stop_when_mean_prob_below(t, n)};
        return {spec, cascade::verify::stop_when_min_prob_below(t, n)};
    }
    if (kind == "quantile") {
        if (parts.size() != 4) throw bad("expected quantile:Q:T:N");
        const double q = probability(parts[1], "the quantile");
        const double t = probability(parts[2], "the threshold");
        const std::size_t n = tokens(parts[3]);
        return {spec, cascade::verify::stop_when_prob_quantile_below(q, t, n)};
    }
    if (kind == "tokens") {
        if (parts.size() != 2) throw bad("expected tokens:N");
        return {spec, cascade::verify::stop_after_tokens(tokens(parts[1]))};
    }
    throw bad("unknown rule \"" + kind + "\"");
}

// Takes every "--rule X" out of `words`: the flag may be given many times, one row each.
std::vector<std::string> take_rules(std::vector<std::string>& words) {
    std::vector<std::string> rules;
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (words[i] != "--rule") {
            rest.push_back(words[i]);
            continue;
        }
        if (i + 1 == words.size()) throw UsageError("option --rule needs a value (" + std::string(rule_forms) + ")");
        rules.push_back(words[++i]);
    }
    words = std::move(rest);
    return rules;
}

std::vector<double> numbers(const Args& args, const std::string& flag) {
    std::vector<double> out;
    for (const std::string& t : args.list(flag)) {
        double v = 0.0;
        if (!cascade::detail::parse_number(t, v) || std::isnan(v)) {
            throw UsageError("option " + flag + ": \"" + t + "\" is not a number");
        }
        out.push_back(v);
    }
    return out;
}

// JSON has no infinity, and a threshold may be one: written as a string, as elsewhere.
Json threshold_json(double t) {
    if (std::isfinite(t)) return Json(t);
    return Json(std::string(t > 0 ? "inf" : "-inf"));
}

struct Row {
    std::string name;
    cascade::EarlyExitReplayResult policy;
};

}  // namespace

int run_stream(const std::vector<std::string>& given) {
    std::vector<std::string> words = given;
    const std::vector<std::string> specs = take_rules(words);
    const Args args("stream", words,
                    with_read_limits({"--log", "--traces", "--chain", "--thresholds", "--tokens-per-second",
                                      "--output-price-ratio", "--reference", "--good-quality"}),
                    {"--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const std::string path = args.require("--log");

    // Everything on the command line is checked before the log is read.
    const std::vector<std::string> chain = args.list("--chain");
    if (chain.size() < 2) throw UsageError("'stream' needs --chain with two or more models, cheapest first");
    const std::vector<double> thresholds = numbers(args, "--thresholds");
    if (thresholds.size() + 1 != chain.size()) {
        throw UsageError("option --thresholds: a chain of " + std::to_string(chain.size()) + " tiers needs " +
                         std::to_string(chain.size() - 1) + " thresholds (none for the last tier), got " +
                         std::to_string(thresholds.size()));
    }
    if (specs.empty()) throw UsageError("'stream' needs at least one --rule (" + std::string(rule_forms) + ")");
    std::vector<NamedRule> rules;
    for (const std::string& s : specs) rules.push_back(parse_rule(s));
    cascade::EarlyExitReplayOptions options;
    options.tokens_per_second = args.number("--tokens-per-second");
    if (options.tokens_per_second && !(*options.tokens_per_second > 0.0)) {
        throw UsageError("option --tokens-per-second: a speed > 0, e.g. 50; got " + *args.get("--tokens-per-second"));
    }
    if (args.has("--output-price-ratio")) {
        options.output_price_ratio = numbers(args, "--output-price-ratio");
        if (options.output_price_ratio.size() == 1)
            options.output_price_ratio.resize(chain.size() - 1, options.output_price_ratio[0]);
        if (options.output_price_ratio.size() != chain.size() - 1) {
            throw UsageError("option --output-price-ratio: one ratio for every tier but the last, or one per tier (" +
                             std::to_string(chain.size() - 1) + "), got " +
                             std::to_string(options.output_price_ratio.size()));
        }
        for (const double r : options.output_price_ratio) {
            if (!(r > 0.0))
                throw UsageError("option --output-price-ratio: a ratio > 0 (output price over input price)");
        }
    }
    options.good_quality = args.number("--good-quality").value_or(0.5);
    if (!(options.good_quality >= 0.0 && options.good_quality <= 1.0)) {
        throw UsageError("option --good-quality: the quality from which an answer counts as good, in [0, 1]");
    }
    if (auto r = args.get("--reference")) options.reference = *r;
    std::string traces_path = path;
    if (auto t = args.get("--traces")) {
        traces_path = *t;
    } else if (!cascade::detail::is_jsonl_path(path)) {
        throw UsageError(
            "a CSV log carries no token data: give --traces FILE.jsonl (lines of query_id, model, "
            "token_logprobs), or a JSON Lines log whose rows have token_logprobs");
    }

    const cascade::OutcomeLog log = read_log(path, progress, limits);
    const cascade::TokenTraces traces = cascade::read_token_traces(traces_path, limits.max_line_bytes);
    const cascade::EarlyExitReplay replay(log, traces, chain, thresholds, options);

    const std::size_t streaming = chain.size() - 1;
    std::vector<Row> rows;
    rows.push_back({"whole answer", replay.whole_answer()});
    for (const NamedRule& r : rules) {
        rows.push_back({r.name, replay.run(std::vector<cascade::EarlyExitRule>(streaming, r.rule))});
    }
    const cascade::EarlyExitReplayResult& whole = rows.front().policy;
    const std::size_t queries = replay.table().query_count();
    std::vector<std::size_t> traced;
    for (std::size_t i = 0; i < streaming; ++i) traced.push_back(replay.traced_calls(i));
    auto ratio = [](double x, double base) -> std::optional<double> {
        if (!(base > 0.0)) return std::nullopt;
        return x / base;
    };
    // Tier 1's time to escalation: the one a user waits through on every escalated query.
    auto escalation_ms = [](const cascade::EarlyExitReplayResult& p) -> std::optional<double> {
        if (p.tiers.front().timed_passes == 0) return std::nullopt;
        return p.tiers.front().time_to_pass_ms;
    };
    auto optional_json = [](const std::optional<double>& x) { return x ? Json(*x) : Json(nullptr); };

    if (args.has("--json")) {
        Json::Array policies;
        for (const Row& row : rows) {
            const cascade::EarlyExitReplayResult& p = row.policy;
            Json::Array tiers;
            for (const cascade::EarlyExitReplayTier& t : p.tiers) {
                tiers.push_back(json_object({
                    {"model", Json(t.model)},
                    {"called", Json(t.called)},
                    {"passed_on", Json(t.passed_on)},
                    {"stopped", Json(t.stopped)},
                    {"stopped_good", Json(t.stopped_good)},
                    {"stopped_good_accepted", Json(t.stopped_good_accepted)},
                    {"untraced", Json(t.untraced)},
                    {"tokens", Json(t.tokens)},
                    {"tokens_passed_on", Json(t.tokens_passed_on)},
                    {"time_to_pass_ms", t.timed_passes > 0 ? Json(t.time_to_pass_ms) : Json(nullptr)},
                }));
            }
            policies.push_back(json_object({
                {"rule", row.name == "whole answer" ? Json(nullptr) : Json(row.name)},
                {"quality", Json(p.quality)},
                {"quality_change_points", Json(100.0 * (p.quality - whole.quality))},
                {"cost", Json(p.cost)},
                {"cost_ratio", optional_json(ratio(p.cost, whole.cost))},
                {"tokens_on_escalated", Json(p.tokens_passed_on)},
                {"tokens_ratio", optional_json(ratio(p.tokens_passed_on, whole.tokens_passed_on))},
                {"time_to_escalation_ms", optional_json(escalation_ms(p))},
                {"stopped", Json(p.stopped)},
                {"stopped_good", Json(p.stopped_good)},
                {"stopped_good_accepted", Json(p.stopped_good_accepted)},
                {"answered", json_numbers(p.answered)},
                {"tiers", Json(std::move(tiers))},
            }));
        }
        Json::Array thresholds_json;
        for (const double t : thresholds) thresholds_json.push_back(threshold_json(t));
        Json::Array traced_json;
        for (const std::size_t t : traced) traced_json.push_back(Json(t));
        Json reference = Json(nullptr);
        if (!options.reference.empty()) {
            reference = json_object({{"model", Json(options.reference)},
                                     {"quality", Json(*replay.reference_quality())},
                                     {"cost", Json(*replay.reference_cost())}});
        }
        std::cout << dump_json(json_object({
                         {"chain", json_strings(chain)},
                         {"thresholds", Json(std::move(thresholds_json))},
                         {"queries", Json(queries)},
                         {"traced_calls", Json(std::move(traced_json))},
                         {"reference", std::move(reference)},
                         {"policies", Json(std::move(policies))},
                     }))
                  << "\n";
        return exit_ok;
    }

    std::cout << "chain " << join(chain, " > ") << " on " << queries << " queries; ";
    for (std::size_t i = 0; i < streaming; ++i) {
        std::cout << (i ? ", " : "") << chain[i] << ": " << traced[i] << " of " << queries << " answers traced";
    }
    std::cout << "\n";
    if (traced.front() < queries) {
        std::cout << "  (an answer without a trace cannot be stopped: it is checked whole)\n";
    }
    if (!options.reference.empty()) {
        std::cout << "reference " << options.reference << ": quality " << fixed(*replay.reference_quality()) << ", "
                  << dollars(*replay.reference_cost()) << " per query\n";
    }
    std::cout << "\n";
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-22s %8s %8s %11s %6s %10s %6s %8s %9s %12s\n", "policy", "quality", "points",
                  "cost/query", "cost", "tokens on", "tokens", "stopped", "good", "escalation");
    std::cout << buf;
    std::snprintf(buf, sizeof buf, "  %-22s %8s %8s %11s %6s %10s %6s %8s %9s %12s\n", "", "", "vs whole", "", "ratio",
                  "escalated", "ratio", "", "lost (*)", "ms (tier 1)");
    std::cout << buf;
    for (const Row& row : rows) {
        const cascade::EarlyExitReplayResult& p = row.policy;
        const auto cost_ratio = ratio(p.cost, whole.cost);
        const auto token_ratio = ratio(p.tokens_passed_on, whole.tokens_passed_on);
        const auto ms = escalation_ms(p);
        char points[32];
        std::snprintf(points, sizeof points, "%+.2f", 100.0 * (p.quality - whole.quality));
        const std::string lost = std::to_string(p.stopped_good) + " (" + std::to_string(p.stopped_good_accepted) + ")";
        std::snprintf(buf, sizeof buf, "  %-22s %8s %8s %11s %6s %10s %6s %8zu %9s %12s\n", row.name.c_str(),
                      fixed(p.quality).c_str(), points, dollars(p.cost).c_str(),
                      cost_ratio ? fixed(*cost_ratio, 3).c_str() : "-", fixed(p.tokens_passed_on, 0).c_str(),
                      token_ratio ? fixed(*token_ratio, 3).c_str() : "-", p.stopped, lost.c_str(),
                      ms ? fixed(*ms, 0).c_str() : "-");
        std::cout << buf;
    }
    std::cout << "\n  tokens on escalated: tokens the streaming tiers produced on the queries they passed on.\n"
                 "  (*) stopped answers of quality >= "
              << cascade::detail::format_number(options.good_quality)
              << "; in brackets, those the whole-answer check would have accepted.\n"
                 "  A stopped answer is charged its input in full and its output pro rata.\n";
    return exit_ok;
}

}  // namespace cascade_eval
