// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_RESPONSE_TRAITS_HPP
#define CASCADE_CORE_RESPONSE_TRAITS_HPP

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cascade {

/// A plain model reply with everything the ready-made verifiers can use: the text, one
/// log-probability per generated token (natural log, <= 0), and why generation stopped
/// ("stop", "length", ...). Use it as your Response, or map your own type with response_traits.
struct ChatReply {
    std::string text;
    std::vector<double> token_logprobs;  ///< empty when the provider gave none
    std::string finish_reason;           ///< empty when unknown
};

namespace detail {

template <class T>
struct is_std_optional : std::false_type {};
template <class T>
struct is_std_optional<std::optional<T>> : std::true_type {};

template <class T, class = void>
struct logprob_range : std::false_type {};
template <class T>
struct logprob_range<T, std::void_t<decltype(std::data(std::declval<const T&>())),
                                    decltype(std::size(std::declval<const T&>()))>> {
    using element = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const T&>()))>>;
    static constexpr bool value = std::is_same_v<element, double> || std::is_same_v<element, float>;
};

// A contiguous range of double or float; or a std::optional of one, or a pointer to one, where
// empty / null means "the provider gave none".
template <class T>
constexpr bool is_logprob_holder() {
    using D = std::remove_cv_t<std::remove_reference_t<T>>;
    if constexpr (is_std_optional<D>::value) {
        return logprob_range<typename D::value_type>::value;
    } else if constexpr (std::is_pointer_v<D>) {
        return logprob_range<std::remove_cv_t<std::remove_pointer_t<D>>>::value;
    } else {
        return logprob_range<D>::value;
    }
}

// The members the primary response_traits looks for: `text`, `token_logprobs`, `finish_reason`.
template <class R, class = void>
struct text_member {};
template <class R>
struct text_member<R, std::enable_if_t<std::is_convertible_v<decltype((std::declval<const R&>().text)), std::string_view>>> {
    static std::string_view text(const R& r) noexcept { return r.text; }
};

template <class R, class = void>
struct logprobs_member {};
template <class R>
struct logprobs_member<R, std::enable_if_t<is_logprob_holder<decltype((std::declval<const R&>().token_logprobs))>()>> {
    static const auto& token_logprobs(const R& r) noexcept { return r.token_logprobs; }
};

template <class R, class = void>
struct finish_member {};
template <class R>
struct finish_member<R, std::enable_if_t<std::is_convertible_v<decltype((std::declval<const R&>().finish_reason)),
                                                               std::string_view>>> {
    static std::string_view finish_reason(const R& r) noexcept { return r.finish_reason; }
};

}  // namespace detail

/// Where a Response keeps what the ready-made verifiers read. Each of the three functions is
/// optional; a verifier that needs one the mapping lacks fails to compile with a message starting
/// `cascade::`.
///
/// By default a Response's data members are used when they exist: `text` (convertible to
/// std::string_view), `token_logprobs` (a contiguous range of double or float: std::vector,
/// std::array, a C array, a span; or a std::optional of one, or a pointer to one, where empty or
/// null means the provider gave none) and `finish_reason` (convertible to std::string_view).
///
/// For other names or shapes, specialise it in namespace cascade:
///
///     template <>
///     struct cascade::response_traits<MyReply> {
///         static std::string_view text(const MyReply& r) { return r.choices.at(0).content; }
///         static const std::vector<float>& token_logprobs(const MyReply& r) { return r.lp; }
///         static std::string_view finish_reason(const MyReply& r) { return r.stop; }
///     };
///
/// `text` may also return a std::string by value (the verifiers keep it while they read it).
/// Leave out what your type does not have: a specialisation with `text` alone serves every check
/// on text.
template <class Response>
struct response_traits : detail::text_member<Response>,
                         detail::logprobs_member<Response>,
                         detail::finish_member<Response> {};

/// cascade::ChatReply: all three.
template <>
struct response_traits<ChatReply> {
    static std::string_view text(const ChatReply& r) noexcept { return r.text; }
    static const std::vector<double>& token_logprobs(const ChatReply& r) noexcept { return r.token_logprobs; }
    static std::string_view finish_reason(const ChatReply& r) noexcept { return r.finish_reason; }
};

/// std::string: the text itself, nothing else.
template <>
struct response_traits<std::string> {
    static std::string_view text(const std::string& r) noexcept { return r; }
};

namespace detail {

template <class R, class = void>
struct traits_text {
    static constexpr bool present = false;
    static constexpr bool valid = false;
};
template <class R>
struct traits_text<R, std::void_t<decltype(response_traits<R>::text(std::declval<const R&>()))>> {
    static constexpr bool present = true;
    static constexpr bool valid =
        std::is_convertible_v<decltype(response_traits<R>::text(std::declval<const R&>())), std::string_view>;
};

template <class R, class = void>
struct traits_logprobs {
    static constexpr bool present = false;
    static constexpr bool valid = false;
};
template <class R>
struct traits_logprobs<R, std::void_t<decltype(response_traits<R>::token_logprobs(std::declval<const R&>()))>> {
    static constexpr bool present = true;
    static constexpr bool valid =
        is_logprob_holder<decltype(response_traits<R>::token_logprobs(std::declval<const R&>()))>();
};

template <class R, class = void>
struct traits_finish {
    static constexpr bool present = false;
    static constexpr bool valid = false;
};
template <class R>
struct traits_finish<R, std::void_t<decltype(response_traits<R>::finish_reason(std::declval<const R&>()))>> {
    static constexpr bool present = true;
    static constexpr bool valid = std::is_convertible_v<
        decltype(response_traits<R>::finish_reason(std::declval<const R&>())), std::string_view>;
};

}  // namespace detail

