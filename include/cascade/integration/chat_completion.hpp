// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_CHAT_COMPLETION_HPP
#define CASCADE_INTEGRATION_CHAT_COMPLETION_HPP

// An optional adapter for OpenAI-compatible `/v1/chat/completions` endpoints (the protocol that
// OpenAI, vLLM, llama.cpp's server and Ollama serve). Not included by cascade.hpp: it holds no
// HTTP code and needs no JSON library, only the shapes and rules that every client of the protocol
// needs, so that a client written with any HTTP and JSON library fills a plain struct and gets the
// ready-made verifiers, token pricing and retry-aware errors. A streamed reply it reads itself
// (chat_stream.hpp, on cascade's own JSON reader).

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/cost.hpp"
#include "../detail/number.hpp"
#include "../core/response_traits.hpp"
#include "../runtime/retry_hints.hpp"

namespace cascade {

/// The `usage` object of a chat completion.
struct TokenUsage {
    std::uint64_t prompt_tokens = 0;
    std::uint64_t completion_tokens = 0;
};

/// A chat completion as the protocol returns it, reduced to what a cascade uses. Fill it from the
/// JSON with any library:
///
///     choices[i].message.content               -> choices[i].text
///     choices[i].logprobs.content[k].logprob   -> choices[i].token_logprobs (request `logprobs: true`)
///     choices[i].finish_reason                 -> choices[i].finish_reason
///     usage.prompt_tokens / completion_tokens  -> usage
///
/// The verifiers read the first choice through cascade::response_traits; a completion without
/// choices has no text and no log-probabilities, so every check rejects it (throw
/// cascade::MalformedResponse from your client instead, and the cascade records why).
struct ChatCompletion {
    std::string id;
    std::string model;  ///< the model that answered, as the server names it
    std::vector<ChatReply> choices;
    /// Empty when the server reported none; cascade::price_per_token then records the call as
    /// unpriced in the trace (and counts it as free) instead of guessing.
    std::optional<TokenUsage> usage;
};

/// The first choice of a cascade::ChatCompletion: its text, its token log-probabilities (none
/// when there is no choice) and its finish reason.
template <>
struct response_traits<ChatCompletion> {
    static std::string_view text(const ChatCompletion& c) noexcept {
        return c.choices.empty() ? std::string_view{} : std::string_view{c.choices.front().text};
    }
    static const std::vector<double>* token_logprobs(const ChatCompletion& c) noexcept {
        return c.choices.empty() ? nullptr : &c.choices.front().token_logprobs;
    }
    static std::string_view finish_reason(const ChatCompletion& c) noexcept {
        return c.choices.empty() ? std::string_view{} : std::string_view{c.choices.front().finish_reason};
    }
};

/// Prices per million tokens, as providers publish them, in dollars.
struct TokenPrices {
    double input_per_million = 0.0;   ///< per prompt token x 1e6
    double output_per_million = 0.0;  ///< per completion token x 1e6

