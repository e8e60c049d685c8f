// The shift check's report in cascade-eval: is the traffic judged drawn like the traffic chosen on?
#ifndef CASCADE_EVAL_SHIFT_REPORT_HPP
#define CASCADE_EVAL_SHIFT_REPORT_HPP

#include <string>

#include <cascade/eval/shift.hpp>

#include "common.hpp"

namespace cascade_eval {

/// A p-value for people: four decimals, or two significant digits with an exponent below 0.0001.
std::string p_value_text(double p);

/// The report as text: a verdict line, a table of the tests, and, when the premise is in doubt,
/// a line saying so and what shifted. `reference` and `other` name the two logs ("train", "test").
std::string shift_text(const cascade::ShiftReport& report, const std::string& reference, const std::string& other);

/// The report as JSON: p_value, alpha, premise_in_doubt, correction, tests_made and the tests.
Json shift_json(const cascade::ShiftReport& report);

}  // namespace cascade_eval

#endif  // CASCADE_EVAL_SHIFT_REPORT_HPP
