// SPDX-License-Identifier: MIT
// parse_calibration_file: any bytes either load or raise cascade::ParseError naming the source; a
// loaded file has a chain of names, one finite threshold per tier but the last, and writes to
// text that loads back to the same file.
#include <cascade/core/parse_error.hpp>
#include <cascade/eval/calibration_file.hpp>

#include <cmath>
#include <optional>
#include <string>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<cascade::CalibrationFile> file;
    try {
        file.emplace(cascade::parse_calibration_file(cascade_fuzz::as_text(data, size), "fuzz.json"));
    } catch (const cascade::ParseError& e) {
        CASCADE_FUZZ_EXPECT(e.source() == "fuzz.json", e.what());
        return 0;
    }
    CASCADE_FUZZ_EXPECT(!file->chain.empty(), "a loaded file has a chain");
    CASCADE_FUZZ_EXPECT(file->thresholds.size() + 1 == file->chain.size(), "one threshold per tier but the last");
    for (const double t : file->thresholds) CASCADE_FUZZ_EXPECT(!std::isnan(t), "a threshold is a number (or an infinity), never NaN");
    const std::string text = cascade::calibration_file_json(*file);
    std::optional<cascade::CalibrationFile> back;
    try {
        back.emplace(cascade::parse_calibration_file(text, "saved.json"));
    } catch (const cascade::ParseError& e) {
        cascade_fuzz::broken(__FILE__, __LINE__, "calibration_file_json() writes a file that loads", text + e.what());
    }
    CASCADE_FUZZ_EXPECT(back->chain == file->chain && back->thresholds == file->thresholds, text);
    CASCADE_FUZZ_EXPECT(back->target == file->target && back->budget == file->budget && back->delta == file->delta, text);
    CASCADE_FUZZ_EXPECT(back->data.digest == file->data.digest && back->data.bytes == file->data.bytes, text);
    CASCADE_FUZZ_EXPECT(back->data.seed == file->data.seed && back->data.split == file->data.split, text);
    CASCADE_FUZZ_EXPECT(back->guarantee == file->guarantee && back->reference == file->reference, text);
    CASCADE_FUZZ_EXPECT(back->train.has_value() == file->train.has_value(), text);
    CASCADE_FUZZ_EXPECT(calibration_file_json(*back) == text, text);
    return 0;
}
