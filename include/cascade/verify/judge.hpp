// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_JUDGE_HPP
#define CASCADE_VERIFY_JUDGE_HPP

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../core/cost.hpp"
#include "../detail/number.hpp"
#include "detail/verify_support.hpp"
#include "../core/response_traits.hpp"
#include "../core/verdict.hpp"

namespace cascade::detail {

// The first number in `text` that is not glued to a word ("gpt4", "4o"); a '%' after it is kept
// in `percent`. Returns false when there is none.
inline bool first_number_in_text(std::string_view text, double& value, bool& percent) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool starts = is_ascii_digit(text[i]) || (text[i] == '.' && i + 1 < text.size() && is_ascii_digit(text[i + 1]));
        if (!starts) continue;
        if (i > 0 && (is_ascii_letter(text[i - 1]) || is_ascii_digit(text[i - 1]) || text[i - 1] == '.')) continue;
        std::size_t start = i;
        if (i > 0 && text[i - 1] == '-' && (i < 2 || !(is_ascii_letter(text[i - 2]) || is_ascii_digit(text[i - 2])))) start = i - 1;
        std::size_t end = i;
        while (end < text.size() && is_ascii_digit(text[end])) ++end;
        if (end + 1 < text.size() && text[end] == '.' && is_ascii_digit(text[end + 1])) {
            ++end;
            while (end < text.size() && is_ascii_digit(text[end])) ++end;
        }
        if (end < text.size() && is_ascii_letter(text[end])) {
            i = end;
            continue;
        }
        if (!parse_decimal(text.substr(start, end - start), value)) continue;
        percent = end < text.size() && text[end] == '%';
        return true;
    }
    return false;
}

template <class T, class = void>
struct has_expectation : std::false_type {};
template <class T>
struct has_expectation<T, std::void_t<decltype(std::declval<const T&>().expectation())>> : std::true_type {};

}  // namespace cascade::detail

namespace cascade::verify {

/// Reads a judge's reply as a score on a scale [lo, hi], mapped to [lo, hi] -> [0, 1]: the first
/// number in the reply that is not part of a word ("8", "Score: 8/10", "8 out of 10"). On the
/// [0, 1] scale a percentage ("85%") is read as 0.85. A number outside the scale, or none, is a
/// parse failure. Prompt the judge to give the score first.
class ScoreScale {
public:
    ScoreScale(double lo, double hi) : lo_(lo), hi_(hi) {
        if (!std::isfinite(lo_) || !std::isfinite(hi_) || !(lo_ < hi_)) {
            throw std::invalid_argument("cascade::verify::score_scale: need finite lo < hi, got " +
                                        detail::format_number(lo_) + " and " + detail::format_number(hi_));
        }
    }

    std::optional<double> operator()(std::string_view reply) const {
        double x = 0.0;
        bool percent = false;
        if (!detail::first_number_in_text(reply, x, percent)) return std::nullopt;
        if (percent && lo_ == 0.0 && hi_ == 1.0) x /= 100.0;
        if (!(x >= lo_ && x <= hi_)) return std::nullopt;
        return (x - lo_) / (hi_ - lo_);
    }

    [[nodiscard]] std::string expectation() const {
        return "a number from " + detail::format_number(lo_) + " to " + detail::format_number(hi_);
    }

private:
    double lo_;
    double hi_;
};

/// Reads a judge's reply as yes (1) or no (0): its first word, case-insensitive, after at most
/// two labels of up to three words ending in ':' ("Answer: Yes", "**Final verdict:** no").
/// Anything else is a parse failure.
struct YesNo {
    std::optional<double> operator()(std::string_view reply) const {
        std::string_view rest = reply;
        for (int labels = 0; labels <= 2; ++labels) {
            std::size_t i = 0;
            while (i < rest.size() && !detail::is_ascii_letter(rest[i])) ++i;
            std::size_t end = i;
            while (end < rest.size() && detail::is_ascii_letter(rest[end])) ++end;
            std::string word;
            for (std::size_t k = i; k < end; ++k) word.push_back(detail::lower_ascii_char(rest[k]));
            if (word == "yes") return 1.0;
            if (word == "no") return 0.0;
            const std::size_t colon = rest.find(':');
            if (colon == std::string_view::npos || colon < end) return std::nullopt;
            std::size_t words = 0;
            bool in_word = false;
            for (std::size_t k = 0; k < colon; ++k) {
                const char c = rest[k];
                if (detail::is_ascii_digit(c)) return std::nullopt;
                const bool letter = detail::is_ascii_letter(c);
                if (letter && !in_word) ++words;
                in_word = letter;
            }
            if (words == 0 || words > 3) return std::nullopt;
            rest = rest.substr(colon + 1);
        }
        return std::nullopt;
    }

