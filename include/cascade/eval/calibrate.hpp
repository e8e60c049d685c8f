// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_CALIBRATE_HPP
#define CASCADE_EVAL_CALIBRATE_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/config.hpp"
#include "../detail/number.hpp"
#include "detail/risk_bounds.hpp"
#include "detail/threshold_grid.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"

// Choosing a cascade's models and thresholds from logged outcomes.
namespace cascade {

/// How calibrate() decides that a setting meets the quality target.
enum class CalibrationMode {
    /// The target must hold, with probability >= 1 - delta, on new traffic like the training
    /// log; see calibrate().
    guarded,
    /// The target must hold on the training log itself. Expect to miss it on new traffic about
    /// half the time: the cheapest setting that just meets it is chosen.
    naive,
};

/// What calibrate() searches and for what.
struct CalibrateOptions {
    /// The model whose quality the target is a fraction of, e.g. "gpt-4o". Required.
    std::string reference;
    /// Quality to keep, as a fraction in (0, 1] of the reference's mean quality (0.95: lose at most 5%).
    double target = 0.95;
    /// When set: instead of the cheapest setting meeting `target`, the best quality whose mean
    /// cost per query is at most this many dollars (judged on the training log, naive).
    std::optional<double> budget;
    /// The models chains are made of; empty: every model in the log. A chain calls them in order
    /// of mean cost, cheapest first.
    std::vector<std::string> models;
    /// Chains of 1 to max_tiers models are tried.
    std::size_t max_tiers = 3;
    /// The most chains the search may try. The chains of 1 to max_tiers of m models number
    /// m + m(m-1)/2 + ... (166,750 for 100 models and 3 tiers), each a search of its own; past
    /// this limit calibrate() throws std::invalid_argument, before searching, saying how many
    /// chains the log would need: name the models (`models`), lower max_tiers, or raise this.
    std::size_t max_chains = 10000;
    CalibrationMode mode = CalibrationMode::guarded;
    /// The guarded mode's risk: the target is missed on new traffic with probability <= delta.
    double delta = 0.1;
    /// At most this many candidate thresholds per tier (at quantiles of its confidences) ...
    std::size_t max_candidates = 1024;
    /// ... and at most about this many settings per chain: a chain of k tiers gets
    /// grid_settings^(1/(k-1)) candidates per tier (1024 for 2 tiers, 181 for 3, 32 for 4). The
    /// per-chain tables then stay in the processor's cache, which keeps a search over 10 models
    /// and 1M logged outcomes to seconds.
    std::size_t grid_settings = std::size_t{1} << 15;
    /// Called after each chain with (chains done, chains in all), e.g. for a progress line.
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// The setting calibrate() chose, and how it did on the training log.
struct CalibrationResult {
    std::vector<std::string> chain;  ///< models, cheapest first
    std::vector<double> thresholds;  ///< one per tier but the last, on the log's confidence scale
    /// False when no setting met the target (or the budget); the setting is then the best
    /// quality found (or the cheapest, for a budget).
    bool target_met = false;
    ReplayResult train;              ///< the setting replayed on the training log
    double reference_quality = 0.0;  ///< the reference's mean quality on the training log
    double reference_cost = 0.0;     ///< and its mean cost per query
    double saving = 0.0;             ///< 1 - train.cost / reference_cost
    /// Guarded mode: an upper bound, holding with probability >= 1 - delta, on the reference's
    /// expected quality minus the cascade's on new traffic (quality units; may be negative).
    double loss_bound = 0.0;
    /// Guarded mode: the loss the target allows, (1 - target) x a lower bound on the reference's
    /// expected quality. The setting qualified because loss_bound <= allowed_loss.
    double allowed_loss = 0.0;
    std::size_t chains = 0;    ///< chains searched
    std::size_t settings = 0;  ///< (chain, thresholds) settings evaluated
};

namespace detail {

// Candidate thresholds and bins of one model at one grid resolution, computed once per search.
struct ModelBins {
    std::vector<double> candidates;
    std::vector<std::uint32_t> bins;
};

// The guarded mode's test of a setting. Per query, D = ref - quality is the quality lost against
// the reference (negative for a gain). E[D] = P(D != 0) x E[D | D != 0], and for 0/1 quality
// E[D | D != 0] = 2 P(loss | disagreement) - 1: a disagreement is a loss or a gain. Bounding the
// two factors apart (a McNemar-style test) is far tighter than bounding losses and gains over
// all queries, because disagreements are few. Each factor gets a Chernoff-Hoeffding (KL) bound,
// which holds for any variable in [0, 1]: (1 + D) / 2 over the disagreements, and the
// disagreement indicator over all queries. delta is split evenly over four bounds: the share
// of disagreements (above and below, as the sign of the second factor decides which is used),
// the loss rate among them, and the reference's quality.
class LossGuard {
public:
    LossGuard(std::size_t n, double reference_mean, double target, double delta)
        : n_(n), delta_(delta / 4.0), allowed_((1.0 - target) * kl_lower_bound(reference_mean, n, delta / 4.0)) {}

