// SPDX-License-Identifier: MIT
// An OutcomeTable read from CSV text that a test writes itself.
#ifndef CASCADE_TESTS_OUTCOME_TABLE_HPP
#define CASCADE_TESTS_OUTCOME_TABLE_HPP

#include <cascade/eval/outcome_log.hpp>

#include <sstream>
#include <string>

inline cascade::OutcomeTable table_of(const std::string& csv) {
    std::istringstream in(csv);
    return cascade::OutcomeTable(cascade::read_outcomes_csv(in, "fixture.csv"));
}

#endif  // CASCADE_TESTS_OUTCOME_TABLE_HPP
