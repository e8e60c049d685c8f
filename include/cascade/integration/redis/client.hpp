// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_CLIENT_HPP
#define CASCADE_INTEGRATION_REDIS_CLIENT_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/connection.hpp"
#include "detail/deadline.hpp"
#include "redis_error.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "server_options.hpp"

namespace cascade::redis {

/// A snapshot of a client's counters.
struct ClientStats {
    std::uint64_t round_trips = 0;         ///< commands that got an answer (an error reply included)
    std::uint64_t unavailable = 0;         ///< round trips that failed: unreachable or timed out
    std::uint64_t timeouts = 0;            ///< of those, the ones that timed out
    std::uint64_t connections_opened = 0;  ///< connections made, the first ones included
    std::uint64_t connect_failures = 0;    ///< connection attempts that failed
    std::uint64_t script_loads = 0;        ///< scripts sent in full because the server lacked them
    /// commands sent again on a new connection because the pooled one they took had been closed
    /// by the server (a restart, CLIENT KILL, an idle time-out); not counted as unavailable
    std::uint64_t retried = 0;
};

/// The connection to one Redis server that the shared components (SharedBudget,
/// SharedConcurrencyLimit, SharedBreaker, SharedCache) use. Make one per server and share it.
///
///     cascade::redis::Client redis{cascade::redis::ServerOptions{}};   // 127.0.0.1:6379
///     redis.ping();                                                      // throws if unreachable
///
/// Every round trip waits at most ServerOptions::command_timeout, and never past the deadline it
/// is given. A connection that fails is dropped and a new one is made on the next call; after a
/// failed attempt to connect, calls fail at once for ServerOptions::reconnect_backoff, so that an
/// outage costs callers nothing but an exception. Opening a connection (connect, AUTH, SELECT)
/// takes at most ServerOptions::connect_timeout in all, and never past the deadline.
///
/// A pooled connection that the server has closed while it was idle (a restart, CLIENT KILL, an
/// idle time-out) fails on its next use; the client then sends the command once more on a new
/// connection, within the same deadline, and counts it in ClientStats::retried. The server may
/// have run the command before the connection broke, so it may run twice: the scripts of the
/// shared components are written to allow it, and a command of your own through command() should
/// be one that may run twice as well (SET, not INCR) where that matters.
///
/// Thread-safety: every member may be called from any thread. Each round trip borrows a pooled
/// connection (one mutex, held only to take it and give it back).
class Client {
public:
    using clock = std::chrono::steady_clock;

    /// Throws std::invalid_argument for options that cannot work (see validate(ServerOptions)).
    /// Does not connect: the first round trip does.
    explicit Client(ServerOptions options) : options_((validate(options), std::move(options))) {}

    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// One PING round trip; throws RedisError when the server cannot be reached, refuses the
    /// password, or answers anything but PONG.
    void ping(clock::time_point deadline = clock::time_point::max()) {
        const Reply reply = command({"PING"}, deadline);
        if (!reply.is_string() || reply.string() != "PONG") {
            throw RedisError(RedisErrorKind::reply, "cascade::redis: PING at " + address() + " answered " +
                                                        std::string(reply.type_name()) + " instead of PONG");
        }
    }

    /// Runs one command, e.g. `command({"GET", key})`. Throws RedisError for an error reply (its
    /// kind says which: wrong_type, auth, reply) and when the server cannot be reached in time.
    Reply command(const std::vector<std::string_view>& args, clock::time_point deadline = clock::time_point::max()) {
        return round_trip(args, deadline, nullptr);
    }

    /// Runs `script` atomically on the server with KEYS and ARGV, by its SHA-1 when the server has
    /// it and by its body otherwise. Errors as command().
    Reply run(const Script& script, const std::vector<std::string_view>& keys, const std::vector<std::string_view>& args,
              clock::time_point deadline = clock::time_point::max()) {
        const std::string key_count = std::to_string(keys.size());
        std::vector<std::string_view> call;
        call.reserve(3 + keys.size() + args.size());
        call.push_back("EVALSHA");
        call.push_back(script.sha1());
        call.push_back(key_count);
        call.insert(call.end(), keys.begin(), keys.end());
        call.insert(call.end(), args.begin(), args.end());
        detail::ErrorReply refused;
        Reply reply = round_trip(call, deadline, &refused);
        if (refused.text.empty()) return reply;
        if (refused.text.rfind("NOSCRIPT", 0) == 0) {
            script_loads_.fetch_add(1, std::memory_order_relaxed);
            call[0] = "EVAL";
            call[1] = script.source();
            refused.text.clear();
            reply = round_trip(call, deadline, &refused);
            if (refused.text.empty()) return reply;
        }
        std::string key_list;
        for (const std::string_view key : keys) key_list += (key_list.empty() ? "" : ", ") + std::string(key);
        throw RedisError(detail::classify_reply_error(refused.text), "cascade::redis: a script on keys " + key_list + " at " +
                                                                         address() + " failed: " + refused.text);
    }

    [[nodiscard]] const ServerOptions& options() const noexcept { return options_; }
    /// "host:port", as messages say it.
    [[nodiscard]] std::string address() const { return detail::server_address(options_); }

    [[nodiscard]] ClientStats stats() const noexcept {
        ClientStats s;
        s.round_trips = round_trips_.load(std::memory_order_relaxed);
        s.unavailable = unavailable_.load(std::memory_order_relaxed);
        s.timeouts = timeouts_.load(std::memory_order_relaxed);
        s.connections_opened = connections_opened_.load(std::memory_order_relaxed);
        s.connect_failures = connect_failures_.load(std::memory_order_relaxed);
        s.script_loads = script_loads_.load(std::memory_order_relaxed);
        s.retried = retried_.load(std::memory_order_relaxed);
        return s;
    }

private:
    using Connection = detail::Connection;

