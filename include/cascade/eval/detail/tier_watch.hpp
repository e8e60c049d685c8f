// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_TIER_WATCH_HPP
#define CASCADE_EVAL_DETAIL_TIER_WATCH_HPP

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "../../detail/number.hpp"
#include "change_detector.hpp"

// The state of one monitored tier, shared by the live monitor and its replay so that both decide
// alike: trusted until its losses give evidence of a rise (an alarm), then distrusted until they
// give evidence of a mean below 0 again, counted from the alarm (a recovery). While distrusted, a
// monitor that acts on alarms rejects the tier's answers (the query escalates), and the losses of
// the answers it would have given keep feeding the recovery test.
//
// A trusted tier whose detector holds some evidence against it is a suspect: a monitor with
// suspect labelling labels its answers at a rate of their own (suspect_label_rate) until the
// evidence clears or turns into an alarm, so that a real drop is confirmed in fewer queries. The
// choice of which answers to label then depends on the labels before them, never on the answer
// itself, so each labelled loss keeps its mean given the labels before it, and the detector's
// guarantee (counted in labels) is unchanged.
namespace cascade::detail {

enum class TierWatchChange { none, alarm, recovery };

// The detector's evidence from which a tier is a suspect, by default: a little more than what one
// wrong answer where the reference was right (loss 0.95) gives a rested detector (1.2494 with the
// bets of change_detector.hpp), so that one wrong answer does not make a suspect and two close
// together do. Lower levels label healthy tiers more often; see bench_monitor_drift.
inline constexpr double monitor_suspect_evidence = 1.25;

// Throws std::invalid_argument, prefixed by `who`, for a suspect label rate outside (0, 1] or
// below the label rate (a suspect labelled less, or not at all, would feed its detector less:
// its evidence would stand still, with no alarm), or a suspect evidence level that is not a
// finite number > 1 (at 1 or below, a rested detector is already a suspect).
inline void check_suspect_labelling(std::optional<double> suspect_label_rate, double suspect_evidence, double label_rate,
                                    const std::string& who) {
    if (suspect_label_rate && !(*suspect_label_rate > 0.0 && *suspect_label_rate <= 1.0 &&
                                *suspect_label_rate >= label_rate)) {
        throw std::invalid_argument(who + "suspect_label_rate must be in (0, 1] and at least label_rate (" +
                                    format_number(label_rate) + "): a suspect is labelled more, never less; got " +
                                    format_number(*suspect_label_rate));
    }
    if (!(suspect_evidence > 1.0 && std::isfinite(suspect_evidence))) {
        throw std::invalid_argument(who +
                                    "suspect_evidence must be a finite number > 1 (a rested detector holds 1), got " +
                                    format_number(suspect_evidence));
    }
}

// Throws std::invalid_argument, prefixed by `who`, when acting on suspicion is asked without
// what it needs: a monitor that acts (`act_name`) and suspect labelling (a tier is a suspect only
// with a suspect label rate).
inline void check_act_on_suspicion(bool act_on_suspicion, bool act, bool suspect_labelling, const std::string& who,
                                   const char* act_name) {
    if (act_on_suspicion && !(act && suspect_labelling)) {
        throw std::invalid_argument(who + "act_on_suspicion needs " + act_name +
                                    " and a suspect_label_rate: a tier is a suspect only with suspect labelling, and "
                                    "only a monitor that acts holds answers back");
    }
}

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
    // Trusted, and its detector holds at least `level` of evidence against it (see above).
    [[nodiscard]] bool suspect(double level) const noexcept { return trusted_ && detector_.evidence() >= level; }
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
