// cascade-eval curve: the cost/quality trade-off of one chain as its thresholds sweep.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>

#include <cascade/eval/curve.hpp>
#include <cascade/eval/metrics.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "svg_plot.hpp"

namespace cascade_eval {

int run_curve(const std::vector<std::string>& words) {
    const Args args("curve", words, with_read_limits({"--log", "--chain", "--max-points", "--svg"}),
                    {"--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const std::string path = args.require("--log");
    const std::vector<std::string> chain = args.list("--chain");
    if (chain.empty()) throw UsageError("'curve' needs --chain");
    cascade::CurveOptions options;
    options.max_points = args.count("--max-points").value_or(2000);
    if (options.max_points == 0) throw UsageError("option --max-points must be >= 1");

    const cascade::OutcomeTable table = read_table(path, progress, limits);
    const std::vector<cascade::CurvePoint> curve = cascade::cascade_curve(table, chain, options);
    const std::vector<cascade::CurvePoint> frontier = cascade::pareto_frontier(curve);

    // Every model with an outcome for every query is shown; the others are named, not dropped.
    std::vector<std::string> complete;
    std::vector<std::string> incomplete;
    for (const std::string& m : table.models()) {
        const std::size_t i = table.model_index(m);
        bool all = true;
        for (std::size_t q = 0; q < table.query_count() && all; ++q) all = table.has(i, q);
        (all ? complete : incomplete).push_back(m);
    }
    if (!incomplete.empty()) progress.say("not plotting models that lack some queries: " + join(incomplete, ", "));
    const std::vector<cascade::ModelPoint> models = cascade::model_points(table, complete);
    const cascade::CostQuality oracle = cascade::oracle_point(table, chain);
    const std::size_t first = table.model_index(chain.front());
    const std::size_t last = table.model_index(chain.back());
    const cascade::CostQuality weak{table.mean_cost(first), table.mean_quality(first)};
    const cascade::CostQuality strong{table.mean_cost(last), table.mean_quality(last)};

    std::vector<cascade::CostQuality> points;
    for (const auto& p : curve) points.push_back({p.cost, p.quality});
    std::optional<double> aiq;
    {
        std::vector<cascade::CostQuality> with_ends = points;
        with_ends.push_back(weak);
        with_ends.push_back(strong);
        double lo = with_ends.front().cost;
        double hi = lo;
        for (const auto& p : with_ends) lo = std::min(lo, p.cost), hi = std::max(hi, p.cost);
        if (hi > lo) aiq = cascade::aiq(with_ends);
    }
    std::optional<double> lift;
    if (chain.size() > 1 && strong.cost != weak.cost && strong.quality != weak.quality) {
        lift = cascade::mean_ibc_lift(frontier, weak, strong);
    }

    if (auto svg = args.get("--svg")) {
        Plot plot;
        plot.title = "Cost and quality of " + join(chain, " > ") + " (" + std::to_string(table.query_count()) + " queries)";
        plot.subtitle = path + ": " + std::to_string(curve.size()) + " threshold settings, " + std::to_string(frontier.size()) +
                        " on the Pareto frontier";
        if (chain.size() > 1) {
            plot.cloud = points;
            for (const auto& p : frontier) plot.frontier.push_back({p.cost, p.quality});
        }
        plot.models = models;
        plot.oracle = oracle;
        if (chain.size() > 1 && strong.cost != weak.cost) plot.random_line = cascade::random_router_curve(weak, strong, 1);
        write_file(*svg, render_svg(plot));
    }

    if (args.has("--json")) {
        auto point_json = [](const cascade::CurvePoint& p) {
            return json_object({{"cost", Json(p.cost)}, {"quality", Json(p.quality)}, {"thresholds", json_numbers(p.thresholds)}});
        };
        Json::Array all;
        for (const auto& p : curve) all.push_back(point_json(p));
        Json::Array front;
        for (const auto& p : frontier) front.push_back(point_json(p));
        Json::Array model_list;
        for (const auto& m : models) {
            model_list.push_back(json_object({{"model", Json(m.model)}, {"cost", Json(m.cost)}, {"quality", Json(m.quality)}}));
        }
        std::cout << dump_json(json_object({
                         {"chain", json_strings(chain)},
                         {"queries", Json(table.query_count())},
                         {"points", Json(std::move(all))},
                         {"frontier", Json(std::move(front))},
                         {"models", Json(std::move(model_list))},
                         {"oracle", json_object({{"cost", Json(oracle.cost)}, {"quality", Json(oracle.quality)}})},
                         {"aiq", aiq ? Json(*aiq) : Json(nullptr)},
                         {"ibc_lift", lift ? Json(*lift) : Json(nullptr)},
                     }))
                  << "\n";
        return exit_ok;
    }

    std::cout << "chain " << join(chain, " > ") << " on " << table.query_count() << " queries: " << curve.size()
              << " threshold settings, " << frontier.size() << " on the Pareto frontier\n\n";
    std::cout << "  single models:\n";
    for (const auto& m : models) std::cout << "    " << m.model << ": quality " << fixed(m.quality) << ", " << dollars(m.cost) << "\n";
    std::cout << "  oracle over the chain: quality " << fixed(oracle.quality) << ", " << dollars(oracle.cost) << "\n";
    if (aiq) std::cout << "  AIQ: " << fixed(*aiq) << "\n";
    if (lift) std::cout << "  mean IBC lift of the frontier over the " << chain.front() << "/" << chain.back() << " mix: " << percent(*lift) << "\n";
    std::cout << "\n  Pareto frontier:\n    " << "cost per query   quality   thresholds\n";
    for (const auto& p : frontier) {
        std::string t;
        for (std::size_t i = 0; i < p.thresholds.size(); ++i) t += (i ? ", " : "") + cascade::detail::format_number(p.thresholds[i]);
        char buf[64];
        std::snprintf(buf, sizeof buf, "    %-16s %-9s ", dollars(p.cost).c_str(), fixed(p.quality).c_str());
        std::cout << buf << t << "\n";
    }
    return exit_ok;
}

}  // namespace cascade_eval
