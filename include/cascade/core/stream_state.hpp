// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_STREAM_STATE_HPP
#define CASCADE_CORE_STREAM_STATE_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "token_sink.hpp"

namespace cascade {

/// What a stream has produced so far, as the early-exit rules read it after every chunk (see
/// cascade::verify::stop_when_mean_prob_below and the others, and Tier::with_early_exit).
///
/// Log-probabilities are read as cascade::verify::TokenProb reads them: NaN, +inf and values
/// above 1e-6 are not log-probabilities (counted in invalid_logprobs(), left out of the
/// statistics); (0, 1e-6] is read as 0, -inf as probability 0. A chunk without a log-probability
/// counts in tokens() only.
///
/// observe() appends; the statistics are kept as running sums and a histogram, so each chunk
/// costs the same however long the stream, and nothing is allocated but the text's growth.
class StreamState {
public:
    /// Bins of the probability histogram behind prob_quantile().
    static constexpr std::size_t quantile_bins = 256;

    /// Adds one chunk that arrived `elapsed` after the call started.
    void observe(const TokenChunk& chunk, std::chrono::nanoseconds elapsed) {
        if (tokens_ == 0) first_token_ = elapsed;
        elapsed_ = elapsed;
        ++tokens_;
        last_start_ = text_.size();
        text_.append(chunk.text.data(), chunk.text.size());
        last_prob_.reset();
        if (!chunk.logprob) return;
        double lp = *chunk.logprob;
        if (std::isnan(lp) || lp > positive_tolerance) {
            if (invalid_ == 0) first_invalid_ = tokens_ - 1;
            ++invalid_;
            return;
        }
        if (lp > 0.0) lp = 0.0;
        const double p = std::exp(lp);
        last_prob_ = p;
        ++scored_;
        prob_sum_ += p;
        logprob_sum_ += lp;
        min_prob_ = std::min(min_prob_, p);
        ++bins_[bin_of(p)];
    }

    /// Forgets everything, keeping the text's capacity.
    void clear() noexcept {
        text_.clear();
        tokens_ = scored_ = invalid_ = first_invalid_ = last_start_ = 0;
        prob_sum_ = logprob_sum_ = 0.0;
        min_prob_ = 1.0;
        last_prob_.reset();
        first_token_ = elapsed_ = std::chrono::nanoseconds::zero();
        bins_.fill(0);
    }

    /// Chunks so far.
    [[nodiscard]] std::size_t tokens() const noexcept { return tokens_; }
    /// Chunks with a valid log-probability: the ones the statistics are over.
    [[nodiscard]] std::size_t scored_tokens() const noexcept { return scored_; }
    /// Chunks whose log-probability was not one (see above), and the 0-based index of the first.
    [[nodiscard]] std::size_t invalid_logprobs() const noexcept { return invalid_; }
    [[nodiscard]] std::size_t first_invalid_index() const noexcept { return first_invalid_; }

    /// The text so far, and the newest chunk's.
    [[nodiscard]] std::string_view text() const noexcept { return text_; }
    [[nodiscard]] std::string_view last_text() const noexcept {
        return std::string_view(text_).substr(last_start_);
    }
    /// The newest chunk's probability, when it had a valid log-probability.
    [[nodiscard]] std::optional<double> last_prob() const noexcept { return last_prob_; }

    /// Mean, minimum and geometric mean (exp of the mean log-probability) of the token
    /// probabilities; empty before the first scored token.
    [[nodiscard]] std::optional<double> mean_prob() const noexcept {
        if (scored_ == 0) return std::nullopt;
        return prob_sum_ / static_cast<double>(scored_);
    }
    [[nodiscard]] std::optional<double> min_prob() const noexcept {
        if (scored_ == 0) return std::nullopt;
        return min_prob_;
    }
    [[nodiscard]] std::optional<double> geometric_mean_prob() const noexcept {
        if (scored_ == 0) return std::nullopt;
        return std::exp(logprob_sum_ / static_cast<double>(scored_));
    }
    /// The q-quantile of the token probabilities (q in [0, 1]; 0.1 is the low tail a rule
    /// watches), from a histogram of quantile_bins equal bins: never below the exact quantile
    /// and at most 1/quantile_bins above it. Empty before the first scored token.
    [[nodiscard]] std::optional<double> prob_quantile(double q) const noexcept {
        if (scored_ == 0 || !(q >= 0.0 && q <= 1.0)) return std::nullopt;
        // The rank of the quantile among the sorted probabilities, 1-based, at least 1.
        const auto wanted = std::max<std::uint64_t>(
            1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(scored_))));
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < quantile_bins; ++b) {
            seen += bins_[b];
            if (seen >= wanted) return static_cast<double>(b + 1) / static_cast<double>(quantile_bins);
        }
        return 1.0;
    }

    /// When the first chunk arrived and when the newest did, since the call started.
    [[nodiscard]] std::chrono::nanoseconds first_token_after() const noexcept { return first_token_; }
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return elapsed_; }

private:
    static constexpr double positive_tolerance = 1e-6;

    static std::size_t bin_of(double p) noexcept {
        const auto b = static_cast<std::size_t>(p * static_cast<double>(quantile_bins));
        return std::min(b, quantile_bins - 1);
    }

    std::string text_;
    std::size_t tokens_ = 0;
    std::size_t scored_ = 0;
    std::size_t invalid_ = 0;
    std::size_t first_invalid_ = 0;
    std::size_t last_start_ = 0;
    double prob_sum_ = 0.0;
    double logprob_sum_ = 0.0;
    double min_prob_ = 1.0;
    std::optional<double> last_prob_;
    std::chrono::nanoseconds first_token_{0};
    std::chrono::nanoseconds elapsed_{0};
    std::array<std::uint32_t, quantile_bins> bins_{};
};

/// True when `Rule` is an early-exit rule (Tier::with_early_exit): callable on a const object as
/// `std::optional<std::string>(const cascade::StreamState&)`, the reason to stop or nothing. A
/// callable that answers a bool (or a pointer) is not one: its answer would not say why.
template <class Rule, class = void>
struct is_early_exit_rule : std::false_type {};
template <class Rule>
struct is_early_exit_rule<Rule, std::enable_if_t<std::is_invocable_v<const Rule&, const StreamState&>>>
    : std::bool_constant<
          std::is_convertible_v<std::invoke_result_t<const Rule&, const StreamState&>, std::optional<std::string>> &&
          !std::is_convertible_v<std::invoke_result_t<const Rule&, const StreamState&>, bool>> {};
template <class Rule>
inline constexpr bool is_early_exit_rule_v = is_early_exit_rule<Rule>::value;

}  // namespace cascade

#endif  // CASCADE_CORE_STREAM_STATE_HPP
