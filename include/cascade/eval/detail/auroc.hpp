// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_AUROC_HPP
#define CASCADE_EVAL_DETAIL_AUROC_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace cascade::detail {

// The area under the ROC curve of `scores` for telling the `positive` examples from the others:
// the probability that a random positive scores above a random negative, a tie counting half
// (the Mann-Whitney U statistic over n_pos x n_neg). 0.5 is chance, 1 a perfect ranking. Scores
// may be +-infinity (e.g. a log-probability of -inf). Throws std::invalid_argument for sizes that
// differ, a NaN score, or a class without examples.
inline double auroc(const std::vector<double>& scores, const std::vector<bool>& positive) {
    if (scores.size() != positive.size()) {
        throw std::invalid_argument("cascade::detail::auroc: " + std::to_string(scores.size()) + " scores for " +
                                    std::to_string(positive.size()) + " labels");
    }
    std::size_t n_pos = 0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (std::isnan(scores[i])) {
            throw std::invalid_argument("cascade::detail::auroc: score " + std::to_string(i + 1) + " is NaN");
        }
        n_pos += positive[i] ? 1U : 0U;
    }
    const std::size_t n_neg = scores.size() - n_pos;
    if (n_pos == 0 || n_neg == 0) {
        throw std::invalid_argument(std::string("cascade::detail::auroc: no ") + (n_pos == 0 ? "positive" : "negative") +
                                    " examples; the area needs both");
    }
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    // Sum of the positives' ranks (1-based), tied scores sharing their mean rank.
    double rank_sum = 0.0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        std::size_t tied_pos = 0;
        while (j < order.size() && scores[order[j]] == scores[order[i]]) {
            tied_pos += positive[order[j]] ? 1U : 0U;
            ++j;
        }
        const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
        rank_sum += mean_rank * static_cast<double>(tied_pos);
        i = j;
    }
    const double p = static_cast<double>(n_pos);
    const double u = rank_sum - p * (p + 1.0) / 2.0;
    return u / (p * static_cast<double>(n_neg));
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_AUROC_HPP
