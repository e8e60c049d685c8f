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

// What kind of error a reply's text is. Redis prefixes its errors with a code word, also inside a
// script's error ("... @user_script:3: WRONGTYPE Operation against a key ...").
inline RedisErrorKind classify_reply_error(std::string_view text) noexcept {
    for (const std::string_view transient : {"LOADING ", "BUSY ", "TRYAGAIN ", "CLUSTERDOWN ", "MASTERDOWN "}) {
        if (text.rfind(transient, 0) == 0) return RedisErrorKind::not_ready;
    }
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

    // Connects within `timeout`, then authenticates and selects the database. Throws RedisError.
    static std::unique_ptr<Connection> open(const ServerOptions& options, std::chrono::nanoseconds timeout) {
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
            connection->call(auth, timeout, &refused);
            if (!refused.text.empty()) {
                throw RedisError(RedisErrorKind::auth, "cascade::redis: Redis at " + server_address(options) + " refused " +
                                                           (options.username.empty() ? std::string("the password")
                                                                                     : "user \"" + options.username + "\"") +
                                                           ": " + refused.text);
            }
        }
        if (options.database != 0) {
            const std::string db = std::to_string(options.database);
            ErrorReply refused;
            connection->call({"SELECT", db}, timeout, &refused);
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
