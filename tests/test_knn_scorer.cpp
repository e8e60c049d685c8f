// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <cascade/score/knn_scorer.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using cascade::score::KnnOptions;
using cascade::score::KnnScorer;
using Catch::Matchers::ContainsSubstring;

// A toy embedding: how often the text mentions each of three topics, plus a constant.
std::vector<float> topic_embedding(std::string_view text) {
    std::vector<float> v{0.0F, 0.0F, 0.0F, 0.1F};
    const char* const topics[] = {"math", "code", "poem"};
    for (std::size_t t = 0; t < 3; ++t) {
        for (std::size_t at = text.find(topics[t]); at != std::string_view::npos; at = text.find(topics[t], at + 1)) {
            v[t] += 1.0F;
        }
    }
    return v;
}

auto make_topic_scorer(KnnOptions options = {}) {
    KnnScorer knn{topic_embedding, options};
    knn.add("math homework", 1.0);
    knn.add("hard math proof", 1.0);
    knn.add("code review", 0.5);
    knn.add("a poem", 0.0);
    knn.add("poem about spring", 0.0);
    return knn;
}

}  // namespace

TEST_CASE("scoring without examples is an error naming the problem") {
    KnnScorer knn{topic_embedding};
    CHECK_THROWS_AS(knn.score("math"), std::logic_error);
    CHECK_THROWS_WITH(knn.score("math"), ContainsSubstring("no examples"));
    CHECK_THROWS_WITH(knn.score_embedding(std::vector<float>{1.0F}), ContainsSubstring("no examples"));
}

TEST_CASE("the nearest examples' labels decide the score") {
    auto knn = make_topic_scorer();
    CHECK(knn.size() == 5);
    CHECK(knn.dimension() == 4);
    CHECK(knn.score("more math please") > 0.95);
    CHECK(knn.score("write a poem") < 0.05);
    CHECK(knn("code") == Approx(0.5).margin(0.05));
}

TEST_CASE("similarity weighs the vote: a query between two topics gets a score between") {
    KnnOptions wide;
    wide.k = 5;
    wide.temperature = 10.0;  // nearly equal weights
    auto knn = make_topic_scorer(wide);
    const double mixed = knn.score("math poem");
    CHECK(mixed > 0.2);
    CHECK(mixed < 0.8);
    // A lower temperature lets the most similar examples dominate.
    KnnOptions sharp;
    sharp.k = 5;
    sharp.temperature = 0.01;
    auto picky = make_topic_scorer(sharp);
    CHECK(picky.score("math math poem") > knn.score("math math poem"));
}

TEST_CASE("k larger than the example set uses every example") {
    KnnOptions o;
    o.k = 100;
    o.temperature = 1000.0;
    auto knn = make_topic_scorer(o);
    CHECK(knn.score("code") == Approx((1.0 + 1.0 + 0.5) / 5.0).margin(0.01));
}

TEST_CASE("bad embeddings are refused with the reason") {
    auto knn = make_topic_scorer();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(knn.score_embedding(std::vector<float>{1.0F, 2.0F, 3.0F}),
                      ContainsSubstring("has 3 dimensions, the examples have 4"));
    CHECK_THROWS_WITH(knn.add_embedding(std::vector<float>{1.0F, 2.0F, 3.0F, 4.0F, 5.0F}, 0.0),
                      ContainsSubstring("has 5 dimensions, the examples have 4"));
    CHECK_THROWS_WITH(knn.score_embedding(std::vector<float>{1.0F, nan, 0.0F, 0.0F}),
                      ContainsSubstring("embedding[1] is NaN"));
    CHECK_THROWS_WITH(knn.add_embedding(std::vector<float>{std::numeric_limits<float>::infinity(), 0.0F, 0.0F, 0.0F}, 1.0),
                      ContainsSubstring("embedding[0] is infinite"));
    CHECK_THROWS_WITH(knn.add_embedding(std::vector<float>{0.0F, 0.0F, 0.0F, 0.0F}, 1.0),
                      ContainsSubstring("all zeros"));
    CHECK_THROWS_WITH(knn.add_embedding(std::vector<float>{}, 1.0), ContainsSubstring("empty"));
    CHECK(knn.size() == 5);  // nothing was added by the failed calls
}

