// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_QUALITY_MONITOR_HPP
#define CASCADE_EVAL_QUALITY_MONITOR_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/detail/callable_traits.hpp"
#include "../core/result.hpp"
#include "../core/router.hpp"
#include "../core/verdict.hpp"
#include "../detail/number.hpp"
#include "../detail/random.hpp"
#include "detail/label_draw.hpp"
#include "detail/label_queue.hpp"
#include "detail/monitor_prometheus.hpp"
#include "detail/quality_monitor_parts.hpp"
#include "detail/tier_watch.hpp"

namespace cascade {

/// What a labeller says about one answer: its quality and the reference's on the same query, each
/// in [0, 1] (1/0 for right/wrong, or a grade), and the dollars the label cost (a shadow call of
/// the reference, a grader).
struct MonitorLabel {
    double answer_quality = 0.0;
    double reference_quality = 0.0;
    double cost = 0.0;
};

enum class MonitorChangeKind {
    alarm,     ///< the tier's labelled answers gave evidence that it no longer meets the target
    recovery,  ///< a distrusted tier's labels gave evidence that it meets the target again
};

constexpr std::string_view to_string(MonitorChangeKind k) noexcept {
    return k == MonitorChangeKind::alarm ? "alarm" : "recovery";
}

/// A change of a tier's state, with the evidence for it.
struct MonitorChange {
    MonitorChangeKind kind = MonitorChangeKind::alarm;
    std::size_t tier = 0;       ///< the tier's position in the chain (0 = cheapest)
    std::string tier_name;
    /// The query whose label made the change; empty for an answer a guard held back (see
    /// QualityMonitor::guard), which has no query id.
    std::string query_id;
    bool held_back = false;          ///< the label was of an answer a guard held back
    std::uint64_t labels = 0;        ///< the tier's labels so far, this one included
    /// How many labels loss_estimate averages: at an alarm, the tier's labels after the last one
    /// that left its detector holding no evidence (an e-value of 1 or less; counted from the
    /// start or the last recovery when none did), this one included; at a recovery, its labels
    /// since the alarm, this one included.
    std::uint64_t labels_since = 0;
    double evidence = 0.0;  ///< the e-value that crossed 1/alpha
    /// The mean loss (target x reference quality - answer quality) of those labels_since labels:
    /// > 0 means the tier missed the target on them, < 0 that it met it. Defined as
    /// replay_monitored()'s MonitorEvent::loss_estimate.
    double loss_estimate = 0.0;
};

/// How a QualityMonitor watches, samples and acts.
struct MonitorOptions {
    /// The fraction of the reference's quality each tier must keep, as calibrated, in (0, 1].
    double target = 0.95;
    /// The false alarm level in (0, 1): a tier meeting the target raises an alarm at most once per
    /// 1/alpha of its labels on average.
    double alpha = 0.001;
    /// The fraction, in [0, 1], of the queries answered below the reference that get a label (but
    /// for a suspect tier's, with suspect_label_rate).
    double label_rate = 0.05;
    /// Opt in to suspect labelling: the fraction, in (0, 1] and at least label_rate, of a tier's
    /// answers labelled while it is a suspect, trusted but with its detector holding at least
    /// suspect_evidence against it (after a wrong answer or two); label_rate applies again once the evidence clears or turns
    /// into an alarm. A real drop is then confirmed in fewer queries, for a few more labels on a
    /// healthy tier: set label_rate a little lower to keep the same average (bench_monitor_drift:
    /// label_rate 8% with a suspect rate of 100% labels 9.7% of a calibrated tier's answers, and
    /// catches a drop to 0.88 of the reference's quality within 1,000 queries in 15 runs of 20,
    /// against none at a steady 10%). Which answers get a label then depends on the labels before
    /// them, never on the answer itself, so the false alarm guarantee (alpha), counted in labels,
    /// is unchanged; in queries, labels come at most suspect_label_rate / label_rate times faster.
    /// A guard's held-back answers are sampled at label_rate. Unset: label_rate throughout.
    std::optional<double> suspect_label_rate;
    /// The detector evidence, > 1, from which a trusted tier is a suspect (see
    /// suspect_label_rate). The default, 1.25, takes a little more than one wrong answer where the
    /// reference was right; lower levels label healthy tiers more often.
    double suspect_evidence = detail::monitor_suspect_evidence;
    /// Dollars labels may cost in all; none are requested once spent. Unset: no cap.
    std::optional<double> label_budget;
    /// The most queries waiting for their label, >= 1; a sampled query finding it full is dropped
    /// (and counted).
    std::size_t queue_capacity = 1024;
    /// Opt in to acting on alarms: while a tier is distrusted, accepts(tier) is false and its
    /// guarded verifier (guard()) gives 0, so its queries escalate.
    bool act_on_alarm = false;
    /// With act_on_alarm and a suspect_label_rate: hold a suspect tier's answers back too, so
    /// that its queries escalate while the evidence against it builds, not only from its alarm.
    /// The held-back answers are labelled at the suspect rate and feed the same detector, so the
    /// alarm and its guarantee are unchanged; a healthy tier is a suspect now and then (after a
    /// wrong answer or two) and its queries then cost the next tier's call too.
    bool act_on_suspicion = false;
    /// Called for each alarm and recovery, one at a time and in order, on the labelling thread (or
    /// the caller of feedback()). It may read the monitor; it must not call feedback() or drain().
    /// What it throws is counted (QualityMonitorStats::hook_errors) and dropped.
    std::function<void(const MonitorChange&)> on_change;
    /// Seeds the sampling: the n-th query observed (from 0) is labelled when a draw of its own
    /// from the seed and n is below the label rate (its tier's suspect rate while that tier is a
    /// suspect), the same draw as replay_monitored() makes for the n-th query of a log with the
    /// same seed. With a suspect rate, the two label the same queries only when each label is
    /// counted before the next query is observed (the replay counts it at once).
    std::uint64_t seed = 1;
};

/// One watched tier's state in a QualityMonitorStats snapshot.
struct TierMonitorStats {
    std::string name;
    std::uint64_t labels = 0;  ///< labels of its answers, from the labeller and feedback()
    std::uint64_t alarms = 0;
    bool trusted = true;   ///< false from an alarm to the recovery after it
    bool accepted = true;  ///< accepts(tier): trusted, or the monitor does not act on alarms
    /// Labelled at MonitorOptions::suspect_label_rate now: trusted, with its detector holding at
    /// least suspect_evidence against it (always false without a suspect rate).
    bool suspect = false;
    /// The e-value of the current test: for an alarm while trusted, for a recovery while
    /// distrusted; 1 when the test starts, the change happens at 1/alpha.
    double evidence = 1.0;
    /// The mean loss (target x reference quality - answer quality) of all its labels since its
    /// last change (or the start); empty without any. Not MonitorChange::loss_estimate, which
    /// leaves out the labels before the detector's last restart.
    std::optional<double> loss_estimate;
};

/// A snapshot of a QualityMonitor. Once drain() returned with no query observed meanwhile,
/// labels_requested == labelled + label_errors + labels_dropped + labels_over_budget.
struct QualityMonitorStats {
    std::uint64_t queries = 0;             ///< queries observe()d
    std::uint64_t labels_requested = 0;    ///< sampled for a label (by observe() or a guard)
    std::uint64_t labelled = 0;            ///< labelled by the labeller and counted
    std::uint64_t feedback = 0;            ///< labels given through feedback()
    std::uint64_t labels_dropped = 0;      ///< the queue was full, or the monitor was destroyed first
    std::uint64_t labels_over_budget = 0;  ///< not labelled: the label budget was spent
    std::uint64_t label_errors = 0;        ///< the labeller threw or returned an invalid label
    std::uint64_t hook_errors = 0;         ///< on_change threw
    std::size_t queued = 0;                ///< waiting for their label now
    double label_cost = 0.0;               ///< dollars the labels cost
    std::string last_label_error;          ///< what the last label error was
    std::vector<TierMonitorStats> tiers;   ///< every tier but the reference, cheapest first
};

/// Watches, in production, that each tier of a cascade (or route of a router) below the reference
/// still keeps the quality target it was calibrated to: a cheap model swapped behind its name
/// answers worse with the same confidence, and calibration on yesterday's traffic cannot see it.
///
///     cascade::MonitorOptions o;
///     o.target = 0.95;            // as calibrated
///     o.label_rate = 0.02;        // label 2% of the queries answered below the reference
///     cascade::QualityMonitor<Question, Answer> monitor({"mini", "big"}, grade_against_big, o);
///     auto r = cascade.run(q);
///     monitor.observe(q.id, q, r);  // lock-free; labelling runs on the monitor's thread
///
/// The labeller, `cascade::MonitorLabel(const Request&, const Response& answer, std::size_t tier)`, is
/// called on the monitor's own thread for a random `label_rate` of the queries a tier below the
/// reference answered (a query the reference answered needs no label), e.g. to call the
/// reference too and grade both. Each label gives the tier a loss, target x reference quality -
/// answer quality, in [-1, 1]; per tier, a CUSUM of bets on those losses raises an alarm when they
/// give evidence that their mean rose above 0, and a test from the alarm on says when the tier
/// meets the target again (a recovery). Labels the application learns later (a user's thumbs
/// down, a human review) go in through feedback().
///
/// What is guaranteed, for each tier, anytime (the monitor looks after every label, for as long
/// as it runs): while each label's loss has a mean <= 0 given the labels before it (the tier keeps
/// target x the reference's quality), the expected number of its labels before a false alarm is at
/// least 1/alpha; and a distrusted tier whose losses still have a mean >= 0 recovers with
/// probability at most alpha. Both hold whatever the label rate, and take the labeller's
/// qualities as the truth. What is not: how soon a real change is caught. The delay is about
/// log(1/alpha) / (mean loss^2 / (2 variance)) labels after the change: with a reference right 90%
/// of the time, a target of 0.95 (the tier must be right 85.5% of the time) and alpha 0.001, a tier
/// that falls from 90% to 50% is caught after about 50 labels, to 70% after about 200, to 80% after
/// about 1000, to 85% after tens of thousands. In queries, divide by the label rate and by the share
/// of queries the tier answers. Labels dropped on a full queue or past the
/// budget delay detection further, and a queue that fills in bursts labels calm traffic more.
///
/// Suspect labelling (MonitorOptions::suspect_label_rate, off by default) spends labels where they
/// inform: after a wrong answer or two, while the tier's detector holds evidence against it, its
/// answers are labelled at a rate of their own (up to all of them) until the evidence clears or
/// turns into an alarm, so a drop is confirmed in fewer queries for few more labels. The choice of
/// which answers to label depends only on labels already counted, never on the answer itself, so
/// the guarantee above holds as stated: it counts labels, which then come up to
/// suspect_label_rate / label_rate times faster in queries while a tier is a suspect.
///
/// Acting (MonitorOptions::act_on_alarm, off by default): wrap a tier's verifier in guard() so
/// that a distrusted tier's answers are held back and its queries escalate. The answers the guard
/// would have accepted are sampled at the label rate and labelled as usual, so the recovery test
/// keeps running while the tier answers nothing. With act_on_suspicion, a suspect's answers are
/// held back too (and sampled at the suspect rate), from the first signs of a drop.
///
/// Thread-safety: observe(), accepts() and a guard's calls may run on any number of threads at
/// once, without a lock; feedback(), stats(), changes() and drain() may too (they take a short
/// lock, off the query's path). Construction and destruction must not overlap other calls, and the
/// monitor must outlive the cascades whose verifiers it guards. Not copyable or movable.
template <class Request, class Response>
class QualityMonitor {
    static_assert(std::is_copy_constructible_v<Request> && std::is_copy_constructible_v<Response>,
                  "cascade::QualityMonitor: the request and response types must be copyable; a sampled "
                  "query is copied to the labelling thread");

public:
    /// `tiers` names the chain cheapest first, the last being the reference (as the cascade's
    /// names, or a router's routes). Throws std::invalid_argument for fewer than two tiers, an
    /// empty or repeated name, or options out of range (naming the field).
    template <class Labeller>
    QualityMonitor(std::vector<std::string> tiers, Labeller&& labeller, MonitorOptions options = {})
        : names_(detail::check_monitor_tiers(std::move(tiers))),
          options_((detail::check_monitor_options(options.target, options.alpha, options.label_rate,
                                                  options.label_budget, options.queue_capacity),
                    detail::check_suspect_labelling(options.suspect_label_rate, options.suspect_evidence,
                                                    options.label_rate, "cascade::MonitorOptions: "),
                    detail::check_act_on_suspicion(options.act_on_suspicion, options.act_on_alarm,
                                                   options.suspect_label_rate.has_value(), "cascade::MonitorOptions: ",
                                                   "act_on_alarm"),
                    std::move(options))),
          held_back_sampler_(detail::splitmix64(options_.seed)),
          queue_(options_.queue_capacity),
          accepts_(std::make_unique<std::atomic<bool>[]>(names_.size())),
          suspect_(std::make_unique<std::atomic<bool>[]>(names_.size())) {
        using Fn = std::decay_t<Labeller>;
        if constexpr (std::is_invocable_r_v<MonitorLabel, Fn&, const Request&, const Response&, std::size_t>) {
            labeller_ = std::make_unique<LabellerOf<Fn>>(std::forward<Labeller>(labeller));
        } else {
            static_assert(detail::always_false_v<Fn>,
                          "cascade::QualityMonitor: the labeller must be callable as "
                          "cascade::MonitorLabel(const Request&, const Response& answer, std::size_t tier)");
        }
        watched_.reserve(names_.size() - 1);
        for (std::size_t i = 0; i + 1 < names_.size(); ++i) watched_.push_back(Watched{detail::TierWatch(options_.alpha)});
        for (std::size_t i = 0; i < names_.size(); ++i) {
            accepts_[i].store(true, std::memory_order_relaxed);
            suspect_[i].store(false, std::memory_order_relaxed);
        }
        worker_ = std::thread([this] { work(); });
    }

