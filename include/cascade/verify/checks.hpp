// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_CHECKS_HPP
#define CASCADE_VERIFY_CHECKS_HPP

#include <cstddef>
#include <initializer_list>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/json.hpp"
#include "detail/verify_support.hpp"
#include "../core/response_traits.hpp"
#include "../core/verdict.hpp"

// Pass/fail checks on an answer's text or finish reason. Each returns a Verdict of 1 or 0; a
// failure carries a note saying what failed, which ends up in the trace. Combine them with
// cascade::verify::all_of, e.g. all_of(non_empty(), no_refusal(), mean_token_prob()).
namespace cascade::verify {

/// Passes when the answer's text holds something other than white space.
/// Thread-safe: operator() is const and keeps no state.
struct NonEmpty {
    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(detail::check_text_mapping<Response>());
        static_assert(detail::traits_text<Response>::present,
                      "cascade::verify::non_empty: cascade::response_traits<Response> gives no text; give the "
                      "Response a data member `text`, or specialise cascade::response_traits with "
                      "`static std::string_view text(const Response&)`");
        if constexpr (has_response_text_v<Response>) {
            decltype(auto) held = response_traits<Response>::text(response);
            const std::string_view text(held);
            if (detail::trim_ascii_space(text).empty()) return Verdict{0.0, 0.0, text.empty() ? "empty answer" : "blank answer"};
            return Verdict{1.0, 0.0, {}};
        } else {
            return Verdict{};
        }
    }
};

/// Passes when the answer's text holds something other than white space.
///
///     cascade::tier("mini", call_mini, cascade::verify::non_empty())
inline NonEmpty non_empty() { return {}; }

/// The phrases no_refusal() looks for by default: refusals and hedges in English. Copy and
/// extend it, or pass a list of your own.
inline std::vector<std::string> default_refusal_phrases() {
    return {"i'm not sure",       "i am not sure",      "i'm not certain",   "i am not certain",
            "i cannot",           "i can't",            "i can not",         "i'm unable",
            "i am unable",        "i'm not able to",    "i am not able to",  "i won't be able",
            "as an ai",           "as a language model", "i don't know",     "i do not know",
            "i'm sorry, but",     "i apologize, but",   "i must decline",    "i'm afraid i"};
}

/// Fails when the answer's text contains one of its phrases: case-insensitive, white space runs
/// compared as one space, typographic apostrophes (’) as '.
/// Thread-safe: operator() is const and keeps no state.
class NoRefusal {
public:
    explicit NoRefusal(std::vector<std::string> phrases) : phrases_(std::move(phrases)) {
        if (phrases_.empty()) {
            throw std::invalid_argument("cascade::verify::no_refusal: the phrase list is empty; pass at least one "
                                        "phrase, or leave the argument out for default_refusal_phrases()");
        }
        for (std::size_t i = 0; i < phrases_.size(); ++i) {
            std::string folded = detail::fold_text(phrases_[i]);
            if (folded.empty()) {
                throw std::invalid_argument("cascade::verify::no_refusal: phrase " + std::to_string(i + 1) +
                                            " is empty or blank; it would match every answer");
            }
            folded_.push_back(std::move(folded));
        }
    }

    [[nodiscard]] const std::vector<std::string>& phrases() const noexcept { return phrases_; }

    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(detail::check_text_mapping<Response>());
        static_assert(detail::traits_text<Response>::present,
                      "cascade::verify::no_refusal: cascade::response_traits<Response> gives no text; give the "
                      "Response a data member `text`, or specialise cascade::response_traits with "
                      "`static std::string_view text(const Response&)`");
        if constexpr (has_response_text_v<Response>) {
            decltype(auto) held = response_traits<Response>::text(response);
            const std::string text = detail::fold_text(std::string_view(held));
            for (std::size_t i = 0; i < folded_.size(); ++i) {
                if (text.find(folded_[i]) != std::string::npos) {
                    return Verdict{0.0, 0.0, "refusal or hedge: " + detail::quote_excerpt(phrases_[i])};
                }
            }
            return Verdict{1.0, 0.0, {}};
        } else {
            return Verdict{};
        }
    }

private:
    std::vector<std::string> phrases_;
    std::vector<std::string> folded_;
};

/// Fails when the answer refuses or hedges ("I'm not sure", "I cannot", "As an AI", ...: see
/// default_refusal_phrases()), or contains one of `phrases` when given. Throws
/// std::invalid_argument for an empty list or a blank phrase.
///
///     cascade::verify::no_refusal()
///     cascade::verify::no_refusal({"i don't know", "unknown"})
inline NoRefusal no_refusal(std::vector<std::string> phrases = default_refusal_phrases()) {
    return NoRefusal(std::move(phrases));
}

