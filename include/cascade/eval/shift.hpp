// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_SHIFT_HPP
#define CASCADE_EVAL_SHIFT_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/parse_error.hpp"
#include "../detail/number.hpp"
#include "detail/homogeneity_test.hpp"
#include "detail/ks_test.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"

// Whether the traffic a cascade now sees is drawn like the traffic it was calibrated on.
namespace cascade {

/// What a cascade did on one body of traffic, as the shift check compares it: per tier, the
/// confidences of the queries that reached it, and how many queries it answered. Build it from
/// an outcome table (shift_sample), from rows an OutcomeSink wrote at run time
/// (shift_sample_from_trace), or by hand from what an application logged.
struct ShiftSample {
    /// Per tier, cheapest first: the confidence of each query that called it; NaN where there
    /// was none (a category of its own, below -inf). -inf and inf are allowed.
    std::vector<std::vector<double>> confidences;
    /// Per tier: the queries whose answer it gave (for live traffic e.g. TierStats::accepted,
    /// and for the last tier its accepted answers plus Stats::fallbacks).
    std::vector<std::size_t> answered;
    /// The tiers' model names, for the report (may be empty).
    std::vector<std::string> models;
};

/// Which of the shift check's tests a ShiftTest is.
enum class ShiftTestKind {
    /// Two-sample Kolmogorov-Smirnov on one tier's confidences.
    confidences,
    /// Chi-square (or exact) test of homogeneity of the shares of queries each tier answered.
    tier_shares,
};

/// One test of the shift check: what it compared, on how much data, and what it found.
struct ShiftTest {
    ShiftTestKind kind = ShiftTestKind::confidences;
    /// "confidences of gpt-4o-mini (tier 1)", "tier shares".
    std::string name;
    /// The tier (0-based) a confidence test is about; 0 for tier shares.
    std::size_t tier = 0;
    std::size_t reference_size = 0;  ///< values (or queries) on the reference side
    std::size_t other_size = 0;      ///< and on the other
    /// False when there was not enough data to test (an empty sample; for tier shares, fewer
    /// than two tiers answering anything): `reason` says why, the statistic is 0, every p-value
    /// 1, and the test is not counted in the correction for multiple testing.
    bool tested = false;
    std::string reason;
    /// "exact permutation", "asymptotic Kolmogorov", "chi-square", "exact Freeman-Halton".
    std::string method;
    /// KS: D = the largest gap between the two empirical distribution functions, in [0, 1].
    /// Tier shares: Pearson's X^2.
    double statistic = 0.0;
    std::size_t degrees_of_freedom = 0;  ///< tier shares: answering tiers - 1
    double p_value = 1.0;                ///< the test's own p-value
    double adjusted_p_value = 1.0;       ///< Holm-adjusted over the tests made
    bool shifted = false;                ///< adjusted_p_value < alpha
    /// Tier shares: per tier, the share of queries it answered on each side.
    std::vector<double> reference_shares;
    std::vector<double> other_shares;
    /// Confidences: the share of missing and of -inf values on each side.
    double reference_missing = 0.0;
    double other_missing = 0.0;
    double reference_minus_inf = 0.0;
    double other_minus_inf = 0.0;
};

/// Options of check_shift().
struct ShiftOptions {
    /// The family-wise level: the check reports the premise in doubt when its p-value is below
    /// this. 0.01 because the check is meant to run routinely (on every test set, on live traffic
    /// every day): at 0.05 one run in twenty would raise a false alarm on traffic that did not
    /// move, while shifts that matter to a cascade are seen at far smaller p-values once there
    /// are a few hundred queries.
    double alpha = 0.01;
    /// The most cell updates an exact KS p-value may take before the asymptotic one is used.
    std::size_t ks_exact_work = 40'000'000;
};

/// The verdict of check_shift().
struct ShiftReport {
    std::vector<ShiftTest> tests;
    std::size_t tests_made = 0;  ///< tests with enough data
    /// The family-wise p-value: the smallest Holm-adjusted p-value, min(1, tests_made x the
    /// smallest p-value) (Bonferroni's, which Holm's equals at the smallest). Valid whatever the
    /// dependence between the tests. 1 when no test was made.
    double p_value = 1.0;
    double alpha = 0.01;
    /// p_value < alpha: the other traffic is not drawn like the reference, so a guarantee proven
    /// on the reference (calibrate()'s) need not hold on it.
    bool premise_in_doubt = false;
    /// At least one test was made. When false, the check could say nothing: not a clean bill.
    [[nodiscard]] bool enough_data() const noexcept { return tests_made > 0; }
    /// The tests that shifted (Holm-adjusted p-value below alpha).
    [[nodiscard]] std::vector<const ShiftTest*> shifted() const {
        std::vector<const ShiftTest*> out;
        for (const ShiftTest& t : tests) {
            if (t.shifted) out.push_back(&t);
        }
        return out;
    }
};

namespace detail {

inline std::string tier_label(const std::vector<std::string>& models, std::size_t tier) {
    const std::string number = "tier " + std::to_string(tier + 1);
    return tier < models.size() && !models[tier].empty() ? models[tier] + " (" + number + ")" : number;
}

inline double share_of(const std::vector<double>& v, bool (*pick)(double)) {
    if (v.empty()) return 0.0;
    const auto count = std::count_if(v.begin(), v.end(), pick);
    return static_cast<double>(count) / static_cast<double>(v.size());
}

inline bool is_missing(double x) { return std::isnan(x); }
inline bool is_minus_inf(double x) { return std::isinf(x) && x < 0.0; }

}  // namespace detail

/// The two-sample Kolmogorov-Smirnov test of whether `reference` and `other` confidences are
/// drawn from one distribution. NaN is a missing confidence, its own category below -inf (where
/// a cascade puts it: it rejects at any threshold); ties and infinities are handled exactly.
/// The p-value is that of the permutation distribution (exact under exchangeability, ties
/// included) when it takes at most `exact_work` cell updates (about 2 D m n; thousands of values
/// a side), else the asymptotic Kolmogorov one, which with ties errs only on the large side.
/// An empty sample gives an untested result saying so.
///
///     auto t = cascade::confidence_shift_test(train_confidences, live_confidences);
///     if (t.tested && t.p_value < 0.01) { /* the confidences moved */ }
inline ShiftTest confidence_shift_test(const std::vector<double>& reference, const std::vector<double>& other,
                                       std::size_t exact_work = ShiftOptions{}.ks_exact_work) {
    ShiftTest t;
    t.kind = ShiftTestKind::confidences;
    t.name = "confidences";
    t.reference_size = reference.size();
    t.other_size = other.size();
    t.reference_missing = detail::share_of(reference, detail::is_missing);
    t.other_missing = detail::share_of(other, detail::is_missing);
    t.reference_minus_inf = detail::share_of(reference, detail::is_minus_inf);
    t.other_minus_inf = detail::share_of(other, detail::is_minus_inf);
    if (reference.empty() || other.empty()) {
        t.reason = std::string("not enough data: no confidences on the ") + (reference.empty() ? "reference" : "other") +
                   " side";
        return t;
    }
    const detail::KsResult r = detail::ks_test(reference, other, exact_work);
    t.tested = true;
    t.method = r.exact ? "exact permutation" : "asymptotic Kolmogorov";
    t.statistic = r.statistic;
    t.p_value = r.p_value;
    t.adjusted_p_value = r.p_value;
    return t;
}

/// The test of whether the queries split over the tiers alike on both sides: `reference[i]` and
/// `other[i]` count the queries tier i answered. Pearson's chi-square test of homogeneity of the
/// 2 x tiers table, or, when an expected count is below 5, the exact Freeman-Halton test (Fisher's
/// for two tiers). Tiers that answered nothing on either side are left out; with fewer than two
/// left, or an empty side, the result is untested, saying why. Throws std::invalid_argument when
/// the two have different lengths.
inline ShiftTest tier_share_test(const std::vector<std::size_t>& reference, const std::vector<std::size_t>& other) {
    if (reference.size() != other.size()) {
        throw std::invalid_argument("cascade::tier_share_test: counts for " + std::to_string(reference.size()) +
                                    " tiers on the reference side and " + std::to_string(other.size()) +
                                    " on the other; give both per tier of the same chain");
    }
    ShiftTest t;
    t.kind = ShiftTestKind::tier_shares;
    t.name = "tier shares";
    t.reference_size = std::accumulate(reference.begin(), reference.end(), std::size_t{0});
    t.other_size = std::accumulate(other.begin(), other.end(), std::size_t{0});
    std::vector<double> a;
    std::vector<double> b;
    for (std::size_t i = 0; i < reference.size(); ++i) {
        a.push_back(static_cast<double>(reference[i]));
        b.push_back(static_cast<double>(other[i]));
        t.reference_shares.push_back(t.reference_size ? a.back() / static_cast<double>(t.reference_size) : 0.0);
        t.other_shares.push_back(t.other_size ? b.back() / static_cast<double>(t.other_size) : 0.0);
    }
    if (t.reference_size == 0 || t.other_size == 0) {
        t.reason = std::string("not enough data: no queries on the ") + (t.reference_size == 0 ? "reference" : "other") +
                   " side";
        return t;
    }
    const detail::HomogeneityResult r = detail::homogeneity_test(a, b);
    if (r.degrees_of_freedom == 0) {
        t.reason = "not enough data: one tier answered every query on both sides, so there are no shares to compare";
        return t;
    }
    t.tested = true;
    t.method = r.exact ? "exact Freeman-Halton" : "chi-square";
    t.statistic = r.statistic;
    t.degrees_of_freedom = r.degrees_of_freedom;
    t.p_value = r.p_value;
    t.adjusted_p_value = r.p_value;
    return t;
}

/// Combines tests into one verdict: Holm's step-down adjustment over the tests made (valid under
/// any dependence between them), each test flagged `shifted` when its adjusted p-value is below
/// alpha, and the family-wise p-value, the smallest adjusted one. Throws std::invalid_argument
/// unless 0 < alpha < 1.
inline ShiftReport combine_shift_tests(std::vector<ShiftTest> tests, double alpha = ShiftOptions{}.alpha) {
    if (!(alpha > 0.0 && alpha < 1.0)) {
        throw std::invalid_argument("cascade::check_shift: alpha must be in (0, 1), got " + detail::format_number(alpha));
    }
    ShiftReport report;
    report.alpha = alpha;
    std::vector<std::size_t> made;
    for (std::size_t i = 0; i < tests.size(); ++i) {
        tests[i].adjusted_p_value = 1.0;
        tests[i].shifted = false;
        if (tests[i].tested) made.push_back(i);
    }
    std::stable_sort(made.begin(), made.end(),
                     [&](std::size_t x, std::size_t y) { return tests[x].p_value < tests[y].p_value; });
    const std::size_t count = made.size();
    double running = 0.0;
    for (std::size_t r = 0; r < count; ++r) {
        ShiftTest& t = tests[made[r]];
        running = std::max(running, std::min(1.0, static_cast<double>(count - r) * t.p_value));
        t.adjusted_p_value = running;
        t.shifted = running < alpha;
    }
    report.tests_made = count;
    report.p_value = count ? tests[made.front()].adjusted_p_value : 1.0;
    report.premise_in_doubt = report.p_value < alpha;
    report.tests = std::move(tests);
    return report;
}

/// The shift check: is `other` traffic drawn like the `reference` traffic a cascade was chosen
/// on? One KS test per tier on the confidences of the queries that reached it, and one test on
/// the tiers' shares of answers, combined by Holm (see combine_shift_tests). A shift need not
/// break a cascade, but when `premise_in_doubt` is set, a guarantee proven on the reference
/// (calibrate()'s family_wise or per_setting mode) is no longer backed by it: re-label a sample of the new traffic
/// and calibrate again, or confirm the quality there.
///
///     auto ref = cascade::shift_sample(train, c.chain, c.thresholds);
///     auto now = cascade::shift_sample(test, c.chain, c.thresholds);
///     cascade::ShiftReport s = cascade::check_shift(ref, now);
///     if (s.premise_in_doubt) { /* s.shifted() says which tests fired */ }
///
/// Throws std::invalid_argument when the two samples have different numbers of tiers, or
/// confidences and answer counts for different numbers of tiers, or for an alpha outside (0, 1).
inline ShiftReport check_shift(const ShiftSample& reference, const ShiftSample& other, const ShiftOptions& options = {}) {
    const std::size_t tiers = reference.answered.size();
    if (reference.confidences.size() != tiers || other.confidences.size() != other.answered.size()) {
        throw std::invalid_argument(
            "cascade::check_shift: a ShiftSample needs confidences and answer counts for the same tiers; got " +
            std::to_string(reference.confidences.size()) + " and " + std::to_string(tiers) + " (reference), " +
            std::to_string(other.confidences.size()) + " and " + std::to_string(other.answered.size()) + " (other)");
    }
    if (other.answered.size() != tiers) {
        throw std::invalid_argument("cascade::check_shift: the reference has " + std::to_string(tiers) +
                                    " tiers and the other sample " + std::to_string(other.answered.size()) +
                                    "; both must come from the same chain");
    }
    if (!(options.alpha > 0.0 && options.alpha < 1.0)) {
        throw std::invalid_argument("cascade::check_shift: alpha must be in (0, 1), got " +
                                    detail::format_number(options.alpha));
    }
    const std::vector<std::string>& names = reference.models.size() == tiers ? reference.models : other.models;
    std::vector<ShiftTest> tests;
    for (std::size_t i = 0; i < tiers; ++i) {
        ShiftTest t = confidence_shift_test(reference.confidences[i], other.confidences[i], options.ks_exact_work);
        t.tier = i;
        t.name = "confidences of " + detail::tier_label(names, i);
        tests.push_back(std::move(t));
    }
    if (tiers > 1) tests.push_back(tier_share_test(reference.answered, other.answered));
    return combine_shift_tests(std::move(tests), options.alpha);
}

/// What the cascade `chain` with `thresholds` does on `table` (replay_cascade()'s semantics: tier
/// i answers when its confidence is >= thresholds[i], the last always), as a ShiftSample.
/// Throws as replay_cascade() does.
inline ShiftSample shift_sample(const OutcomeTable& table, const std::vector<std::string>& chain,
                                const std::vector<double>& thresholds) {
    constexpr const char* where = "cascade::shift_sample";
    if (thresholds.size() + 1 != chain.size()) {
        throw std::invalid_argument(std::string(where) + ": a chain of " + std::to_string(chain.size()) + " tiers needs " +
                                    std::to_string(chain.size() - 1) + " thresholds, got " +
                                    std::to_string(thresholds.size()));
    }
    for (std::size_t i = 0; i < thresholds.size(); ++i) {
        if (std::isnan(thresholds[i])) {
            throw std::invalid_argument(std::string(where) + ": thresholds[" + std::to_string(i) + "] is NaN");
        }
    }
    const std::vector<std::size_t> models = detail::chain_indices(table, chain, where);
    table.require(models);
    const std::size_t k = models.size();
    ShiftSample s;
    s.models = chain;
    s.confidences.resize(k);
    s.answered.assign(k, 0);
    for (std::size_t q = 0; q < table.query_count(); ++q) {
        for (std::size_t i = 0; i < k; ++i) {
            const double c = table.confidence(models[i], q);
            s.confidences[i].push_back(c);
            // `>=` is false for NaN: a missing confidence rejects.
            if (i + 1 == k || c >= thresholds[i]) {
                ++s.answered[i];
                break;
            }
        }
    }
    return s;
}

/// The ShiftSample of live traffic from the rows an OutcomeSink wrote (read back with
/// ReadOptions::allow_unlabelled: no quality is needed): one row per tier a query called, so the
/// deepest tier a query called is the one that answered it. Throws cascade::ParseError naming
/// the row for a model that is not in `chain` or a tier called twice for one query.
///
///     cascade::ReadOptions ro;
///     ro.allow_unlabelled = true;
///     auto live = cascade::shift_sample_from_trace(cascade::read_outcomes("live.csv", ro), c.chain);
inline ShiftSample shift_sample_from_trace(const OutcomeLog& log, const std::vector<std::string>& chain) {
    constexpr const char* where = "cascade::shift_sample_from_trace";
    if (chain.empty()) throw std::invalid_argument(std::string(where) + ": the chain is empty");
    const std::size_t k = chain.size();
    if (k > 64) throw std::invalid_argument(std::string(where) + ": a chain has at most 64 tiers here");
    std::unordered_map<std::string, std::size_t> tier_of;
    for (std::size_t i = 0; i < k; ++i) {
        if (!tier_of.emplace(chain[i], i).second) {
            throw std::invalid_argument(std::string(where) + ": model \"" + chain[i] + "\" appears twice in the chain");
        }
    }
    // Per query, in order of first appearance: the tiers it called (a bit each) and the deepest.
    std::unordered_map<std::string, std::size_t> query_index;
    std::vector<unsigned long long> called;
    std::vector<std::size_t> deepest;
    ShiftSample s;
    s.models = chain;
    s.confidences.resize(k);
    s.answered.assign(k, 0);
    for (std::size_t r = 0; r < log.rows.size(); ++r) {
        const Outcome& o = log.rows[r];
        const std::size_t line = r < log.lines.size() ? log.lines[r] : 0;
        const auto tier = tier_of.find(o.model);
        if (tier == tier_of.end()) {
            throw ParseError(log.source, line,
                             "model \"" + o.model + "\" is not a tier of the chain " + detail::chain_label(chain));
        }
        const auto [it, fresh] = query_index.emplace(o.query_id, called.size());
        if (fresh) {
            called.push_back(0);
            deepest.push_back(0);
        }
        const std::size_t q = it->second;
        const unsigned long long bit = 1ull << tier->second;
        if (called[q] & bit) {
            throw ParseError(log.source, line,
                             "query \"" + o.query_id + "\" called model \"" + o.model + "\" twice; one row per tier called");
        }
        called[q] |= bit;
        deepest[q] = std::max(deepest[q], tier->second);
        s.confidences[tier->second].push_back(o.confidence ? *o.confidence : std::numeric_limits<double>::quiet_NaN());
    }
    for (const std::size_t d : deepest) ++s.answered[d];
    return s;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_SHIFT_HPP
