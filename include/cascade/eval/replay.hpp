// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_REPLAY_HPP
#define CASCADE_EVAL_REPLAY_HPP

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../detail/number.hpp"
#include "outcome_log.hpp"

// What a cascade or a router would have done on logged traffic, without calling any model.
namespace cascade {

/// The replay of one cascade (or router) over every query of an OutcomeTable.
struct ReplayResult {
    std::vector<std::string> chain;   ///< the tiers (or routes), cheapest first
    std::vector<double> thresholds;   ///< one per tier but the last (router: route boundaries)
    std::size_t queries = 0;
    double quality = 0.0;             ///< mean quality of the answers given
    double cost = 0.0;                ///< mean dollars per query, every call counted
    double total_cost = 0.0;          ///< dollars over all queries
    std::vector<double> answered;     ///< per tier: share of queries whose answer it gave
    std::vector<double> called;       ///< per tier: share of queries that called it
    /// Share of queries the first tier passed on (0 for a router or a single tier).
    double escalation_rate = 0.0;
    /// Calls past the first tier per query (Stats::escalations / Stats::queries).
    double escalations_per_query = 0.0;
    /// Per query (in the table's order), the tier that answered; filled on request only.
    std::vector<std::size_t> answered_by;
};

namespace detail {

inline std::vector<std::size_t> chain_indices(const OutcomeTable& table, const std::vector<std::string>& chain,
                                              const char* where) {
    if (chain.empty()) throw std::invalid_argument(std::string(where) + ": the chain is empty");
    std::vector<std::size_t> models;
    for (std::size_t i = 0; i < chain.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (chain[i] == chain[j]) {
                throw std::invalid_argument(std::string(where) + ": model \"" + chain[i] + "\" appears twice in the chain");
            }
        }
        models.push_back(table.model_index(chain[i]));
    }
    return models;
}

inline std::string chain_label(const std::vector<std::string>& chain) {
    std::string out;
    for (const std::string& m : chain) out += (out.empty() ? "" : ">") + m;
    return out;
}

}  // namespace detail

/// Replays the cascade `chain` (model names, called in this order) with `thresholds` (one per
/// tier but the last) on every query of `table`.
///
///     auto r = cascade::replay_cascade(table, {"llama3.1-8b", "gpt-4o"}, {-0.05});
///     // r.quality, r.cost, r.answered[0], r.escalation_rate
///
/// The semantics are cascade::Cascade's with NoPassPolicy::accept_last: tier i answers when its
/// logged confidence is >= thresholds[i]; a missing (NaN) confidence is a rejection; the last
/// tier always answers. Every tier called is paid for. Thresholds are on the log's own scale
/// (log-probabilities stay log-probabilities): a Cascade needs confidences in [0, 1], so map both
/// the same monotone way (e.g. exp of a log-probability) when moving a threshold into a Tier.
///
/// Throws std::invalid_argument for an empty chain, an unknown or repeated model, a wrong number
/// of thresholds or a NaN threshold; cascade::ParseError when a query lacks one of the chain's
/// models (naming both).
inline ReplayResult replay_cascade(const OutcomeTable& table, const std::vector<std::string>& chain,
                                   const std::vector<double>& thresholds, bool per_query = false) {
    constexpr const char* where = "cascade::replay_cascade";
    const std::vector<std::size_t> models = detail::chain_indices(table, chain, where);
    if (thresholds.size() + 1 != chain.size()) {
        throw std::invalid_argument(std::string(where) + ": a chain of " + std::to_string(chain.size()) +
                                    " tiers needs " + std::to_string(chain.size() - 1) + " thresholds (none for the last tier), got " +
                                    std::to_string(thresholds.size()));
    }
    for (std::size_t i = 0; i < thresholds.size(); ++i) {
        if (std::isnan(thresholds[i])) {
            throw std::invalid_argument(std::string(where) + ": thresholds[" + std::to_string(i) + "] is NaN");
        }
    }
    table.require(models);

    const std::size_t k = models.size();
    const std::size_t n = table.query_count();
    ReplayResult r;
    r.chain = chain;
    r.thresholds = thresholds;
    r.queries = n;
    std::vector<std::size_t> answered(k, 0);
    std::vector<std::size_t> called(k, 0);
    if (per_query) r.answered_by.resize(n);
    double quality = 0.0;
    double cost = 0.0;
    for (std::size_t q = 0; q < n; ++q) {
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t m = models[i];
            ++called[i];
            cost += table.cost(m, q);
            // `>=` is false for NaN: a missing confidence rejects.
            if (i + 1 == k || table.confidence(m, q) >= thresholds[i]) {
                ++answered[i];
                quality += table.quality(m, q);
                if (per_query) r.answered_by[q] = i;
                break;
            }
        }
    }
    const double count = static_cast<double>(n);
    r.quality = quality / count;
    r.total_cost = cost;
    r.cost = cost / count;
    for (std::size_t i = 0; i < k; ++i) {
        r.answered.push_back(static_cast<double>(answered[i]) / count);
        r.called.push_back(static_cast<double>(called[i]) / count);
        if (i > 0) r.escalations_per_query += r.called.back();
    }
    r.escalation_rate = k > 1 ? r.called[1] : 0.0;
    return r;
}

