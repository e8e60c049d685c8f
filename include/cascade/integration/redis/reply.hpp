// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_REPLY_HPP
#define CASCADE_INTEGRATION_REDIS_REPLY_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "detail/hiredis.hpp"
#include "redis_error.hpp"

namespace cascade::redis {

/// A read-only look at one reply, or at one element of an array reply; valid while the Reply it
/// came from lives. Reading a value of the wrong type throws RedisError (kind reply) naming both
/// types: a reply cascade did not expect is a fault to report, never a value to guess.
class ReplyView {
public:
    explicit ReplyView(const redisReply* reply) noexcept : reply_(reply) {}

    [[nodiscard]] bool is_nil() const noexcept { return reply_->type == REDIS_REPLY_NIL; }
    [[nodiscard]] bool is_integer() const noexcept { return reply_->type == REDIS_REPLY_INTEGER; }
    [[nodiscard]] bool is_string() const noexcept {
        return reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS;
    }
    [[nodiscard]] bool is_array() const noexcept { return reply_->type == REDIS_REPLY_ARRAY; }

    /// An integer reply, or a string reply that holds a whole number (what Lua's tostring and
    /// HGET give back).
    [[nodiscard]] long long integer() const {
        if (is_integer()) return reply_->integer;
        if (is_string()) {
            const std::string text(reply_->str, reply_->len);
            std::size_t used = 0;
            try {
                const long long value = std::stoll(text, &used);
                if (used == text.size()) return value;
            } catch (const std::exception&) {
                // falls through to the error below
            }
            throw RedisError(RedisErrorKind::reply, "cascade::redis: expected a whole number in the reply, got \"" + text + "\"");
        }
        throw mismatch("an integer");
    }
    [[nodiscard]] std::string_view string() const {
        if (!is_string()) throw mismatch("a string");
        return {reply_->str, reply_->len};
    }
    [[nodiscard]] std::size_t size() const {
        if (!is_array()) throw mismatch("an array");
        return reply_->elements;
    }
    [[nodiscard]] ReplyView operator[](std::size_t i) const {
        if (i >= size()) {
            throw RedisError(RedisErrorKind::reply, "cascade::redis: the reply has " + std::to_string(size()) +
                                                        " elements, element " + std::to_string(i) + " was asked for");
        }
        return ReplyView(reply_->element[i]);
    }

    /// "an integer", "a string", ...: for messages.
    [[nodiscard]] std::string_view type_name() const noexcept {
        switch (reply_->type) {
            case REDIS_REPLY_STRING: return "a string";
            case REDIS_REPLY_STATUS: return "a status";
            case REDIS_REPLY_INTEGER: return "an integer";
            case REDIS_REPLY_NIL: return "nil";
            case REDIS_REPLY_ARRAY: return "an array";
            case REDIS_REPLY_ERROR: return "an error";
            default: return "a reply of another type";
        }
    }

private:
    [[nodiscard]] RedisError mismatch(const char* wanted) const {
        return RedisError(RedisErrorKind::reply,
                          std::string("cascade::redis: expected ") + wanted + " in the reply, got " + std::string(type_name()));
    }

    const redisReply* reply_;
};

/// A reply from the server, owned; its elements are read through ReplyView.
class Reply : public ReplyView {
public:
    explicit Reply(redisReply* reply) noexcept : ReplyView(reply), owned_(reply) {}

private:
    struct Free {
        void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
    };
    std::unique_ptr<redisReply, Free> owned_;
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_REPLY_HPP
