// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_NUMBER_HPP
#define CASCADE_DETAIL_NUMBER_HPP

#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

// Locale-independent number reading and writing: strtod and printf follow the C locale's
// decimal point, which would make a file read differently in a German locale.
namespace cascade::detail {

// The common short literal ("0.000123", "-1.5", "1", "6.17e-05") without from_chars: when its
// significant digits fit in 53 bits and its power of ten in [-22, 22], both are exact doubles and
// one IEEE division or multiplication gives the correctly rounded value, the same as from_chars.
// Returns false, leaving `out` alone, for any other literal. `text` must be a valid literal.
inline bool fast_decimal(std::string_view text, double& out) {
    static constexpr double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
    return false;  // with extended precision (x87) the one operation would round twice
#endif
    std::size_t i = 0;
    const bool negative = text[0] == '-';
    if (negative) ++i;
    std::uint64_t mantissa = 0;
    int significant = 0;
    long exponent = 0;
    bool point = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.') {
            point = true;
            continue;
        }
        if (c < '0' || c > '9') break;
        if (mantissa != 0 || c != '0') {
            if (++significant > 16) return false;
            mantissa = mantissa * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (point) --exponent;
    }
    if (i < text.size()) {  // an exponent: 'e' or 'E', a sign, digits
        ++i;
        const bool minus = text[i] == '-';
        if (text[i] == '+' || text[i] == '-') ++i;
        long e = 0;
        for (; i < text.size(); ++i) {
            if (e > 1000) return false;
            e = e * 10 + (text[i] - '0');
        }
        exponent += minus ? -e : e;
    }
    if (mantissa > (std::uint64_t{1} << 53)) return false;
    double value = static_cast<double>(mantissa);
    if (mantissa != 0) {
        if (exponent < -22 || exponent > 22) return false;
        value = exponent < 0 ? value / powers[-exponent] : value * powers[exponent];
    }
    out = negative ? -value : value;
    return true;
}

// Reads a whole decimal floating-point literal ("1", "-2.5e-3", ".5", "1.") into `out`.
// No leading '+', no spaces, no hex, no "inf"/"nan": callers decide which spellings of the
// special values they accept. Values beyond the range of double become +-infinity, values too
// small for it 0, as strtod would give.
inline bool parse_decimal(std::string_view text, double& out) {
    if (text.empty()) return false;
    std::size_t i = 0;
    const bool negative = text[0] == '-';
    if (negative) ++i;
    // Validate the grammar ourselves so that the fallback below cannot accept more.
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
    if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++digits;
    }
    if (digits == 0) return false;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        std::size_t exp_digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++exp_digits;
        if (exp_digits == 0) return false;
    }
    if (i != text.size()) return false;
    if (fast_decimal(text, out)) return true;

#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    double value = 0.0;
    const auto res = std::from_chars(text.data(), text.data() + text.size(), value);
    if (res.ec == std::errc{} && res.ptr == text.data() + text.size()) {
        out = value;
        return true;
    }
    if (res.ec != std::errc::result_out_of_range) return false;
#else
    {
        std::istringstream in{std::string(text)};
        in.imbue(std::locale::classic());
        double value = 0.0;
        in >> value;
        if (in && in.peek() == std::char_traits<char>::eof()) {
            out = value;
            return true;
        }
    }
#endif
    // Out of range: overflow or underflow, told apart by the decimal exponent of the first
    // significant digit (a value that underflows has one far below zero).
    const std::size_t e = text.find_first_of("eE");
    const std::string_view mantissa = text.substr(negative ? 1 : 0, e == std::string_view::npos ? std::string_view::npos : e - (negative ? 1 : 0));
    const std::size_t point = mantissa.find('.');
    const long long int_digits = static_cast<long long>(point == std::string_view::npos ? mantissa.size() : point);
    long long position = 0;
    bool found = false;
    for (std::size_t k = 0; k < mantissa.size(); ++k) {
        if (mantissa[k] == '.' || mantissa[k] == '0') continue;
        const long long index = static_cast<long long>(k);
        position = (point == std::string_view::npos || k < point) ? int_digits - 1 - index : int_digits - index;
        found = true;
        break;
    }
    long long exponent = 0;
    if (e != std::string_view::npos) {
        std::size_t k = e + 1;
        const bool negative_exponent = text[k] == '-';
        if (text[k] == '+' || text[k] == '-') ++k;
        for (; k < text.size() && exponent < 1000000; ++k) exponent = exponent * 10 + (text[k] - '0');
        if (negative_exponent) exponent = -exponent;
    }
    const double magnitude = found && position + exponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    out = negative ? -magnitude : magnitude;
    return true;
}

// Reads a number as written in outcome logs: a decimal literal, optionally with a leading '+',
// or inf/infinity/nan in any case with an optional sign.
inline bool parse_number(std::string_view text, double& out) {
    if (text.empty()) return false;
    std::string_view body = text;
    bool negative = false;
    if (body[0] == '+' || body[0] == '-') {
        negative = body[0] == '-';
        body.remove_prefix(1);
    }
    auto iequals = [](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i) {
            char c = a[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c != b[i]) return false;
        }
        return true;
    };
    if (iequals(body, "inf") || iequals(body, "infinity")) {
        out = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
        return true;
    }
    if (iequals(body, "nan")) {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    if (body.empty() || body[0] == '+' || body[0] == '-') return false;
    double value = 0.0;
    if (!parse_decimal(body, value)) return false;
    out = negative ? -value : value;
    return true;
}

// The shortest text that reads back as the same double; "inf", "-inf" and "nan" for the
// special values.
inline std::string format_number(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    if (res.ec == std::errc{}) return std::string(buf, res.ptr);
#endif
    std::ostringstream out;
    out.imbue(std::locale::classic());
    out.precision(17);
    out << value;
    return out.str();
}

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_NUMBER_HPP
