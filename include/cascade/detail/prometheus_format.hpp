// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_PROMETHEUS_FORMAT_HPP
#define CASCADE_DETAIL_PROMETHEUS_FORMAT_HPP

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// How the Prometheus text format (0.0.4) spells names, label values and numbers: shared by the
// runtime's writer and the quality monitor's metrics, which live in layers that may not include
// each other.
namespace cascade::detail {

inline bool metric_char(char c, bool first, bool colon_ok) noexcept {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
    return letter || (!first && c >= '0' && c <= '9');
}

// Metric and label names allow only [a-zA-Z_:][a-zA-Z0-9_:]* (no ':' in label names); anything
// else becomes '_', and a leading digit gets a '_' in front.
inline std::string sanitize_metric_name(std::string_view name, bool colon_ok) {
    std::string out;
    out.reserve(name.size() + 1);
    if (!name.empty() && name.front() >= '0' && name.front() <= '9') out += '_';
    for (const char c : name) out += metric_char(c, out.empty(), colon_ok) ? c : '_';
    return out;
}

inline std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

inline std::string escape_help(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

// The shortest of %.15g..%.17g that reads back as the same double; Prometheus spells the
// specials NaN, +Inf and -Inf.
inline std::string metric_number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[40];
    for (int precision = 15; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    std::string out(buf);
    for (char& c : out) {
        if (c == ',') c = '.';  // a locale with a decimal comma
    }
    return out;
}

inline std::string metric_number(std::uint64_t v) { return std::to_string(v); }

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_PROMETHEUS_FORMAT_HPP
