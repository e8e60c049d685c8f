// A small synthetic outcome log for the tool's tests: queries of varying difficulty, three models
// of rising skill and price, and an informative but noisy confidence for each answer.
#ifndef CASCADE_EVAL_TESTS_FIXTURE_HPP
#define CASCADE_EVAL_TESTS_FIXTURE_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <cascade/detail/number.hpp>

namespace cascade_eval_tests {

inline std::string outcomes_csv(std::size_t queries, std::uint64_t seed) {
    std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 7;
    auto uniform = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    };
    struct Model {
        const char* name;
        double skill;
        double cost;
    };
    const Model models[] = {{"small", 0.35, 0.001}, {"medium", 0.6, 0.004}, {"big", 0.85, 0.02}};
    std::string out = "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms\n";
    for (std::size_t q = 0; q < queries; ++q) {
        const double difficulty = uniform();
        for (const Model& m : models) {
            const double p = std::min(1.0, std::max(0.0, m.skill + 0.5 - difficulty));
            const int right = uniform() < p ? 1 : 0;
            const double conf = std::log(0.02 + 0.45 * right + 0.25 * p + 0.28 * uniform());
            out += "q" + std::to_string(q) + "," + m.name + "," + std::to_string(right) + "," +
                   cascade::detail::format_number(m.cost) + "," + cascade::detail::format_number(conf) + ",synthetic,100,20,\n";
        }
    }
    return out;
}

}  // namespace cascade_eval_tests

#endif  // CASCADE_EVAL_TESTS_FIXTURE_HPP
