// Early exit on token streams (EarlyExitReplay) on real logged outcomes, with generated tokens.
//
//   bench_stream_exit <folder with outcomes.csv> [--seeds 10] [--concentration 4]
//                     [--escalate 0.4] [--default-tokens 50]
//
// The data has no token log-probabilities, so they are generated, from nothing but each answer's
// own logged confidence and length: for each answer of a chain's cheap model, tokens_out tokens
// (`default-tokens` when the row has none), each token's probability drawn independently from a
// Beta distribution of mean p = exp(confidence) (clamped to [0.02, 0.98]) and concentration
// `concentration` (Beta(c p, c (1 - p))), from a generator seeded by the seed. Correctness is
// never read by the generator. The answer's timing is its logged latency spread over its tokens;
// a stopped answer is charged its input in full and its output pro rata, at the output/input
// price ratio of the dataset's README.
//
// Chains: llama3.1-8b > gpt-4o and llama3.2-3b > gpt-4o. The stronger cheap models (gpt-4o-mini,
// qwen2.5-72b, llama3.1-70b) give half their answers a confidence above 0.99, which a clamped
// Beta mean cannot tell apart: the generator has nothing to say about them.
//
// Per chain, the whole-answer threshold is the `escalate` quantile of the cheap model's
// confidences (that share of the queries escalates); the rules swept are mean:T:N and
// quantile:0.25:T:N with T the threshold's probability exp(threshold) times a factor, and N a
// number of tokens. Reported, as means over the seeds and as ratios against the whole-answer
// cascade of the same seed: the cheap tier's tokens on escalated queries, the cost, the time to
// escalation, and the quality change in points (with the worst seed's).
#include <cascade/core/stream_state.hpp>
#include <cascade/eval/early_exit_replay.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/token_trace.hpp>
#include <cascade/verify/early_exit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Config {
    std::string folder;
    int seeds = 10;
    double concentration = 4.0;
    double escalate = 0.4;
    double default_tokens = 50.0;
};

// splitmix64, and the draws built on it: the same figures with every compiler and library.
class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // In (0, 1).
    double unit() { return (static_cast<double>(next() >> 11) + 0.5) / 9007199254740992.0; }
    double normal() {
        const double u = unit();
        const double v = unit();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
    }
    // Marsaglia and Tsang; shape < 1 through gamma(shape + 1) * U^(1 / shape).
    double gamma(double shape) {
        if (shape < 1.0) return gamma(shape + 1.0) * std::pow(unit(), 1.0 / shape);
        const double d = shape - 1.0 / 3.0;
        const double c = 1.0 / std::sqrt(9.0 * d);
        for (;;) {
            double x = 0.0;
            double v = 0.0;
            do {
                x = normal();
                v = 1.0 + c * x;
            } while (v <= 0.0);
            v = v * v * v;
            const double u = unit();
            if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
        }
    }
    double beta(double a, double b) {
        const double x = gamma(a);
        const double y = gamma(b);
        return x / (x + y);
    }

private:
    std::uint64_t state_;
};

// The README's prices, output over input, for a stopped answer's charge.
double output_price_ratio(const std::string& model) {
    if (model == "gpt-4o-mini") return 0.60 / 0.15;
    if (model == "gpt-4o") return 10.0 / 2.50;
    return 1.0;
}

cascade::TokenTraces generate(const cascade::OutcomeLog& log, const std::string& model, const Config& config,
                              std::uint64_t seed) {
    cascade::TokenTraces traces("generated");
    Random random(seed * 0x9E3779B97F4A7C15ull + 1);
    std::vector<double> lps;
    for (const cascade::Outcome& o : log.rows) {
        if (o.model != model) continue;
        const double p = std::clamp(o.confidence ? std::exp(*o.confidence) : 0.5, 0.02, 0.98);
        const auto n =
            static_cast<std::size_t>(std::max(1.0, std::round(o.tokens_out.value_or(config.default_tokens))));
        lps.clear();
        for (std::size_t i = 0; i < n; ++i) {
            const double x = random.beta(config.concentration * p, config.concentration * (1.0 - p));
            lps.push_back(x > 0.0 ? std::log(x) : -INFINITY);
        }
        traces.add(o.query_id, o.model, lps);
    }
    return traces;
}

