// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_HEURISTIC_SCORER_HPP
#define CASCADE_SCORE_HEURISTIC_SCORER_HPP

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "detail/heuristic_features.hpp"
#include "detail/portable_math.hpp"
#include "query_text.hpp"

namespace cascade::score {

/// What HeuristicScorer sees in a text, each feature in [0, 1] (0: no sign of it).
struct HeuristicFeatures {
    double length = 0.0;      ///< log(1 + bytes) / log(1 + 4000), capped at 1
    double questions = 0.0;   ///< question marks q: q / (q + 1)
    double code = 0.0;        ///< e / (e + 6), e = 4 x fences + 2 x code words + code symbols / 2
    double math = 0.0;        ///< e / (e + 6), e = operators + numbers / 2 + 2 x LaTeX + 2 x math words
    double multi_part = 0.0;  ///< e / (e + 3), e = list items + 2 x cues ("and also", "additionally", ...)
    double reasoning = 0.0;   ///< e / (e + 1), e = cues ("prove", "why", "explain", "step by step", ...)
};

/// The weights HeuristicScorer combines the features with: difficulty = logistic(bias + sum of
/// weight x feature). The defaults are hand-set guesses, not fitted to any data: a short plain
/// question scores about 0.1, a 2 KB plain prompt about 0.25, "Prove that ... step by step" about
/// 0.4, long code with a reasoning request above 0.9.
struct HeuristicWeights {
    double bias = -3.0;
    double length = 2.0;
    double questions = 0.5;
    double code = 2.0;
    double math = 2.0;
    double multi_part = 1.5;
    double reasoning = 2.5;
};

/// A difficulty scorer from surface features of the query text, needing no training: length,
/// question count, code, math, multi-part requests and reasoning cues, combined by weights into
/// a logistic in [0, 1].
///
///     cascade::Router router{cascade::score::HeuristicScorer{}, {0.5}, call_mini, call_big};
///
/// Works on any Request with a QueryText (std::string, std::string_view, const char*, ...).
/// An empty text throws std::invalid_argument. Words are matched in ASCII, case-insensitively.
///
/// Thread-safety: const members, including scoring, may be called from many threads at once.
/// Scoring allocates nothing once each thread has seen its longest text (a per-thread scratch).
class HeuristicScorer {
public:
    HeuristicScorer() = default;

    /// Throws std::invalid_argument when a weight is NaN or infinite.
    explicit HeuristicScorer(HeuristicWeights weights) : weights_(checked(weights)) {}

    [[nodiscard]] const HeuristicWeights& weights() const noexcept { return weights_; }

    /// The features of `text`, each in [0, 1].
    [[nodiscard]] static HeuristicFeatures features(std::string_view text) {
        detail::HeuristicCounter counter;
        const detail::HeuristicCounts c = counter.count(text);
        const auto saturate = [](double evidence, double half) { return evidence / (evidence + half); };
        const auto d = [](std::size_t n) { return static_cast<double>(n); };
        HeuristicFeatures f;
        f.length = std::fmin(1.0, std::log1p(d(c.bytes)) / std::log1p(4000.0));
        f.questions = saturate(d(c.question_marks), 1.0);
        f.code = saturate(4.0 * d(c.fences) + 2.0 * d(c.code_words) + 0.5 * d(c.code_symbols), 6.0);
        f.math = saturate(d(c.operators) + 0.5 * d(c.numbers) + 2.0 * d(c.latex) + 2.0 * d(c.math_words), 6.0);
        f.multi_part = saturate(d(c.list_items) + 2.0 * d(c.multi_part_cues), 3.0);
        f.reasoning = saturate(d(c.reasoning_cues), 1.0);
        return f;
    }

    /// The difficulty of `text` in [0, 1]. Throws std::invalid_argument when `text` is empty.
    [[nodiscard]] double score(std::string_view text) const {
        if (text.empty()) throw std::invalid_argument("cascade::score::HeuristicScorer: the query text is empty");
        const HeuristicFeatures f = features(text);
        const HeuristicWeights& w = weights_;
        double z = w.bias;
        z = cascade::detail::mul_add(w.length, f.length, z);
        z = cascade::detail::mul_add(w.questions, f.questions, z);
        z = cascade::detail::mul_add(w.code, f.code, z);
        z = cascade::detail::mul_add(w.math, f.math, z);
        z = cascade::detail::mul_add(w.multi_part, f.multi_part, z);
        z = cascade::detail::mul_add(w.reasoning, f.reasoning, z);
        return cascade::detail::portable_sigmoid(z);
    }

    /// The difficulty of a Request's text, as a Router calls it.
    template <class Request>
    double operator()(const Request& request) const {
        return detail::with_query_text(request, [this](std::string_view text) { return score(text); });
    }

private:
    static HeuristicWeights checked(const HeuristicWeights& w) {
        const auto check = [](double v, const char* name) {
            if (!std::isfinite(v)) {
                throw std::invalid_argument(std::string("cascade::score::HeuristicScorer: weight `") + name +
                                            "` must be finite, got " + std::to_string(v));
            }
        };
        check(w.bias, "bias");
        check(w.length, "length");
        check(w.questions, "questions");
        check(w.code, "code");
        check(w.math, "math");
        check(w.multi_part, "multi_part");
        check(w.reasoning, "reasoning");
        return w;
    }

    HeuristicWeights weights_{};
};

}  // namespace cascade::score

#endif  // CASCADE_SCORE_HEURISTIC_SCORER_HPP