/// Replays a router: query q goes to route i when thresholds[i-1] <= scores[q] < thresholds[i]
/// (a score equal to a threshold goes up), and a NaN score or one outside [0, 1] to the last
/// route, as cascade::Router does. `scores` has one entry per query of `table`, in its order;
/// `routes` names one model per route, easiest first.
///
/// Throws std::invalid_argument for a wrong number of scores or thresholds, thresholds that are
/// not strictly ascending in [0, 1], or an unknown model; cascade::ParseError when a query lacks
/// a route's model.
inline ReplayResult replay_router(const OutcomeTable& table, const std::vector<double>& scores,
                                  const std::vector<double>& thresholds, const std::vector<std::string>& routes,
                                  bool per_query = false) {
    constexpr const char* where = "cascade::replay_router";
    const std::vector<std::size_t> models = detail::chain_indices(table, routes, where);
    const std::size_t n = table.query_count();
    if (scores.size() != n) {
        throw std::invalid_argument(std::string(where) + ": " + std::to_string(scores.size()) + " scores for " +
                                    std::to_string(n) + " queries");
    }
    if (thresholds.size() + 1 != routes.size()) {
        throw std::invalid_argument(std::string(where) + ": " + std::to_string(routes.size()) + " routes need " +
                                    std::to_string(routes.size() - 1) + " thresholds, got " +
                                    std::to_string(thresholds.size()));
    }
    for (std::size_t i = 0; i < thresholds.size(); ++i) {
        if (!(thresholds[i] >= 0.0 && thresholds[i] <= 1.0) || (i > 0 && !(thresholds[i] > thresholds[i - 1]))) {
            throw std::invalid_argument(std::string(where) + ": thresholds must be strictly ascending in [0, 1]; thresholds[" +
                                        std::to_string(i) + "] = " + detail::format_number(thresholds[i]));
        }
    }
    table.require(models);

    ReplayResult r;
    r.chain = routes;
    r.thresholds = thresholds;
    r.queries = n;
    std::vector<std::size_t> taken(models.size(), 0);
    if (per_query) r.answered_by.resize(n);
    double quality = 0.0;
    double cost = 0.0;
    for (std::size_t q = 0; q < n; ++q) {
        const double s = scores[q];
        std::size_t route = models.size() - 1;
        if (s >= 0.0 && s <= 1.0) {
            route = 0;
            while (route < thresholds.size() && s >= thresholds[route]) ++route;
        }
        ++taken[route];
        quality += table.quality(models[route], q);
        cost += table.cost(models[route], q);
        if (per_query) r.answered_by[q] = route;
    }
    const double count = static_cast<double>(n);
    r.quality = quality / count;
    r.total_cost = cost;
    r.cost = cost / count;
    for (const std::size_t t : taken) {
        r.answered.push_back(static_cast<double>(t) / count);
        r.called.push_back(static_cast<double>(t) / count);
    }
    return r;
}

}  // namespace cascade

#endif  // CASCADE_EVAL_REPLAY_HPP
