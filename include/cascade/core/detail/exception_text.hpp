// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP
#define CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP

#include <cstddef>
#include <exception>
#include <string>

namespace cascade::detail {

// The text of whatever was thrown, for traces, events and error messages; user code may throw
// anything, not only std::exception.
inline std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

// "1 slot", "2 slots": a count and its noun, singular or plural, for messages that print counts
// (nouns that take an -s).
inline std::string count_of(std::size_t n, const char* noun) {
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP
