// SPDX-License-Identifier: MIT
//
// quickstart: a cheap-first cascade and a difficulty router on 2,000 simulated queries.
//
// No network and no key: the three "models" below are ordinary lambdas, Query -> Answer, as your
// own clients would be. Each is right with a probability that falls with the query's hidden
// difficulty, and reports a confidence that is informative but noisy. Everything is drawn from a
// seeded std::mt19937_64, so every run prints the same figures (the latencies in the trace aside).

#include <cascade/cascade.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

// Drawn from the raw engine: std::uniform_real_distribution and std::normal_distribution differ
// between standard libraries, these do not.
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }  // [0, 1)
double normal(std::mt19937_64& rng) {  // the sum of 12 uniforms: mean 0, deviation 1
    double sum = -6.0;
    for (int i = 0; i < 12; ++i) sum += uniform(rng);
    return sum;
}
double clamp01(double x) { return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x); }

struct Query {
    std::uint64_t id;
    int words;          // visible: harder questions tend to be longer
    int truth;          // the right answer, to grade the strategies
    double difficulty;  // hidden: only the simulated models feel it
};

struct Answer {
    int value;
    double confidence;  // the model's own estimate that it is right
};

// Most queries are easy, a quarter are hard.
std::vector<Query> make_workload(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Query> queries;
    for (std::uint64_t id = 0; id < n; ++id) {
        const bool hard = uniform(rng) < 0.25;
        const double difficulty = hard ? 0.55 + 0.45 * uniform(rng) : 0.45 * uniform(rng);
        const double words = 30.0 + 180.0 * difficulty + 35.0 * normal(rng);
        queries.push_back(Query{id, words < 5.0 ? 5 : static_cast<int>(words), static_cast<int>(rng() % 1000),
                                difficulty});
    }
    return queries;
}

// A simulated model client. It is right with probability 0.99 / (1 + (difficulty / skill)^steep),
// and its confidence follows that probability, higher when it happens to be right and lower
// when wrong.
// Seeded by the query, it answers the same query the same way every time, so every strategy
// below sees the same answers.
auto simulated_model(std::uint64_t seed, double skill, int steep) {
    return [seed, skill, steep](const Query& q) {
        std::mt19937_64 rng(seed ^ (q.id * 0x9E3779B97F4A7C15ULL));
        double ratio = 1.0;
        for (int i = 0; i < steep; ++i) ratio *= q.difficulty / skill;
        const double p_right = 0.99 / (1.0 + ratio);
        const bool right = uniform(rng) < p_right;
        const double confidence = clamp01(p_right + (right ? 0.05 : -0.10) + 0.07 * normal(rng));
        return Answer{right ? q.truth : q.truth + 1 + static_cast<int>(rng() % 9), confidence};
    };
}

// Prices per call, in dollars.
constexpr double cheap_price = 0.00015;
constexpr double middle_price = 0.0009;
constexpr double frontier_price = 0.0075;

auto cheap_model() { return simulated_model(1, 0.50, 4); }
auto middle_model() { return simulated_model(2, 0.65, 5); }
auto frontier_model() { return simulated_model(3, 0.95, 6); }

// The model's own confidence is the verifier; a tier accepts when it reaches the threshold.
const auto confidence = [](const Answer& a) { return a.confidence; };

auto cheap_first() {
    return cascade::Cascade{
        cascade::tier("cheap", cheap_model(), confidence, 0.85, cascade::price_per_call(cheap_price)),
        cascade::tier("middle", middle_model(), confidence, 0.85, cascade::price_per_call(middle_price)),
        cascade::tier("frontier", frontier_model(), cascade::price_per_call(frontier_price))};
}

// What a strategy did over the workload.
struct Tally {
    std::string strategy;
    std::size_t right = 0;
    double cost = 0.0;
    std::size_t escalations = 0;  // tiers called past the first
    std::vector<std::pair<std::string, std::size_t>> answered_by{{"cheap", 0}, {"middle", 0}, {"frontier", 0}};

    void add(const Query& q, const cascade::Result<Answer>& r) {
        right += r.has_value() && r->value == q.truth ? 1U : 0U;
        cost += r.cost();
        escalations += r.escalations();
        for (auto& [tier, n] : answered_by) n += tier == r.tier() ? 1U : 0U;
    }
};

std::string dollars(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "$%.2f", d);
    return buf;
}

