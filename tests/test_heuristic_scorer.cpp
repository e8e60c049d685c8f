// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <cascade/score/heuristic_scorer.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

using cascade::score::HeuristicFeatures;
using cascade::score::HeuristicScorer;
using cascade::score::HeuristicWeights;

TEST_CASE("an empty text is an error") {
    const HeuristicScorer h;
    CHECK_THROWS_AS(h.score(""), std::invalid_argument);
    CHECK_THROWS_WITH(h(std::string()), Catch::Matchers::ContainsSubstring("empty"));
}

TEST_CASE("a weight that is not finite is refused, by name") {
    HeuristicWeights w;
    w.math = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(HeuristicScorer{w}, Catch::Matchers::ContainsSubstring("`math`"));
    w = HeuristicWeights{};
    w.bias = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(HeuristicScorer{w}, std::invalid_argument);
}

TEST_CASE("a plain text shows none of the signals") {
    const HeuristicFeatures f = HeuristicScorer::features("tell me a story about a cat");
    CHECK(f.questions == 0.0);
    CHECK(f.code == 0.0);
    CHECK(f.math == 0.0);
    CHECK(f.multi_part == 0.0);
    CHECK(f.reasoning == 0.0);
    CHECK(f.length > 0.0);
    CHECK(f.length < 1.0);
}

TEST_CASE("length grows with the text and saturates at 1") {
    const double a = HeuristicScorer::features("short").length;
    const double b = HeuristicScorer::features(std::string(500, 'w')).length;
    const double c = HeuristicScorer::features(std::string(10000, 'w')).length;
    CHECK(a < b);
    CHECK(b < c);
    CHECK(c == 1.0);
}

TEST_CASE("question marks count") {
    CHECK(HeuristicScorer::features("why?").questions == Approx(0.5));
    CHECK(HeuristicScorer::features("a? b? c?").questions == Approx(0.75));
}

TEST_CASE("code fences, keywords and symbols read as code") {
    const HeuristicFeatures f =
        HeuristicScorer::features("Fix this:\n```python\ndef f(x):\n    return x == 1\n```\n");
    CHECK(f.code > 0.6);
    CHECK(HeuristicScorer::features("int main() { return 0; }").code > 0.3);
    CHECK(HeuristicScorer::features("we wrote a letter to grandma").code == 0.0);
}

TEST_CASE("digits, operators and LaTeX read as math") {
    CHECK(HeuristicScorer::features("Compute $\\frac{3}{4} + 2^5 = ?$").math > 0.6);
    CHECK(HeuristicScorer::features("solve 3x + 5 = 20").math > 0.4);
    CHECK(HeuristicScorer::features("a well-known cheap-first design").math == 0.0);
}

TEST_CASE("numbered lists and 'and also' read as multi-part") {
    CHECK(HeuristicScorer::features("Do this:\n1. parse\n2. check\n3) print\n").multi_part == Approx(0.5));
    CHECK(HeuristicScorer::features("summarise it and also translate it").multi_part == Approx(0.4));
    CHECK(HeuristicScorer::features("- one\n- two\n").multi_part > 0.0);
    CHECK(HeuristicScorer::features("A. yes\nB. no\n").multi_part == 0.0);
}

TEST_CASE("reasoning cues, including 'step by step', read as reasoning") {
    CHECK(HeuristicScorer::features("Prove it").reasoning == Approx(0.5));
    CHECK(HeuristicScorer::features("EXPLAIN why, step-by-step").reasoning == Approx(0.75));
    CHECK(HeuristicScorer::features("a step in the right direction").reasoning == 0.0);
}

TEST_CASE("harder-looking prompts score higher, always inside [0, 1]") {
    const HeuristicScorer h;
    const double easy = h("hi there");
    const double medium = h("What is the capital of France?");
    const double hard = h("Prove that there are infinitely many primes. Explain each step, step by step, "
                          "and also derive $\\sum_{p} 1/p = \\infty$.\n1. first the lemma\n2. then the theorem");
    CHECK(easy < medium);
    CHECK(medium < hard);
    CHECK(easy > 0.0);
    CHECK(hard < 1.0);
    CHECK(hard > 0.5);
}

TEST_CASE("the weights decide how much each feature counts") {
    HeuristicWeights neutral{};
    neutral.bias = neutral.length = neutral.questions = neutral.code = neutral.math = neutral.multi_part =
        neutral.reasoning = 0.0;
    CHECK(HeuristicScorer{neutral}("prove it, step by step") == Approx(0.5));

    HeuristicWeights reasoning_only = neutral;
    reasoning_only.reasoning = 4.0;
    const HeuristicScorer h{reasoning_only};
    CHECK(h.weights().reasoning == 4.0);
    CHECK(h("prove it") == Approx(1.0 / (1.0 + std::exp(-2.0))).epsilon(1e-12));
    CHECK(h("say it") == Approx(0.5));
}
