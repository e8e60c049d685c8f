// SPDX-License-Identifier: MIT
// TextClassifier::load (the router's model file): any bytes either load or raise
// cascade::ParseError; a loaded model scores in [0, 1] and saves to a file that loads back to
// the same scores.
#include <cascade/core/parse_error.hpp>
#include <cascade/score/text_classifier.hpp>

#include <sstream>
#include <string>

#include "fuzz_target.hpp"

namespace {

const char* const probes[] = {"What is 2 + 2?", "Prove that there are infinitely many primes.", "x",
                              "\xC3\xA9t\xC3\xA9 \xE2\x80\x94 ok", "a b c d e f g h i j k l m n o p"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using cascade::score::TextClassifier;
    TextClassifier model;
    try {
        std::istringstream in{std::string(cascade_fuzz::as_text(data, size))};
        model = TextClassifier::load(in, "fuzz.model");
    } catch (const cascade::ParseError& e) {
        CASCADE_FUZZ_EXPECT(e.source() == "fuzz.model", e.what());
        return 0;
    }
    std::ostringstream saved;
    model.save(saved);
    std::istringstream again(saved.str());
    TextClassifier back;
    try {
        back = TextClassifier::load(again, "saved.model");
    } catch (const cascade::ParseError& e) {
        cascade_fuzz::broken(__FILE__, __LINE__, "save() writes a model that load() reads", saved.str() + e.what());
    }
    for (const char* text : probes) {
        const double p = model.score(text);
        CASCADE_FUZZ_EXPECT(p >= 0.0 && p <= 1.0, std::string(text) + " scores " + std::to_string(p));
        CASCADE_FUZZ_EXPECT(back.score(text) == p, saved.str());
    }
    return 0;
}
