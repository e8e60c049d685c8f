// SPDX-License-Identifier: MIT
// The example's settings, from environment variables, each checked with a message that names it.
#ifndef OPENAI_CASCADE_CONFIG_HPP
#define OPENAI_CASCADE_CONFIG_HPP

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include <cascade/integration/chat_completion.hpp>

#include "chat_client.hpp"

namespace openai_cascade {

/// A setting that cannot be used; the message names the variable and says what it expects.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct TierConfig {
    std::string model;
    cascade::TokenPrices prices;
};

struct Config {
    Endpoint endpoint;
    TierConfig cheap;
    TierConfig frontier;
    double min_confidence = 0.8;  ///< the cheap tier's threshold on its mean token probability
    int attempts = 3;             ///< calls per tier, retries included
    std::chrono::milliseconds retry_delay{500};
    /// Start the frontier alongside a cheap call that has not answered by then; empty: never.
    std::optional<std::chrono::milliseconds> hedge_after;
    /// Streamed: the cheap stream stops at a token less likely than this.
    double stream_min_prob = 0.25;
    /// Streamed: the longest wait for the cheap stream's next token.
    std::chrono::milliseconds stall_limit{5000};
};

namespace detail {

inline std::optional<std::string> variable(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
}

inline std::string required(const char* name, const char* what) {
    if (auto value = variable(name)) return *value;
    throw ConfigError(std::string(name) + " is not set: give " + what);
}

inline std::string shown(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

inline double number(const char* name, const std::string& text, double low, double high) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(value) || value < low ||
        value > high) {
        throw ConfigError(std::string(name) + "=\"" + text + "\": expected a number in [" + shown(low) + ", " +
                          shown(high) + "]");
    }
    return value;
}

inline double number_or(const char* name, double fallback, double low, double high) {
    const auto text = variable(name);
    return text ? number(name, *text, low, high) : fallback;
}

inline long long integer_or(const char* name, long long fallback, long long low, long long high) {
    const auto text = variable(name);
    if (!text) return fallback;
    const double value = number(name, *text, static_cast<double>(low), static_cast<double>(high));
    if (value != std::floor(value)) {
        throw ConfigError(std::string(name) + "=\"" + *text + "\": expected a whole number");
    }
    return static_cast<long long>(value);
}

// "input,output": dollars per million prompt and completion tokens.
inline cascade::TokenPrices prices(const char* name) {
    const auto text = variable(name);
    if (!text) return {};
    const auto comma = text->find(',');
    if (comma == std::string::npos) {
        throw ConfigError(std::string(name) + "=\"" + *text +
                          "\": expected \"input,output\" dollars per million tokens, e.g. \"0.15,0.60\"");
    }
    return {number(name, text->substr(0, comma), 0.0, 1e6), number(name, text->substr(comma + 1), 0.0, 1e6)};
}

}  // namespace detail

/// Reads the settings; throws ConfigError for a missing or unusable one.
inline Config config_from_environment() {
    Config config;
    config.endpoint.base_url = detail::variable("CASCADE_BASE_URL").value_or("https://api.openai.com/v1");
    config.endpoint.api_key =
        detail::variable("CASCADE_API_KEY").value_or(detail::variable("OPENAI_API_KEY").value_or(""));
    config.endpoint.timeout = std::chrono::milliseconds(detail::integer_or("CASCADE_TIMEOUT_MS", 30000, 1, 3600000));
    config.endpoint.max_tokens = static_cast<int>(detail::integer_or("CASCADE_MAX_TOKENS", 512, 1, 1000000));
    config.endpoint.max_response_bytes = static_cast<std::size_t>(detail::integer_or(
        "CASCADE_MAX_RESPONSE_BYTES", static_cast<long long>(default_max_response_bytes), 1, 1LL << 40));
    config.endpoint.max_response_bytes_name = "CASCADE_MAX_RESPONSE_BYTES";
    config.cheap.model = detail::required("CASCADE_CHEAP_MODEL", "the cheap model's name, e.g. gpt-4o-mini");
    config.frontier.model = detail::required("CASCADE_FRONTIER_MODEL", "the frontier model's name, e.g. gpt-4o");
    config.cheap.prices = detail::prices("CASCADE_CHEAP_PRICE");
    config.frontier.prices = detail::prices("CASCADE_FRONTIER_PRICE");
    config.min_confidence = detail::number_or("CASCADE_MIN_CONFIDENCE", 0.8, 0.0, 1.0);
    config.attempts = static_cast<int>(detail::integer_or("CASCADE_ATTEMPTS", 3, 1, 20));
    config.retry_delay = std::chrono::milliseconds(detail::integer_or("CASCADE_RETRY_DELAY_MS", 500, 0, 600000));
    if (detail::variable("CASCADE_HEDGE_AFTER_MS")) {
        config.hedge_after = std::chrono::milliseconds(detail::integer_or("CASCADE_HEDGE_AFTER_MS", 0, 0, 3600000));
    }
    config.stream_min_prob = detail::number_or("CASCADE_STREAM_MIN_PROB", 0.25, 0.0, 1.0);
    config.stall_limit = std::chrono::milliseconds(detail::integer_or("CASCADE_STALL_MS", 5000, 1, 3600000));
    return config;
}

}  // namespace openai_cascade

#endif  // OPENAI_CASCADE_CONFIG_HPP
