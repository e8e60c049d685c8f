// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_REDIS_ERROR_HPP
#define CASCADE_INTEGRATION_REDIS_REDIS_ERROR_HPP

#include <string>
#include <string_view>

#include "../../runtime/retry_hints.hpp"

namespace cascade::redis {

/// What went wrong in a round trip to Redis.
enum class RedisErrorKind {
    unreachable,  ///< no connection: refused, reset, a name that does not resolve, or reconnecting
    timed_out,    ///< no answer within the command timeout or the call's deadline
    /// the server answered that it cannot serve now, and the command did not run: loading its
    /// data after a restart (LOADING), busy with a long script (BUSY), a failover that demoted it
    /// to a replica (READONLY) or left it without its primary (MASTERDOWN), a cluster failing over
    /// or sending the key elsewhere (TRYAGAIN, CLUSTERDOWN, MOVED, ASK; cascade does not follow
    /// redirections), out of memory (OOM), refusing writes it cannot persist (MISCONF) or
    /// replicate (NOREPLICAS), or at its limit of clients ("ERR max number of clients reached")
    not_ready,
    auth,         ///< the server refused the password or the user, or wants one that was not given
    wrong_type,   ///< a key holds a value of another type than cascade keeps there
    lost_state,   ///< the shared state is gone (e.g. the server restarted without persistence)
    reply,        ///< any other error the server replied with
};

constexpr std::string_view to_string(RedisErrorKind kind) noexcept {
    switch (kind) {
        case RedisErrorKind::unreachable: return "unreachable";
        case RedisErrorKind::timed_out: return "timed_out";
        case RedisErrorKind::not_ready: return "not_ready";
        case RedisErrorKind::auth: return "auth";
        case RedisErrorKind::wrong_type: return "wrong_type";
        case RedisErrorKind::lost_state: return "lost_state";
        case RedisErrorKind::reply: return "reply";
    }
    return "unknown";
}

/// An error of the Redis integration. Its message names the server, the command or key, and what
/// the server said. It is a cascade::NotRetryable: an unreachable Redis says nothing of a model's
/// health, so a breaker around the model does not count it, and a retry does not hammer it.
class RedisError : public NotRetryable {
public:
    RedisError(RedisErrorKind kind, const std::string& what) : NotRetryable(what), kind_(kind) {}

    [[nodiscard]] RedisErrorKind kind() const noexcept { return kind_; }
    /// True when the server could not serve in time (unreachable, timed_out or not_ready): the
    /// errors that a component's WhenUnavailable policy decides about, and that pass. The others
    /// are faults to fix.
    [[nodiscard]] bool unavailable() const noexcept {
        return kind_ == RedisErrorKind::unreachable || kind_ == RedisErrorKind::timed_out ||
               kind_ == RedisErrorKind::not_ready;
    }

private:
    RedisErrorKind kind_;
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_REDIS_ERROR_HPP
