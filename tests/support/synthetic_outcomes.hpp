// SPDX-License-Identifier: MIT
// Outcome logs (CSV text) that tests write themselves, from a random stream of their own: the same
// seed gives the same log with every compiler and standard library, which std's distributions do
// not promise.
#ifndef CASCADE_TESTS_SYNTHETIC_OUTCOMES_HPP
#define CASCADE_TESTS_SYNTHETIC_OUTCOMES_HPP

#include <cascade/detail/number.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace cascade_test {

// A 64-bit linear congruential stream.
class Lcg {
public:
    explicit Lcg(std::uint64_t seed) : state_(seed) {}

    // The 31 best bits of the next state.
    std::uint32_t next() {
        advance();
        return static_cast<std::uint32_t>(state_ >> 33);
    }
    // Uniform in [0, 1), from the 53 best bits of the next state.
    double unit() {
        advance();
        return static_cast<double>(state_ >> 11) / 9007199254740992.0;
    }

private:
    void advance() { state_ = state_ * 6364136223846793005ull + 1442695040888963407ull; }
    std::uint64_t state_;
};

// `queries` x 3 models, "tiny", "mid" and "large": the larger, the more often right (40, 65 and
// 90 % of the time) and the dearer. Qualities are 0 or 1 and costs multiples of 2^-10, so every
// sum of them is exact in double. `confidence(random)` draws one answer's confidence cell (empty
// when missing) after its quality and cost.
template <class Confidence>
std::string tiered_outcomes(std::size_t queries, std::uint64_t seed, Confidence confidence) {
    Lcg random(seed);
    const char* models[] = {"tiny", "mid", "large"};
    std::string out = "query_id,model,quality,cost,confidence\n";
    for (std::size_t q = 0; q < queries; ++q) {
        for (std::size_t m = 0; m < 3; ++m) {
            const int quality = static_cast<int>(random.next() % 100) < 40 + 25 * static_cast<int>(m) ? 1 : 0;
            const double cost = static_cast<double>((m + 1) * (m + 1) * (1 + random.next() % 8)) / 1024.0;
            const std::string cell = confidence(random);
            out += "q" + std::to_string(q) + "," + models[m] + "," + std::to_string(quality) + "," +
                   cascade::detail::format_number(cost) + "," + cell + "\n";
        }
    }
    return out;
}

// Queries of varying difficulty d, uniform in [0, 1), answered by "small", "medium" and "big"
// (skill 0.35, 0.6, 0.85; $0.001, $0.004, $0.02 a call): a model of skill s is right with
// probability s + 0.5 - d, held to [0, 1]. Row i of a query is named `query_prefix` + i. After
// the cost, each row has what `rest(random, right, p)` returns (a confidence that may draw on
// `right` and `p`, and any further columns), starting with its comma; `header` names the columns.
template <class Rest>
std::string skilled_outcomes(std::size_t queries, Lcg random, const std::string& header,
                             const std::string& query_prefix, Rest rest) {
    struct Model {
        const char* name;
        double skill;
        double cost;
    };
    const Model models[] = {{"small", 0.35, 0.001}, {"medium", 0.6, 0.004}, {"big", 0.85, 0.02}};
    std::string out = header + "\n";
    for (std::size_t q = 0; q < queries; ++q) {
        const double difficulty = random.unit();
        for (const Model& m : models) {
            const double p = std::min(1.0, std::max(0.0, m.skill + 0.5 - difficulty));
            const int right = random.unit() < p ? 1 : 0;
            const std::string tail = rest(random, right, p);
            out += query_prefix + std::to_string(q) + "," + m.name + "," + std::to_string(right) + "," +
                   cascade::detail::format_number(m.cost) + tail + "\n";
        }
    }
    return out;
}

}  // namespace cascade_test

#endif  // CASCADE_TESTS_SYNTHETIC_OUTCOMES_HPP
