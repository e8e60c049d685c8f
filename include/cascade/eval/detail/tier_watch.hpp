// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_TIER_WATCH_HPP
#define CASCADE_EVAL_DETAIL_TIER_WATCH_HPP

#include <cstdint>

#include "change_detector.hpp"

// The state of one monitored tier, shared by the live monitor and its replay so that both decide
// alike: trusted until its losses give evidence of a rise (an alarm), then distrusted until they
// give evidence of a mean below 0 again, counted from the alarm (a recovery). While distrusted, a
// monitor that acts on alarms rejects the tier's answers (the query escalates), and the losses of
// the answers it would have given keep feeding the recovery test.
namespace cascade::detail {

enum class TierWatchChange { none, alarm, recovery };

class TierWatch {
public:
    explicit TierWatch(double alpha) : detector_(alpha), recovery_(alpha) {}

    // Adds one labelled loss (target x reference quality - answer quality, in [-1, 1]); says
    // whether it changed the tier's state.
    TierWatchChange add(double loss) {
        ++labels_;
        if (trusted_) {
            // The detector restarts its bets whenever it holds no evidence: the labels up to then
            // tell about the tier before a rise, and are left out of the alarm's loss estimate.
            if (detector_.evidence() <= 1.0) {
                run_sum_ = 0.0;
                run_ = 0;
            }
            detector_.add(loss);
            count(loss);
            if (!detector_.alarmed()) return TierWatchChange::none;
            change(detector_.evidence());
            trusted_ = false;
            recovery_.reset();
            ++alarms_;
            return TierWatchChange::alarm;
        }
        recovery_.add(loss);
        count(loss);
        if (!recovery_.passed()) return TierWatchChange::none;
        change(recovery_.evidence());
        trusted_ = true;
        detector_.reset();
        return TierWatchChange::recovery;
    }

    [[nodiscard]] bool trusted() const noexcept { return trusted_; }
    // The evidence behind the current state: the detector's while trusted, the recovery test's
    // while distrusted (each 1 at its start; the change happens at 1/alpha).
    [[nodiscard]] double evidence() const noexcept { return trusted_ ? detector_.evidence() : recovery_.evidence(); }
    // The evidence that made the last change (>= 1/alpha; 0 before the first): evidence() has
    // moved on to the next test by the time a change is reported.
    [[nodiscard]] double change_evidence() const noexcept { return change_evidence_; }
    // The mean loss of the labels behind the last change (0 before the first): at an alarm, the
    // labels after the last one that left the detector holding no evidence (an e-value of 1 or
    // less; from the start or the last recovery when none did); at a recovery, the labels since
    // the alarm. > 0: the tier missed the target on them; < 0: it met it.
    [[nodiscard]] double change_loss_estimate() const noexcept { return change_loss_estimate_; }
    // How many labels change_loss_estimate() averages.
    [[nodiscard]] std::uint64_t change_labels_since() const noexcept { return change_labels_since_; }
    [[nodiscard]] std::uint64_t labels() const noexcept { return labels_; }
    [[nodiscard]] std::uint64_t alarms() const noexcept { return alarms_; }

private:
    void count(double loss) noexcept {
        run_sum_ += loss;
        ++run_;
    }
    void change(double evidence) noexcept {
        change_evidence_ = evidence;
        change_loss_estimate_ = run_sum_ / static_cast<double>(run_);
        change_labels_since_ = run_;
        run_sum_ = 0.0;
        run_ = 0;
    }

    ChangeDetector detector_;
    RecoveryTest recovery_;
    bool trusted_ = true;
    double change_evidence_ = 0.0;
    double change_loss_estimate_ = 0.0;
    std::uint64_t change_labels_since_ = 0;
    double run_sum_ = 0.0;  // of the labels behind the current test's evidence
    std::uint64_t run_ = 0;
    std::uint64_t labels_ = 0;
    std::uint64_t alarms_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_TIER_WATCH_HPP
