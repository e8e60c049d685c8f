// SPDX-License-Identifier: MIT
#include <cascade/integration/chat_completion.hpp>

#include <cascade/cascade.hpp>
#include <cascade/runtime/clock.hpp>
#include <cascade/runtime/retry.hpp>
#include <cascade/verify.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

cascade::ChatCompletion completion(std::string text, std::vector<double> logprobs, std::string finish = "stop",
                                   std::uint64_t prompt = 10, std::uint64_t completion_tokens = 5) {
    cascade::ChatCompletion c;
    c.id = "chatcmpl-1";
    c.model = "mini-2026";
    c.choices.push_back(cascade::ChatReply{std::move(text), std::move(logprobs), std::move(finish)});
    c.usage = cascade::TokenUsage{prompt, completion_tokens};
    return c;
}

template <class Exception>
Exception thrown_by(int status, std::string_view message, std::string_view retry_after = {}) {
    try {
        cascade::throw_http_error(status, message, retry_after, "mini");
    } catch (const Exception& e) {
        return e;
    }
    FAIL("the expected exception type was not thrown for HTTP " << status);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("the verifiers read the first choice of a chat completion") {
    const auto good = completion("Paris", {-0.01, -0.02});
    CHECK(cascade::response_text(good) == "Paris");
    CHECK(cascade::response_finish_reason(good) == "stop");
    const auto verdict = cascade::verify::mean_token_prob()(good);
    CHECK(verdict.confidence == Approx(std::exp((-0.01 - 0.02) / 2)));  // the geometric mean

    const auto cut = completion("Par", {-0.01}, "length");
    CHECK(cascade::verify::not_truncated()(cut).confidence == 0.0);
}

TEST_CASE("a chat completion without choices is rejected by every check, never read out of bounds") {
    cascade::ChatCompletion empty;
    CHECK(cascade::response_text(empty).empty());
    CHECK(cascade::verify::non_empty()(empty).confidence == 0.0);
    const auto verdict = cascade::verify::mean_token_prob()(empty);
    CHECK(verdict.confidence == 0.0);
    CHECK_THAT(verdict.note, Catch::Matchers::ContainsSubstring("missing"));
}

TEST_CASE("price_per_token prices a call from its usage, per million tokens") {
    const cascade::TokenPrices prices{0.15, 0.60};
    CHECK(prices.cost(cascade::TokenUsage{1'000'000, 0}) == Approx(0.15));
    CHECK(prices.cost(cascade::TokenUsage{14, 7}) == Approx((14 * 0.15 + 7 * 0.60) / 1e6));

    auto mini = cascade::tier(
        "mini", [](const std::string&) { return completion("Paris", {-0.01}, "stop", 2000, 1000); },
        cascade::verify::mean_token_prob(), 0.5, cascade::price_per_token(prices));
    cascade::Cascade c{std::move(mini)};
    const auto r = c.run(std::string("capital of France?"));
    REQUIRE(r.has_value());
    CHECK(r.cost() == Approx((2000 * 0.15 + 1000 * 0.60) / 1e6));
}

TEST_CASE("a completion without usage keeps its answer and is recorded as unpriced") {
    auto mini = cascade::tier(
        "mini",
        [](const std::string&) {
            auto c = completion("Paris", {-0.01});
            c.usage.reset();
            return c;
        },
        cascade::verify::mean_token_prob(), 0.5, cascade::price_per_token({0.15, 0.60}));
    cascade::Cascade c{std::move(mini)};
    const auto r = c.run(std::string("capital of France?"));
    REQUIRE(r.has_value());
    CHECK(cascade::response_text(r.value()) == "Paris");
    CHECK(r.cost() == 0.0);
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("no token usage"));
}

TEST_CASE("price_per_token refuses prices that cannot be right") {
    CHECK_THROWS_WITH(cascade::price_per_token({-1.0, 0.6}),
                      Catch::Matchers::ContainsSubstring("input_per_million must be a finite number >= 0"));
    CHECK_THROWS_WITH(cascade::price_per_token({0.1, std::numeric_limits<double>::quiet_NaN()}),
                      Catch::Matchers::ContainsSubstring("output_per_million"));
    CHECK_THROWS_AS(cascade::price_per_token({std::numeric_limits<double>::infinity(), 0.0}), std::invalid_argument);
}

