// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_SHA1_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_SHA1_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// SHA-1 (FIPS 180-4), only to name a Lua script the way Redis does: EVALSHA takes the script's
// SHA-1, so a client that computes it sends the script's body only to a server that lacks it.
// It is not used for anything that needs a secure hash.
namespace cascade::redis::detail {

inline std::string sha1_hex(std::string_view message) {
    std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
    const auto block = [&](const unsigned char* p) {
        std::uint32_t w[80];
        for (int t = 0; t < 16; ++t) {
            w[t] = (std::uint32_t{p[4 * t]} << 24) | (std::uint32_t{p[4 * t + 1]} << 16) |
                   (std::uint32_t{p[4 * t + 2]} << 8) | std::uint32_t{p[4 * t + 3]};
        }
        for (int t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; ++t) {
            std::uint32_t f, k;
            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999u;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1u;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDCu;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            const std::uint32_t next = rotl(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = rotl(b, 30);
            b = a;
            a = next;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    };

    const std::size_t full = message.size() / 64 * 64;
    const auto* bytes = reinterpret_cast<const unsigned char*>(message.data());
    for (std::size_t i = 0; i < full; i += 64) block(bytes + i);

    // The tail, a 1 bit, zeros, and the length in bits as a big-endian 64-bit number.
    std::array<unsigned char, 128> tail{};
    const std::size_t rest = message.size() - full;
    for (std::size_t i = 0; i < rest; ++i) tail[i] = bytes[full + i];
    tail[rest] = 0x80;
    const std::size_t tail_size = rest + 1 + 8 <= 64 ? 64 : 128;
    const std::uint64_t bits = static_cast<std::uint64_t>(message.size()) * 8u;
    for (int i = 0; i < 8; ++i) tail[tail_size - 1 - static_cast<std::size_t>(i)] = static_cast<unsigned char>(bits >> (8 * i));
    block(tail.data());
    if (tail_size == 128) block(tail.data() + 64);

    static constexpr char digits[] = "0123456789abcdef";
    std::string hex(40, '0');
    for (int i = 0; i < 5; ++i) {
        for (int j = 0; j < 8; ++j) {
            hex[static_cast<std::size_t>(8 * i + j)] = digits[(h[i] >> (28 - 4 * j)) & 0xFu];
        }
    }
    return hex;
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_SHA1_HPP
