// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_TOKEN_CONFIDENCE_HPP
#define CASCADE_VERIFY_TOKEN_CONFIDENCE_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../detail/number.hpp"
#include "../core/response_traits.hpp"
#include "../core/verdict.hpp"

namespace cascade::verify {

/// How the token-probability verifiers treat log-probabilities that cannot be right.
struct TokenProbOptions {
    /// NaN, +inf and log-probabilities above `positive_tolerance` are not log-probabilities. By
    /// default the answer is rejected (confidence 0, the first such value in the note); with
    /// `skip_invalid` they are left out of the statistic and the note says how many were.
    bool skip_invalid = false;
    /// Providers round: a log-probability in (0, positive_tolerance] is read as 0 (probability 1).
    double positive_tolerance = 1e-6;
};

/// A confidence from the probabilities the model gave its own tokens (see mean_token_prob,
/// min_token_prob, token_prob_quantile). Reads them through cascade::response_traits<Response>.
///
/// Always returns a Verdict: an answer without usable log-probabilities is rejected with
/// confidence 0 and a note saying why, never NaN. A log-probability of -inf (probability 0) is
/// valid. Thread-safe: operator() is const and keeps no state.
class TokenProb {
public:
    enum class Statistic { mean, minimum, quantile };

    TokenProb(Statistic statistic, double q, TokenProbOptions options) : stat_(statistic), q_(q), options_(options) {
        if (!(q_ >= 0.0 && q_ <= 1.0)) {
            throw std::invalid_argument("cascade::verify::token_prob_quantile: the quantile must be in [0, 1], got " +
                                        detail::format_number(q_));
        }
        if (!(options_.positive_tolerance >= 0.0) || !std::isfinite(options_.positive_tolerance)) {
            throw std::invalid_argument("cascade::verify::TokenProbOptions: positive_tolerance must be a finite "
                                        "number >= 0, got " +
                                        detail::format_number(options_.positive_tolerance));
        }
    }

    [[nodiscard]] Statistic statistic() const noexcept { return stat_; }
    [[nodiscard]] double quantile() const noexcept { return q_; }

    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(has_token_logprobs_v<Response> || !detail::traits_logprobs<Response>::present,
                      "cascade::response_traits<Response>::token_logprobs must return a contiguous range of "
                      "double or float (std::vector, std::array, a C array, a span), or a std::optional of one, "
                      "or a pointer to one");
        static_assert(detail::traits_logprobs<Response>::present,
                      "cascade::verify::mean_token_prob / min_token_prob / token_prob_quantile: "
                      "cascade::response_traits<Response> gives no token log-probabilities; give the Response a "
                      "data member `token_logprobs` (a contiguous range of double or float), or specialise "
                      "cascade::response_traits with `static const std::vector<double>& token_logprobs(const "
                      "Response&)`");
        if constexpr (has_token_logprobs_v<Response>) {
            decltype(auto) held = response_traits<Response>::token_logprobs(response);
            return evaluate(detail::view_logprobs(held));
        } else {
            return Verdict{};
        }
    }

private:
    Verdict evaluate(const detail::LogprobView& lp) const {
        if (!lp.present) return Verdict{0.0, 0.0, "no token log-probabilities (missing from the response)"};
        if (lp.size == 0) return Verdict{0.0, 0.0, "no token log-probabilities (empty)"};

        std::size_t skipped = 0;
        double sum = 0.0;
        double lowest = 0.0;
        std::vector<double> probs;
        if (stat_ == Statistic::quantile) probs.reserve(lp.size);
        for (std::size_t i = 0; i < lp.size; ++i) {
            double x = lp[i];
            if (x > 0.0 && x <= options_.positive_tolerance) x = 0.0;
            if (std::isnan(x) || x > 0.0) {
                if (!options_.skip_invalid) {
                    return Verdict{0.0, 0.0,
                                   "token log-probability " + std::to_string(i + 1) + " of " +
                                       std::to_string(lp.size) + " is " + detail::format_number(x) +
                                       (std::isnan(x) ? "" : " (> 0, not a log-probability)")};
                }
                ++skipped;
                continue;
            }
            sum += x;
            lowest = std::min(lowest, x);
            if (stat_ == Statistic::quantile) probs.push_back(std::exp(x));
        }
        const std::size_t used = lp.size - skipped;
        if (used == 0) {
            return Verdict{0.0, 0.0,
                           "no valid token log-probabilities (all " + std::to_string(lp.size) + " are NaN or > 0)"};
        }

        Verdict v;
        switch (stat_) {
            case Statistic::mean: v.confidence = std::exp(sum / static_cast<double>(used)); break;
            case Statistic::minimum: v.confidence = std::exp(lowest); break;
            case Statistic::quantile: v.confidence = quantile_of(probs, q_); break;
        }
        // exp of a sum of many -inf/NaN-free terms stays in [0, 1]; clamp rounding above 1.
        v.confidence = std::min(1.0, std::max(0.0, v.confidence));
        if (skipped > 0) {
            v.note = "left out " + std::to_string(skipped) + " of " + std::to_string(lp.size) +
                     " token log-probabilities (NaN or > 0)";
        }
        return v;
    }

    // The q-quantile with linear interpolation between order statistics (position q * (n - 1)).
    static double quantile_of(std::vector<double>& values, double q) {
        const double pos = q * static_cast<double>(values.size() - 1);
        const auto lo = static_cast<std::size_t>(std::floor(pos));
        const std::size_t hi = std::min(lo + 1, values.size() - 1);
        std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lo), values.end());
        const double lo_value = values[lo];
        if (hi == lo) return lo_value;
        const double hi_value = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
        return lo_value + (pos - static_cast<double>(lo)) * (hi_value - lo_value);
    }

    Statistic stat_;
    double q_;
    TokenProbOptions options_;
};

/// Confidence = exp(mean token log-probability): the geometric mean of the token probabilities.
/// Unlike the sequence probability it does not shrink with the length of the answer.
///
///     cascade::tier("mini", call_mini, cascade::verify::mean_token_prob(), 0.7)
inline TokenProb mean_token_prob(TokenProbOptions options = {}) {
    return TokenProb(TokenProb::Statistic::mean, 0.5, options);
}

/// Confidence = the lowest token probability: one unsure token (a guessed digit, a name) rejects.
inline TokenProb min_token_prob(TokenProbOptions options = {}) {
    return TokenProb(TokenProb::Statistic::minimum, 0.0, options);
}

/// Confidence = the q-quantile of the token probabilities (0 = minimum, 0.5 = median), with
/// linear interpolation. A low quantile such as 0.1 reacts to the few unsure tokens that decide
/// whether an answer is wrong while staying robust to length, which is why quantiles defer better
/// than the sum or the mean (Gupta et al., "Language Model Cascades: Token-level uncertainty and
/// beyond", 2024). Throws std::invalid_argument unless 0 <= q <= 1.
inline TokenProb token_prob_quantile(double q, TokenProbOptions options = {}) {
    return TokenProb(TokenProb::Statistic::quantile, q, options);
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_TOKEN_CONFIDENCE_HPP
