// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_KEYS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_KEYS_HPP

#include <stdexcept>
#include <string>
#include <string_view>

namespace cascade::redis::detail {

// The prefix of every key of one shared component: "cascade:{budget:prod}". The braces are a
// Redis Cluster hash tag: every key of the component hashes to the same slot, so that one script
// may touch them all. Throws std::invalid_argument naming `who` for a name that would break the
// tag or the key's readability.
inline std::string key_prefix(std::string_view component, std::string_view name, std::string_view who) {
    const auto refuse = [&](const std::string& why) {
        throw std::invalid_argument(std::string(who) + ": the name \"" + std::string(name) + "\" " + why);
    };
    if (name.empty()) refuse("is empty; give each shared component a name, the same in every replica");
    if (name.size() > 200) refuse("is longer than 200 bytes");
    for (const char c : name) {
        if (c == '{' || c == '}') refuse("contains a brace, which would change its Redis Cluster hash tag");
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) refuse("contains a space or a control character");
    }
    return "cascade:{" + std::string(component) + ":" + std::string(name) + "}";
}

}  // namespace cascade::redis::detail

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_KEYS_HPP