    QualityMonitor(const QualityMonitor&) = delete;
    QualityMonitor& operator=(const QualityMonitor&) = delete;

    /// Stops the labelling thread: the label in progress is finished (its labeller call waited
    /// for), the queries still queued are not labelled and count as dropped. Call drain() first
    /// to have them labelled.
    ~QualityMonitor() {
        {
            std::lock_guard<std::mutex> lock(wake_mutex_);
            stopping_.store(true, std::memory_order_relaxed);
        }
        wake_.notify_all();
        worker_.join();
        std::optional<Job> job;
        while (queue_.try_pop(job)) dropped_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Tells the monitor how `request` was answered. Samples a query answered below the
    /// reference at the label rate, and queues a copy of it for labelling; never waits, never
    /// calls the labeller. Returns true when the query was queued. Throws std::invalid_argument
    /// for a result of a cascade of another length than the monitor's chain. Any thread, lock-free.
    bool observe(std::string_view query_id, const Request& request, const Result<Response>& result) {
        const std::uint64_t n = queries_.fetch_add(1, std::memory_order_relaxed);
        if (result.trace().size() != names_.size()) {
            throw std::invalid_argument("cascade::QualityMonitor::observe: the result has " +
                                        std::to_string(result.trace().size()) + " tiers, the monitor watches " +
                                        std::to_string(names_.size()) + "; construct it with the cascade's tier names");
        }
        if (result.resolution() != Resolution::accepted || !result.tier_index()) return false;
        return offer(query_id, *result.tier_index(), false, request, *result, draw(n));
    }

    /// A router's query: its route is the tier (the last route is the reference). Any thread,
    /// lock-free.
    bool observe(std::string_view query_id, const Request& request, const Routed<Response>& routed) {
        const std::uint64_t n = queries_.fetch_add(1, std::memory_order_relaxed);
        if (routed.route() >= names_.size()) {
            throw std::invalid_argument("cascade::QualityMonitor::observe: route " + std::to_string(routed.route()) +
                                        " is past the " + std::to_string(names_.size()) +
                                        " routes the monitor watches; construct it with the router's route names");
        }
        if (!routed.has_value()) return false;
        return offer(query_id, routed.route(), false, request, *routed, draw(n));
    }

    /// A label the application learned itself (a review, a user's verdict), counted as the
    /// labeller's are; no queue, no sampling, no budget. Throws std::invalid_argument for the
    /// reference or a tier past it, or a quality outside [0, 1]. Any thread.
    void feedback(std::string_view query_id, std::size_t tier, double answer_quality, double reference_quality) {
        if (tier + 1 >= names_.size()) {
            throw std::invalid_argument("cascade::QualityMonitor::feedback: tier " + std::to_string(tier) +
                                        " is the reference or past it; labels are for the " +
                                        std::to_string(names_.size() - 1) + " tiers below it");
        }
        if (const char* what = detail::invalid_label(answer_quality, reference_quality, 0.0)) {
            throw std::invalid_argument(std::string("cascade::QualityMonitor::feedback: ") + what);
        }
        record(query_id, tier, false, answer_quality, reference_quality);
        feedback_.fetch_add(1, std::memory_order_relaxed);
    }

    /// Whether `tier`'s answers may be accepted: false only while it is distrusted and the
    /// monitor acts on alarms. True for the reference and past it. Any thread, one atomic load.
    [[nodiscard]] bool accepts(std::size_t tier) const noexcept {
        return tier >= names_.size() || accepts_[tier].load(std::memory_order_acquire);
    }

    /// Wraps tier `tier`'s verifier: gives its confidence while accepts(tier), and 0 while not, so
    /// that the cascade escalates past the tier. An answer held back whose confidence was at least
    /// `threshold` (the tier's own, as given to cascade::tier or a calibration) would have been
    /// accepted: it is sampled at the label rate and labelled, so the recovery test keeps running.
    /// A tier with threshold 0 accepts a confidence of 0: it cannot be held back. Its guard then
    /// gives the verifier's verdict, with a note that the monitor distrusts (or suspects) the
    /// tier, and offers nothing: the answer is given, and observe() labels it once, as any answer
    /// given. Give the guard the tier's own threshold, so that it knows which case it is in.
    ///
    ///     cascade::tier("mini", call_mini, monitor.guard(0, confidence, 0.8), 0.8)
    ///
    /// The guard returns a cascade::Verdict (with the verifier's own extra cost and note, and a
    /// note when it held an answer back); it may be called from any thread at once.
    template <class Verifier>
    auto guard(std::size_t tier, Verifier&& verifier, double threshold) {
        using V = std::decay_t<Verifier>;
        constexpr bool ok = detail::verifier_callable_v<V, Request, Response>;
        static_assert(ok,
                      "cascade::QualityMonitor::guard: the verifier must be callable as double, bool or "
                      "cascade::Verdict (const Response&) or (const Request&, const Response&)");
        if (tier + 1 >= names_.size()) {
            throw std::invalid_argument("cascade::QualityMonitor::guard: tier " + std::to_string(tier) +
                                        " is the reference or past it; only the tiers below it are watched");
        }
        if (!(threshold >= 0.0 && threshold <= 1.0)) {
            throw std::invalid_argument("cascade::QualityMonitor::guard: threshold must be in [0, 1], got " +
                                        detail::format_number(threshold));
        }
        if constexpr (ok) {
            return detail::MonitorGuard<QualityMonitor, Request, Response, V>(this, tier, threshold,
                                                                              std::forward<Verifier>(verifier));
        } else {
            return detail::MonitorGuard<QualityMonitor, Request, Response, detail::Unguarded<Response>>(
                this, tier, threshold, detail::Unguarded<Response>{});
        }
    }

    /// Blocks until every query queued so far is labelled (or dropped). Any thread but the
    /// labelling one (on_change must not call it).
    void drain() {
        wake_.notify_one();
        std::unique_lock<std::mutex> lock(idle_mutex_);
        idle_.wait(lock, [&] { return queue_.size() == 0 && !busy_.load(); });
    }

    /// A snapshot of the counters and of each watched tier. Any thread.
    [[nodiscard]] QualityMonitorStats stats() const {
        QualityMonitorStats s;
        s.queries = queries_.load(std::memory_order_relaxed);
        s.labels_requested = requested_.load(std::memory_order_relaxed);
        s.labelled = labelled_.load(std::memory_order_relaxed);
        s.feedback = feedback_.load(std::memory_order_relaxed);
        s.labels_dropped = dropped_.load(std::memory_order_relaxed);
        s.labels_over_budget = over_budget_.load(std::memory_order_relaxed);
        s.label_errors = label_errors_.load(std::memory_order_relaxed);
        s.hook_errors = hook_errors_.load(std::memory_order_relaxed);
        s.queued = queue_.size();
        s.label_cost = label_cost_.load(std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(state_mutex_);
        s.last_label_error = last_label_error_;
        s.tiers.reserve(watched_.size());
        for (std::size_t i = 0; i < watched_.size(); ++i) {
            const Watched& w = watched_[i];
            TierMonitorStats t;
            t.name = names_[i];
            t.labels = w.watch.labels();
            t.alarms = w.watch.alarms();
            t.trusted = w.watch.trusted();
            t.accepted = accepts(i);
            t.suspect = options_.suspect_label_rate.has_value() && w.watch.suspect(options_.suspect_evidence);
            t.evidence = w.watch.evidence();
            if (w.since > 0) t.loss_estimate = w.loss_sum / static_cast<double>(w.since);
            s.tiers.push_back(std::move(t));
        }
        return s;
    }

    /// Every alarm and recovery so far, oldest first. Any thread.
    [[nodiscard]] std::vector<MonitorChange> changes() const {
        std::lock_guard<std::mutex> lock(state_mutex_);
        return changes_;
    }

    [[nodiscard]] const MonitorOptions& options() const noexcept { return options_; }
    [[nodiscard]] const std::vector<std::string>& tier_names() const noexcept { return names_; }

private:
    struct Job {
        std::string query_id;
        std::size_t tier = 0;
        bool held_back = false;
        Request request;
        Response answer;
    };

    struct Watched {
        detail::TierWatch watch;
        double loss_sum = 0.0;  // of the labels since the last change
        std::uint64_t since = 0;
    };

    struct LabellerBase {
        virtual ~LabellerBase() = default;
        virtual MonitorLabel call(const Request& request, const Response& answer, std::size_t tier) = 0;
    };
    template <class Fn>
    struct LabellerOf final : LabellerBase {
        template <class F>
        explicit LabellerOf(F&& f) : fn(std::forward<F>(f)) {}
        MonitorLabel call(const Request& request, const Response& answer, std::size_t tier) override {
            return fn(request, answer, tier);
        }
        Fn fn;
    };

    template <class M, class Q, class A, class V>
    friend class detail::MonitorGuard;

    [[nodiscard]] bool budget_spent() const noexcept {
        return options_.label_budget && label_cost_.load(std::memory_order_relaxed) >= *options_.label_budget;
    }

    [[nodiscard]] double draw(std::uint64_t n) const noexcept { return detail::label_draw(options_.seed, n); }

    // Labelled at the suspect rate now (see MonitorOptions::act_on_suspicion).
    [[nodiscard]] bool suspects(std::size_t tier) const noexcept {
        return tier < names_.size() && suspect_[tier].load(std::memory_order_relaxed);
    }

    // A guard's held-back answer has no query number: it draws from a stream of its own.
    bool offer_held_back(std::size_t tier, const Request& request, const Response& answer) noexcept {
        return offer({}, tier, true, request, answer, held_back_sampler_.next_unit());
    }

    // Samples an answer of `tier` (when `u`, its draw, is below the tier's label rate: the suspect
    // rate while it is a suspect, held back or not) and queues it.
    bool offer(std::string_view query_id, std::size_t tier, bool held_back, const Request& request,
               const Response& answer, double u) noexcept {
        if (tier + 1 >= names_.size()) return false;
        const double rate = suspect_[tier].load(std::memory_order_relaxed) ? *options_.suspect_label_rate
                                                                            : options_.label_rate;
        if (!(u < rate)) return false;
        requested_.fetch_add(1, std::memory_order_relaxed);
        if (budget_spent()) {
            over_budget_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        bool queued = false;
        if (queue_.size() < queue_.capacity()) {  // no copy for a queue already full
            try {
                queued = queue_.try_push(Job{std::string(query_id), tier, held_back, request, answer});
            } catch (...) {
                queued = false;  // a copy threw (bad_alloc): the label is lost, and counted
            }
        }
        if (!queued) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        if (sleeping_.load()) wake_.notify_one();
        return true;
    }

    void work() {
        std::optional<Job> job;
        while (!stopping_.load(std::memory_order_relaxed)) {
            busy_.store(true);
            if (queue_.try_pop(job)) {
                if (job) {
                    label(*job);
                } else {
                    dropped_.fetch_add(1, std::memory_order_relaxed);
                }
                continue;
            }
            {
                std::lock_guard<std::mutex> lock(idle_mutex_);
                busy_.store(false);
            }
            idle_.notify_all();
            std::unique_lock<std::mutex> lock(wake_mutex_);
            sleeping_.store(true);
            // A push between the check and the wait notifies before the wait: the timeout bounds
            // that rare delay, so that producers never take this lock.
            if (queue_.size() == 0 && !stopping_.load(std::memory_order_relaxed)) {
                wake_.wait_for(lock, std::chrono::milliseconds(50));
            }
            sleeping_.store(false);
        }
        {
            std::lock_guard<std::mutex> lock(idle_mutex_);
            busy_.store(false);
        }
        idle_.notify_all();
    }

    void label(const Job& job) {
        if (budget_spent()) {
            over_budget_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        MonitorLabel l;
        std::string error;
        try {
            l = labeller_->call(job.request, job.answer, job.tier);
            if (const char* what = detail::invalid_label(l.answer_quality, l.reference_quality, l.cost)) {
                error = std::string("labeller returned an invalid label: ") + what + " (answer_quality " +
                        detail::format_number(l.answer_quality) + ", reference_quality " +
                        detail::format_number(l.reference_quality) + ", cost " + detail::format_number(l.cost) + ")";
            }
        } catch (const std::exception& e) {
            error = std::string("labeller threw: ") + e.what();
        } catch (...) {
            error = "labeller threw something not derived from std::exception";
        }
        if (!error.empty()) {
            label_errors_.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard<std::mutex> lock(state_mutex_);
            last_label_error_ = "tier \"" + names_[job.tier] + "\": " + error;
            return;
        }
        // Only this thread adds to the cost; others only read it.
        label_cost_.store(label_cost_.load(std::memory_order_relaxed) + l.cost, std::memory_order_relaxed);
        record(job.query_id, job.tier, job.held_back, l.answer_quality, l.reference_quality);
        labelled_.fetch_add(1, std::memory_order_relaxed);
    }

    // Adds one label's loss to its tier's watch; reports a change. The record lock keeps the
    // changes and their reports in one order.
    void record(std::string_view query_id, std::size_t tier, bool held_back, double answer_quality,
                double reference_quality) {
        const double loss = options_.target * reference_quality - answer_quality;
        std::lock_guard<std::mutex> record_lock(record_mutex_);
        std::optional<MonitorChange> change;
        {
            std::lock_guard<std::mutex> lock(state_mutex_);
            Watched& w = watched_[tier];
            w.loss_sum += loss;
            ++w.since;
            const detail::TierWatchChange c = w.watch.add(loss);
            // Set only with a suspect rate, so offer() may read the rate whenever this is set.
            const bool suspect = options_.suspect_label_rate.has_value() && w.watch.suspect(options_.suspect_evidence);
            suspect_[tier].store(suspect, std::memory_order_relaxed);
            accepts_[tier].store(!options_.act_on_alarm || (w.watch.trusted() && !(options_.act_on_suspicion && suspect)),
                                 std::memory_order_release);
            if (c == detail::TierWatchChange::none) return;
            MonitorChange m;
            m.kind = c == detail::TierWatchChange::alarm ? MonitorChangeKind::alarm : MonitorChangeKind::recovery;
            m.tier = tier;
            m.tier_name = names_[tier];
            m.query_id = std::string(query_id);
            m.held_back = held_back;
            m.labels = w.watch.labels();
            m.labels_since = w.watch.change_labels_since();
            m.evidence = w.watch.change_evidence();
            m.loss_estimate = w.watch.change_loss_estimate();
            w.loss_sum = 0.0;
            w.since = 0;
            changes_.push_back(m);
            change = std::move(m);
        }
        if (options_.on_change) {
            try {
                options_.on_change(*change);
            } catch (...) {
                hook_errors_.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }

    std::vector<std::string> names_;
    MonitorOptions options_;
    detail::SharedRandom held_back_sampler_;
    detail::LabelQueue<Job> queue_;
    std::unique_ptr<LabellerBase> labeller_;
    std::unique_ptr<std::atomic<bool>[]> accepts_;
    std::unique_ptr<std::atomic<bool>[]> suspect_;  // per tier: labelled at the suspect rate now

    std::atomic<std::uint64_t> queries_{0};
    std::atomic<std::uint64_t> requested_{0};
    std::atomic<std::uint64_t> labelled_{0};
    std::atomic<std::uint64_t> feedback_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> over_budget_{0};
    std::atomic<std::uint64_t> label_errors_{0};
    std::atomic<std::uint64_t> hook_errors_{0};
    std::atomic<double> label_cost_{0.0};

    mutable std::mutex state_mutex_;  // watched_, changes_, last_label_error_
    std::mutex record_mutex_;         // one label recorded (and its change reported) at a time
    std::vector<Watched> watched_;
    std::vector<MonitorChange> changes_;
    std::string last_label_error_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> stopping_{false};
    std::mutex idle_mutex_;
    std::condition_variable idle_;
    std::atomic<bool> busy_{false};
    std::thread worker_;
};

/// The Prometheus text (format 0.0.4) of a QualityMonitor's stats, metric names starting with
/// `prefix`: the counters, and per watched tier (label `tier`) its labels, alarms, whether it is
/// trusted (1/0), whether it is a suspect (1/0; always 0 without MonitorOptions::
/// suspect_label_rate) and the evidence of its current test.
///
///     std::string body = cascade::prometheus_text(monitor.stats(), "qa_monitor", {{"env", "prod"}});
///
/// It lives here, not with runtime/prometheus.hpp's PrometheusWriter (a layer of its own): to
/// put it on one page with other snapshots, append the two texts, with distinct prefixes.
inline std::string prometheus_text(const QualityMonitorStats& s, std::string_view prefix,
                                   const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    detail::MonitorMetrics m(prefix, labels);
    m.counter("queries_total", "Queries observed by the quality monitor.", s.queries);
    m.counter("labels_requested_total", "Queries sampled for a label.", s.labels_requested);
    m.counter("labelled_total", "Labels from the labeller counted.", s.labelled);
    m.counter("feedback_total", "Labels given by the application.", s.feedback);
    m.counter("labels_dropped_total", "Sampled queries not labelled: the queue was full, or the monitor stopped first.", s.labels_dropped);
    m.counter("labels_over_budget_total", "Sampled queries not labelled: the label budget was spent.",
              s.labels_over_budget);
    m.counter("label_errors_total", "Labeller calls that threw or returned an invalid label.", s.label_errors);
    m.counter("hook_errors_total", "Change hook calls that threw.", s.hook_errors);
    m.counter("label_cost_dollars_total", "Dollars spent on labels.", s.label_cost);
    m.gauge("labels_queued", "Sampled queries waiting for their label.", static_cast<std::uint64_t>(s.queued));
    for (const TierMonitorStats& t : s.tiers) {
        m.tier_counter("tier_labels_total", "Labels of the tier's answers.", t.name, t.labels);
        m.tier_counter("tier_alarms_total", "Alarms: evidence that the tier missed the quality target.", t.name,
                       t.alarms);
        m.tier_gauge("tier_trusted", "1 while the tier is trusted, 0 from an alarm to its recovery.", t.name,
                     t.trusted ? std::uint64_t{1} : std::uint64_t{0});
        m.tier_gauge("tier_suspect",
                     "1 while the tier is trusted but its detector holds some evidence against it (labelled at the "
                     "suspect rate), else 0.",
                     t.name, t.suspect ? std::uint64_t{1} : std::uint64_t{0});
        m.tier_gauge("tier_evidence", "E-value of the tier's current test; its state changes at 1/alpha.", t.name,
                     t.evidence);
    }
    return m.str();
}

}  // namespace cascade

#endif  // CASCADE_EVAL_QUALITY_MONITOR_HPP