struct Rule {
    std::string name;
    cascade::EarlyExitRule rule;
};

std::vector<Rule> rules_for(double threshold_prob) {
    std::vector<Rule> out;
    char name[64];
    for (const double factor : {1.0, 0.8, 0.6}) {
        const double t = threshold_prob * factor;
        for (const std::size_t n : {4u, 8u, 16u, 32u}) {
            std::snprintf(name, sizeof name, "mean:%.3f:%zu", t, n);
            out.push_back({name, cascade::verify::stop_when_mean_prob_below(t, n)});
        }
    }
    for (const double factor : {1.0, 0.6}) {
        const double t = threshold_prob * factor;
        for (const std::size_t n : {8u, 16u}) {
            std::snprintf(name, sizeof name, "quantile:0.25:%.3f:%zu", t, n);
            out.push_back({name, cascade::verify::stop_when_prob_quantile_below(0.25, t, n)});
        }
    }
    return out;
}

struct Sum {
    double tokens_ratio = 0.0;
    double cost_ratio = 0.0;
    double time_ratio = 0.0;
    double points = 0.0;
    double worst_points = 1e9;
    double stopped = 0.0;
    double stopped_good_accepted = 0.0;
};

void run_chain(const cascade::OutcomeLog& log, const std::string& cheap, const std::string& big, const Config& config) {
    std::vector<double> confidences;
    for (const cascade::Outcome& o : log.rows) {
        if (o.model == cheap && o.confidence) confidences.push_back(*o.confidence);
    }
    std::sort(confidences.begin(), confidences.end());
    const double threshold =
        confidences[static_cast<std::size_t>(config.escalate * static_cast<double>(confidences.size() - 1))];
    const double threshold_prob = std::exp(threshold);
    cascade::EarlyExitReplayOptions options;
    options.output_price_ratio = {output_price_ratio(cheap)};
    options.reference = big;
    const std::vector<Rule> rules = rules_for(threshold_prob);
    std::vector<Sum> sums(rules.size());
    double whole_quality = 0.0;
    double whole_tokens = 0.0;
    double whole_cost = 0.0;
    double whole_ms = 0.0;
    double reference_quality = 0.0;
    double escalated = 0.0;
    std::size_t queries = 0;
    for (int s = 1; s <= config.seeds; ++s) {
        const cascade::TokenTraces traces = generate(log, cheap, config, static_cast<std::uint64_t>(s));
        const cascade::EarlyExitReplay replay(log, traces, {cheap, big}, {threshold}, options);
        const cascade::EarlyExitReplayResult whole = replay.whole_answer();
        whole_quality = whole.quality;
        whole_tokens = whole.tokens_passed_on;
        whole_cost = whole.cost;
        whole_ms = whole.tiers[0].time_to_pass_ms;
        reference_quality = *replay.reference_quality();
        escalated = static_cast<double>(whole.tiers[0].passed_on);
        queries = replay.table().query_count();
        for (std::size_t r = 0; r < rules.size(); ++r) {
            const cascade::EarlyExitReplayResult p = replay.run({rules[r].rule});
            Sum& sum = sums[r];
            const double points = 100.0 * (p.quality - whole.quality);
            sum.tokens_ratio += p.tokens_passed_on / whole.tokens_passed_on;
            sum.cost_ratio += p.cost / whole.cost;
            sum.time_ratio += p.tiers[0].time_to_pass_ms / whole.tiers[0].time_to_pass_ms;
            sum.points += points;
            sum.worst_points = std::min(sum.worst_points, points);
            sum.stopped += static_cast<double>(p.stopped);
            sum.stopped_good_accepted += static_cast<double>(p.stopped_good_accepted);
        }
    }
    const double n = config.seeds;
    std::printf("\n## %s > %s: threshold %.4f (p %.3f), %.0f of %zu queries escalated whole\n", cheap.c_str(),
                big.c_str(), threshold, threshold_prob, escalated, queries);
    std::printf(
        "whole answer: quality %.4f (%s %.4f), cost $%.6f/query, %.0f cheap tokens on escalated queries, "
        "%.0f ms to escalation\n\n",
        whole_quality, big.c_str(), reference_quality, whole_cost, whole_tokens, whole_ms);
    std::printf(
        "| rule | tokens on escalated / whole | cost / whole | time to escalation / whole | quality change, points "
        "(worst seed) | stopped | good answers lost | goal |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    std::optional<std::size_t> best;
    std::optional<std::size_t> best_cheaper;
    for (std::size_t r = 0; r < rules.size(); ++r) {
        const Sum& s = sums[r];
        const bool met = s.tokens_ratio / n <= 0.5 && s.worst_points >= -0.5;
        if (met && (!best || s.tokens_ratio < sums[*best].tokens_ratio)) best = r;
        if (met && s.cost_ratio / n <= 1.0 && (!best_cheaper || s.tokens_ratio < sums[*best_cheaper].tokens_ratio)) {
            best_cheaper = r;
        }
        std::printf("| %s | %.3f | %.3f | %.3f | %+.2f (%+.2f) | %.0f | %.1f | %s |\n", rules[r].name.c_str(),
                    s.tokens_ratio / n, s.cost_ratio / n, s.time_ratio / n, s.points / n, s.worst_points, s.stopped / n,
                    s.stopped_good_accepted / n, met ? "met" : "-");
    }
    auto say = [&](const char* what, const std::optional<std::size_t>& r) {
        if (!r) {
            std::printf("%s: none\n", what);
            return;
        }
        std::printf("%s: %s (tokens %.3f, cost %.3f, quality %+.2f points)\n", what, rules[*r].name.c_str(),
                    sums[*r].tokens_ratio / n, sums[*r].cost_ratio / n, sums[*r].points / n);
    };
    std::printf("\n");
    say("goal met with the fewest tokens", best);
    say("goal met with the fewest tokens at no extra cost", best_cheaper);
}

}  // namespace

