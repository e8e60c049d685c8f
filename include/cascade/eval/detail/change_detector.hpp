// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_CHANGE_DETECTOR_HPP
#define CASCADE_EVAL_DETAIL_CHANGE_DETECTOR_HPP

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

// Anytime-valid evidence about the mean of a stream of losses, one loss at a time, for a monitor
// that may look after every label.
//
// A loss is x = target x reference_quality - answer_quality, in [-1, 1]: its mean is at most 0
// exactly when the answers keep the target fraction of the reference's quality. Betting on x with
// a fraction lambda of one's wealth, 1 + lambda x per step, never loses on average while the mean
// is at most 0 (a nonnegative supermartingale), so by Ville's inequality its wealth reaches 1/alpha
// with probability at most alpha, however long one watches.
//
// ChangeDetector watches for the mean to rise above 0 at some unknown time, after any number of
// good losses: each bet restarts from 1 whenever its wealth falls below 1 (a CUSUM of bets, an
// "e-detector"), so evidence from before a change does not have to be won back after it. Its
// guarantee is on the false alarm rate: while the mean stays at most 0, the expected number of
// losses before an alarm is at least 1/alpha. It mixes a grid of bets, equally weighted, so that a
// small rise is caught by a small bet and a large one quickly by a large bet, without tuning.
//
// RecoveryTest collects evidence for the opposite, that the mean is below 0, from the moment it
// starts: a plain test (no restarts), whose wealth reaches 1/alpha with probability at most alpha
// while the mean is at least 0. It tells a monitor when a suspended tier may be trusted again.
namespace cascade::detail {

inline constexpr std::array<double, 6> monitor_bets{0.025, 0.05, 0.1, 0.2, 0.4, 0.8};

inline void check_alpha(double alpha, const char* where) {
    if (!(alpha > 0.0 && alpha < 1.0)) {
        throw std::invalid_argument(std::string(where) + ": alpha must be in (0, 1), got " + std::to_string(alpha));
    }
}

inline double checked_loss(double x) {
    // A loss outside [-1, 1] would let a bet's wealth go negative; NaN would poison it forever.
    if (!(x >= -1.0 && x <= 1.0)) throw std::invalid_argument("cascade: a monitored loss must be in [-1, 1], got " + std::to_string(x));
    return x;
}

// The wealth of a grid of bets on a stream of losses, averaged: each bet stakes the fraction
// monitor_bets[i] of its wealth on the loss's sign (`direction` +1: on a rise above 0, -1: on a
// fall below it). With `restart`, a bet whose wealth falls below 1 starts again from 1 (the CUSUM
// form), so that losses from before a change are not held against the evidence after it.
template <int Direction, bool Restart>
class BetMixture {
public:
    explicit BetMixture(double alpha, const char* where) : alpha_((check_alpha(alpha, where), alpha)) { reset(); }

    void add(double loss) {
        const double x = checked_loss(loss);
        double sum = 0.0;
        for (std::size_t i = 0; i < monitor_bets.size(); ++i) {
            const double before = Restart ? std::max(log_wealth_[i], 0.0) : log_wealth_[i];
            log_wealth_[i] = before + std::log1p(Direction * monitor_bets[i] * x);
            sum += std::exp(std::min(log_wealth_[i], 700.0));
        }
        evidence_ = sum / static_cast<double>(monitor_bets.size());
        ++count_;
    }

    /// The mixture's wealth (1 at the start).
    [[nodiscard]] double evidence() const noexcept { return evidence_; }
    [[nodiscard]] bool reached() const noexcept { return evidence_ >= 1.0 / alpha_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

    void reset() noexcept {
        log_wealth_.fill(0.0);
        evidence_ = 1.0;
        count_ = 0;
    }

private:
    double alpha_;
    std::array<double, monitor_bets.size()> log_wealth_{};
    double evidence_ = 1.0;
    std::uint64_t count_ = 0;
};

class ChangeDetector : public BetMixture<+1, true> {
public:
    explicit ChangeDetector(double alpha) : BetMixture(alpha, "cascade::detail::ChangeDetector") {}
    [[nodiscard]] bool alarmed() const noexcept { return reached(); }
};

class RecoveryTest : public BetMixture<-1, false> {
public:
    explicit RecoveryTest(double alpha) : BetMixture(alpha, "cascade::detail::RecoveryTest") {}
    [[nodiscard]] bool passed() const noexcept { return reached(); }
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_CHANGE_DETECTOR_HPP
