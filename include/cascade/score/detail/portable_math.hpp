// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_PORTABLE_MATH_HPP
#define CASCADE_SCORE_DETAIL_PORTABLE_MATH_HPP

#include <cmath>
#include <cstdint>

// Arithmetic that gives the same bits on every platform, so that training a model on the same
// data with the same seed writes the same file everywhere. Standard library distributions and
// std::exp differ between implementations; +, -, *, / and sqrt are exactly rounded by IEEE 754.
// Each multiply and add is its own statement: a compiler may fuse `a * b + c` inside one
// expression into an FMA on some targets, which rounds differently.
namespace cascade::detail {

// e^x to within a few ulp, from basic operations only: x = k ln2 + r with |r| <= ln2 / 2, then
// a degree-13 Taylor polynomial for e^r and an exact scaling by 2^k.
inline double portable_exp(double x) noexcept {
    if (std::isnan(x)) return x;
    if (x > 709.0) return HUGE_VAL;
    if (x < -745.0) return 0.0;
    constexpr double inv_ln2 = 1.4426950408889634;
    constexpr double ln2_hi = 6.93147180369123816490e-01;  // exact in 32 bits, so k * ln2_hi is exact
    constexpr double ln2_lo = 1.90821492927058770002e-10;
    const double scaled = x * inv_ln2;
    const double k = std::floor(scaled + 0.5);
    const double k_hi = k * ln2_hi;
    const double k_lo = k * ln2_lo;
    const double r = (x - k_hi) - k_lo;
    double p = 1.0 / 6227020800.0;  // 1/13!
    constexpr double inverse_factorials[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                             1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                             1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                             1.0 / 6.0,         0.5,              1.0,
                                             1.0};
    for (const double c : inverse_factorials) {
        const double t = p * r;
        p = t + c;
    }
    return std::ldexp(p, static_cast<int>(k));
}

// The logistic function 1 / (1 + e^-z), in [0, 1].
inline double portable_sigmoid(double z) noexcept {
    if (z >= 0.0) return 1.0 / (1.0 + portable_exp(-z));
    const double e = portable_exp(z);
    return e / (1.0 + e);
}

// a * b + c without fusing, whatever the compiler's contraction setting within an expression.
inline double mul_add(double a, double b, double c) noexcept {
    const double t = a * b;
    return t + c;
}

// SplitMix64: a small, well-mixed generator whose sequence is fixed by its seed on every platform.
class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) noexcept : state_(seed) {}

    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    // Uniform in [0, n) for n > 0, without modulo bias (rejects the short top range).
    std::uint64_t below(std::uint64_t n) noexcept {
        const std::uint64_t limit = (~n + 1U) % n;  // 2^64 mod n
        for (;;) {
            const std::uint64_t r = next();
            if (r >= limit) return r % n;
        }
    }

    // Uniform in [0, 1) with 53 random bits.
    double unit() noexcept { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

private:
    std::uint64_t state_;
};

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_PORTABLE_MATH_HPP
