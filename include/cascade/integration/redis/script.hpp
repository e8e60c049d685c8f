// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SCRIPT_HPP
#define CASCADE_INTEGRATION_REDIS_SCRIPT_HPP

#include <string>
#include <utility>

#include "detail/sha1.hpp"

namespace cascade::redis {

/// A Lua script run atomically on the server by Client::run. It is sent by its SHA-1 (EVALSHA),
/// and its body goes over the wire only when the server does not have it yet (after a restart,
/// or on a server that never saw it).
class Script {
public:
    explicit Script(std::string source) : source_(std::move(source)), sha1_(detail::sha1_hex(source_)) {}

    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }

private:
    std::string source_;
    std::string sha1_;
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SCRIPT_HPP
