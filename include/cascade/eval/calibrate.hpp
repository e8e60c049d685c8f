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
#include "risk_control.hpp"

// Choosing a cascade's models and thresholds from logged outcomes.
namespace cascade {

/// How calibrate() decides that a setting meets the quality target.
enum class CalibrationMode {
    /// With probability >= 1 - delta over the labelled queries, the chosen setting's expected
    /// quality on new traffic from the same distribution is >= target x the reference's, however
    /// many settings were searched (Learn-then-Test with fixed-sequence testing; see calibrate()).
    family_wise,
    /// Every setting is tested on all labelled queries at level delta and the cheapest that
    /// passes is kept. Spends no queries on choosing, but the choice among many that passed is
    /// not accounted for: no stated risk for the result.
    per_setting,
    /// The target must hold on the labelled queries themselves. Expect to miss it on new traffic
    /// about half the time: the cheapest setting that just meets it is chosen.
    naive,
};

/// "family_wise", "per_setting", "naive".
inline const char* calibration_mode_name(CalibrationMode m) noexcept {
    switch (m) {
        case CalibrationMode::family_wise: return "family_wise";
        case CalibrationMode::per_setting: return "per_setting";
        case CalibrationMode::naive: return "naive";
    }
    return "?";
}

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
    CalibrationMode mode = CalibrationMode::family_wise;
    /// The risk: family_wise mode misses the target on new traffic with probability <= delta
    /// (over the labelled queries); per_setting tests each setting at this level.
    double delta = 0.1;
    /// The confidence bound of the test.
    RiskBound bound = RiskBound::betting;
    /// family_wise: the share of the labelled queries that chooses and orders the settings to
    /// test; the rest tests them. A larger test part certifies cheaper settings, a larger
    /// choosing part orders them better. Unset: default_selection_fraction() (0.5, less for a
    /// target that allows little loss).
    std::optional<double> selection_fraction;
    /// family_wise: the seed of the split of queries into those two parts (split_by_query()).
    std::uint64_t split_seed = 1;
    /// family_wise: at most this many settings are tested, spread along the order.
    std::size_t max_tested = 200;
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
    /// Which statement about new traffic holds for this choice, and that statement in words.
    CalibrationGuarantee guarantee = CalibrationGuarantee::none;
    std::string guarantee_text;
    double delta = 0.0;                   ///< the risk of the guarantee
    RiskBound bound = RiskBound::betting;  ///< the bound of the test
    /// The labelled queries that chose and ordered the settings, and those that tested them
    /// (per_setting: all of them both; naive: all of them, no test).
    std::size_t selection_queries = 0;
    std::size_t test_queries = 0;
    /// family_wise: the settings tested (the last one failed unless all passed).
    std::size_t tested = 0;
    /// The chosen setting's test, on the test queries: it passed because loss_bound <=
    /// allowed_loss. For the kl bound, loss_bound is an upper confidence bound on the quality lost
    /// against the reference, E[ref - quality], and allowed_loss (1 - target) x a lower bound on
    /// the reference's E[ref]. For betting and bernstein the target is tested as one mean:
    /// allowed_loss is (1 - target) x the reference's mean quality on the test queries and
    /// loss_bound - allowed_loss an upper confidence bound on E[target x ref - quality]. When the
    /// reference alone was chosen (it cannot miss), loss_bound is 0. In naive mode, and when
    /// nothing passed, they describe the chosen setting's test without any guarantee.
    double loss_bound = 0.0;
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
    check_family_wise_options(where, o.delta, o.bound, o.selection_fraction.value_or(0.5), o.max_tested);
    if (o.max_candidates < 1 || o.grid_settings < 1) {
        throw std::invalid_argument(where + "max_candidates and grid_settings must be >= 1");
    }
    if (o.mode != CalibrationMode::family_wise && o.mode != CalibrationMode::per_setting &&
        o.mode != CalibrationMode::naive) {
        throw std::invalid_argument(where + "unknown mode");
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

namespace detail {

// A setting on the front of the choosing part: no other setting there is both cheaper and
// predicted safer.
struct FrontPoint {
    std::vector<std::size_t> chain;  // model indices, cheapest first
    std::vector<double> thresholds;
    double cost = 0.0;   // mean cost per query on the choosing part
    double score = 0.0;  // SettingTest::predicted_bound()
    double disagree = 0.0;  // the disagreement sums on the choosing part, which steer its test
    double excess = 0.0;
    bool is_reference = false;
};

// Keeps the points no other point beats in both cost and score (lower is better in both),
// sorted by cost.
inline void keep_front(std::vector<FrontPoint>& points) {
    std::sort(points.begin(), points.end(), [](const FrontPoint& a, const FrontPoint& b) {
        if (a.cost != b.cost) return a.cost < b.cost;
        if (a.score != b.score) return a.score < b.score;
        return a.chain.size() < b.chain.size();
    });
    std::vector<FrontPoint> front;
    double best = std::numeric_limits<double>::infinity();
    for (FrontPoint& p : points) {
        if (p.score < best || (p.is_reference && p.score <= best)) {
            best = p.score;
            front.push_back(std::move(p));
        }
    }
    points = std::move(front);
}

// The disagreement sums of a replayed setting against the reference, query by query.
inline Disagreement disagreement_of(const OutcomeTable& table, const ReplayResult& r, const std::vector<std::string>& chain,
                                    std::size_t ref) {
    std::vector<std::size_t> index;
    for (const std::string& m : chain) index.push_back(table.model_index(m));
    Disagreement d;
    for (std::size_t q = 0; q < table.query_count(); ++q) {
        add_disagreement(d, table.quality(ref, q), table.quality(index[r.answered_by[q]], q));
    }
    return d;
}

// The same, with each query's loss target x ref - quality in `order` (test_order()).
inline SettingLosses losses_of(const OutcomeTable& table, const ReplayResult& r, const std::vector<std::string>& chain,
                               std::size_t ref, double target, const std::vector<std::size_t>& order) {
    std::vector<std::size_t> index;
    for (const std::string& m : chain) index.push_back(table.model_index(m));
    SettingLosses l;
    l.in_order.reserve(order.size());
    for (const std::size_t q : order) add_loss(l, target, table.quality(ref, q), table.quality(index[r.answered_by[q]], q));
    return l;
}

}  // namespace detail

/// Chooses the cascade (which models, in cost order, and each tier's threshold) that meets a
/// quality target at the least cost on logged outcomes, or the best quality under a budget.
///
///     cascade::CalibrateOptions o;
///     o.reference = "gpt-4o";
///     o.target = 0.95;                          // keep 95% of gpt-4o's quality
///     auto c = cascade::calibrate(labelled, o);  // c.chain, c.thresholds, c.saving, c.guarantee_text
///
/// Search: every chain of 1 to max_tiers of the models (at most max_chains of them), ordered by
/// mean cost; per chain, every combination of candidate thresholds (quantiles of each tier's
/// logged confidences), evaluated from prefix sums, so a chain costs one pass over the queries
/// plus a few lookups per setting. Cascade semantics are replay_cascade()'s (and
/// cascade::Cascade's).
///
/// family_wise mode (the default) states: with probability >= 1 - delta over the labelled
/// queries, the returned setting's expected quality on new traffic from the same distribution
/// (queries exchangeable with the labelled ones) is >= target x the reference's expected
/// quality. It is Learn-then-Test with fixed-sequence testing (Pareto Testing): the labelled
/// queries are split (selection_fraction, split_seed); the search runs on the first part, which
/// keeps the settings on the front of (cost, predicted bound) and orders them from the most
/// expensive to the cheapest, starting at the reference alone (which cannot miss); the second
/// part then tests them in that order, each at level delta, and the first failure stops the
/// walk. As the order is fixed before the second part is seen, the chance that any setting
/// which misses the target passes is <= delta, so the cheapest that passed is returned with the
/// statement intact, however many settings were searched. The test is the bound's (`bound`,
/// betting by default): an upper confidence bound on E[target x ref - quality] must be <= 0.
/// The betting test takes the test queries one by one, in an order drawn from split_seed and
/// their ids (never the log's), each wager chosen from the first part's view of the setting and
/// the test queries before it (see detail::SettingTest).
///
/// per_setting mode tests every setting on all labelled queries and keeps the cheapest that
/// passed: it spends no queries on choosing, but that choice is not accounted for. Naive mode
/// only asks the labelled queries' mean quality to meet the target, and so misses it on new
/// traffic about half the time or more. A budget is always naive.
///
/// Ties in cost go to the higher quality, then to the shorter chain.
///
/// Throws std::invalid_argument for invalid options, an unknown model, more chains than
/// max_chains, or (family_wise) too few queries to split; cascade::ParseError when a query lacks
/// one of the models (naming both).
inline CalibrationResult calibrate(const OutcomeTable& labelled, const CalibrateOptions& options) {
    detail::check_calibrate_options(options);
    const std::size_t ref = labelled.model_index(options.reference);
    std::vector<std::size_t> models;
    if (options.models.empty()) {
        for (std::size_t m = 0; m < labelled.model_count(); ++m) models.push_back(m);
    } else {
        for (const std::string& name : options.models) {
            const std::size_t m = labelled.model_index(name);
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
    labelled.require(needed);

    const bool by_quality = options.budget.has_value();
    const bool family_wise = options.mode == CalibrationMode::family_wise && !by_quality;
    const bool per_setting = options.mode == CalibrationMode::per_setting && !by_quality;
    // family_wise: the first part chooses and orders, the second tests. Model indices are the
    // same in both (subset() keeps the models).
    std::optional<std::pair<OutcomeTable, OutcomeTable>> parts;
    if (family_wise) {
        const double fraction = options.selection_fraction.value_or(
            default_selection_fraction(options.target, options.delta, labelled.query_count()));
        parts.emplace(detail::split_for_testing(labelled, fraction, options.split_seed, "cascade::calibrate: "));
    }
    const OutcomeTable& train = family_wise ? parts->first : labelled;
    const std::size_t n = train.query_count();
    const std::size_t n_test = family_wise ? parts->second.query_count() : n;
    const double count = static_cast<double>(n);

    std::vector<double> mean_cost(train.model_count(), 0.0);
    for (const std::size_t m : needed) mean_cost[m] = train.mean_cost(m);
    std::sort(models.begin(), models.end(), [&](std::size_t a, std::size_t b) {
        return mean_cost[a] != mean_cost[b] ? mean_cost[a] < mean_cost[b] : train.models()[a] < train.models()[b];
    });

    const double ref_quality = train.mean_quality(ref);
    detail::SettingTest test(options.bound, n, ref_quality * count, options.target, options.delta);
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
    // family_wise: every setting of the chain being searched (cost, predicted bound, candidate
    // indices with a stride of k - 1), and the front of the chains searched so far.
    std::vector<double> point_cost;
    std::vector<double> point_score;
    std::vector<detail::Disagreement> point_sums;
    std::vector<std::size_t> point_j;
    std::vector<detail::FrontPoint> front;
    std::optional<detail::FrontPoint> reference_point;  // the reference alone, when among the models
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
            point_cost.clear();
            point_score.clear();
            point_sums.clear();
            point_j.clear();
            const bool is_reference = k == 1 && chain[0] == ref;
            auto consider = [&](const std::size_t* j, const detail::GridSums& s) {
                if (beats(fallback, s.quality, s.cost, !by_quality)) {
                    fallback = Pick{ci, std::vector<std::size_t>(j, j + (k - 1)), s.quality, s.cost, true};
                }
                if (family_wise) {
                    point_cost.push_back(s.cost);
                    point_score.push_back(test.predicted_bound(s.disagree, s.excess, n_test));
                    point_sums.push_back({s.disagree, s.excess});
                    point_j.insert(point_j.end(), j, j + (k - 1));
                    return;
                }
                if (by_quality ? !(s.cost <= budget) : !(s.quality >= need)) return;
                if (!beats(best, s.quality, s.cost, by_quality)) return;
                // The reference alone has no loss to bound; anything else must pass the test.
                if (per_setting && !is_reference && !test.passes(s.disagree, s.excess)) return;
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
                const std::size_t no_thresholds[1] = {0};  // not null: GCC warns of a null range
                consider(no_thresholds, s);
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
                    grid.build(tiers, per_setting || family_wise ? &ref_column : nullptr);
                    grid.visit(consider);
                    out.settings += settings;
                }
            }
            if (family_wise && !point_cost.empty()) {
                std::vector<detail::FrontPoint> here;
                here.reserve(point_cost.size());
                for (std::size_t p = 0; p < point_cost.size(); ++p) {
                    detail::FrontPoint f;
                    f.cost = point_cost[p] / count;
                    f.score = point_score[p];
                    f.disagree = point_sums[p].disagree;
                    f.excess = point_sums[p].excess;
                    f.is_reference = is_reference;
                    here.push_back(std::move(f));
                    here.back().thresholds.assign(point_j.begin() + static_cast<std::ptrdiff_t>(p * (k - 1)),
                                                  point_j.begin() + static_cast<std::ptrdiff_t>((p + 1) * (k - 1)));
                }
                detail::keep_front(here);
                for (detail::FrontPoint& f : here) {
                    // Candidate indices become thresholds now, while the chain's tables are at hand.
                    for (std::size_t i = 0; i + 1 < k; ++i) {
                        f.thresholds[i] = chain_bins[i]->candidates[static_cast<std::size_t>(f.thresholds[i])];
                    }
                    f.chain = chain;
                    if (is_reference) reference_point = f;
                    front.push_back(std::move(f));
                }
                detail::keep_front(front);
            }
            if (best.found && best.chain == ci) best_chain = Kept{chain, chain_bins};
            if (fallback.found && fallback.chain == ci) fallback_chain = Kept{chain, chain_bins};
            ++out.chains;
            ++ci;
            if (options.progress) options.progress(ci, chain_total);
        } while (detail::next_combination(pick, models.size()));
    }

    auto names_of = [&](const std::vector<std::size_t>& picked) {
        std::vector<std::string> names;
        for (const std::size_t m : picked) names.push_back(labelled.models()[m]);
        return names;
    };
    out.delta = options.delta;
    out.bound = options.bound;
    out.selection_queries = n;
    out.test_queries = by_quality || options.mode == CalibrationMode::naive ? 0 : n_test;
    bool chosen_is_reference = false;
    if (family_wise) {
        // The walk: from the reference alone (or the most expensive setting on the front) to
        // the cheapest, keeping those predicted not to fail badly, at most max_tested of them.
        const OutcomeTable& check = parts->second;
        const std::size_t ref_check = check.model_index(options.reference);
        detail::SettingTest final_test(options.bound, n_test, check.mean_quality(ref_check) * static_cast<double>(n_test),
                                       options.target, options.delta);
        const std::vector<std::size_t> check_order = detail::test_order(check, options.split_seed);
        // The reference alone cannot miss: it goes first, and nothing dearer follows it.
        std::vector<detail::FrontPoint> walk;
        // The order, and which settings it holds, depend on the first part alone (its allowed
        // loss, not the test part's): fixed-sequence testing is valid only for such an order.
        const double slack = test.allowed();
        for (auto it = front.rbegin(); it != front.rend(); ++it) {
            if (it->is_reference || (reference_point && it->cost >= reference_point->cost)) continue;
            if (it->score > slack) continue;
            walk.push_back(*it);
        }
        walk = detail::spread_along(std::move(walk), options.max_tested - (reference_point ? 1 : 0));
        if (reference_point) walk.insert(walk.begin(), *reference_point);
        const detail::FrontPoint* chosen = nullptr;
        double chosen_cost = std::numeric_limits<double>::infinity();
        double chosen_bound = 0.0;
        for (const detail::FrontPoint& f : walk) {
            ++out.tested;
            double cost_here = 0.0;
            double bound_here = 0.0;
            if (f.is_reference) {
                cost_here = labelled.mean_cost(ref);
            } else {
                const std::vector<std::string> names = names_of(f.chain);
                const ReplayResult r = replay_cascade(check, names, f.thresholds, true);
                const detail::SettingLosses losses =
                    detail::losses_of(check, r, names, ref_check, options.target, check_order);
                const auto verdict = final_test.judge(losses, test.loss_corners(f.disagree, f.excess));
                if (!verdict.passed) break;
                bound_here = verdict.loss_bound;
                cost_here = (f.cost * count + r.cost * static_cast<double>(n_test)) / static_cast<double>(n + n_test);
            }
            if (cost_here < chosen_cost) {
                chosen = &f;
                chosen_cost = cost_here;
                chosen_bound = bound_here;
            }
        }
        out.allowed_loss = final_test.allowed();
        if (chosen != nullptr) {
            out.target_met = true;
            out.guarantee = CalibrationGuarantee::family_wise;
            out.chain = names_of(chosen->chain);
            out.thresholds = chosen->thresholds;
            out.loss_bound = chosen->is_reference ? 0.0 : chosen_bound;
            chosen_is_reference = chosen->is_reference;
        } else {
            const std::vector<std::size_t>& picked = fallback_chain.chain;
            out.chain = names_of(picked);
            for (std::size_t i = 0; i + 1 < picked.size(); ++i) {
                out.thresholds.push_back(fallback_chain.bins[i]->candidates[fallback.j[i]]);
            }
            // Its test on the test part, which it failed or never reached.
            const ReplayResult r = replay_cascade(check, out.chain, out.thresholds, true);
            const detail::Disagreement d = detail::disagreement_of(check, r, out.chain, ref_check);
            out.loss_bound = final_test.loss_bound(d.disagree, d.excess);
        }
    } else {
        const Pick& chosen = best.found ? best : fallback;
        const Kept& kept = best.found ? best_chain : fallback_chain;
        out.target_met = best.found;
        if (best.found && per_setting) out.guarantee = CalibrationGuarantee::per_setting;
        const std::vector<std::size_t>& picked = kept.chain;
        out.chain = names_of(picked);
        for (std::size_t i = 0; i + 1 < picked.size(); ++i) out.thresholds.push_back(kept.bins[i]->candidates[chosen.j[i]]);
        chosen_is_reference = picked.size() == 1 && picked[0] == ref;
        out.allowed_loss = test.allowed();
        if (chosen_is_reference) {
            out.loss_bound = 0.0;
        } else {
            const ReplayResult r = replay_cascade(train, out.chain, out.thresholds, true);
            const detail::Disagreement d = detail::disagreement_of(train, r, out.chain, ref);
            out.loss_bound = test.loss_bound(d.disagree, d.excess);
        }
    }
    out.train = replay_cascade(labelled, out.chain, out.thresholds, true);
    out.reference_quality = labelled.mean_quality(ref);
    out.reference_cost = labelled.mean_cost(ref);
    out.saving = out.reference_cost > 0.0 ? 1.0 - out.train.cost / out.reference_cost : 0.0;
    out.guarantee_text = detail::guarantee_statement(out.guarantee, options.target, options.reference, options.delta,
                                                     options.bound, out.selection_queries, out.test_queries, out.tested);
    return out;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_CALIBRATE_HPP