void print_row(const Tally& t, const Tally& baseline, std::size_t queries) {
    const double n = static_cast<double>(queries);
    std::string shares;
    for (const auto& [tier, count] : t.answered_by) {
        if (count == 0) continue;
        char part[32];
        std::snprintf(part, sizeof part, "%s%s %.0f%%", shares.empty() ? "" : ", ", tier.c_str(),
                      100.0 * static_cast<double>(count) / n);
        shares += part;
    }
    std::printf("%-30s %6.1f %%  %10s  %8s  %6.1f %%  %11llu  %s\n", t.strategy.c_str(),
                100.0 * static_cast<double>(t.right) / n, dollars(t.cost).c_str(),
                dollars(1000.0 * t.cost / n).c_str(), 100.0 * (1.0 - t.cost / baseline.cost),
                static_cast<unsigned long long>(t.escalations), shares.c_str());
}

}  // namespace

int main() {
    const std::vector<Query> queries = make_workload(2000, 20240607);

    // 1. The baseline: every query to the frontier model.
    cascade::Cascade frontier_only{
        cascade::tier("frontier", frontier_model(), cascade::price_per_call(frontier_price))};
    Tally baseline{"frontier only"};
    for (const Query& q : queries) baseline.add(q, frontier_only.run(q));

    // 2. A cheap-first cascade: escalate while the model is unsure.
    auto ladder = cheap_first();
    Tally escalating{"cascade cheap>middle>frontier"};
    cascade::Result<Answer> example;  // the first query it escalated all the way, for its trace
    const Query* example_query = nullptr;
    for (const Query& q : queries) {
        auto r = ladder.run(q);
        escalating.add(q, r);
        if (example_query == nullptr && r.tier_index() == std::size_t{2}) {
            example = r;
            example_query = &q;
        }
    }

    // 3. A router: a crude difficulty guess from the length sends likely-hard queries straight to
    //    the frontier model and the rest into the cheap-first cascade.
    auto length_guess = [](const Query& q) { return clamp01((q.words - 20) / 200.0); };
    cascade::Router router{length_guess, {0.65}, cheap_first(),
                           cascade::tier("frontier", frontier_model(), cascade::price_per_call(frontier_price))};
    Tally routed{"router: length -> cascade"};
    std::size_t sent_to_frontier = 0;
    for (const Query& q : queries) {
        auto r = router.run(q);
        sent_to_frontier += r.route() == 1 ? 1U : 0U;
        routed.add(q, r);
    }

    std::printf("%zu simulated queries; price per call: cheap $%.5f, middle $%.4f, frontier $%.4f\n\n",
                queries.size(), cheap_price, middle_price, frontier_price);
    std::printf("%-30s %8s  %10s  %8s  %8s  %11s  %s\n", "strategy", "accuracy", "total cost", "per 1k q",
                "saving", "escalations", "answered by");
    for (const Tally* t : {&baseline, &escalating, &routed}) print_row(*t, baseline, queries.size());
    std::printf("\nThe router sent %.0f%% of the queries straight to the frontier model.\n",
                100.0 * static_cast<double>(sent_to_frontier) / static_cast<double>(queries.size()));

    if (example_query != nullptr) {
        std::printf("\nQuery #%llu (%d words) through the cascade:\n%s\n",
                    static_cast<unsigned long long>(example_query->id), example_query->words,
                    example.explain().c_str());
    }

    // The cascade's own counters, as a service would export them.
    const cascade::Stats s = ladder.stats();
    std::printf("\nCascade stats: %llu queries, %llu accepted, %llu fallbacks, %llu escalations, $%.2f spent",
                static_cast<unsigned long long>(s.queries), static_cast<unsigned long long>(s.accepted),
                static_cast<unsigned long long>(s.fallbacks), static_cast<unsigned long long>(s.escalations), s.cost);
    if (s.saving()) std::printf(" (%.1f %% less than the frontier model alone)", 100.0 * *s.saving());
    std::printf("\n");
    for (const cascade::TierStats& t : s.tiers) {
        std::printf("  %-9s %5llu calls  %5llu accepted  %5llu rejected  $%.2f\n", t.name.c_str(),
                    static_cast<unsigned long long>(t.calls), static_cast<unsigned long long>(t.accepted),
                    static_cast<unsigned long long>(t.rejected), t.cost);
    }
    return 0;
}