    [[nodiscard]] std::string expectation() const { return "yes or no"; }
};

/// A score on the scale [lo, hi], e.g. score_scale(1, 10) or score_scale(1, 5).
inline ScoreScale score_scale(double lo, double hi) { return ScoreScale(lo, hi); }
/// A number in [0, 1] (or a percentage).
inline ScoreScale unit_score() { return ScoreScale(0.0, 1.0); }
/// "yes" or "no".
inline YesNo yes_no() { return {}; }

/// An LLM-as-judge verifier: calls a judge (a cheap model prompted to grade the answer), parses its
/// reply into a confidence, and charges its cost. Make one with judge().
///
/// The judge is `Reply(const Request&, const Response&)` or `Reply(const Response&)`, where Reply
/// is text (std::string, std::string_view) or a type with text (cascade::ChatReply, or see
/// cascade::response_traits). The parser is `std::optional<double>(std::string_view)` (or returns
/// a double): score_scale(lo, hi), unit_score(), yes_no(), or your own.
///
/// A reply that does not parse, or parses to a value outside [0, 1], is a rejection (confidence 0)
/// whose note quotes the reply; so is a parser that throws. The judge's cost (a price per call or
/// a cost function of its reply) is returned as Verdict::extra_cost in every case where the judge
/// answered. A judge that throws is not caught: the tier records a verifier error.
///
/// Stored by value; the judge and the parser are called non-const, so it is as thread-safe as
/// they are.
template <class JudgeFn, class Parser, class Cost>
class Judge {
public:
    Judge(JudgeFn judge, Parser parser, Cost cost)
        : judge_(std::move(judge)), parser_(std::move(parser)), cost_(std::move(cost)) {}

    template <class Request, class Response>
    Verdict operator()(const Request& request, const Response& response) {
        constexpr bool two = std::is_invocable_v<JudgeFn&, const Request&, const Response&>;
        constexpr bool one = std::is_invocable_v<JudgeFn&, const Response&>;
        static_assert(two || one,
                      "cascade::verify::judge: the judge must be callable as Reply(const Request&, const Response&) "
                      "or Reply(const Response&), Reply being std::string or a type with text");
        if constexpr (two) {
            return grade(request, [&]() -> decltype(auto) { return judge_(request, response); });
        } else if constexpr (one) {
            return grade(request, [&]() -> decltype(auto) { return judge_(response); });
        } else {
            return Verdict{};
        }
    }