    // How long the next step may take: the configured limit, cut short by the deadline. Throws
    // timed_out when the deadline has already passed, without touching the network.
    static std::chrono::nanoseconds time_left(std::chrono::nanoseconds limit, clock::time_point deadline,
                                              std::string_view what) {
        if (deadline == clock::time_point::max()) return limit;
        const auto left = deadline - clock::now();
        if (left <= clock::duration::zero()) {
            throw RedisError(RedisErrorKind::timed_out,
                             "cascade::redis: the call's deadline passed before " + std::string(what) + " could start");
        }
        return std::min(limit, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
    }

    Reply round_trip(const std::vector<std::string_view>& args, clock::time_point deadline, detail::ErrorReply* refused) {
        bool pooled = false;
        std::unique_ptr<Connection> connection = borrow(deadline, true, pooled);
        if (pooled) {
            std::optional<Reply> reply = exchange(std::move(connection), args, deadline, refused, true);
            if (reply) return std::move(*reply);
            // The pooled connection was closed by the server while it sat idle: Redis may well be
            // up. Once more on a new connection, within the same deadline. The command may have
            // run before the connection broke, and runs again: the shared components' scripts
            // allow it (the budget's settles and releases are idempotent, an acquisition adds the
            // same member again, a cache store writes the same value).
            retried_.fetch_add(1, std::memory_order_relaxed);
            connection = borrow(deadline, false, pooled);
        }
        return std::move(*exchange(std::move(connection), args, deadline, refused, false));
    }

    // One round trip on `connection`, which goes back to the pool unless it broke. Empty when
    // `may_retry` and the connection failed with an I/O error (not a timeout), which is then not
    // counted: the caller tries again.
    std::optional<Reply> exchange(std::unique_ptr<Connection> connection, const std::vector<std::string_view>& args,
                                  clock::time_point deadline, detail::ErrorReply* refused, bool may_retry) {
        try {
            Reply reply = connection->call(args, time_left(options_.command_timeout, deadline, detail::command_name(args)),
                                           refused);
            round_trips_.fetch_add(1, std::memory_order_relaxed);
            give_back(std::move(connection));
            return std::optional<Reply>(std::move(reply));
        } catch (const RedisError& e) {
            // An error reply is never `unreachable`: that kind is an I/O error on the socket.
            if (may_retry && e.kind() == RedisErrorKind::unreachable && connection->broken()) return std::nullopt;
            if (e.unavailable()) {
                unavailable_.fetch_add(1, std::memory_order_relaxed);
                if (e.kind() == RedisErrorKind::timed_out) timeouts_.fetch_add(1, std::memory_order_relaxed);
            } else {
                round_trips_.fetch_add(1, std::memory_order_relaxed);  // the server answered, with an error
            }
            if (!connection->broken()) give_back(std::move(connection));
            throw;
        }
    }

    // A connection: an idle one from the pool when `use_pool` allows and there is one (`pooled`
    // says so), a new one otherwise.
    std::unique_ptr<Connection> borrow(clock::time_point deadline, bool use_pool, bool& pooled) {
        pooled = false;
        if (use_pool) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!idle_.empty()) {
                std::unique_ptr<Connection> connection = std::move(idle_.back());
                idle_.pop_back();
                pooled = true;
                return connection;
            }
        }
        const auto now = clock::now();
        const auto retry_at = clock::time_point(clock::duration(retry_at_.load(std::memory_order_acquire)));
        if (now < retry_at) {
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            std::string last;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                last = last_connect_error_;
            }
            throw RedisError(RedisErrorKind::unreachable,
                             last + " (the next attempt is in " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(retry_at - now).count() + 1) +
                                 " ms)");
        }
        // A deadline that has passed says nothing of the server: no attempt, and no back-off.
        try {
            (void)time_left(options_.connect_timeout, deadline, "connecting");
        } catch (const RedisError&) {
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            timeouts_.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
        try {
            std::unique_ptr<Connection> connection =
                Connection::open(options_, std::min(deadline, detail::later(now, options_.connect_timeout)));
            connections_opened_.fetch_add(1, std::memory_order_relaxed);
            return connection;
        } catch (const RedisError& e) {
            connect_failures_.fetch_add(1, std::memory_order_relaxed);
            if (e.unavailable()) {
                unavailable_.fetch_add(1, std::memory_order_relaxed);
                if (e.kind() == RedisErrorKind::timed_out) timeouts_.fetch_add(1, std::memory_order_relaxed);
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    last_connect_error_ = e.what();
                }
                retry_at_.store(detail::later(clock::now(), options_.reconnect_backoff).time_since_epoch().count(),
                                std::memory_order_release);
            }
            throw;
        }
    }

    void give_back(std::unique_ptr<Connection> connection) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));
    }

    ServerOptions options_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::string last_connect_error_;
    std::atomic<clock::rep> retry_at_{clock::time_point::min().time_since_epoch().count()};
    std::atomic<std::uint64_t> round_trips_{0};
    std::atomic<std::uint64_t> unavailable_{0};
    std::atomic<std::uint64_t> timeouts_{0};
    std::atomic<std::uint64_t> connections_opened_{0};
    std::atomic<std::uint64_t> connect_failures_{0};
    std::atomic<std::uint64_t> script_loads_{0};
    std::atomic<std::uint64_t> retried_{0};
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_CLIENT_HPP
