// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_VECTOR_MATH_HPP
#define CASCADE_SCORE_DETAIL_VECTOR_MATH_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

// Exact nearest-neighbour search for cascade::score::KnnScorer. The dot product keeps eight
// independent partial sums: compilers may not reorder a single float sum (it would change the
// rounding), but they do turn eight independent lanes into SIMD at -O2/-O3 without -ffast-math.
namespace cascade::detail {

inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    float lane[8] = {0.0F, 0.0F, 0.0F, 0.0F, 0.0F, 0.0F, 0.0F, 0.0F};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (std::size_t j = 0; j < 8; ++j) lane[j] += a[i + j] * b[i + j];
    }
    for (std::size_t j = 0; i < n; ++i, ++j) lane[j] += a[i] * b[i];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Writes v / |v| into out; the caller has checked that v is finite and not all zeros.
inline void normalise_into(const float* v, std::size_t n, float* out) noexcept {
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(v[i]) * static_cast<double>(v[i]);
    const double inverse = 1.0 / std::sqrt(sum);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(v[i]) * inverse);
}

struct Neighbour {
    float similarity;
    std::uint32_t index;
};

// The k rows of `rows` (count x dimension, row-major) with the largest dot product with `query`,
// most similar first; ties go to the earlier row, so results never depend on the platform's sort.
inline void nearest(const float* rows, std::size_t count, std::size_t dimension, const float* query, std::size_t k,
                    std::vector<Neighbour>& best) {
    best.clear();
    best.reserve(k);
    for (std::size_t i = 0; i < count; ++i) {
        const float s = dot(rows + i * dimension, query, dimension);
        if (best.size() == k && !(s > best.back().similarity)) continue;
        if (best.size() < k) best.push_back(Neighbour{s, 0});
        // Insertion into the short sorted list: k is small, and most rows stop at the check above.
        std::size_t p = best.size() - 1;
        while (p > 0 && best[p - 1].similarity < s) {
            best[p] = best[p - 1];
            --p;
        }
        best[p] = Neighbour{s, static_cast<std::uint32_t>(i)};
    }
}

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_VECTOR_MATH_HPP
