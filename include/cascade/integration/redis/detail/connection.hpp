// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_CONNECTION_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_CONNECTION_HPP

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sys/time.h>

#include "../redis_error.hpp"
#include "../reply.hpp"
#include "../server_options.hpp"
#include "hiredis.hpp"

namespace cascade::redis::detail {

// "127.0.0.1:6379": how messages name the server.
inline std::string server_address(const ServerOptions& options) {
    return options.host + ":" + std::to_string(options.port);
}

// The first word of a command, for messages ("EVALSHA", "PING").
inline std::string command_name(const std::vector<std::string_view>& args) {
    return args.empty() ? std::string("(empty command)") : std::string(args.front());
}

// True when the error reply `text` carries the code word `code` (with its space after it): at its
// start, as Redis words its own errors and, from Redis 7, a script's ("READONLY You can't write
// ... script: ..."), or after ": -" inside a script's error as Redis 6 words it ("ERR Error running
// script ...: @user_script: 4: -READONLY You can't write ...").
inline bool has_error_code(std::string_view text, std::string_view code) noexcept {
    if (text.rfind(code, 0) == 0) return true;
    for (std::size_t at = text.find(": -"); at != std::string_view::npos; at = text.find(": -", at + 1)) {
        if (text.substr(at + 3).rfind(code, 0) == 0) return true;
    }
    return false;
}

// What kind of error a reply's text is. Redis prefixes its errors with a code word, also inside a
// script's error ("... @user_script:3: WRONGTYPE Operation against a key ...").
inline RedisErrorKind classify_reply_error(std::string_view text) noexcept {
    // The server cannot run the command now, and the command did not run: loading its data,
    // busy with a script, a cluster or a failover in progress (a demoted primary answers READONLY
    // until the clients find the new one; MOVED and ASK send them elsewhere), out of memory, or
    // refusing writes it cannot persist or replicate. Another moment, or another server, serves it.
    for (const std::string_view transient : {"LOADING ", "BUSY ", "TRYAGAIN ", "CLUSTERDOWN ", "MASTERDOWN ",
                                             "READONLY ", "MISCONF ", "OOM ", "NOREPLICAS ", "MOVED ", "ASK "}) {
        if (has_error_code(text, transient)) return RedisErrorKind::not_ready;
    }
    if (text.rfind("ERR max number of clients reached", 0) == 0) return RedisErrorKind::not_ready;
    if (text.find("WRONGTYPE") != std::string_view::npos) return RedisErrorKind::wrong_type;
    if (text.rfind("NOAUTH", 0) == 0 || text.rfind("WRONGPASS", 0) == 0 || text.rfind("NOPERM", 0) == 0) {
        return RedisErrorKind::auth;
    }
    if (text.find("ERR AUTH") != std::string_view::npos || text.find("invalid password") != std::string_view::npos ||
        text.find("invalid username-password") != std::string_view::npos) {
        return RedisErrorKind::auth;
    }
    return RedisErrorKind::reply;
}

// The error reply a round trip answered with, kept apart from I/O errors: the connection is still
// good after it.
struct ErrorReply {
    std::string text;
};

// One blocking connection to one server. Not thread-safe: Client lends each to one thread at a
// time. After an I/O error or a timeout it is broken (hiredis cannot tell which reply belongs to
// which command any more) and must be dropped.
class Connection {
public:
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
        if (context_ != nullptr) redisFree(context_);
    }

    // Connects, authenticates and selects the database, all three by `until` (Client passes the
    // earlier of the call's deadline and the end of ServerOptions::connect_timeout): each step
    // gets what the ones before it left, so that a slow AUTH cannot give the SELECT a whole
    // timeout of its own past the deadline. Throws RedisError.
    static std::unique_ptr<Connection> open(const ServerOptions& options, std::chrono::steady_clock::time_point until) {
        const std::chrono::nanoseconds timeout = time_until(options, until, "connecting");
        const timeval tv = to_timeval(timeout);
        redisContext* context = redisConnectWithTimeout(options.host.c_str(), options.port, tv);
        std::unique_ptr<Connection> connection(new Connection(context, options));
        if (context == nullptr) {
            throw RedisError(RedisErrorKind::unreachable,
                             "cascade::redis: cannot connect to Redis at " + server_address(options) + ": out of memory");
        }
        if (context->err != 0) {
            const bool timed_out = is_timeout(context);
            throw RedisError(timed_out ? RedisErrorKind::timed_out : RedisErrorKind::unreachable,
                             "cascade::redis: cannot connect to Redis at " + server_address(options) + ": " +
                                 (timed_out ? "no answer within " + describe_ms(timeout) : std::string(context->errstr)));
        }
        if (!options.password.empty()) {
            std::vector<std::string_view> auth{"AUTH"};
            if (!options.username.empty()) auth.push_back(options.username);
            auth.push_back(options.password);
            ErrorReply refused;
            connection->call(auth, time_until(options, until, "AUTH"), &refused);
            if (!refused.text.empty()) {
                // A server at its limit of clients answers the first command with that, AUTH too.
                const RedisErrorKind kind = classify_reply_error(refused.text) == RedisErrorKind::not_ready
                                                ? RedisErrorKind::not_ready
                                                : RedisErrorKind::auth;
                throw RedisError(kind, "cascade::redis: Redis at " + server_address(options) + " refused " +
                                                           (options.username.empty() ? std::string("the password")
                                                                                     : "user \"" + options.username + "\"") +
                                                           ": " + refused.text);
            }
        }
        if (options.database != 0) {
            const std::string db = std::to_string(options.database);
            ErrorReply refused;
            connection->call({"SELECT", db}, time_until(options, until, "SELECT"), &refused);
            if (!refused.text.empty()) {
                throw RedisError(classify_reply_error(refused.text), "cascade::redis: Redis at " + server_address(options) +
                                                                         " cannot select database " + db + ": " + refused.text);
            }
        }
        return connection;
    }