/// Whether cascade::response_traits<Response> tells where Response keeps its text (and in a usable
/// type); likewise for token log-probabilities and the finish reason.
template <class Response>
inline constexpr bool has_response_text_v = detail::traits_text<std::decay_t<Response>>::valid;
template <class Response>
inline constexpr bool has_token_logprobs_v = detail::traits_logprobs<std::decay_t<Response>>::valid;
template <class Response>
inline constexpr bool has_finish_reason_v = detail::traits_finish<std::decay_t<Response>>::valid;

/// The text of `r`, as response_traits gives it (a std::string_view, a reference, or a std::string
/// by value): bind it to `decltype(auto)` or convert it to std::string_view while `r` lives.
template <class Response>
decltype(auto) response_text(const Response& r) {
    using T = detail::traits_text<Response>;
    static_assert(T::present,
                  "cascade::response_text: cascade::response_traits<Response> gives no text; give the Response a "
                  "data member `text` convertible to std::string_view, or specialise cascade::response_traits "
                  "with `static std::string_view text(const Response&)`");
    static_assert(!T::present || T::valid,
                  "cascade::response_traits<Response>::text must return something convertible to "
                  "std::string_view (std::string_view, const std::string&, std::string, const char*)");
    if constexpr (T::valid) {
        return response_traits<Response>::text(r);
    } else {
        return std::string_view{};
    }
}

/// The token log-probabilities of `r`, as response_traits gives them.
template <class Response>
decltype(auto) response_token_logprobs(const Response& r) {
    using T = detail::traits_logprobs<Response>;
    static_assert(T::present,
                  "cascade::response_token_logprobs: cascade::response_traits<Response> gives no token "
                  "log-probabilities; give the Response a data member `token_logprobs` (a contiguous range of "
                  "double or float), or specialise cascade::response_traits with "
                  "`static const std::vector<double>& token_logprobs(const Response&)`");
    static_assert(!T::present || T::valid,
                  "cascade::response_traits<Response>::token_logprobs must return a contiguous range of double "
                  "or float (std::vector, std::array, a C array, a span), or a std::optional of one, or a pointer "
                  "to one");
    if constexpr (T::valid) {
        return response_traits<Response>::token_logprobs(r);
    } else {
        return std::vector<double>{};
    }
}

/// Why generation of `r` stopped, as response_traits gives it.
template <class Response>
decltype(auto) response_finish_reason(const Response& r) {
    using T = detail::traits_finish<Response>;
    static_assert(T::present,
                  "cascade::response_finish_reason: cascade::response_traits<Response> gives no finish reason; "
                  "give the Response a data member `finish_reason` convertible to std::string_view, or "
                  "specialise cascade::response_traits with `static std::string_view finish_reason(const "
                  "Response&)`");
    static_assert(!T::present || T::valid,
                  "cascade::response_traits<Response>::finish_reason must return something convertible to "
                  "std::string_view");
    if constexpr (T::valid) {
        return response_traits<Response>::finish_reason(r);
    } else {
        return std::string_view{};
    }
}

namespace detail {

// Token log-probabilities of either element type, or none at all.
struct LogprobView {
    const double* doubles = nullptr;
    const float* floats = nullptr;
    std::size_t size = 0;
    bool present = false;  // false: the provider gave none (an empty optional, a null pointer)

    [[nodiscard]] double operator[](std::size_t i) const noexcept {
        return doubles != nullptr ? doubles[i] : static_cast<double>(floats[i]);
    }
};

template <class T>
LogprobView view_logprobs(const T& held) {
    using D = std::remove_cv_t<T>;
    if constexpr (is_std_optional<D>::value) {
        return held ? view_logprobs(*held) : LogprobView{};
    } else if constexpr (std::is_pointer_v<D>) {
        return held != nullptr ? view_logprobs(*held) : LogprobView{};
    } else {
        LogprobView v;
        v.present = true;
        v.size = static_cast<std::size_t>(std::size(held));
        if constexpr (std::is_same_v<typename logprob_range<D>::element, double>) {
            v.doubles = std::data(held);
        } else {
            v.floats = std::data(held);
        }
        return v;
    }
}

// Refuses a mapping of the wrong type; each verifier refuses a missing mapping with its own name.
// Always true, so that the caller's own static_assert adds no second error to this one.
template <class Response>
constexpr bool check_text_mapping() {
    static_assert(has_response_text_v<Response> || !traits_text<Response>::present,
                  "cascade::response_traits<Response>::text must return something convertible to "
                  "std::string_view (std::string_view, const std::string&, std::string, const char*)");
    return true;
}

}  // namespace detail
}  // namespace cascade

#endif  // CASCADE_CORE_RESPONSE_TRAITS_HPP
