// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_FNV1A_HPP
#define CASCADE_DETAIL_FNV1A_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// FNV-1a, 64 bits: a content digest that names which bytes a result came from (not a defence
// against anyone forging them), the same on every platform and simple enough to recompute in
// any language.
namespace cascade::detail {

inline constexpr std::uint64_t fnv1a64_basis = 14695981039346656037ull;
inline constexpr std::uint64_t fnv1a64_prime = 1099511628211ull;

// Folds `bytes` into the running digest `h` (start from fnv1a64_basis), so that a file can be
// digested a block at a time.
inline std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t h = fnv1a64_basis) noexcept {
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= fnv1a64_prime;
    }
    return h;
}

// The digest as 16 lowercase hex digits.
inline std::string hex64(std::uint64_t h) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (std::size_t i = 16; i-- > 0; h >>= 4U) out[i] = digits[h & 0xFU];
    return out;
}

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_FNV1A_HPP
