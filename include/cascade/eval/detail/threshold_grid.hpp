// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_THRESHOLD_GRID_HPP
#define CASCADE_EVAL_DETAIL_THRESHOLD_GRID_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

// Every threshold setting of a cascade, evaluated at once from prefix sums.
//
// Each non-last tier's confidences are cut at a few candidate thresholds, so each query falls in
// a bin per tier: 0 for a missing confidence, else 1 + the number of candidates <= its value.
// Tier l accepts at candidate j exactly when its bin is >= j + 2. A query's contribution to each
// tier then depends only on its bins, so per-bin sums, turned into prefix sums ("all earlier
// tiers rejected": bin <= j + 1) and a suffix sum ("this tier accepts": bin >= j + 2), give any
// setting's totals with a few lookups instead of a pass over the queries.
namespace cascade::detail {

// The most tiers a grid can hold, past the first: far more than a search can afford.
inline constexpr std::size_t grid_max_dims = 16;

// Up to `max_candidates` thresholds from `values` (NaN ignored): all distinct values when there
// are few enough, else values at evenly spaced quantiles. Sorted, distinct; the smallest value is
// always one (the setting that accepts every confidence).
inline std::vector<double> candidate_thresholds(const std::vector<double>& values, std::size_t max_candidates) {
    std::vector<double> v;
    v.reserve(values.size());
    for (const double x : values) {
        if (!std::isnan(x)) v.push_back(x);
    }
    if (v.empty() || max_candidates == 0) return {};
    std::sort(v.begin(), v.end());
    std::vector<double> distinct(v);
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() <= max_candidates) return distinct;
    std::vector<double> out;
    out.reserve(max_candidates);
    for (std::size_t i = 0; i < max_candidates; ++i) out.push_back(v[i * v.size() / max_candidates]);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// The bin of each value for `candidates` (see above).
inline std::vector<std::uint32_t> bin_values(const std::vector<double>& values, const std::vector<double>& candidates) {
    std::vector<std::uint32_t> bins(values.size());
    for (std::size_t q = 0; q < values.size(); ++q) {
        if (std::isnan(values[q])) {
            bins[q] = 0;
        } else {
            const auto below = std::upper_bound(candidates.begin(), candidates.end(), values[q]) - candidates.begin();
            bins[q] = static_cast<std::uint32_t>(below) + 1;
        }
    }
    return bins;
}

// Sums over queries for one setting: quality and cost, and against a reference model the
// number of queries whose answer differs in quality from the reference's (`disagree`) and, over
// those, the sum of (1 + ref - quality) / 2 (`excess`: 1 per loss, 0 per gain for 0/1 quality).
struct GridSums {
    double quality = 0.0;
    double cost = 0.0;
    double disagree = 0.0;
    double excess = 0.0;
};

// One tier's data for ChainGrid.
struct GridTier {
    const std::vector<double>* quality = nullptr;
    const std::vector<double>* cost = nullptr;
    const std::vector<std::uint32_t>* bins = nullptr;  // non-last tiers only
    std::size_t candidates = 0;                        // non-last tiers only; >= 1
};

// The per-bin sums of one chain, ready to evaluate every setting. Reusable: build() again for
// the next chain keeps the memory.
//
// Arrays are row-major over the bins of tiers 0, 1, ... (the last non-last tier varies fastest),
// so an index over the first l tiers' bins extends to l + 1 tiers as index * bins + bin, the same
// in every array, and the innermost loop of visit() walks memory in order.
class ChainGrid {
public:
    // `reference` (one value per query) may be null: disagree and excess are then 0.
    void build(const std::vector<GridTier>& tiers, const std::vector<double>* reference) {
        k_ = tiers.size();
        if (k_ < 2 || k_ > grid_max_dims + 1) {
            throw std::invalid_argument("cascade: a threshold grid needs 2 to " + std::to_string(grid_max_dims + 1) + " tiers");
        }
        with_reference_ = reference != nullptr;
        const std::size_t d = k_ - 1;
        const std::size_t n = tiers[0].quality->size();
        candidates_.assign(d, 0);
        size_.assign(d + 1, 1);  // size_[l]: cells over the first l tiers' bins
        for (std::size_t l = 0; l < d; ++l) {
            if (tiers[l].candidates == 0) throw std::invalid_argument("cascade: a tier without candidate thresholds");
            candidates_[l] = tiers[l].candidates;
            size_[l + 1] = size_[l] * (tiers[l].candidates + 2);
        }
        const std::size_t quantities = with_reference_ ? 3 : 1;
        answer_.resize(k_ * 3);
        cost_.resize(k_);
        for (std::size_t i = 0; i < k_; ++i) {
            for (std::size_t x = 0; x < 3; ++x) answer_[i * 3 + x].assign(x < quantities ? size_[std::min(i + 1, d)] : 0, 0.0);
            cost_[i].assign(i > 0 ? size_[i] : 0, 0.0);
        }
        // Tier by tier over all queries: tight loops over plain arrays. index_[q] is the query's
        // cell over the bins of the tiers seen so far.
        cost0_ = 0.0;
        index_.assign(n, 0);
        std::size_t* index = index_.data();
        for (std::size_t i = 0; i < k_; ++i) {
            const double* cost = tiers[i].cost->data();
            if (i == 0) {
                for (std::size_t q = 0; q < n; ++q) cost0_ += cost[q];
            } else {
                double* to = cost_[i].data();
                for (std::size_t q = 0; q < n; ++q) to[index[q]] += cost[q];
            }
            if (i < d) {
                const std::uint32_t* bins = tiers[i].bins->data();
                const std::size_t width = candidates_[i] + 2;
                for (std::size_t q = 0; q < n; ++q) index[q] = index[q] * width + bins[q];
            }
            const double* quality = tiers[i].quality->data();
            double* to = answer_[i * 3].data();
            for (std::size_t q = 0; q < n; ++q) to[index[q]] += quality[q];
            if (with_reference_) {
                const double* ref = reference->data();
                double* disagree = answer_[i * 3 + 1].data();
                double* excess = answer_[i * 3 + 2].data();
                for (std::size_t q = 0; q < n; ++q) {
                    if (quality[q] != ref[q]) {
                        disagree[index[q]] += 1.0;
                        excess[index[q]] += (1.0 + ref[q] - quality[q]) / 2.0;
                    }
                }
            }
        }
        for (std::size_t i = 0; i < k_; ++i) {
            const std::size_t dims = std::min(i + 1, d);
            for (std::size_t x = 0; x < quantities; ++x) {
                for (std::size_t l = 0; l < dims; ++l) sweep(answer_[i * 3 + x], dims, l, l == i);
            }
            for (std::size_t l = 0; l < i; ++l) sweep(cost_[i], i, l, false);
        }
    }

