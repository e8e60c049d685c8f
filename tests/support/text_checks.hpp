// SPDX-License-Identifier: MIT
// What tests read in text: whether a message, note or rendering holds a part, and the message of
// a configuration error.
#ifndef CASCADE_TESTS_TEXT_CHECKS_HPP
#define CASCADE_TESTS_TEXT_CHECKS_HPP

#include "catch.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// The message of the std::invalid_argument that `fn` throws; fails the test when it throws none.
template <class Fn>
std::string invalid_argument_message(Fn&& fn) {
    try {
        fn();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    FAIL("expected std::invalid_argument");
    return {};
}

#endif  // CASCADE_TESTS_TEXT_CHECKS_HPP