    [[nodiscard]] double allowed() const noexcept { return allowed_; }

    // Upper bound on E[D] from the number of disagreements and the sum of (1 + D) / 2 over them.
    // The sum is rounded up to a whole number of queries (exact for 0/1 quality, conservative for
    // graded), so that bounds can be cached.
    double bound(double disagree, double excess) {
        const std::size_t k = to_count(std::round(disagree), n_);
        const std::size_t s = to_count(std::ceil(excess - 1e-9), k);
        const std::uint64_t key = static_cast<std::uint64_t>(k) * (static_cast<std::uint64_t>(n_) + 1) + s;
        const auto it = cache_.find(key);
        if (it != cache_.end()) return it->second;
        const double count = static_cast<double>(n_);
        const double share = static_cast<double>(k) / count;
        const double loss_rate = k == 0 ? 1.0 : kl_upper_bound(static_cast<double>(s) / static_cast<double>(k), k, delta_);
        const double per_disagreement = 2.0 * loss_rate - 1.0;
        const double b = per_disagreement >= 0.0 ? kl_upper_bound(share, n_, delta_) * per_disagreement
                                                 : kl_lower_bound(share, n_, delta_) * per_disagreement;
        cache_.emplace(key, b);
        return b;
    }

private:
    static std::size_t to_count(double x, std::size_t most) {
        if (!(x > 0.0)) return 0;
        return std::min(static_cast<std::size_t>(x), most);
    }

