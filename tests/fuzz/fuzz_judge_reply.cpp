// SPDX-License-Identifier: MIT
// A judge's reply read by the ready-made parsers (score scales, yes/no) and by the judge
// verifier around them: any text gives a confidence in [0, 1] or a rejection that quotes it.
#include <cascade/verify/judge.hpp>

#include <optional>
#include <string>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view reply = cascade_fuzz::as_text(data, size);
    using namespace cascade::verify;
    const ScoreScale scales[] = {unit_score(), score_scale(1, 10), score_scale(-5, 5), score_scale(0, 1e-300)};
    for (const ScoreScale& scale : scales) {
        if (const std::optional<double> p = scale(reply)) {
            CASCADE_FUZZ_EXPECT(*p >= 0.0 && *p <= 1.0, std::string(reply) + " -> " + std::to_string(*p));
        }
    }
    if (const std::optional<double> p = yes_no()(reply)) {
        CASCADE_FUZZ_EXPECT(*p == 0.0 || *p == 1.0, std::string(reply));
    }
    auto verifier = judge([&](const std::string&) { return std::string(reply); }, score_scale(1, 10),
                          cascade::price_per_call(0.001));
    const cascade::Verdict v = verifier(std::string("the answer"));
    CASCADE_FUZZ_EXPECT(v.confidence >= 0.0 && v.confidence <= 1.0, std::string(reply));
    return 0;
}
