// SPDX-License-Identifier: MIT
//
// The scorers at work in a cascade::Router, from many threads at once, and without allocating.
// This file counts allocations (support/count_allocations.hpp; not under ThreadSanitizer).

#include "catch.hpp"

#include <cascade/core/router.hpp>
#include <cascade/score.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "count_allocations.hpp"

#if CASCADE_TEST_COUNTS_ALLOCATIONS
using cascade_test::allocations;
#endif

namespace {

using cascade::score::HeuristicScorer;
using cascade::score::KnnScorer;
using cascade::score::TextClassifier;

std::string cheap(const std::string& q) { return "cheap:" + q; }
std::string strong(const std::string& q) { return "strong:" + q; }

TextClassifier proof_classifier() {
    std::vector<std::string> texts;
    std::vector<double> labels;
    const char* const topics[] = {"the lemma", "a poem", "the weather", "this function", "the treaty"};
    for (std::size_t i = 0; i < 300; ++i) {
        const bool hard = i % 3 == 0;
        texts.push_back(std::string(hard ? "prove that " : "describe ") + topics[i % 5] + " " + std::to_string(i));
        labels.push_back(hard ? 1.0 : 0.0);
    }
    return TextClassifier::train(texts, labels);
}

std::vector<float> letter_embedding(std::string_view text) {
    std::vector<float> v(8, 0.01F);
    for (const char c : text) {
        if (c >= 'a' && c <= 'z') v[static_cast<std::size_t>(c - 'a') % 8] += 1.0F;
    }
    return v;
}

struct Ticket {
    std::string body;
};

std::vector<std::string> probe_texts() {
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < 64; ++i) {
        texts.push_back((i % 2 == 0 ? "prove that the lemma " : "describe the weather ") + std::to_string(i) +
                        std::string(i * 13, 'x'));
    }
    return texts;
}

}  // namespace

TEST_CASE("a Router sends a query to the route of its heuristic score") {
    cascade::Router router{HeuristicScorer{}, {0.5}, cheap, strong};
    const auto easy = router.run(std::string("hi"));
    CHECK(easy.route() == 0);
    CHECK(easy.value() == "cheap:hi");
    const std::string hard_query =
        "Prove, step by step, that $\\sum_{k=1}^n k = n(n+1)/2$, and also explain why induction works.";
    const auto hard = router.run(hard_query);
    CHECK(hard.route() == 1);
    REQUIRE(hard.score().has_value());
    CHECK(*hard.score() == HeuristicScorer{}.score(hard_query));
}

TEST_CASE("a Router sends a query to the route of its trained classifier's score") {
    const TextClassifier clf = proof_classifier();
    cascade::Router router{clf, {0.5}, cheap, strong};
    CHECK(router.run(std::string("prove that the treaty 7")).route() == 1);
    CHECK(router.run(std::string("describe the treaty 7")).route() == 0);
    CHECK(*router.run(std::string("describe a poem")).score() == clf.score("describe a poem"));
}

TEST_CASE("an untrained classifier in a Router sends queries to the last route with the reason") {
    cascade::Router router{TextClassifier{}, {0.5}, cheap, strong};
    const auto r = router.run(std::string("describe a poem"));
    CHECK(r.route() == 1);
    CHECK_FALSE(r.score().has_value());
    CHECK_THAT(r.scorer_error(), Catch::Matchers::ContainsSubstring("untrained"));
    CHECK(router.stats().scorer_errors == 1);
}

TEST_CASE("a Router shares a nearest-neighbour scorer held by reference") {
    KnnScorer knn{letter_embedding};
    knn.add("aaaa", 0.0);
    knn.add("hhhh", 1.0);
    cascade::Router router{std::ref(knn), {0.5}, cheap, strong};
    CHECK(router.run(std::string("aaa")).route() == 0);
    CHECK(router.run(std::string("hhh")).route() == 1);
    knn.add("bbbb", 1.0);  // the Router sees examples added later
    CHECK(router.run(std::string("bbb")).route() == 1);
}

TEST_CASE("a Router with a Request of its own reads the text through with_text") {
    const TextClassifier clf = proof_classifier();
    cascade::Router router{cascade::score::with_text(std::cref(clf), [](const Ticket& t) { return t.body; }),
                           {0.5},
                           [](const Ticket& t) { return "cheap:" + t.body; },
                           [](const Ticket& t) { return "strong:" + t.body; }};
    CHECK(router.run(Ticket{"prove that the lemma 4"}).route() == 1);
    const auto r = router.run(Ticket{""});
    CHECK(r.route() == 1);
    CHECK_THAT(r.scorer_error(), Catch::Matchers::ContainsSubstring("empty"));
}

TEST_CASE("many threads may score with one scorer at once") {
    const TextClassifier clf = proof_classifier();
    const HeuristicScorer heuristic;
    KnnScorer knn{letter_embedding};
    for (const auto& t : probe_texts()) knn.add(t, t[0] == 'p' ? 1.0 : 0.0);
    const std::vector<std::string> texts = probe_texts();

    std::vector<double> want_clf, want_heuristic, want_knn;
    for (const auto& t : texts) {
        want_clf.push_back(clf.score(t));
        want_heuristic.push_back(heuristic.score(t));
        want_knn.push_back(knn.score(t));
    }
    cascade::Router router{clf, {0.5}, cheap, strong};

    std::atomic<std::size_t> mismatches{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t round = 0; round < 20; ++round) {
                for (std::size_t k = 0; k < texts.size(); ++k) {
                    const std::size_t i = (k + t * 17) % texts.size();
                    if (clf.score(texts[i]) != want_clf[i]) ++mismatches;
                    if (heuristic.score(texts[i]) != want_heuristic[i]) ++mismatches;
                    if (knn.score(texts[i]) != want_knn[i]) ++mismatches;
                    if (round == 0 && *router.run(texts[i]).score() != want_clf[i]) ++mismatches;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(mismatches == 0);
    CHECK(router.stats().queries == 4 * texts.size());
}

#if CASCADE_TEST_COUNTS_ALLOCATIONS
TEST_CASE("scoring allocates nothing once warmed up") {
    const TextClassifier clf = proof_classifier();
    const HeuristicScorer heuristic;
    KnnScorer knn{letter_embedding};
    for (const auto& t : probe_texts()) knn.add(t, 0.5);
    const std::vector<std::string> texts = probe_texts();
    const std::vector<float> query = letter_embedding("prove it");
    double sink = 0.0;
    // Warm-up: each thread's scratch grows to the longest text once.
    for (const auto& t : texts) sink += clf.score(t) + heuristic.score(t);
    sink += knn.score_embedding(query);

    const std::uint64_t before = allocations.load();
    for (const auto& t : texts) sink += clf.score(t) + heuristic.score(t) + clf(t) + heuristic(t);
    for (int i = 0; i < 10; ++i) sink += knn.score_embedding(query);
    const std::uint64_t after = allocations.load();
    CHECK(after - before == 0);
    CHECK(sink > 0.0);
}
#endif