    std::size_t n_;
    double delta_;
    double allowed_;
    std::unordered_map<std::uint64_t, double> cache_;
};

inline void check_calibrate_options(const CalibrateOptions& o) {
    const std::string where = "cascade::calibrate: ";
    if (o.reference.empty()) throw std::invalid_argument(where + "no reference model given");
    if (!(o.target > 0.0 && o.target <= 1.0)) {
        throw std::invalid_argument(where + "the target must be a fraction in (0, 1] of the reference's quality, got " +
                                    format_number(o.target));
    }
    if (o.budget && (!(*o.budget >= 0.0) || !std::isfinite(*o.budget))) {
        throw std::invalid_argument(where + "the budget must be a finite number of dollars >= 0");
    }
    if (o.max_tiers < 1 || o.max_tiers > CASCADE_MAX_TIERS) {
        throw std::invalid_argument(where + "max_tiers must be in [1, " + std::to_string(CASCADE_MAX_TIERS) + "], got " +
                                    std::to_string(o.max_tiers));
    }
    if (!(o.delta > 0.0 && o.delta < 1.0)) {
        throw std::invalid_argument(where + "delta must be in (0, 1), got " + format_number(o.delta));
    }
    if (o.max_candidates < 1 || o.grid_settings < 1) {
        throw std::invalid_argument(where + "max_candidates and grid_settings must be >= 1");
    }
}

// The number of chains of 1 to max_tiers of `models` models, saturating at SIZE_MAX.
inline std::size_t chain_count(std::size_t models, std::size_t max_tiers) {
    constexpr std::size_t most = std::numeric_limits<std::size_t>::max();
    std::size_t total = 0;
    std::size_t ways = 1;  // models choose k, built up from k - 1
    for (std::size_t k = 1; k <= std::min(models, max_tiers); ++k) {
        const std::size_t factor = models - k + 1;
        // ways * factor = C(models, k) * k: when that overflows, C(models, k) is past any limit.
        if (ways > most / factor) return most;
        ways = ways * factor / k;
        if (total > most - ways) return most;
        total += ways;
    }
    return total;
}

// Steps `pick` (ascending indices into n items) to the next combination of its size in
// lexicographic order; false after the last.
inline bool next_combination(std::vector<std::size_t>& pick, std::size_t n) {
    const std::size_t k = pick.size();
    for (std::size_t i = k; i-- > 0;) {
        if (pick[i] < n - k + i) {
            ++pick[i];
            for (std::size_t j = i + 1; j < k; ++j) pick[j] = pick[j - 1] + 1;
            return true;
        }
    }
    return false;
}

// Candidates per tier for a chain of k tiers under the options' limits.
inline std::size_t candidates_for(std::size_t k, const CalibrateOptions& o) {
    const double dims = static_cast<double>(k - 1);
    auto c = static_cast<std::size_t>(std::floor(std::pow(static_cast<double>(o.grid_settings), 1.0 / dims) + 1e-9));
    return std::max<std::size_t>(1, std::min(c, o.max_candidates));
}

}  // namespace detail

/// Chooses the cascade (which models, in cost order, and each tier's threshold) that meets a
/// quality target at the least cost on logged outcomes, or the best quality under a budget.
///
///     cascade::CalibrateOptions o;
///     o.reference = "gpt-4o";
///     o.target = 0.95;                       // keep 95% of gpt-4o's quality
///     auto c = cascade::calibrate(train, o);  // c.chain, c.thresholds, c.train.cost, c.saving
///     auto test = cascade::replay_cascade(test_table, c.chain, c.thresholds);
///
/// Search: every chain of 1 to max_tiers of the models (at most max_chains of them), ordered by
/// mean cost; per chain, every
/// combination of candidate thresholds (quantiles of each tier's logged confidences), evaluated
/// from prefix sums, so a chain costs one pass over the queries plus a few lookups per setting.
/// Cascade semantics are replay_cascade()'s (and cascade::Cascade's).
///
/// Guarded mode (the default) holds the target on new traffic, not just on the log: a setting
/// qualifies only if an upper confidence bound, at confidence 1 - delta, on its expected quality
/// loss against the reference, E[ref - quality], is within the loss the target allows,
/// (1 - target) x a lower bound on the reference's expected quality. The loss is bounded as
/// P(disagree) x E[ref - quality | disagree] (a McNemar-style test: only queries where the
/// cascade's quality differs from the reference's carry information, and they are few), each
/// factor with the Chernoff-Hoeffding (KL) bound, valid for qualities anywhere in [0, 1] and close
/// to Clopper-Pearson's for 0/1 outcomes; delta is split evenly over the four one-sided bounds
/// used. This is the test of Learn-then-Test risk control, applied to each setting; the search
/// then keeps the cheapest that passes. Choosing among many settings that passed weakens the
/// guarantee somewhat (which is one reason the candidates are a quantile grid); on real data the
/// target held on 59 of 60 held-out halves (benchmarks/README.md). The reference alone always
/// qualifies. Naive mode only asks the training log's mean quality to meet the target, and so
/// misses it on new traffic about half the time or more.
///
/// Ties in cost go to the higher quality, then to the shorter chain.
///
/// Throws std::invalid_argument for invalid options, an unknown model, or more chains than
/// max_chains; cascade::ParseError when a query lacks one of the models (naming both).
inline CalibrationResult calibrate(const OutcomeTable& train, const CalibrateOptions& options) {
    detail::check_calibrate_options(options);
    const std::size_t ref = train.model_index(options.reference);
    std::vector<std::size_t> models;
    if (options.models.empty()) {
        for (std::size_t m = 0; m < train.model_count(); ++m) models.push_back(m);
    } else {
        for (const std::string& name : options.models) {
            const std::size_t m = train.model_index(name);
            if (std::find(models.begin(), models.end(), m) != models.end()) {
                throw std::invalid_argument("cascade::calibrate: model \"" + name + "\" is listed twice");
            }
            models.push_back(m);
        }
    }
    const std::size_t chain_total = detail::chain_count(models.size(), options.max_tiers);
    if (chain_total > options.max_chains) {
        const bool saturated = chain_total == std::numeric_limits<std::size_t>::max();
        throw std::invalid_argument(
            "cascade::calibrate: chains of 1 to " + std::to_string(options.max_tiers) + " of " +
            std::to_string(models.size()) + " models number " + (saturated ? "more than " : "") +
            std::to_string(chain_total) + ", more than max_chains (" + std::to_string(options.max_chains) +
            "); name the models to chain (CalibrateOptions::models, cascade-eval --models), lower max_tiers, or raise "
            "max_chains (cascade-eval --max-chains)");
    }
    std::vector<std::size_t> needed = models;
    needed.push_back(ref);
    train.require(needed);
    const std::size_t n = train.query_count();
    const double count = static_cast<double>(n);

    std::vector<double> mean_cost(train.model_count(), 0.0);
    for (const std::size_t m : needed) mean_cost[m] = train.mean_cost(m);
    std::sort(models.begin(), models.end(), [&](std::size_t a, std::size_t b) {
        return mean_cost[a] != mean_cost[b] ? mean_cost[a] < mean_cost[b] : train.models()[a] < train.models()[b];
    });

    const double ref_quality = train.mean_quality(ref);
    const double ref_cost = mean_cost[ref];
    const bool guarded = options.mode == CalibrationMode::guarded && !options.budget;
    detail::LossGuard guard(n, ref_quality, options.target, options.delta);
    // A hair of slack so that a setting exactly at the target is not lost to rounding.
    const double need = options.target * ref_quality * count * (1.0 - 1e-12) - 1e-9;
    const double budget = options.budget ? *options.budget * count * (1.0 + 1e-12) + 1e-12 : 0.0;

    // The best setting so far, and the fallback when none qualifies (the best quality for a
    // target, the cheapest for a budget). Only strict improvements replace a pick, and chains
    // are tried shortest first, so ties go to the shorter chain and the earlier setting.
    struct Pick {
        std::size_t chain = 0;  // ordinal of the chain in the search
        std::vector<std::size_t> j;
        double quality = -std::numeric_limits<double>::infinity();
        double cost = std::numeric_limits<double>::infinity();
        bool found = false;
    };
    Pick best;
    Pick fallback;
    const bool by_quality = options.budget.has_value();
    // True when (quality, cost) beats `p` in the objective (by_quality: quality first).
    auto beats = [](const Pick& p, double quality, double cost, bool quality_first) {
        if (!p.found) return true;
        if (quality_first) return quality > p.quality || (quality == p.quality && cost < p.cost);
        return cost < p.cost || (cost == p.cost && quality > p.quality);
    };

    std::map<std::pair<std::size_t, std::size_t>, detail::ModelBins> bins;
    auto bins_of = [&](std::size_t m, std::size_t c) -> const detail::ModelBins& {
        auto it = bins.find({m, c});
        if (it == bins.end()) {
            detail::ModelBins b;
            b.candidates = detail::candidate_thresholds(train.confidence_column(m), c);
            b.bins = detail::bin_values(train.confidence_column(m), b.candidates);
            it = bins.emplace(std::make_pair(m, c), std::move(b)).first;
        }
        return it->second;
    };

    const std::vector<double>& ref_column = train.quality_column(ref);
    CalibrationResult out;
    detail::ChainGrid grid;
    // Chains are enumerated as they are searched (every subset of 1..max_tiers models, each in
    // cost order, shortest first); only the picks' chains and candidate tables are kept.
    struct Kept {
        std::vector<std::size_t> chain;
        std::vector<const detail::ModelBins*> bins;
    };
    Kept best_chain;
    Kept fallback_chain;
    std::vector<std::size_t> pick;
    std::vector<std::size_t> chain;
    std::vector<const detail::ModelBins*> chain_bins;
    std::size_t ci = 0;
    for (std::size_t size = 1; size <= std::min(options.max_tiers, models.size()); ++size) {
        pick.resize(size);
        for (std::size_t i = 0; i < size; ++i) pick[i] = i;
        do {
            chain.clear();
            for (const std::size_t i : pick) chain.push_back(models[i]);
            const std::size_t k = chain.size();
            chain_bins.clear();
            const bool is_reference = k == 1 && chain[0] == ref;
            auto consider = [&](const std::size_t* j, const detail::GridSums& s) {
                if (beats(fallback, s.quality, s.cost, !by_quality)) {
                    fallback = Pick{ci, std::vector<std::size_t>(j, j + (k - 1)), s.quality, s.cost, true};
                }
                if (by_quality ? !(s.cost <= budget) : !(s.quality >= need)) return;
                if (!beats(best, s.quality, s.cost, by_quality)) return;
                // The reference alone has no loss to bound; anything else must pass the guard.
                if (guarded && !is_reference && guard.bound(s.disagree, s.excess) > guard.allowed()) return;
                best = Pick{ci, std::vector<std::size_t>(j, j + (k - 1)), s.quality, s.cost, true};
            };

            if (k == 1) {
                detail::GridSums s;
                const std::size_t m = chain[0];
                for (std::size_t q = 0; q < n; ++q) {
                    const double v = train.quality(m, q);
                    s.quality += v;
                    s.cost += train.cost(m, q);
                    if (v != ref_column[q]) {
                        s.disagree += 1.0;
                        s.excess += (1.0 + ref_column[q] - v) / 2.0;
                    }
                }
                ++out.settings;
                consider(nullptr, s);
            } else {
                const std::size_t c = detail::candidates_for(k, options);
                std::vector<detail::GridTier> tiers(k);
                chain_bins.assign(k - 1, nullptr);
                bool usable = true;
                std::size_t settings = 1;
                for (std::size_t i = 0; i < k; ++i) {
                    tiers[i].quality = &train.quality_column(chain[i]);
                    tiers[i].cost = &train.cost_column(chain[i]);
                    if (i + 1 < k) {
                        const detail::ModelBins& b = bins_of(chain[i], c);
                        chain_bins[i] = &b;
                        tiers[i].bins = &b.bins;
                        tiers[i].candidates = b.candidates.size();
                        settings *= b.candidates.size();
                        // A tier without any confidence never accepts: only the last can be such.
                        usable = usable && !b.candidates.empty();
                    }
                }
                if (usable) {
                    grid.build(tiers, guarded ? &ref_column : nullptr);
                    grid.visit(consider);
                    out.settings += settings;
                }
            }
            if (best.found && best.chain == ci) best_chain = Kept{chain, chain_bins};
            if (fallback.found && fallback.chain == ci) fallback_chain = Kept{chain, chain_bins};
            ++out.chains;
            ++ci;
            if (options.progress) options.progress(ci, chain_total);
        } while (detail::next_combination(pick, models.size()));
    }

    const Pick& chosen = best.found ? best : fallback;
    const Kept& kept = best.found ? best_chain : fallback_chain;
    out.target_met = best.found;
    const std::vector<std::size_t>& picked = kept.chain;
    for (const std::size_t m : picked) out.chain.push_back(train.models()[m]);
    for (std::size_t i = 0; i + 1 < picked.size(); ++i) out.thresholds.push_back(kept.bins[i]->candidates[chosen.j[i]]);
    out.train = replay_cascade(train, out.chain, out.thresholds, true);
    out.reference_quality = ref_quality;
    out.reference_cost = ref_cost;
    out.saving = ref_cost > 0.0 ? 1.0 - out.train.cost / ref_cost : 0.0;
    out.allowed_loss = guard.allowed();
    if (picked.size() == 1 && picked[0] == ref) {
        out.loss_bound = 0.0;
    } else {
        double disagree = 0.0;
        double excess = 0.0;
        for (std::size_t q = 0; q < n; ++q) {
            const double v = train.quality(picked[out.train.answered_by[q]], q);
            if (v != ref_column[q]) {
                disagree += 1.0;
                excess += (1.0 + ref_column[q] - v) / 2.0;
            }
        }
        out.loss_bound = guard.bound(disagree, excess);
    }
    return out;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_CALIBRATE_HPP
