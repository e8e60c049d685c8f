// SPDX-License-Identifier: MIT
//
// Decisions per second of each difficulty scorer on 2 KB prompts, one core, and the allocations
// each decision makes. The baseline is std::hash over the same text: how much more than reading
// and hashing the bytes once does scoring cost? This file replaces the global operator new to
// count allocations.
//
//     bench_scorers --benchmark_min_time=0.5

#include <benchmark/benchmark.h>

#include <cascade/core/router.hpp>
#include <cascade/score.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "count_allocations.hpp"

#if !CASCADE_TEST_COUNTS_ALLOCATIONS
#error "this benchmark counts allocations, which a ThreadSanitizer build cannot"
#endif
using cascade_test::allocations;

namespace {

using cascade::score::HeuristicScorer;
using cascade::score::KnnScorer;
using cascade::score::TextClassifier;

constexpr std::size_t prompt_bytes = 2048;
constexpr std::size_t prompt_count = 256;

struct Rng {
    std::uint64_t state;
    std::size_t below(std::size_t n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>((state >> 33) % n);
    }
};

// Prompts of prompt_bytes bytes mixing prose, questions, code and math; "hard" ones ask for a
// proof or contain code.
struct Prompt {
    std::string text;
    double label;
};

std::vector<Prompt> make_prompts(std::size_t n, std::uint64_t seed) {
    const char* const words[] = {"the", "model", "answer", "question", "river", "history", "of", "and", "why",
                                 "function", "value", "compute", "report", "customer", "ticket", "price", "is",
                                 "a", "for", "with", "summary", "table", "figure", "data", "explain", "list"};
    const char* const pieces[] = {"What is the capital of France? ", "Prove that the sum is finite. ",
                                  "```cpp\nint f(int x) { return x * 2; }\n```\n", "Compute $\\frac{3}{4} + 2^5$. ",
                                  "1. first point\n2. second point\n", "Explain step by step. "};
    Rng rng{seed};
    std::vector<Prompt> out;
    for (std::size_t i = 0; i < n; ++i) {
        Prompt p{{}, 0.0};
        while (p.text.size() < prompt_bytes) {
            if (rng.below(12) == 0) {
                const std::size_t k = rng.below(std::size(pieces));
                if (k == 1 || k == 2) p.label = 1.0;
                p.text += pieces[k];
            } else {
                p.text += words[rng.below(std::size(words))];
                p.text += rng.below(10) == 0 ? ". " : " ";
            }
        }
        p.text.resize(prompt_bytes);
        out.push_back(std::move(p));
    }
    return out;
}

const std::vector<Prompt>& prompts() {
    static const std::vector<Prompt> p = make_prompts(prompt_count, 1);
    return p;
}

// Feature sets the text classifier is measured with: the defaults, and the variants that trade
// accuracy for speed or the other way round.
enum Variant : int { defaults, small_table, words_only, char_3_to_5 };

const char* variant_name(int v) {
    switch (v) {
        case small_table: return "hash_bits 16";
        case words_only: return "words only";
        case char_3_to_5: return "char 3-5 grams";
        default: return "defaults";
    }
}

// A classifier trained on synthetic prompts, once per variant.
const TextClassifier& classifier(int variant = defaults) {
    static std::map<int, TextClassifier> trained;
    auto it = trained.find(variant);
    if (it == trained.end()) {
        const std::vector<Prompt> train = make_prompts(2000, 2);
        std::vector<std::string> texts;
        std::vector<double> labels;
        for (const auto& p : train) {
            texts.push_back(p.text);
            labels.push_back(p.label);
        }
        cascade::score::TrainOptions options;
        if (variant == small_table) options.features.hash_bits = 16;
        if (variant == words_only) options.features.char_ngram_min = options.features.char_ngram_max = 0;
        if (variant == char_3_to_5) {
            options.features.char_ngram_min = 3;
            options.features.char_ngram_max = 5;
        }
        it = trained.emplace(variant, TextClassifier::train(texts, labels, options)).first;
    }
    return it->second;
}

// A stand-in embedding: hashed character trigrams into `dimension` floats. Real embeddings come
// from a model; what is measured below is the search, with the query already embedded.
std::vector<float> trigram_embedding(std::string_view text, std::size_t dimension) {
    std::vector<float> v(dimension, 0.0F);
    for (std::size_t i = 2; i < text.size(); ++i) {
        const auto h = (static_cast<std::uint32_t>(static_cast<unsigned char>(text[i - 2])) * 31U +
                        static_cast<unsigned char>(text[i - 1])) * 31U + static_cast<unsigned char>(text[i]);
        v[h % dimension] += 1.0F;
    }
    return v;
}

// Runs `score` over the prompts in turn and reports decisions per second and allocations per
// decision (counted in the timed loop only, after one warm-up pass).
template <class Score>
void run(benchmark::State& state, Score&& score) {
    const auto& p = prompts();
    double sink = 0.0;
    for (const auto& prompt : p) sink += score(prompt.text);
    std::size_t i = 0;
    const std::uint64_t before = allocations.load(std::memory_order_relaxed);
    for (auto _ : state) {
        benchmark::DoNotOptimize(sink += score(p[i].text));
        i = (i + 1) % p.size();
    }
    const std::uint64_t after = allocations.load(std::memory_order_relaxed);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["allocs/decision"] =
        static_cast<double>(after - before) / static_cast<double>(state.iterations());
}

void baseline_std_hash(benchmark::State& state) {
    run(state, [](const std::string& t) {
        return static_cast<double>(std::hash<std::string_view>{}(t) & 1U);
    });
}
BENCHMARK(baseline_std_hash);

void heuristic(benchmark::State& state) {
    const HeuristicScorer h;
    run(state, [&](const std::string& t) { return h.score(t); });
}
BENCHMARK(heuristic);

void text_classifier(benchmark::State& state) {
    const int variant = static_cast<int>(state.range(0));
    const TextClassifier& c = classifier(variant);
    state.SetLabel(variant_name(variant));
    run(state, [&](const std::string& t) { return c.score(t); });
}
BENCHMARK(text_classifier)->DenseRange(defaults, char_3_to_5);

// The whole routing decision: a Router with the classifier and two models that do nothing.
void router_with_text_classifier(benchmark::State& state) {
    cascade::Router router{classifier(), {0.5}, [](const std::string&) { return 0; },
                           [](const std::string&) { return 1; }};
    run(state, [&](const std::string& t) { return static_cast<double>(router.run(t).route()); });
}
BENCHMARK(router_with_text_classifier);

// Search over `examples` stored embeddings of 384 floats, the query already embedded.
void knn_search(benchmark::State& state) {
    constexpr std::size_t dimension = 384;
    const auto examples = static_cast<std::size_t>(state.range(0));
    KnnScorer knn{[](std::string_view text) { return trigram_embedding(text, dimension); }};
    knn.reserve(examples);
    const std::vector<Prompt> stored = make_prompts(256, 3);
    for (std::size_t i = 0; i < examples; ++i) {
        std::vector<float> e = trigram_embedding(stored[i % stored.size()].text, dimension);
        e[i % dimension] += static_cast<float>(i % 7);  // distinct vectors
        knn.add_embedding(e, stored[i % stored.size()].label);
    }
    std::vector<std::vector<float>> queries;
    for (const auto& p : prompts()) queries.push_back(trigram_embedding(p.text, dimension));
    std::size_t q = 0;
    run(state, [&](const std::string&) {
        const double s = knn.score_embedding(queries[q]);
        q = (q + 1) % queries.size();
        return s;
    });
}
BENCHMARK(knn_search)->Arg(1000)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
