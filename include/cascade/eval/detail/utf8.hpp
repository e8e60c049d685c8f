// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_UTF8_HPP
#define CASCADE_EVAL_DETAIL_UTF8_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cascade::detail {

/// The offset of the first byte of `text` that does not start a valid UTF-8 sequence (overlong
/// forms, UTF-16 surrogates and code points past U+10FFFF are invalid), or npos when it is all
/// valid UTF-8.
inline std::size_t first_invalid_utf8(std::string_view text) noexcept {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return i;
        }
        if (text.size() - i < len) return i;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

/// Throws std::invalid_argument unless `text` (the value of `field`) can be a JSON string
/// unchanged, i.e. is valid UTF-8; the message names the field and the offending byte.
inline void require_json_text(std::string_view text, const char* field) {
    const std::size_t at = first_invalid_utf8(text);
    if (at == std::string_view::npos) return;
    static const char* hex = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(text[at]);
    std::string shown(text.substr(0, 40));
    for (char& ch : shown) {
        if (static_cast<unsigned char>(ch) >= 0x80 || static_cast<unsigned char>(ch) < 0x20) ch = '?';
    }
    throw std::invalid_argument(std::string(field) + " \"" + shown + (text.size() > 40 ? "..." : "") +
                                "\" is not valid UTF-8 (byte " + std::to_string(at + 1) + " is 0x" + hex[byte >> 4] +
                                hex[byte & 0xF] + "); JSON Lines cannot hold it unchanged, write CSV instead");
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_UTF8_HPP