/// Fails when generation stopped for one of the given reasons (compared case-insensitively),
/// i.e. the answer was cut off. An empty (unknown) finish reason passes.
/// Thread-safe: operator() is const and keeps no state.
class NotTruncated {
public:
    explicit NotTruncated(std::vector<std::string> reasons) : reasons_(std::move(reasons)) {
        if (reasons_.empty()) {
            throw std::invalid_argument("cascade::verify::not_truncated: the list of finish reasons is empty");
        }
        for (std::string& r : reasons_) {
            r = detail::fold_text(r);
            if (r.empty()) throw std::invalid_argument("cascade::verify::not_truncated: a finish reason is blank");
        }
    }

    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(has_finish_reason_v<Response> || !detail::traits_finish<Response>::present,
                      "cascade::response_traits<Response>::finish_reason must return something convertible to "
                      "std::string_view");
        static_assert(detail::traits_finish<Response>::present,
                      "cascade::verify::not_truncated: cascade::response_traits<Response> gives no finish reason; "
                      "give the Response a data member `finish_reason`, or specialise cascade::response_traits "
                      "with `static std::string_view finish_reason(const Response&)`");
        if constexpr (has_finish_reason_v<Response>) {
            decltype(auto) held = response_traits<Response>::finish_reason(response);
            const std::string reason = detail::fold_text(std::string_view(held));
            for (const std::string& r : reasons_) {
                if (reason == r) return Verdict{0.0, 0.0, "cut off: finish reason \"" + reason + "\""};
            }
            return Verdict{1.0, 0.0, {}};
        } else {
            return Verdict{};
        }
    }

private:
    std::vector<std::string> reasons_;
};

/// Fails when the answer was cut off by the token limit: finish reason "length" (OpenAI and
/// compatible servers) or "max_tokens" (Anthropic, Gemini), or one of `reasons` when given.
///
///     cascade::verify::not_truncated()
inline NotTruncated not_truncated(std::vector<std::string> reasons = {"length", "max_tokens"}) {
    return NotTruncated(std::move(reasons));
}

/// Whether a regular expression must match the whole text or some part of it.
enum class RegexMode { search, full };

/// Passes when the answer's text matches a std::regex (ECMAScript grammar by default).
/// Thread-safe: operator() is const; matching a const std::regex from several threads is safe.
///
/// std::regex works by recursion in common implementations: a pattern that backtracks a lot over
/// a very long answer can exhaust the stack. Keep patterns simple, or use text_satisfies with a
/// matcher of your own for long texts.
class Matches {
public:
    Matches(std::string pattern, RegexMode mode, std::regex::flag_type flags) : pattern_(std::move(pattern)), mode_(mode) {
        try {
            regex_ = std::regex(pattern_, flags);
        } catch (const std::regex_error& e) {
            throw std::invalid_argument("cascade::verify::matches: invalid regular expression " +
                                        detail::quote_excerpt(pattern_) + ": " + e.what());
        }
    }

    [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }

    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(detail::check_text_mapping<Response>());
        static_assert(detail::traits_text<Response>::present,
                      "cascade::verify::matches: cascade::response_traits<Response> gives no text; give the "
                      "Response a data member `text`, or specialise cascade::response_traits with "
                      "`static std::string_view text(const Response&)`");
        if constexpr (has_response_text_v<Response>) {
            decltype(auto) held = response_traits<Response>::text(response);
            const std::string_view text(held);
            bool ok = false;
            try {
                ok = mode_ == RegexMode::full ? std::regex_match(text.begin(), text.end(), regex_)
                                              : std::regex_search(text.begin(), text.end(), regex_);
            } catch (const std::regex_error& e) {
                // error_complexity / error_stack: the engine gave up on this text.
                return Verdict{0.0, 0.0, "regex " + detail::quote_excerpt(pattern_) + " could not be matched: " + e.what()};
            }
            if (ok) return Verdict{1.0, 0.0, {}};
            return Verdict{0.0, 0.0,
                           std::string(mode_ == RegexMode::full ? "does not fully match " : "does not match ") +
                               detail::quote_excerpt(pattern_)};
        } else {
            return Verdict{};
        }
    }

private:
    std::string pattern_;
    RegexMode mode_;
    std::regex regex_;
};

/// Passes when some part of the answer's text matches `pattern` (std::regex_search), or the whole
/// text with RegexMode::full (std::regex_match). Throws std::invalid_argument for an invalid
/// pattern.
///
///     cascade::verify::matches(R"(####\s*-?[0-9][0-9,]*)")            // a GSM8K-style final answer
///     cascade::verify::matches("[A-D]", cascade::verify::RegexMode::full)
inline Matches matches(std::string pattern, RegexMode mode = RegexMode::search,
                       std::regex::flag_type flags = std::regex::ECMAScript) {
    return Matches(std::move(pattern), mode, flags);
}

/// Passes when a predicate on the answer's text holds; `what` names the requirement in the note
/// of a failure. The predicate is stored by value and called non-const, as `bool(std::string_view)`.
template <class Predicate>
class TextSatisfies {
public:
    TextSatisfies(Predicate predicate, std::string what) : predicate_(std::move(predicate)), what_(std::move(what)) {}