    template <class Response, std::enable_if_t<std::is_invocable_v<JudgeFn&, const Response&>, int> = 0>
    Verdict operator()(const Response& response) {
        return grade(response, [&]() -> decltype(auto) { return judge_(response); });
    }

private:
    // `context` is what a two-argument cost function receives first: the request, or the response
    // when the judge is called without one.
    template <class Context, class Call>
    Verdict grade(const Context& context, Call&& call) {
        using Reply = std::decay_t<decltype(call())>;
        constexpr bool is_text = std::is_convertible_v<const Reply&, std::string_view>;
        static_assert(is_text || has_response_text_v<Reply>,
                      "cascade::verify::judge: the judge's reply has no text; return std::string, or a type with "
                      "a `text` member or a cascade::response_traits specialisation");
        static_assert(detail::sub_cost_fits<Cost, Context, Reply>(),
                      "cascade::verify::judge: the cost must be cascade::price_per_call(dollars) or "
                      "cascade::cost_from(fn) with fn as double(const Reply&) or double(const Request&, const Reply&)");
        if constexpr ((is_text || has_response_text_v<Reply>)&&detail::sub_cost_fits<Cost, Context, Reply>()) {
            const Reply reply = call();
            Verdict v;
            std::string cost_problem;
            v.extra_cost = detail::charge_sub_call(cost_, context, reply, cost_problem);
            if constexpr (is_text) {
                parse(std::string_view(reply), v);
            } else {
                decltype(auto) text = response_traits<Reply>::text(reply);
                parse(std::string_view(text), v);
            }
            detail::append_verdict_note(v.note, cost_problem);
            return v;
        } else {
            return Verdict{};
        }
    }

    void parse(std::string_view reply, Verdict& v) {
        static_assert(std::is_invocable_v<Parser&, std::string_view>,
                      "cascade::verify::judge: the parser must be callable as std::optional<double>(std::string_view) "
                      "or double(std::string_view)");
        std::optional<double> score;
        try {
            using R = std::decay_t<std::invoke_result_t<Parser&, std::string_view>>;
            if constexpr (std::is_same_v<R, std::optional<double>>) {
                score = parser_(reply);
            } else {
                static_assert(std::is_arithmetic_v<R>,
                              "cascade::verify::judge: the parser must return std::optional<double> or a number");
                score = static_cast<double>(parser_(reply));
            }
        } catch (...) {
            v.confidence = 0.0;
            v.note = "judge reply not understood (parser threw: " + detail::describe_current_exception() +
                     "): " + detail::quote_excerpt(reply);
            return;
        }
        if (!score) {
            v.confidence = 0.0;
            v.note = "judge reply not understood (expected " + expectation() + "): " + detail::quote_excerpt(reply);
        } else if (!(*score >= 0.0 && *score <= 1.0)) {
            v.confidence = 0.0;
            v.note = "judge reply read as " + detail::format_number(*score) + ", outside [0, 1]: " +
                     detail::quote_excerpt(reply);
        } else {
            v.confidence = *score;
            v.note = "judge: " + detail::quote_excerpt(reply, 80);
        }
    }

    std::string expectation() const {
        if constexpr (detail::has_expectation<Parser>::value) {
            return parser_.expectation();
        } else {
            return "a score";
        }
    }

    JudgeFn judge_;
    Parser parser_;
    Cost cost_;
};

/// A judge verifier: `judge` grades the answer, `parser` reads its reply, each judge call costs
/// `cost` (price_per_call(d), or cost_from(fn) of the reply; default free).
///
///     auto grade = [&](const Question& q, const Answer& a) {
///         return call_nano("Is this answer correct? Reply yes or no.\nQ: " + q.text + "\nA: " + a.text);
///     };
///     cascade::tier("mini", call_mini, cascade::verify::judge(grade, cascade::verify::yes_no(),
///                                                             cascade::price_per_call(5e-5)))
template <class JudgeFn, class Parser, class Cost = FixedCost>
Judge<std::decay_t<JudgeFn>, std::decay_t<Parser>, std::decay_t<Cost>> judge(JudgeFn&& judge_fn, Parser&& parser,
                                                                             Cost&& cost = {}) {
    static_assert(detail::is_cost_spec_v<Cost>,
                  "cascade::verify::judge: the cost must be cascade::price_per_call(dollars) or cascade::cost_from(fn)");
    static_assert(std::is_invocable_v<std::decay_t<Parser>&, std::string_view>,
                  "cascade::verify::judge: the parser must be callable as std::optional<double>(std::string_view): "
                  "score_scale(lo, hi), unit_score(), yes_no(), or your own");
    return {std::forward<JudgeFn>(judge_fn), std::forward<Parser>(parser), std::forward<Cost>(cost)};
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_JUDGE_HPP