    // One round trip. An error reply goes to `error` when given (the reply returned is then the
    // error itself), and is thrown as a RedisError otherwise; an I/O error or a timeout breaks the
    // connection and is thrown.
    Reply call(const std::vector<std::string_view>& args, std::chrono::nanoseconds timeout, ErrorReply* error = nullptr) {
        if (timeout != timeout_) {
            if (redisSetTimeout(context_, to_timeval(timeout)) != REDIS_OK) throw io_error(args, timeout);
            timeout_ = timeout;
        }
        pointers_.clear();
        lengths_.clear();
        for (const std::string_view arg : args) {
            pointers_.push_back(arg.data());
            lengths_.push_back(arg.size());
        }
        errno = 0;
        void* raw = redisCommandArgv(context_, static_cast<int>(args.size()), pointers_.data(), lengths_.data());
        if (raw == nullptr) throw io_error(args, timeout);
        Reply reply(static_cast<redisReply*>(raw));
        auto* r = static_cast<const redisReply*>(raw);
        if (r->type == REDIS_REPLY_ERROR) {
            std::string text(r->str, r->len);
            if (error != nullptr) {
                error->text = std::move(text);
            } else {
                const RedisErrorKind kind = classify_reply_error(text);
                const char* hint = kind == RedisErrorKind::auth && options_->password.empty()
                                       ? " (the server wants a password: set cascade::redis::ServerOptions::password)"
                                       : "";
                throw RedisError(kind, "cascade::redis: " + command_name(args) + " at " + server_address(*options_) +
                                           " failed: " + text + hint);
            }
        }
        return reply;
    }

    [[nodiscard]] bool broken() const noexcept { return context_ == nullptr || context_->err != 0; }

private:
    Connection(redisContext* context, const ServerOptions& options) noexcept : context_(context), options_(&options) {}

    // The time left until `until` for the next step of open(); throws timed_out when none is.
    static std::chrono::nanoseconds time_until(const ServerOptions& options, std::chrono::steady_clock::time_point until,
                                               std::string_view step) {
        if (until == std::chrono::steady_clock::time_point::max()) return std::chrono::nanoseconds::max();
        const auto left = until - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) {
            throw RedisError(RedisErrorKind::timed_out,
                             "cascade::redis: cannot connect to Redis at " + server_address(options) +
                                 ": the connect timeout or the call's deadline ran out before " + std::string(step) +
                                 " could start");
        }
        return std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    }

    static timeval to_timeval(std::chrono::nanoseconds timeout) noexcept {
        // A zero timeout means "wait forever" to the socket: never send one.
        const long long us = std::max<long long>(1, static_cast<long long>(timeout.count() / 1000));
        timeval tv{};
        tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us / 1000000);
        tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1000000);
        return tv;
    }

    static bool is_timeout(const redisContext* context) noexcept {
#ifdef REDIS_ERR_TIMEOUT
        if (context->err == REDIS_ERR_TIMEOUT) return true;
#endif
        const std::string_view text(context->errstr);
        return (context->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS)) ||
               text.find("timed out") != std::string_view::npos || text.find("Timeout") != std::string_view::npos ||
               text.find("temporarily unavailable") != std::string_view::npos;
    }

    static std::string describe_ms(std::chrono::nanoseconds d) {
        char text[32];
        std::snprintf(text, sizeof text, "%g ms", static_cast<double>(d.count()) / 1e6);
        return text;
    }

    RedisError io_error(const std::vector<std::string_view>& args, std::chrono::nanoseconds timeout) const {
        const bool timed_out = is_timeout(context_);
        const std::string what = context_->errstr[0] != '\0' ? std::string(context_->errstr) : std::string("connection lost");
        if (context_->err == 0) context_->err = REDIS_ERR_IO;  // never reuse it: the stream may be out of step
        return RedisError(timed_out ? RedisErrorKind::timed_out : RedisErrorKind::unreachable,
                          "cascade::redis: " + command_name(args) + " at " + server_address(*options_) +
                              (timed_out ? ": no answer within " + describe_ms(timeout) : ": " + what));
    }

    redisContext* context_;
    const ServerOptions* options_;
    std::chrono::nanoseconds timeout_{-1};
    std::vector<const char*> pointers_;
    std::vector<std::size_t> lengths_;
};

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_CONNECTION_HPP
