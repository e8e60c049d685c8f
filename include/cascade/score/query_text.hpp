// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_QUERY_TEXT_HPP
#define CASCADE_SCORE_QUERY_TEXT_HPP

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

// How a text scorer finds the text in a user's Request: std::string, std::string_view, C strings
// and anything convertible to std::string_view work as they are; any other Request either
// specialises cascade::score::QueryText or goes through cascade::score::with_text.
namespace cascade::score {

/// The query text of a `Request`, for the difficulty scorers. Specialise it for your Request:
///
///     template <> struct cascade::score::QueryText<MyRequest> {
///         static std::string_view get(const MyRequest& r) { return r.prompt; }
///     };
///
/// `get` may return std::string_view, const std::string&, or a std::string by value (e.g. the
/// system and user prompts joined). Provided: every type convertible to std::string_view, and
/// `const char*` / `char*` (a null pointer throws std::invalid_argument).
template <class Request, class = void>
struct QueryText {};

template <class Request>
struct QueryText<Request, std::enable_if_t<std::is_convertible_v<const Request&, std::string_view> &&
                                           !std::is_pointer_v<Request>>> {
    static std::string_view get(const Request& request) { return std::string_view(request); }
};

}  // namespace cascade::score

namespace cascade::detail {
inline std::string_view checked_c_string(const char* text) {
    if (text == nullptr) throw std::invalid_argument("cascade::score: the query text is a null pointer");
    return std::string_view(text);
}
}  // namespace cascade::detail

namespace cascade::score {

template <>
struct QueryText<const char*> {
    static std::string_view get(const char* text) { return detail::checked_c_string(text); }
};
template <>
struct QueryText<char*> {
    static std::string_view get(const char* text) { return detail::checked_c_string(text); }
};

}  // namespace cascade::score

namespace cascade::detail {
template <class Request, class = void>
struct has_query_text : std::false_type {};
template <class Request>
struct has_query_text<Request,
                      std::void_t<decltype(score::QueryText<Request>::get(std::declval<const Request&>()))>>
    : std::bool_constant<std::is_convertible_v<
          decltype(score::QueryText<Request>::get(std::declval<const Request&>())), std::string_view>> {};
}  // namespace cascade::detail

namespace cascade::score {

/// True when cascade::score::QueryText<Request> gives the text of a Request.
template <class Request>
inline constexpr bool has_query_text_v = detail::has_query_text<Request>::value;

}  // namespace cascade::score

namespace cascade::detail {

// Calls fn(std::string_view) with the request's text, keeping a text returned by value alive for
// the call.
template <class Request, class Fn>
decltype(auto) with_query_text(const Request& request, Fn&& fn) {
    static_assert(score::has_query_text_v<Request>,
                  "cascade::score: cannot find the query text of this Request; accepted: std::string, "
                  "std::string_view, const char*, a type convertible to std::string_view, a Request for "
                  "which cascade::score::QueryText<Request> is specialised with "
                  "`static std::string_view get(const Request&)`, or wrap the scorer: "
                  "cascade::score::with_text(scorer, [](const Request& r) { return r.prompt; })");
    if constexpr (score::has_query_text_v<Request>) {
        const auto& text = score::QueryText<Request>::get(request);
        return std::forward<Fn>(fn)(std::string_view(text));
    } else {
        return std::forward<Fn>(fn)(std::string_view());  // unreachable; keeps the error above the only one
    }
}

}  // namespace cascade::detail

namespace cascade::score {

/// A scorer that reads the query text with `extract` and scores it with `scorer`, for a Request
/// without a QueryText specialisation:
///
///     cascade::Router router{cascade::score::with_text(std::cref(classifier),
///                                                      [](const Ticket& t) { return t.body; }),
///                            {0.5}, call_mini, call_big};
///
/// `scorer` is any callable `double(std::string_view)` (each cascade::score scorer is one); pass
/// std::ref / std::cref to share one instead of copying it. `extract` is called as
/// `Text(const Request&)` where Text is any type with a QueryText (std::string, std::string_view,
/// const char*, ...). Both are stored by value and called non-const.
///
/// Thread-safety: as the scorer and the extractor it holds.
template <class Scorer, class Extract>
class WithText {
public:
    WithText(Scorer scorer, Extract extract) : scorer_(std::move(scorer)), extract_(std::move(extract)) {}

    template <class Request>
    double operator()(const Request& request) {
        static_assert(std::is_invocable_v<Extract&, const Request&>,
                      "cascade::score::with_text: the extractor must be callable as Text(const Request&), "
                      "where Text is std::string, std::string_view, const char* or has a QueryText");
        if constexpr (std::is_invocable_v<Extract&, const Request&>) {
            using Text = std::decay_t<std::invoke_result_t<Extract&, const Request&>>;
            static_assert(has_query_text_v<Text>,
                          "cascade::score::with_text: the extractor returns a type that is not text; "
                          "return std::string, std::string_view or const char*");
            static_assert(std::is_invocable_r_v<double, Scorer&, std::string_view>,
                          "cascade::score::with_text: the scorer must be callable as double(std::string_view)");
            if constexpr (has_query_text_v<Text> && std::is_invocable_r_v<double, Scorer&, std::string_view>) {
                decltype(auto) text = std::invoke(extract_, request);
                return static_cast<double>(std::invoke(scorer_, QueryText<Text>::get(text)));
            } else {
                return 0.0;
            }
        } else {
            return 0.0;
        }
    }

    /// The wrapped scorer.
    Scorer& scorer() noexcept { return scorer_; }

private:
    Scorer scorer_;
    Extract extract_;
};

/// Makes a WithText: `scorer` rates the text that `extract` takes from each Request.
template <class Scorer, class Extract>
WithText<std::decay_t<Scorer>, std::decay_t<Extract>> with_text(Scorer&& scorer, Extract&& extract) {
    return {std::forward<Scorer>(scorer), std::forward<Extract>(extract)};
}

}  // namespace cascade::score

#endif  // CASCADE_SCORE_QUERY_TEXT_HPP