TEST_CASE("an embedding function that returns NaN is caught at scoring") {
    KnnScorer knn{[](std::string_view text) {
        return std::vector<float>{1.0F, text == "bad" ? std::numeric_limits<float>::quiet_NaN() : 1.0F};
    }};
    knn.add("good", 0.0);
    CHECK_THROWS_WITH(knn.score("bad"), ContainsSubstring("NaN"));
    CHECK_THROWS_AS(knn.add("bad", 1.0), std::invalid_argument);
}

TEST_CASE("bad texts, labels and options are refused") {
    auto knn = make_topic_scorer();
    CHECK_THROWS_WITH(knn.score(""), ContainsSubstring("empty"));
    CHECK_THROWS_WITH(knn.add("", 0.5), ContainsSubstring("empty"));
    CHECK_THROWS_WITH(knn.add("math", 1.5), ContainsSubstring("outside [0, 1]"));
    CHECK_THROWS_AS(knn.add("math", std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    KnnOptions no_k;
    no_k.k = 0;
    CHECK_THROWS_WITH(KnnScorer(topic_embedding, no_k), ContainsSubstring("k must be at least 1"));
    KnnOptions cold;
    cold.temperature = 0.0;
    CHECK_THROWS_WITH(KnnScorer(topic_embedding, cold), ContainsSubstring("temperature"));
}

TEST_CASE("an embedding may take a std::string and return a std::array") {
    KnnScorer knn{[](const std::string& text) {
        return std::array<float, 2>{static_cast<float>(text.size()), 1.0F};
    }};
    knn.add("a", 0.0);
    knn.add(std::string(50, 'b'), 1.0);
    CHECK(knn.score("cc") < knn.score(std::string(40, 'd')));
}

TEST_CASE("exact search over many long vectors matches a brute-force reference") {
    // 37 dimensions exercise the unrolled dot product and its tail.
    const std::size_t dimension = 37;
    const std::size_t count = 300;
    KnnOptions o;
    o.k = 7;
    o.temperature = 0.2;
    KnnScorer knn{[](std::string_view) { return std::vector<float>(37, 1.0F); }, o};
    std::vector<std::vector<float>> rows;
    std::vector<double> labels;
    for (std::size_t i = 0; i < count; ++i) {
        std::vector<float> e(dimension);
        for (std::size_t d = 0; d < dimension; ++d) {
            const std::uint32_t h = static_cast<std::uint32_t>(i * dimension + d + 1) * 2654435761U;
            e[d] = static_cast<float>((h >> 16) % 23) - 11.0F;
        }
        labels.push_back(static_cast<double>(i % 5) / 4.0);
        knn.add_embedding(e, labels.back());
        rows.push_back(e);
    }
    std::vector<float> q(dimension);
    for (std::size_t d = 0; d < dimension; ++d) q[d] = static_cast<float>((5 + d * 3) % 23) - 11.0F;

    const auto norm = [](const std::vector<float>& v) {
        double s = 0.0;
        for (const float x : v) s += static_cast<double>(x) * static_cast<double>(x);
        return std::sqrt(s);
    };
    std::vector<std::pair<double, std::size_t>> cosines;
    for (std::size_t i = 0; i < count; ++i) {
        double dot = 0.0;
        for (std::size_t d = 0; d < dimension; ++d) dot += static_cast<double>(rows[i][d]) * static_cast<double>(q[d]);
        cosines.emplace_back(dot / (norm(rows[i]) * norm(q)), i);
    }
    std::sort(cosines.begin(), cosines.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    double weight_sum = 0.0, weighted = 0.0;
    for (std::size_t n = 0; n < o.k; ++n) {
        const double w = std::exp((cosines[n].first - cosines[0].first) / o.temperature);
        weight_sum += w;
        weighted += w * labels[cosines[n].second];
    }
    CHECK(knn.score_embedding(q) == Approx(weighted / weight_sum).margin(1e-4));
}