    /// The dollars `usage` costs at these prices.
    [[nodiscard]] double cost(const TokenUsage& usage) const noexcept {
        return (static_cast<double>(usage.prompt_tokens) * input_per_million +
                static_cast<double>(usage.completion_tokens) * output_per_million) /
               1e6;
    }
};

/// A tier's cost from the `usage` of each cascade::ChatCompletion:
///
///     cascade::tier("mini", call_mini, cascade::verify::mean_token_prob(), 0.8,
///                   cascade::price_per_token({0.15, 0.60}))
///
/// Throws std::invalid_argument for a negative, infinite or NaN price.
inline auto price_per_token(TokenPrices prices) {
    const auto check = [](double price, const char* which) {
        if (!(price >= 0.0) || !std::isfinite(price)) {
            throw std::invalid_argument(std::string("cascade::price_per_token: ") + which +
                                        " must be a finite number >= 0 (dollars per million tokens), got " +
                                        detail::format_number(price));
        }
    };
    check(prices.input_per_million, "input_per_million");
    check(prices.output_per_million, "output_per_million");
    return cost_from([prices](const ChatCompletion& c) {
        if (!c.usage) throw std::runtime_error("the response reported no token usage, so the call is not priced");
        return prices.cost(*c.usage);
    });
}

/// A non-2xx answer that another attempt may fix: 5xx, 408, 425, or a 429 without a usable
/// Retry-After. cascade::with_retry retries it; once retries are spent the cascade escalates.
class HttpError : public std::runtime_error {
public:
    HttpError(const std::string& what, int status) : std::runtime_error(what), status_(status) {}
    [[nodiscard]] int status() const noexcept { return status_; }

private:
    int status_;
};

/// A 429 or 503 that says when to call again: cascade::with_retry waits that long (or gives up at
/// once when the wait is beyond its policy's max_delay, so the query escalates).
class RateLimited : public RetryAfter {
public:
    RateLimited(const std::string& what, int status, std::chrono::nanoseconds after)
        : RetryAfter(what, after), status_(status) {}
    [[nodiscard]] int status() const noexcept { return status_; }

private:
    int status_;
};

/// A 4xx that the same request will get again (400, 401, 403, 404, 422, ...): not retried, not
/// counted against a circuit breaker; the cascade escalates at once.
class HttpRejected : public NotRetryable {
public:
    HttpRejected(const std::string& what, int status) : NotRetryable(what), status_(status) {}
    [[nodiscard]] int status() const noexcept { return status_; }

private:
    int status_;
};

/// A 2xx whose body is not a usable chat completion: invalid or truncated JSON, no choices, a
/// choice without content. Retried (a cut connection is transient), then escalated.
class MalformedResponse : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

// Days since 1970-01-01 of a proleptic Gregorian date (the days-from-civil algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

inline std::string_view trim_ascii(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

inline bool read_digits(std::string_view s, std::int64_t& out) noexcept {
    if (s.empty() || s.size() > 12) return false;
    out = 0;
    for (const char ch : s) {
        if (ch < '0' || ch > '9') return false;
        out = out * 10 + (ch - '0');
    }
    return true;
}

// The IMF-fixdate form of an HTTP-date, "Sun, 06 Nov 1994 08:49:37 GMT", as seconds since 1970.
inline std::optional<std::int64_t> parse_http_date(std::string_view s) noexcept {
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (s.size() != 29 || s[3] != ',' || s.substr(26) != "GMT") return std::nullopt;
    std::int64_t day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(s.substr(5, 2), day) || !read_digits(s.substr(12, 4), year) ||
        !read_digits(s.substr(17, 2), hour) || !read_digits(s.substr(20, 2), minute) ||
        !read_digits(s.substr(23, 2), second)) {
        return std::nullopt;
    }
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i) {
        if (s.substr(8, 3) == months[i]) month = i + 1;
    }
    if (month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace detail

/// The wait a Retry-After header asks for: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct
/// 2015 07:28:00 GMT", measured from `now`). Empty when the header is absent or unreadable; a date
/// in the past is a wait of zero; a wait is at most 100 years, whatever the number of digits.
inline std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view header, std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    // Longer than any retry policy waits, and far from overflowing nanoseconds.
    constexpr std::int64_t longest = std::int64_t{100} * 365 * 86400;
    header = detail::trim_ascii(header);
    if (!header.empty() && std::all_of(header.begin(), header.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        // Any number of digits: the value saturates at the cap instead of overflowing, so a longer
        // number never means a shorter wait.
        std::int64_t seconds = 0;
        for (const char ch : header) {
            seconds = std::min(seconds * 10 + (ch - '0'), longest);
        }
        return std::chrono::seconds(seconds);
    }
    if (const auto when = detail::parse_http_date(header)) {
        const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        return std::chrono::seconds(std::min(*when > now_s ? *when - now_s : 0, longest));
    }
    return std::nullopt;
}

/// Throws the exception that tells cascade's retry and escalation what a non-2xx status means:
/// cascade::RateLimited for a 429 or 503 with a readable Retry-After, cascade::HttpError for
/// other 5xx, 408, 425 and 429, cascade::HttpRejected for the rest. The message reads
/// "<source>: HTTP <status>: <message>", with the wait when there is one; pass the `error.message`
/// of the body (or the body itself) as `message`, and the Retry-After header as `retry_after`.
///
///     if (status / 100 != 2) cascade::throw_http_error(status, error_message, retry_after_header, "mini");
[[noreturn]] inline void throw_http_error(int status, std::string_view message, std::string_view retry_after = {},
                                          std::string_view source = {}) {
    std::string what;
    if (!source.empty()) what.append(source).append(": ");
    what.append("HTTP ").append(std::to_string(status));
    if (!message.empty()) what.append(": ").append(message);
    const bool transient = status >= 500 || status == 408 || status == 425 || status == 429;
    if (status == 429 || status == 503) {
        if (const auto wait = parse_retry_after(retry_after)) {
            what.append(" (retry after ").append(std::to_string(std::chrono::ceil<std::chrono::seconds>(*wait).count()))
                .append(" s)");
            throw RateLimited(what, status, *wait);
        }
    }
    if (transient) throw HttpError(what, status);
    throw HttpRejected(what, status);
}

}  // namespace cascade

// Streamed replies (`"stream": true`), read with the types above: cascade::ChatStreamParser.
#include "chat_stream.hpp"

#endif  // CASCADE_INTEGRATION_CHAT_COMPLETION_HPP