    template <class Response>
    Verdict operator()(const Response& response) {
        static_assert(detail::check_text_mapping<Response>());
        static_assert(detail::traits_text<Response>::present,
                      "cascade::verify::text_satisfies: cascade::response_traits<Response> gives no text; give the "
                      "Response a data member `text`, or specialise cascade::response_traits with "
                      "`static std::string_view text(const Response&)`");
        static_assert(std::is_invocable_r_v<bool, Predicate&, std::string_view>,
                      "cascade::verify::text_satisfies: the predicate must be callable as bool(std::string_view)");
        if constexpr (has_response_text_v<Response> && std::is_invocable_r_v<bool, Predicate&, std::string_view>) {
            decltype(auto) held = response_traits<Response>::text(response);
            if (predicate_(std::string_view(held))) return Verdict{1.0, 0.0, {}};
            return Verdict{0.0, 0.0, "fails: " + what_};
        } else {
            return Verdict{};
        }
    }

private:
    Predicate predicate_;
    std::string what_;
};

/// Passes when `predicate(text)` is true, e.g. a length limit or a domain check; for a predicate on
/// your whole Response, pass the lambda itself as the verifier.
///
///     cascade::verify::text_satisfies([](std::string_view t) { return t.size() < 2000; }, "under 2000 bytes")
template <class Predicate>
TextSatisfies<std::decay_t<Predicate>> text_satisfies(Predicate&& predicate, std::string what = "custom check") {
    return TextSatisfies<std::decay_t<Predicate>>(std::forward<Predicate>(predicate), std::move(what));
}

/// What valid_json() accepts.
struct JsonOptions {
    enum class Shape { any, object, array };
    Shape shape = Shape::any;
    /// Members an object must have (implies Shape::object when not empty).
    std::vector<std::string> required_keys;
    /// Accept the JSON inside one Markdown code fence (```json ... ```), as chat models often write
    /// it; off by default, since the text is then not JSON as such.
    bool allow_code_fence = false;
};

/// Passes when the answer's text is one valid JSON value (RFC 8259, strict), optionally of a
/// given shape and with required members. Thread-safe: operator() is const and keeps no state.
class ValidJson {
public:
    explicit ValidJson(JsonOptions options) : options_(std::move(options)) {
        for (const std::string& key : options_.required_keys) {
            if (key.empty()) throw std::invalid_argument("cascade::verify::valid_json: a required key is empty");
        }
    }

    template <class Response>
    Verdict operator()(const Response& response) const {
        static_assert(detail::check_text_mapping<Response>());
        static_assert(detail::traits_text<Response>::present,
                      "cascade::verify::valid_json: cascade::response_traits<Response> gives no text; give the "
                      "Response a data member `text`, or specialise cascade::response_traits with "
                      "`static std::string_view text(const Response&)`");
        if constexpr (has_response_text_v<Response>) {
            decltype(auto) held = response_traits<Response>::text(response);
            return check(std::string_view(held));
        } else {
            return Verdict{};
        }
    }

private:
    Verdict check(std::string_view text) const {
        if (options_.allow_code_fence) text = unfence(text);
        detail::JsonValue value;
        try {
            value = detail::parse_json(text);
        } catch (const detail::JsonError& e) {
            return Verdict{0.0, 0.0, std::string("not valid JSON: ") + e.what()};
        }
        const bool want_object = options_.shape == JsonOptions::Shape::object || !options_.required_keys.empty();
        if (want_object && !value.is_object()) {
            return Verdict{0.0, 0.0, "JSON is " + std::string(detail::JsonValue::type_name(value.type())) +
                                         ", not an object"};
        }
        if (options_.shape == JsonOptions::Shape::array && !value.is_array()) {
            return Verdict{0.0, 0.0, "JSON is " + std::string(detail::JsonValue::type_name(value.type())) +
                                         ", not an array"};
        }
        for (const std::string& key : options_.required_keys) {
            if (value.find(key) == nullptr) return Verdict{0.0, 0.0, "JSON object lacks member \"" + key + "\""};
        }
        return Verdict{1.0, 0.0, {}};
    }

    // The body of a single ``` fence around the whole text (its info string, e.g. "json", dropped).
    static std::string_view unfence(std::string_view text) {
        std::string_view t = detail::trim_ascii_space(text);
        if (t.size() < 6 || t.substr(0, 3) != "```" || t.substr(t.size() - 3) != "```") return text;
        const std::size_t first_line_end = t.find('\n');
        if (first_line_end == std::string_view::npos) return text;
        return t.substr(first_line_end + 1, t.size() - 3 - (first_line_end + 1));
    }

    JsonOptions options_;
};

/// Passes when the answer's text is valid JSON (and of the shape / with the members asked for).
/// Its failure note gives the parser's byte offset and reason.
///
///     cascade::verify::valid_json()
///     cascade::verify::valid_json({cascade::verify::JsonOptions::Shape::object, {"answer", "reason"}})
inline ValidJson valid_json(JsonOptions options = {}) { return ValidJson(std::move(options)); }

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_CHECKS_HPP
