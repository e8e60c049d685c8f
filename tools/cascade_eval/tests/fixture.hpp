// A small synthetic outcome log for the tool's tests: queries of varying difficulty, three models
// of rising skill and price, and an informative but noisy confidence (a log-probability) for each
// answer, with the optional columns the tool reads.
#ifndef CASCADE_EVAL_TESTS_FIXTURE_HPP
#define CASCADE_EVAL_TESTS_FIXTURE_HPP

#include <cmath>
#include <cstdint>
#include <string>

#include <cascade/detail/number.hpp>

// By path: the browser check that includes this file is built without the tests' include path.
#include "../../../tests/support/synthetic_outcomes.hpp"

namespace cascade_eval_tests {

inline std::string outcomes_csv(std::size_t queries, std::uint64_t seed) {
    return cascade_test::skilled_outcomes(
        queries, cascade_test::Lcg(seed * 0x9E3779B97F4A7C15ull + 7),
        "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms", "q",
        [](cascade_test::Lcg& random, int right, double p) {
            const double conf = std::log(0.02 + 0.45 * right + 0.25 * p + 0.28 * random.unit());
            return "," + cascade::detail::format_number(conf) + ",synthetic,100,20,";
        });
}

}  // namespace cascade_eval_tests

#endif  // CASCADE_EVAL_TESTS_FIXTURE_HPP
