// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_QUALITY_MONITOR_PARTS_HPP
#define CASCADE_EVAL_DETAIL_QUALITY_MONITOR_PARTS_HPP

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/detail/callable_traits.hpp"
#include "../../core/verdict.hpp"
#include "../../detail/number.hpp"

// The parts of cascade::QualityMonitor that need not be read with it: its argument checks and the
// verifier wrapper its guard() returns.
namespace cascade::detail {

inline std::vector<std::string> check_monitor_tiers(std::vector<std::string> names) {
    const std::string who = "cascade::QualityMonitor: ";
    if (names.size() < 2) {
        throw std::invalid_argument(who + "tiers needs at least two names, a tier to watch and the reference (the "
                                          "last), got " + std::to_string(names.size()));
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i].empty()) throw std::invalid_argument(who + "tier " + std::to_string(i) + "'s name is empty");
        for (std::size_t j = 0; j < i; ++j) {
            if (names[j] == names[i]) throw std::invalid_argument(who + "tier \"" + names[i] + "\" appears twice in tiers");
        }
    }
    return names;
}

inline void check_monitor_options(double target, double alpha, double label_rate, std::optional<double> label_budget,
                                  std::size_t queue_capacity) {
    const std::string who = "cascade::MonitorOptions: ";
    if (!(target > 0.0 && target <= 1.0)) {
        throw std::invalid_argument(who + "target must be a fraction in (0, 1] of the reference's quality, got " +
                                    format_number(target));
    }
    if (!(alpha > 0.0 && alpha < 1.0)) {
        throw std::invalid_argument(who + "alpha must be in (0, 1), got " + format_number(alpha));
    }
    if (!(label_rate >= 0.0 && label_rate <= 1.0)) {
        throw std::invalid_argument(who + "label_rate must be in [0, 1], got " + format_number(label_rate));
    }
    if (label_budget && !(*label_budget >= 0.0 && std::isfinite(*label_budget))) {
        throw std::invalid_argument(who + "label_budget must be a finite number of dollars >= 0, got " +
                                    format_number(*label_budget));
    }
    if (queue_capacity == 0) throw std::invalid_argument(who + "queue_capacity must be at least 1");
}

// Why a label cannot be counted, or null when it can: a quality outside [0, 1] (NaN included)
// would give a loss outside [-1, 1], which the tests of the tier cannot take.
inline const char* invalid_label(double answer_quality, double reference_quality, double cost) noexcept {
    if (!(answer_quality >= 0.0 && answer_quality <= 1.0)) return "answer_quality must be in [0, 1]";
    if (!(reference_quality >= 0.0 && reference_quality <= 1.0)) return "reference_quality must be in [0, 1]";
    if (!(cost >= 0.0 && std::isfinite(cost))) return "cost must be a finite number of dollars >= 0";
    return nullptr;
}

// Stands in for a refused verifier, so that the refusal is the only error.
template <class Response>
struct Unguarded {
    double operator()(const Response&) const noexcept { return 0.0; }
};

// A tier's verifier as QualityMonitor::guard() wraps it: the verifier's verdict while the monitor
// accepts the tier, 0 while not; an answer it would have accepted is offered for a label. At
// threshold 0 it cannot hold an answer back, and leaves the verdict as it is.
template <class Monitor, class Request, class Response, class V>
class MonitorGuard {
public:
    template <class F>
    MonitorGuard(Monitor* monitor, std::size_t tier, double threshold, F&& verifier)
        : monitor_(monitor), tier_(tier), threshold_(threshold), verifier_(std::forward<F>(verifier)) {}

    Verdict operator()(const Request& request, const Response& answer) {
        Verdict v = verdict_of(request, answer);
        // A confidence outside [0, 1] is the cascade's to report as the verifier's error.
        if (monitor_->accepts(tier_) || !(v.confidence >= 0.0 && v.confidence <= 1.0)) return v;
        const char* why = monitor_->suspects(tier_) ? "suspects" : "distrusts";
        if (!(threshold_ > 0.0)) {
            // Threshold 0 accepts a confidence of 0 too: the answer is given whatever the guard
            // says, and observe() labels it as the answer given. Offered here as held back as
            // well, the one answer would be labelled twice (two labeller calls, two charges, its
            // loss counted twice), so the verdict goes through as it is, with a note.
            add_note(v, std::string("not held back: the quality monitor ") + why +
                            " this tier, but its threshold 0 accepts any confidence");
            return v;
        }
        const bool would_accept = v.confidence >= threshold_;
        add_note(v, std::string("held back: the quality monitor ") + why + " this tier (confidence " +
                        format_number(v.confidence) + ")");
        v.confidence = 0.0;
        if (would_accept) monitor_->offer_held_back(tier_, request, answer);
        return v;
    }

private:
    static void add_note(Verdict& v, std::string note) {
        v.note = v.note.empty() ? std::move(note) : std::move(note) + "; " + v.note;
    }

    Verdict verdict_of(const Request& request, const Response& answer) {
        auto raw = [&]() -> decltype(auto) {
            if constexpr (verifier_shape<V, Request, Response>::two_args) {
                return verifier_(request, answer);
            } else {
                return verifier_(answer);
            }
        }();
        using R = std::decay_t<decltype(raw)>;
        if constexpr (std::is_same_v<R, Verdict>) {
            return raw;
        } else if constexpr (std::is_same_v<R, bool>) {
            return Verdict{raw ? 1.0 : 0.0, 0.0, {}};
        } else {
            return Verdict{static_cast<double>(raw), 0.0, {}};
        }
    }

    Monitor* monitor_;
    std::size_t tier_;
    double threshold_;
    V verifier_;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_QUALITY_MONITOR_PARTS_HPP
