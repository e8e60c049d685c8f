// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_KNN_SCORER_HPP
#define CASCADE_SCORE_KNN_SCORER_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/portable_math.hpp"
#include "detail/vector_math.hpp"
#include "query_text.hpp"

namespace cascade::score {

/// How KnnScorer weighs neighbours.
struct KnnOptions {
    std::size_t k = 10;         ///< neighbours that vote, >= 1 (all examples when fewer)
    double temperature = 0.05;  ///< neighbour i weighs exp((cos_i - cos_best) / temperature); > 0
};

/// A difficulty scorer by nearest neighbours over embeddings: it keeps labelled examples
/// (embedding, label) and scores a query by the similarity-weighted labels of its k most similar
/// examples (cosine), the idea of RouteLLM's similarity-weighted router.
///
///     cascade::score::KnnScorer knn{[&](std::string_view text) { return embedder.embed(text); }};
///     for (const auto& [text, label] : history) knn.add(text, label);
///     cascade::Router router{std::ref(knn), {0.5}, call_mini, call_big};
///
/// `embed` is called as `std::vector<float>(std::string_view)` or `(const std::string&)`; it may
/// return any contiguous range of float (std::vector<float>, std::array<float, N>). Every
/// embedding must have the dimension of the first example, be finite and not all zeros;
/// otherwise std::invalid_argument says which. Scoring without examples throws std::logic_error.
/// Search is exact: one pass of dot products over contiguous, normalised vectors.
///
/// Thread-safety: score(), score_embedding() and operator() may be called from many threads at
/// once, provided `embed` may be (score_embedding() does not call it); add() must not overlap
/// any other call. Copies hold their own examples: pass std::ref(knn) to a Router to share one.
template <class Embed>
class KnnScorer {
    static constexpr bool takes_view = std::is_invocable_v<Embed&, std::string_view>;
    static constexpr bool takes_string = std::is_invocable_v<Embed&, const std::string&>;
    static_assert(takes_view || takes_string,
                  "cascade::score::KnnScorer: the embedding must be callable as std::vector<float>(std::string_view) "
                  "or std::vector<float>(const std::string&)");

public:
    /// Throws std::invalid_argument when options.k is 0 or the temperature is not > 0.
    explicit KnnScorer(Embed embed, KnnOptions options = {}) : embed_(std::move(embed)), options_(options) {
        if (options_.k == 0) throw std::invalid_argument("cascade::score::KnnScorer: options.k must be at least 1");
        if (!(options_.temperature > 0.0) || !std::isfinite(options_.temperature)) {
            throw std::invalid_argument("cascade::score::KnnScorer: options.temperature = " +
                                        std::to_string(options_.temperature) + " must be finite and > 0");
        }
    }

    /// Embeds `text` and keeps it with `label` in [0, 1] (1: needs the strong model).
    void add(std::string_view text, double label) {
        check_text(text, "add");
        check_label(label);
        const auto embedding = embedded(text);
        add_normalised(std::data(embedding), std::size(embedding), label, "add");
    }

    /// Keeps a ready-made embedding with `label` in [0, 1].
    void add_embedding(const float* embedding, std::size_t dimension, double label) {
        check_label(label);
        add_normalised(embedding, dimension, label, "add_embedding");
    }
    void add_embedding(const std::vector<float>& embedding, double label) {
        add_embedding(embedding.data(), embedding.size(), label);
    }

    /// Room for `n` examples, so that adding them does not reallocate.
    void reserve(std::size_t n) {
        labels_.reserve(n);
        if (dimension_ > 0) vectors_.reserve(n * dimension_);
    }

    [[nodiscard]] std::size_t size() const noexcept { return labels_.size(); }
    /// The embedding dimension, fixed by the first example; 0 before it.
    [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }
    [[nodiscard]] const KnnOptions& options() const noexcept { return options_; }
    Embed& embedding_function() noexcept { return embed_; }

    /// The difficulty of `text` in [0, 1]. Throws std::invalid_argument for an empty text or a
    /// bad embedding, std::logic_error without examples.
    double score(std::string_view text) {
        check_text(text, "score");
        require_examples("score");
        const auto embedding = embedded(text);
        return score_embedding(std::data(embedding), std::size(embedding));
    }

