// The cost/quality plot as a standalone SVG file, written by hand (no dependency).
#ifndef CASCADE_EVAL_SVG_PLOT_HPP
#define CASCADE_EVAL_SVG_PLOT_HPP

#include <optional>
#include <string>
#include <vector>

#include <cascade/eval/curve.hpp>
#include <cascade/eval/metrics.hpp>

namespace cascade_eval {

/// What a cost/quality plot shows. Empty parts are left out (and out of the legend).
struct Plot {
    std::string title;
    std::string subtitle;
    std::string cloud_label = "threshold settings";
    std::vector<cascade::CostQuality> cloud;     ///< every setting swept (grey dots)
    std::vector<cascade::CostQuality> frontier;  ///< the Pareto frontier (a line)
    std::string frontier_label = "Pareto frontier";
    std::vector<cascade::ModelPoint> models;     ///< each model alone (labelled points)
    std::optional<cascade::CostQuality> oracle;
    std::vector<cascade::CostQuality> random_line;  ///< random router between two models
    std::optional<cascade::CostQuality> chosen;     ///< the chosen operating point
    std::string chosen_label = "chosen";
    std::optional<double> target_quality;  ///< a horizontal line
    std::string target_label;
};

/// The SVG document. Cost runs on a log axis when the points span more than 30x, else linear.
std::string render_svg(const Plot& plot);

}  // namespace cascade_eval

#endif  // CASCADE_EVAL_SVG_PLOT_HPP
