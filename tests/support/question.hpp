// SPDX-License-Identifier: MIT
// The Request of the verifier tests: a user's own type that carries the question's text.
#ifndef CASCADE_TESTS_QUESTION_HPP
#define CASCADE_TESTS_QUESTION_HPP

#include <string>

struct Question {
    std::string text;
};

#endif  // CASCADE_TESTS_QUESTION_HPP
