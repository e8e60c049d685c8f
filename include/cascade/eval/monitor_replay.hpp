// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_MONITOR_REPLAY_HPP
#define CASCADE_EVAL_MONITOR_REPLAY_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../detail/number.hpp"
#include "detail/change_detector.hpp"
#include "detail/label_draw.hpp"
#include "detail/tier_watch.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"

// A quality monitor replayed over a logged stream: what it would have caught, when, at what label
// cost, and what acting on it would have done to quality and cost, next to the same thresholds
// left alone.
namespace cascade {

/// What replay_monitored() replays and how the monitor samples.
struct MonitorReplayOptions {
    /// The cascade: models called in this order, and one threshold per tier but the last (on the
    /// log's confidence scale, as replay_cascade()).
    std::vector<std::string> chain;
    std::vector<double> thresholds;
    /// The model whose answer labels a query (a shadow call graded against the log); empty: the
    /// last tier of the chain. Its answers need no label; every other tier is watched.
    std::string reference;
    /// Quality to keep, as a fraction in (0, 1] of the reference's.
    double target = 0.95;
    /// The share of the queries answered below the reference that get a label, in [0, 1] (but for
    /// a suspect tier's, with suspect_label_rate).
    double label_rate = 0.1;
    /// Opt in to suspect labelling, as the live monitor's MonitorOptions::suspect_label_rate: the
    /// share, in (0, 1] and at least label_rate, of a tier's answers labelled while it is trusted but its detector holds
    /// at least suspect_evidence against it. Unset: label_rate throughout.
    std::optional<double> suspect_label_rate;
    /// The detector evidence, > 1, from which a trusted tier is a suspect (as
    /// MonitorOptions::suspect_evidence).
    double suspect_evidence = detail::monitor_suspect_evidence;
    /// The false alarm level of each tier's watch (see detail::ChangeDetector): while a tier keeps
    /// the target, the expected number of its labels before a false alarm is at least 1 / alpha.
    double alpha = 0.001;
    /// The size, in queries, of the windows whose true quality is judged against the target.
    std::size_t window = 200;
    /// Reject the answers of a tier from its alarm until its recovery (the query escalates).
    /// Without it the monitor only reports.
    bool act = false;
    /// With `act` and a suspect_label_rate: reject a suspect tier's answers too, while the
    /// evidence against it builds (as MonitorOptions::act_on_suspicion).
    bool act_on_suspicion = false;
    /// The seed of the label sampling: the same seed labels the same queries.
    std::uint64_t seed = 1;
};

/// A change of one tier's watch, at the query (0-based position in the stream) whose label made it.
struct MonitorEvent {
    std::size_t query = 0;
    std::size_t tier = 0;  ///< index in the chain
    std::string model;
    /// The e-value that crossed 1 / alpha: the detector's at an alarm, the recovery test's at a
    /// recovery.
    double evidence = 0.0;
    std::uint64_t labels = 0;  ///< the tier's labels so far, this one included
    /// How many labels loss_estimate averages: at an alarm, the tier's labels after the last one
    /// that left its detector holding no evidence (an e-value of 1 or less; counted from the
    /// start or the last recovery when none did), this one included; at a recovery, its labels
    /// since the alarm, this one included.
    std::uint64_t labels_since = 0;
    /// The mean loss (target x reference quality - answer quality) of those labels_since labels:
    /// > 0 means the tier missed the target on them, < 0 that it met it. Defined as the live
    /// monitor's MonitorChange::loss_estimate.
    double loss_estimate = 0.0;
    /// For adjustments: "reject" (the tier's answers are refused from here) or "accept" (again).
    std::string action;
};

/// How one way of running the thresholds did over the stream.
struct StreamFigures {
    double cost = 0.0;        ///< dollars of the cascade's calls over the stream
    double label_cost = 0.0;  ///< dollars of the labels' shadow calls of the reference
    double quality = 0.0;     ///< mean true quality of the answers given
    /// 1 - (cost + label_cost) / the dollars of always calling the reference.
    double saving = 0.0;
    std::size_t windows = 0;  ///< whole windows of MonitorReplayOptions::window queries
    /// Windows whose mean true quality is below target x the reference's in the same window.
    std::size_t windows_below_target = 0;
    std::vector<double> answered;  ///< per tier: share of the queries it answered
};

/// What replay_monitored() found.
struct MonitorReplayReport {
    std::vector<std::string> chain;
    std::vector<double> thresholds;
    std::string reference;
    double target = 0.0;
    double label_rate = 0.0;
    std::optional<double> suspect_label_rate;  ///< as MonitorReplayOptions::suspect_label_rate
    double suspect_evidence = 0.0;
    double alpha = 0.0;  ///< the false alarm level (reported as `delta` by cascade-eval too)
    std::size_t window = 0;
    bool act = false;
    bool act_on_suspicion = false;
    std::size_t queries = 0;
    std::size_t labels = 0;         ///< labels (shadow calls of the reference)
    double reference_cost = 0.0;    ///< dollars of always calling the reference
    double reference_quality = 0.0; ///< its mean quality over the stream
    StreamFigures monitored;        ///< the thresholds with the monitor (acting or not)
    StreamFigures static_thresholds;  ///< the same thresholds, no monitor, no labels
    std::vector<MonitorEvent> alarms;
    std::vector<MonitorEvent> recoveries;
    /// The changes made to the cascade (act only): a tier rejected at its alarm, accepted again at
    /// its recovery.
    std::vector<MonitorEvent> adjustments;
};

namespace detail {

inline void finish_windows(StreamFigures& f, const std::vector<double>& answer_quality,
                           const std::vector<double>& reference_quality, double target, std::size_t window) {
    const std::size_t n = answer_quality.size();
    f.windows = n / window;
    for (std::size_t w = 0; w < f.windows; ++w) {
        double got = 0.0;
        double ref = 0.0;
        for (std::size_t q = w * window; q < (w + 1) * window; ++q) {
            got += answer_quality[q];
            ref += reference_quality[q];
        }
        if (got < target * ref) ++f.windows_below_target;
    }
}

}  // namespace detail

/// Replays `stream` (an outcome log, its queries in the order they first appear, as live
/// traffic) through the threshold cascade of `options`, with a quality monitor: a share
/// label_rate of the queries answered below the reference is labelled by a shadow call of the
/// reference, paid at the reference's logged cost on that query, and graded against the log
/// (reference quality = the reference's logged quality, answer quality = the answering model's).
/// Each label feeds the answering tier's watch (detail::TierWatch) the loss target x reference
/// quality - answer quality. With a suspect_label_rate, a query answered by a trusted tier whose
/// detector holds at least suspect_evidence against it is labelled at that rate instead, the
/// tier's state being the one the labels of the queries before it left. With `act`, a tier whose
/// watch alarmed is skipped, as if it had rejected, until its watch recovers (whatever its
/// threshold: live, a tier of threshold 0 accepts its guard's 0 and keeps answering, each answer
/// labelled once, as an answer given; see QualityMonitor::guard); a query it would
/// have accepted still feeds its recovery test when sampled (at its own rate), its answer graded
/// by a shadow call of the reference as the live monitor's guard has it labelled. With
/// act_on_suspicion too, a suspect tier is skipped in the same way while it is a suspect.
///
///     cascade::MonitorReplayOptions o;
///     o.chain = {"llama3.1-8b", "gpt-4o"};
///     o.thresholds = {-0.05};
///     o.label_rate = 0.1;
///     o.act = true;
///     auto r = cascade::replay_monitored(stream, o);
///     // r.alarms, r.monitored.windows_below_target, r.static_thresholds.windows_below_target
///
/// Every tier but the reference's is watched. The last tier, when it is not the reference, has
/// no tier to escalate to: it is watched and alarms, but is never rejected. `labels` counts the
/// labels, each a shadow call of the reference in `label_cost` (an answer held back and the answer
/// given on the same query are two).
///
/// The report also replays the same thresholds with no monitor (static_thresholds), and judges
/// both on whole windows of `window` queries: a window is below target when the mean true
/// quality of its answers is below target x the reference's in that window.
///
/// Throws std::invalid_argument naming the problem for an empty chain, an unknown or repeated
/// model, a wrong number of thresholds, a NaN threshold, a target outside (0, 1], a label_rate
/// outside [0, 1], a suspect_label_rate outside (0, 1] or below label_rate, a suspect_evidence
/// not > 1, act_on_suspicion without `act` and a suspect_label_rate, an alpha outside (0, 1) or a
/// window of 0; cascade::ParseError when a query lacks one of the models (naming both).
inline MonitorReplayReport replay_monitored(const OutcomeTable& stream, const MonitorReplayOptions& options) {
    constexpr const char* where = "cascade::replay_monitored";
    const std::vector<std::size_t> models = detail::chain_indices(stream, options.chain, where);
    const std::size_t k = models.size();
    if (options.thresholds.size() + 1 != k) {
        throw std::invalid_argument(std::string(where) + ": a chain of " + std::to_string(k) + " tiers needs " +
                                    std::to_string(k - 1) + " thresholds (none for the last tier), got " +
                                    std::to_string(options.thresholds.size()));
    }
    for (std::size_t i = 0; i < options.thresholds.size(); ++i) {
        if (std::isnan(options.thresholds[i])) {
            throw std::invalid_argument(std::string(where) + ": thresholds[" + std::to_string(i) + "] is NaN");
        }
    }
    if (!(options.target > 0.0 && options.target <= 1.0)) {
        throw std::invalid_argument(std::string(where) + ": the target must be a fraction in (0, 1] of the reference's quality, got " +
                                    detail::format_number(options.target));
    }
    if (!(options.label_rate >= 0.0 && options.label_rate <= 1.0)) {
        throw std::invalid_argument(std::string(where) + ": label_rate must be in [0, 1], got " +
                                    detail::format_number(options.label_rate));
    }
    detail::check_suspect_labelling(options.suspect_label_rate, options.suspect_evidence, options.label_rate,
                                    std::string(where) + ": ");
    detail::check_act_on_suspicion(options.act_on_suspicion, options.act, options.suspect_label_rate.has_value(),
                                   std::string(where) + ": ", "act");
    detail::check_alpha(options.alpha, where);
    if (options.window == 0) throw std::invalid_argument(std::string(where) + ": window must be at least 1 query");
    const std::string reference = options.reference.empty() ? options.chain.back() : options.reference;
    const std::size_t ref = stream.model_index(reference);
    std::vector<std::size_t> required = models;
    required.push_back(ref);
    stream.require(required);

    const std::size_t n = stream.query_count();
    MonitorReplayReport r;
    r.chain = options.chain;
    r.thresholds = options.thresholds;
    r.reference = reference;
    r.target = options.target;
    r.label_rate = options.label_rate;
    r.suspect_label_rate = options.suspect_label_rate;
    r.suspect_evidence = options.suspect_evidence;
    r.alpha = options.alpha;
    r.window = options.window;
    r.act = options.act;
    r.act_on_suspicion = options.act_on_suspicion;
    r.queries = n;

    std::vector<detail::TierWatch> tiers(k, detail::TierWatch(options.alpha));
    std::vector<double> reference_quality(n);
    std::vector<double> monitored_quality(n);
    std::vector<double> static_quality(n);
    std::vector<std::size_t> monitored_answers(k, 0);
    std::vector<std::size_t> static_answers(k, 0);
    double quality_sum = 0.0;
    double static_sum = 0.0;
    std::vector<std::size_t> skipped;  // distrusted tiers that would have accepted this query
    std::vector<std::size_t> fed;      // the skipped tiers labelled
    const std::uint64_t held_back_seed = detail::splitmix64(options.seed);  // the live guards' draws
    std::uint64_t held_back_draws = 0;
    for (std::size_t q = 0; q < n; ++q) {
        const double ref_q = stream.quality(ref, q);
        reference_quality[q] = ref_q;
        r.reference_quality += ref_q;
        r.reference_cost += stream.cost(ref, q);
        auto accepts = [&](std::size_t i) { return i + 1 == k || stream.confidence(models[i], q) >= options.thresholds[i]; };

        // The thresholds alone.
        for (std::size_t i = 0; i < k; ++i) {
            r.static_thresholds.cost += stream.cost(models[i], q);
            if (accepts(i)) {
                static_quality[q] = stream.quality(models[i], q);
                static_sum += static_quality[q];
                ++static_answers[i];
                break;
            }
        }

        // With the monitor: a distrusted tier that acts is passed over.
        skipped.clear();
        std::size_t answered = k - 1;
        for (std::size_t i = 0; i < k; ++i) {
            r.monitored.cost += stream.cost(models[i], q);
            if (!accepts(i)) continue;
            if (options.act && i + 1 < k &&
                (!tiers[i].trusted() || (options.act_on_suspicion && tiers[i].suspect(options.suspect_evidence)))) {
                skipped.push_back(i);
                continue;
            }
            answered = i;
            break;
        }
        monitored_quality[q] = stream.quality(models[answered], q);
        quality_sum += monitored_quality[q];
        ++monitored_answers[answered];

        const bool by_reference = models[answered] == ref;
        // Each tier is labelled at its own rate: a suspect's (answering, or held back while
        // suspect) at the suspect rate.
        auto rate_of = [&](std::size_t i) {
            return options.suspect_label_rate && tiers[i].suspect(options.suspect_evidence) ? *options.suspect_label_rate
                                                                                          : options.label_rate;
        };
        // As the live monitor draws: a held-back answer from the guards' stream of draws (one per
        // answer held back, in order), the answer given from the query's own draw.
        fed.clear();
        for (const std::size_t i : skipped) {
            if (detail::label_draw(held_back_seed, held_back_draws++) < rate_of(i)) fed.push_back(i);
        }
        const bool answer_labelled = !by_reference && detail::label_draw(options.seed, q) < rate_of(answered);
        // Each label is a shadow call of the reference, as the live monitor's labeller makes one
        // per answer queued (a guard offers a held-back answer without the one that replaced it).
        const std::size_t calls = fed.size() + (answer_labelled ? 1U : 0U);
        if (calls == 0) continue;
        r.labels += calls;
        r.monitored.label_cost += static_cast<double>(calls) * stream.cost(ref, q);
        auto feed = [&](std::size_t i) {
            detail::TierWatch& t = tiers[i];
            const double loss = options.target * ref_q - stream.quality(models[i], q);
            const detail::TierWatchChange change = t.add(loss);
            if (change == detail::TierWatchChange::none) return;
            MonitorEvent e;
            e.query = q;
            e.tier = i;
            e.model = options.chain[i];
            e.evidence = t.change_evidence();
            e.labels = t.labels();
            e.labels_since = t.change_labels_since();
            e.loss_estimate = t.change_loss_estimate();
            (change == detail::TierWatchChange::alarm ? r.alarms : r.recoveries).push_back(e);
            if (options.act && i + 1 < k) {
                e.action = change == detail::TierWatchChange::alarm ? "reject" : "accept";
                r.adjustments.push_back(e);
            }
        };
        for (const std::size_t i : fed) feed(i);
        if (answer_labelled) feed(answered);
    }

    if (n > 0) {
        const double count = static_cast<double>(n);
        r.monitored.quality = quality_sum / count;
        r.static_thresholds.quality = static_sum / count;
        r.reference_quality /= count;
        for (std::size_t i = 0; i < k; ++i) {
            r.monitored.answered.push_back(static_cast<double>(monitored_answers[i]) / count);
            r.static_thresholds.answered.push_back(static_cast<double>(static_answers[i]) / count);
        }
    }
    if (r.reference_cost > 0.0) {
        r.monitored.saving = 1.0 - (r.monitored.cost + r.monitored.label_cost) / r.reference_cost;
        r.static_thresholds.saving = 1.0 - r.static_thresholds.cost / r.reference_cost;
    }
    detail::finish_windows(r.monitored, monitored_quality, reference_quality, options.target, options.window);
    detail::finish_windows(r.static_thresholds, static_quality, reference_quality, options.target, options.window);
    return r;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_MONITOR_REPLAY_HPP
