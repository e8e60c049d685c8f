// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SERVER_OPTIONS_HPP
#define CASCADE_INTEGRATION_REDIS_SERVER_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cascade::redis {

/// Where the Redis server is and how long to wait for it.
///
///     cascade::redis::ServerOptions server;
///     server.host = "10.0.0.5";
///     server.password = std::getenv("REDIS_PASSWORD");
struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string username;  ///< an ACL user; empty for the default user
    std::string password;  ///< sent with AUTH when not empty
    int database = 0;      ///< selected after connecting when not 0 (Redis Cluster has only 0)
    /// The longest a new connection may take. A call's deadline cuts it shorter.
    std::chrono::milliseconds connect_timeout{250};
    /// The longest one round trip may take. A call's deadline cuts it shorter.
    std::chrono::milliseconds command_timeout{100};
    /// After a connection attempt fails, calls fail at once for this long instead of each waiting
    /// for a connection that is likely to fail too.
    std::chrono::milliseconds reconnect_backoff{100};
    /// Connections kept open for reuse; more are opened under load and closed when returned.
    std::size_t max_idle_connections = 16;
};

/// Throws std::invalid_argument naming the field to fix when `options` cannot work.
inline void validate(const ServerOptions& options) {
    const std::string where = "cascade::redis::ServerOptions: ";
    if (options.host.empty()) throw std::invalid_argument(where + "host is empty");
    if (options.port < 1 || options.port > 65535) {
        throw std::invalid_argument(where + "port must be in 1..65535, got " + std::to_string(options.port));
    }
    if (options.database < 0) {
        throw std::invalid_argument(where + "database must be >= 0, got " + std::to_string(options.database));
    }
    if (options.connect_timeout <= std::chrono::milliseconds::zero()) {
        throw std::invalid_argument(where + "connect_timeout must be > 0, got " +
                                    std::to_string(options.connect_timeout.count()) + " ms");
    }
    if (options.command_timeout <= std::chrono::milliseconds::zero()) {
        throw std::invalid_argument(where + "command_timeout must be > 0, got " +
                                    std::to_string(options.command_timeout.count()) + " ms");
    }
    if (options.reconnect_backoff < std::chrono::milliseconds::zero()) {
        throw std::invalid_argument(where + "reconnect_backoff must be >= 0, got " +
                                    std::to_string(options.reconnect_backoff.count()) + " ms");
    }
    if (!options.username.empty() && options.password.empty()) {
        throw std::invalid_argument(where + "username \"" + options.username + "\" is set without a password");
    }
}

/// What a shared component does when Redis cannot be reached in time.
enum class WhenUnavailable {
    fail_closed,  ///< refuse the call (throw cascade::redis::RedisError): nothing is spent unchecked
    use_local,    ///< use the component's in-process twin until Redis answers again
};

constexpr std::string_view to_string(WhenUnavailable policy) noexcept {
    switch (policy) {
        case WhenUnavailable::fail_closed: return "fail_closed";
        case WhenUnavailable::use_local: return "use_local";
    }
    return "unknown";
}

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SERVER_OPTIONS_HPP