TEST_CASE("Retry-After is read as seconds or as an HTTP date") {
    CHECK(cascade::parse_retry_after("120") == std::chrono::nanoseconds(120s));
    CHECK(cascade::parse_retry_after(" 7 \r\n") == std::chrono::nanoseconds(7s));
    // 1994-11-06 08:49:37 UTC is 784111777 s after the epoch.
    const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(784111777 - 30));
    CHECK(cascade::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at) == std::chrono::nanoseconds(30s));
    // A date already past asks for no wait.
    const auto later = std::chrono::system_clock::time_point(std::chrono::seconds(784111777 + 100));
    CHECK(cascade::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later) == std::chrono::nanoseconds(0s));
    CHECK(cascade::parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", std::chrono::system_clock::time_point{}) ==
          std::chrono::nanoseconds(std::chrono::seconds(1709164800)));

    // Absurd waits are capped (at 100 years), never overflowing into a negative one.
    const auto century = std::chrono::nanoseconds(std::chrono::seconds(std::int64_t{100} * 365 * 86400));
    CHECK(cascade::parse_retry_after("999999999999") == century);
    CHECK(cascade::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", std::chrono::system_clock::time_point{}) ==
          century);

    CHECK_FALSE(cascade::parse_retry_after(""));
    CHECK_FALSE(cascade::parse_retry_after("-5"));
    CHECK_FALSE(cascade::parse_retry_after("1.5"));
    CHECK_FALSE(cascade::parse_retry_after("soon"));
    CHECK_FALSE(cascade::parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(cascade::parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT"));
}

TEST_CASE("a Retry-After of any number of digits is capped at 100 years") {
    const auto century = std::chrono::nanoseconds(std::chrono::seconds(std::int64_t{100} * 365 * 86400));
    CHECK(cascade::parse_retry_after("999999999999") == century);
    CHECK(cascade::parse_retry_after("9999999999999") == century);
    CHECK(cascade::parse_retry_after("99999999999999999999999999999999999999999") == century);
    CHECK(cascade::parse_retry_after(std::string(5000, '7')) == century);
    // Leading zeros add no length to the wait.
    CHECK(cascade::parse_retry_after("00000000000000000000042") == std::chrono::nanoseconds(42s));
    CHECK_FALSE(cascade::parse_retry_after("99999999999999999999x"));
}

TEST_CASE("HTTP statuses map onto the errors retry and escalation understand") {
    SECTION("429 with Retry-After says how long to wait") {
        const auto e = thrown_by<cascade::RateLimited>(429, "slow down", "3");
        CHECK(e.status() == 429);
        CHECK(e.retry_after() == std::chrono::nanoseconds(3s));
        CHECK(std::string(e.what()) == "mini: HTTP 429: slow down (retry after 3 s)");
    }
    SECTION("503 with Retry-After too") {
        CHECK(thrown_by<cascade::RateLimited>(503, "overloaded", "1").status() == 503);
    }
    SECTION("429 without a usable Retry-After is a retryable error") {
        CHECK(thrown_by<cascade::HttpError>(429, "slow down", "whenever").status() == 429);
    }
    SECTION("5xx, 408 and 425 are retryable") {
        CHECK(thrown_by<cascade::HttpError>(500, "oops").status() == 500);
        CHECK(thrown_by<cascade::HttpError>(502, "").status() == 502);
        CHECK(thrown_by<cascade::HttpError>(408, "").status() == 408);
        CHECK(thrown_by<cascade::HttpError>(425, "").status() == 425);
        CHECK(std::string(thrown_by<cascade::HttpError>(502, "").what()) == "mini: HTTP 502");
    }
    SECTION("other 4xx are not retryable") {
        const auto e = thrown_by<cascade::HttpRejected>(401, "bad key");
        CHECK(e.status() == 401);
        CHECK(std::string(e.what()) == "mini: HTTP 401: bad key");
        CHECK(thrown_by<cascade::NotRetryable>(400, "context too long").what() != nullptr);
        CHECK(thrown_by<cascade::HttpRejected>(404, "no such model").status() == 404);
    }
}

TEST_CASE("with_retry waits out a rate limit, and stops at once on a rejection") {
    int calls = 0;
    cascade::ManualClock clock;
    auto flaky = cascade::with_retry(
        [&calls](const std::string&) {
            if (++calls == 1) cascade::throw_http_error(429, "slow down", "2", "mini");
            return completion("Paris", {-0.01});
        },
        cascade::RetryPolicy{3, 100ms, 10s, 2.0, 0.0}, cascade::retry_any_error, clock);
    const auto answer = flaky(std::string("q"));
    CHECK(cascade::response_text(answer) == "Paris");
    CHECK(calls == 2);
    CHECK(flaky.stats().waited == std::chrono::nanoseconds(2s));

    int rejected_calls = 0;
    auto rejected = cascade::with_retry(
        [&rejected_calls](const std::string&) -> cascade::ChatCompletion {
            ++rejected_calls;
            cascade::throw_http_error(400, "bad request");
        },
        cascade::RetryPolicy{3, 100ms, 10s, 2.0, 0.0}, cascade::retry_any_error, clock);
    CHECK_THROWS_AS(rejected(std::string("q")), cascade::HttpRejected);
    CHECK(rejected_calls == 1);
}