    /// The difficulty of a query already embedded.
    [[nodiscard]] double score_embedding(const float* embedding, std::size_t dimension) const {
        require_examples("score_embedding");
        check_embedding(embedding, dimension, "score");
        thread_local std::vector<float> query;
        thread_local std::vector<detail::Neighbour> best;
        query.resize(dimension);
        detail::normalise_into(embedding, dimension, query.data());
        const std::size_t k = options_.k < labels_.size() ? options_.k : labels_.size();
        detail::nearest(vectors_.data(), labels_.size(), dimension, query.data(), k, best);
        // Softmax over the neighbours' similarities: near-ties share the vote, clear winners take it.
        double weight_sum = 0.0;
        double weighted = 0.0;
        const double top = static_cast<double>(best.front().similarity);
        for (const detail::Neighbour& n : best) {
            const double w = detail::portable_exp((static_cast<double>(n.similarity) - top) / options_.temperature);
            weight_sum += w;
            weighted = detail::mul_add(w, labels_[n.index], weighted);
        }
        const double s = weighted / weight_sum;
        return s < 0.0 ? 0.0 : (s > 1.0 ? 1.0 : s);
    }
    [[nodiscard]] double score_embedding(const std::vector<float>& embedding) const {
        return score_embedding(embedding.data(), embedding.size());
    }

    /// The difficulty of a Request's text, as a Router calls it.
    template <class Request>
    double operator()(const Request& request) {
        return detail::with_query_text(request, [this](std::string_view text) { return score(text); });
    }

private:
    auto embedded(std::string_view text) {
        using Result = std::decay_t<decltype(call_embed(text))>;
        static_assert(std::is_convertible_v<decltype(std::data(std::declval<const Result&>())), const float*>,
                      "cascade::score::KnnScorer: the embedding must return contiguous floats, e.g. "
                      "std::vector<float> or std::array<float, N>");
        return call_embed(text);
    }

    decltype(auto) call_embed(std::string_view text) {
        if constexpr (takes_view) {
            return embed_(text);
        } else {
            return embed_(std::string(text));
        }
    }

    static void check_text(std::string_view text, const char* member) {
        if (text.empty()) {
            throw std::invalid_argument(std::string("cascade::score::KnnScorer::") + member + ": the query text is empty");
        }
    }

    static void check_label(double label) {
        if (!(label >= 0.0 && label <= 1.0)) {
            throw std::invalid_argument("cascade::score::KnnScorer::add: label " + std::to_string(label) +
                                        " is outside [0, 1]");
        }
    }

    void require_examples(const char* member) const {
        if (labels_.empty()) {
            throw std::logic_error(std::string("cascade::score::KnnScorer::") + member +
                                   ": no examples; add labelled examples with add(text, label) first");
        }
    }

    void check_embedding(const float* e, std::size_t dimension, const char* member) const {
        // The message is built only on failure: scoring must not allocate.
        const auto fail = [member](const std::string& why) {
            throw std::invalid_argument(std::string("cascade::score::KnnScorer::") + member + ": " + why);
        };
        if (dimension == 0 || e == nullptr) fail("the embedding is empty");
        if (dimension_ != 0 && dimension != dimension_) {
            fail("the embedding has " + std::to_string(dimension) + " dimensions, the examples have " +
                 std::to_string(dimension_));
        }
        bool nonzero = false;
        for (std::size_t i = 0; i < dimension; ++i) {
            if (!std::isfinite(e[i])) {
                fail("embedding[" + std::to_string(i) + "] is " + (std::isnan(e[i]) ? "NaN" : "infinite"));
            }
            nonzero = nonzero || e[i] != 0.0F;
        }
        if (!nonzero) fail("the embedding is all zeros; cosine similarity needs a direction");
    }

    void add_normalised(const float* e, std::size_t dimension, double label, const char* member) {
        check_embedding(e, dimension, member);
        if (labels_.size() >= UINT32_MAX) {
            throw std::length_error("cascade::score::KnnScorer::add: at most 2^32 - 1 examples");
        }
        labels_.reserve(labels_.size() + 1);  // so that push_back below cannot throw after the resize
        if (dimension_ == 0) dimension_ = dimension;
        const std::size_t offset = vectors_.size();
        vectors_.resize(offset + dimension);
        detail::normalise_into(e, dimension, vectors_.data() + offset);
        labels_.push_back(label);
    }

    Embed embed_;
    KnnOptions options_;
    std::size_t dimension_ = 0;
    std::vector<float> vectors_;  // row-major, each row of unit length
    std::vector<double> labels_;
};

template <class Embed>
KnnScorer(Embed) -> KnnScorer<Embed>;
template <class Embed>
KnnScorer(Embed, KnnOptions) -> KnnScorer<Embed>;

}  // namespace cascade::score

#endif  // CASCADE_SCORE_KNN_SCORER_HPP
