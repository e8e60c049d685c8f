// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_RETRY_HINTS_HPP
#define CASCADE_RUNTIME_RETRY_HINTS_HPP

#include <chrono>
#include <stdexcept>
#include <string>

namespace cascade {

/// An error that says when the service will take calls again, e.g. an HTTP 429 or 503 with a
/// Retry-After header. Throw it (or a type derived from it) from a model; cascade::with_retry
/// waits at least that long before the next attempt, and gives up at once when the wait is longer
/// than its policy's max_delay.
///
///     if (status == 429) throw cascade::RetryAfter("mini: rate limited", std::chrono::seconds(retry_after));
class RetryAfter : public std::runtime_error {
public:
    RetryAfter(const std::string& what, std::chrono::nanoseconds after)
        : std::runtime_error(what), after_(after < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : after) {}

    /// How long to wait before calling again; never negative.
    [[nodiscard]] std::chrono::nanoseconds retry_after() const noexcept { return after_; }

private:
    std::chrono::nanoseconds after_;
};

/// An error that another attempt cannot fix (a 400, a refused budget): cascade::with_retry's
/// default predicate does not retry it, and cascade::with_breaker does not count it against the
/// service's health. Throw it or derive from it.
class NotRetryable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace cascade

#endif  // CASCADE_RUNTIME_RETRY_HINTS_HPP