int main(int argc, char** argv) {
    Config config;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_stream_exit: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--seeds") {
            config.seeds = std::atoi(value().c_str());
        } else if (a == "--concentration") {
            config.concentration = std::atof(value().c_str());
        } else if (a == "--escalate") {
            config.escalate = std::atof(value().c_str());
        } else if (a == "--default-tokens") {
            config.default_tokens = std::atof(value().c_str());
        } else if (!a.empty() && a[0] != '-' && config.folder.empty()) {
            config.folder = a;
        } else {
            std::fprintf(stderr, "bench_stream_exit: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (config.folder.empty() || config.seeds < 1 || !(config.concentration > 0.0) ||
        !(config.escalate > 0.0 && config.escalate < 1.0)) {
        std::fprintf(stderr,
                     "usage: bench_stream_exit <folder with outcomes.csv> [--seeds 10] [--concentration 4] "
                     "[--escalate 0.4] [--default-tokens 50]\n");
        return 2;
    }
    const std::string path = config.folder + "/outcomes.csv";
    if (!std::ifstream(path)) {
        std::fprintf(stderr, "bench_stream_exit: no %s (the replay data is not part of the project)\n", path.c_str());
        return 2;
    }
    const cascade::OutcomeLog log = cascade::read_outcomes(path);
    std::printf(
        "bench_stream_exit: %s, %d seeds, token probabilities i.i.d. Beta of mean exp(confidence), "
        "concentration %.2f; %.0f%% of the queries escalate whole\n",
        path.c_str(), config.seeds, config.concentration, 100.0 * config.escalate);
    run_chain(log, "llama3.1-8b", "gpt-4o", config);
    run_chain(log, "llama3.2-3b", "gpt-4o", config);
    return 0;
}
