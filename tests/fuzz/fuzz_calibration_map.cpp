// SPDX-License-Identifier: MIT
// CalibrationMap::load: any bytes either load or raise cascade::ParseError; a loaded map gives a
// probability in [0, 1] for every score that is not NaN, and saves to text that loads back to
// the same map.
#include <cascade/core/parse_error.hpp>
#include <cascade/verify/calibration_map.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

namespace {

// Scores at the ends of the range, at every knot and between every two knots.
std::vector<double> probes_for(const cascade::verify::CalibrationMap& map) {
    constexpr double big = std::numeric_limits<double>::max();
    constexpr double inf = std::numeric_limits<double>::infinity();
    std::vector<double> scores{-inf, -big, -1e300, -1.0, -1e-300, 0.0, 1e-300, 0.5, 1.0, 1e300, big, inf};
    if (const auto* iso = map.isotonic()) {
        const std::vector<double>& x = iso->x();
        for (std::size_t i = 0; i < x.size() && i < 64; ++i) {
            scores.push_back(x[i]);
            if (i + 1 < x.size()) {
                scores.push_back(x[i] / 2 + x[i + 1] / 2);
                scores.push_back(std::nextafter(x[i], inf));
            }
        }
    }
    return scores;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using cascade::verify::CalibrationMap;
    std::optional<CalibrationMap> map;
    try {
        map.emplace(CalibrationMap::from_text(cascade_fuzz::as_text(data, size), "fuzz.cal"));
    } catch (const cascade::ParseError& e) {
        CASCADE_FUZZ_EXPECT(e.source() == "fuzz.cal", e.what());
        return 0;
    }
    const std::string text = map->to_text();
    std::optional<CalibrationMap> back;
    try {
        back.emplace(CalibrationMap::from_text(text, "saved.cal"));
    } catch (const cascade::ParseError& e) {
        cascade_fuzz::broken(__FILE__, __LINE__, "to_text() writes a map that load() reads", text + e.what());
    }
    for (const double score : probes_for(*map)) {
        const double p = (*map)(score);
        CASCADE_FUZZ_EXPECT(p >= 0.0 && p <= 1.0, text + "maps " + cascade::detail::format_number(score) + " to " +
                                                      cascade::detail::format_number(p));
        CASCADE_FUZZ_EXPECT((*back)(score) == p, text);
    }
    CASCADE_FUZZ_EXPECT(std::isnan((*map)(std::numeric_limits<double>::quiet_NaN())), text);
    return 0;
}