    [[nodiscard]] const std::vector<std::size_t>& candidates() const noexcept { return candidates_; }

    // Calls fn(const std::size_t* j, const GridSums& sums) for every setting, j[l] being the
    // candidate index of tier l.
    template <class Visit>
    void visit(Visit&& fn) const {
        std::size_t j[grid_max_dims] = {};
        GridSums start;
        start.cost = cost0_;
        level(0, 0, start, j, fn);
    }

private:
    // Prefix sums (or suffix sums) along dimension `dim` of an array over the first `dims` tiers.
    void sweep(std::vector<double>& a, std::size_t dims, std::size_t dim, bool suffix) const {
        const std::size_t len = candidates_[dim] + 2;
        const std::size_t inner = size_[dims] / size_[dim + 1];
        const std::size_t outer = size_[dim];
        for (std::size_t o = 0; o < outer; ++o) {
            double* base = a.data() + o * len * inner;
            if (suffix) {
                for (std::size_t c = len - 1; c-- > 0;) {
                    for (std::size_t x = 0; x < inner; ++x) base[c * inner + x] += base[(c + 1) * inner + x];
                }
            } else {
                for (std::size_t c = 1; c < len; ++c) {
                    for (std::size_t x = 0; x < inner; ++x) base[c * inner + x] += base[(c - 1) * inner + x];
                }
            }
        }
    }

    // `rejected` indexes "every tier before l rejected" over the first l tiers' bins.
    template <class Visit>
    void level(std::size_t l, std::size_t rejected, const GridSums& sums, std::size_t* j, Visit& fn) const {
        const std::size_t d = k_ - 1;
        const std::size_t base = rejected * (candidates_[l] + 2);
        const double* accept_q = answer_[l * 3].data() + base + 2;  // tier l accepts at candidate c
        const double* reject_cost = cost_[l + 1].data() + base + 1;  // tier l rejects: l + 1 is called
        const std::size_t count = candidates_[l];
        if (l + 1 == d) {
            const double* last_q = answer_[d * 3].data() + base + 1;
            const double* accept_k = with_reference_ ? answer_[l * 3 + 1].data() + base + 2 : nullptr;
            const double* accept_s = with_reference_ ? answer_[l * 3 + 2].data() + base + 2 : nullptr;
            const double* last_k = with_reference_ ? answer_[d * 3 + 1].data() + base + 1 : nullptr;
            const double* last_s = with_reference_ ? answer_[d * 3 + 2].data() + base + 1 : nullptr;
            GridSums here = sums;
            for (std::size_t c = 0; c < count; ++c) {
                j[l] = c;
                here.quality = sums.quality + accept_q[c] + last_q[c];
                here.cost = sums.cost + reject_cost[c];
                if (with_reference_) {
                    here.disagree = sums.disagree + accept_k[c] + last_k[c];
                    here.excess = sums.excess + accept_s[c] + last_s[c];
                }
                fn(static_cast<const std::size_t*>(j), static_cast<const GridSums&>(here));
            }
            return;
        }
        for (std::size_t c = 0; c < count; ++c) {
            j[l] = c;
            GridSums here = sums;
            here.quality += accept_q[c];
            here.cost += reject_cost[c];
            if (with_reference_) {
                here.disagree += answer_[l * 3 + 1][base + c + 2];
                here.excess += answer_[l * 3 + 2][base + c + 2];
            }
            level(l + 1, rejected * (candidates_[l] + 2) + c + 1, here, j, fn);
        }
    }

    std::size_t k_ = 0;
    bool with_reference_ = false;
    std::vector<std::size_t> candidates_;
    std::vector<std::size_t> size_;
    std::vector<std::vector<double>> answer_;  // tier i, quantity x (quality, disagree, excess) at i * 3 + x
    std::vector<std::vector<double>> cost_;
    std::vector<std::size_t> index_;
    double cost0_ = 0.0;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_THRESHOLD_GRID_HPP
