// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_DETAIL_VERIFY_SUPPORT_HPP
#define CASCADE_VERIFY_DETAIL_VERIFY_SUPPORT_HPP

#include <cmath>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../../core/cost.hpp"
#include "../../core/verdict.hpp"
#include "../../core/detail/callable_traits.hpp"
#include "../../core/detail/exception_text.hpp"
#include "../../detail/number.hpp"

// What the ready-made verifiers share: turning a part's answer into a Verdict, calling a part with
// or without the request, charging a sub-call's cost, and the little text handling they need.
namespace cascade::detail {

// ---- verdicts ---------------------------------------------------------------------------------

// Confidence text for notes and errors ("nan", "1.5", "-inf").
inline std::string confidence_text(double c) { return format_number(c); }

// A part's result as a Verdict. A confidence outside [0, 1] (or NaN) would be hidden by min/max or
// an average, so it is an error naming the combinator and the part.
template <class R>
Verdict part_to_verdict(R&& result, std::string_view who, std::size_t part) {
    using T = std::decay_t<R>;
    Verdict v;
    if constexpr (std::is_same_v<T, Verdict>) {
        v = std::forward<R>(result);
    } else if constexpr (std::is_same_v<T, bool>) {
        v.confidence = result ? 1.0 : 0.0;
    } else {
        v.confidence = static_cast<double>(result);
    }
    if (!(v.confidence >= 0.0 && v.confidence <= 1.0)) {
        throw std::domain_error(std::string(who) + ": part " + std::to_string(part + 1) + " gave confidence " +
                                confidence_text(v.confidence) + "; a confidence must be in [0, 1]");
    }
    if (!(v.extra_cost >= 0.0) || !std::isfinite(v.extra_cost)) {
        throw std::domain_error(std::string(who) + ": part " + std::to_string(part + 1) + " gave extra cost " +
                                confidence_text(v.extra_cost) + "; a cost must be a finite number >= 0");
    }
    return v;
}

// A part called with the request when it takes one, else with the response alone.
template <class P, class Request, class Response>
inline constexpr bool part_takes_request_v = verifier_shape<P, Request, Response>::two_args;

template <class P, class Request, class Response>
inline constexpr bool part_accepts_v = verifier_callable_v<P, Request, Response>;

template <class P, class Response, class = void>
struct part_alone : std::false_type {};
template <class P, class Response>
struct part_alone<P, Response, std::enable_if_t<std::is_invocable_v<P&, const Response&>>>
    : std::bool_constant<is_verdict_type_v<std::invoke_result_t<P&, const Response&>>> {};

// A part callable with the response alone, so a combinator of such parts needs no request.
template <class P, class Response>
inline constexpr bool part_alone_v = part_alone<P, Response>::value;

template <class P, class Request, class Response>
decltype(auto) call_part(P& part, const Request& request, const Response& response) {
    if constexpr (part_takes_request_v<P, Request, Response>) {
        return part(request, response);
    } else {
        return part(response);
    }
}

inline void append_verdict_note(std::string& notes, std::string_view note) {
    if (note.empty()) return;
    if (!notes.empty()) notes += "; ";
    notes += note;
}

// ---- costs of sub-calls (samples, judge calls) --------------------------------------------------

template <class Cost, class Request, class Reply>
constexpr bool sub_cost_fits() {
    if constexpr (std::is_same_v<Cost, FixedCost>) {
        return true;
    } else if constexpr (is_cost_spec_v<Cost>) {
        return cost_callable_v<decltype(std::declval<Cost&>().fn), Request, Reply>;
    } else {
        return false;
    }
}

// What one sub-call cost. A cost function that throws or gives a negative, infinite or NaN value
// is noted and counted as $0: the cascade's rule for a tier's own cost function (its estimate,
// else $0) with no estimate, since a verifier's sub-call states none.
template <class Cost, class Request, class Reply>
double charge_sub_call(Cost& cost, const Request& request, const Reply& reply, std::string& problem) {
    if constexpr (std::is_same_v<Cost, FixedCost>) {
        (void)request;
        (void)reply;
        (void)problem;
        return cost.dollars;
    } else {
        double dollars = 0.0;
        try {
            if constexpr (cost_two_args_v<decltype(cost.fn), Request, Reply>) {
                dollars = static_cast<double>(cost.fn(request, reply));
            } else {
                dollars = static_cast<double>(cost.fn(reply));
            }
        } catch (const std::exception& e) {
            if (problem.empty()) problem = std::string("cost function threw: ") + e.what() + " (counted as $0)";
            return 0.0;
        } catch (...) {
            if (problem.empty()) problem = "cost function threw a non-standard exception (counted as $0)";
            return 0.0;
        }
        if (dollars >= 0.0 && std::isfinite(dollars)) return dollars;
        if (problem.empty()) problem = "cost function returned " + format_number(dollars) + " (counted as $0)";
        return 0.0;
    }
}

// ---- text -------------------------------------------------------------------------------------

inline bool is_ascii_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline char lower_ascii_char(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool is_ascii_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

inline std::string_view trim_ascii_space(std::string_view s) noexcept {
    while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
    return s;
}

// Lower-case ASCII, typographic apostrophes (U+2018, U+2019) as ', every run of white space as one
// space, none at either end: what "case- and whitespace-insensitive" compares.
inline std::string fold_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (is_ascii_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out.push_back(' ');
            pending_space = false;
        }
        if (static_cast<unsigned char>(c) == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(s[i + 2]) == 0x98 || static_cast<unsigned char>(s[i + 2]) == 0x99)) {
            out.push_back('\'');
            i += 2;
            continue;
        }
        out.push_back(lower_ascii_char(c));
    }
    return out;
}

// A short quotation of `s` for a note: at most `max` bytes (cut on a UTF-8 boundary, "..." added),
// line ends shown as spaces so that a trace stays one line per tier.
inline std::string quote_excerpt(std::string_view s, std::size_t max = 160) {
    s = trim_ascii_space(s);
    bool cut = false;
    if (s.size() > max) {
        std::size_t end = max;
        while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
        s = s.substr(0, end);
        cut = true;
    }
    std::string out = "\"";
    for (const char c : s) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
    if (cut) out += "...";
    out += "\"";
    return out;
}

// Called inside a catch block: the text of the exception being handled.
inline std::string describe_current_exception() { return describe_exception(std::current_exception()); }

}  // namespace cascade::detail

#endif  // CASCADE_VERIFY_DETAIL_VERIFY_SUPPORT_HPP
