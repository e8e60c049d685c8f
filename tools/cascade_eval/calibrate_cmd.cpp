// cascade-eval calibrate: choose a cascade on one log, report it on that log and another.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>

#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/calibration_file.hpp>
#include <cascade/eval/curve.hpp>
#include <cascade/eval/shift.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "shift_report.hpp"
#include "svg_plot.hpp"

namespace cascade_eval {

int run_calibrate(const std::vector<std::string>& words) {
    const Args args(
        "calibrate", words,
        with_read_limits({"--train", "--test", "--log", "--split", "--seed", "--reference", "--target", "--budget",
                          "--models", "--max-tiers", "--max-chains", "--delta", "--max-candidates", "--svg", "--mode", "--bound", "--selection",
                          "--shift-alpha", "--save"}),
        {"--naive", "--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    // Options are checked before any log is read: a mistake on the command line should not wait
    // for a large file.
    cascade::CalibrateOptions o;
    o.reference = args.require("--reference");
    o.target = args.number("--target").value_or(0.95);
    if (!(o.target > 0.0 && o.target <= 1.0)) {
        throw UsageError("option --target: a fraction of the reference's quality in (0, 1], e.g. 0.95; got " +
                         *args.get("--target"));
    }
    o.budget = args.number("--budget");
    o.models = args.list("--models");
    o.max_tiers = args.count("--max-tiers").value_or(3);
    if (auto n = args.count("--max-chains")) o.max_chains = *n;
    const std::string mode_word = args.get("--mode").value_or(args.has("--naive") ? "naive" : "family_wise");
    if (args.has("--naive") && mode_word != "naive") throw UsageError("--naive and --mode " + mode_word + " contradict");
    if (mode_word == "family_wise") {
        o.mode = cascade::CalibrationMode::family_wise;
    } else if (mode_word == "per_setting") {
        o.mode = cascade::CalibrationMode::per_setting;
    } else if (mode_word == "naive") {
        o.mode = cascade::CalibrationMode::naive;
    } else {
        // The mode once called guarded tests each setting on its own: say where it went.
        const std::string renamed = mode_word == "guarded" ? " (the former guarded mode is per_setting)" : "";
        throw UsageError("option --mode: family_wise, per_setting or naive; got " + mode_word + renamed);
    }
    const std::string bound_word = args.get("--bound").value_or("betting");
    if (bound_word == "betting") {
        o.bound = cascade::RiskBound::betting;
    } else if (bound_word == "bernstein") {
        o.bound = cascade::RiskBound::bernstein;
    } else if (bound_word == "kl") {
        o.bound = cascade::RiskBound::kl;
    } else {
        throw UsageError("option --bound: betting, bernstein or kl; got " + bound_word);
    }
    o.delta = args.number("--delta").value_or(0.1);
    if (!(o.delta > 0.0 && o.delta < 1.0)) {
        throw UsageError("option --delta: the risk, a probability in (0, 1), e.g. 0.1; got " + *args.get("--delta"));
    }
    o.selection_fraction = args.number("--selection");  // unset: chosen from the target
    if (o.selection_fraction && !(*o.selection_fraction > 0.0 && *o.selection_fraction < 1.0)) {
        throw UsageError("option --selection: the share of the training queries that chooses the settings to test, in "
                         "(0, 1); got " + *args.get("--selection"));
    }
    if (auto c = args.count("--max-candidates")) o.max_candidates = *c;
    cascade::ShiftOptions shift_options;
    shift_options.alpha = args.number("--shift-alpha").value_or(shift_options.alpha);
    if (!(shift_options.alpha > 0.0 && shift_options.alpha < 1.0)) {
        throw UsageError("option --shift-alpha: the shift check's level, in (0, 1), e.g. 0.01; got " +
                         *args.get("--shift-alpha"));
    }

    // Either --train [--test], or --log with --split.
    std::optional<cascade::OutcomeTable> train;
    std::optional<cascade::OutcomeTable> test;
    if (args.has("--log")) {
        if (args.has("--train") || args.has("--test")) throw UsageError("give either --log with --split, or --train [--test]");
        const double fraction = args.number("--split").value_or(0.5);
        if (!(fraction > 0 && fraction < 1)) throw UsageError("option --split: the training share must be in (0, 1)");
        const std::uint64_t seed = args.whole("--seed").value_or(1);
        const cascade::OutcomeTable all = read_table(args.require("--log"), progress, limits);
        auto parts = cascade::split_by_query(all, fraction, seed);
        train = std::move(parts.first);
        test = std::move(parts.second);
    } else {
        if (args.has("--split") || args.has("--seed")) throw UsageError("--split and --seed go with --log");
        train.emplace(read_table(args.require("--train"), progress, limits));
        if (auto path = args.get("--test")) test.emplace(read_table(*path, progress, limits));
    }
    const std::size_t work = train->query_count() * train->model_count() * train->model_count();
    if (work > 20000000 && !progress.quiet) {
        o.progress = [&](std::size_t done, std::size_t total) {
            if (done == total || done % std::max<std::size_t>(1, total / 10) == 0) {
                progress.say("searched " + std::to_string(done) + " of " + std::to_string(total) + " chains");
            }
        };
    }
    const cascade::CalibrationResult c = cascade::calibrate(*train, o);
    if (auto save = args.get("--save")) {
        // The digest is of the file read, so that the saved choice names the data it came from.
        cascade::CalibrationData data = cascade::describe_data_file(args.has("--log") ? *args.get("--log") : *args.get("--train"));
        if (args.has("--log")) {
            data.split = args.number("--split").value_or(0.5);
            data.seed = args.whole("--seed").value_or(1);
        }
        cascade::save_calibration_file(*save, cascade::calibration_file_from(c, o, std::move(data)));
        progress.say("saved the calibration to " + *save);
    }

    std::vector<SetReport> sets;
    sets.push_back(measure("train", *train, c.chain, c.thresholds, o.reference));
    if (test) sets.push_back(measure("test", *test, c.chain, c.thresholds, o.reference));
    // The guarantee assumes the test traffic is drawn like the training traffic: check it.
    std::optional<cascade::ShiftReport> shift;
    if (test) {
        shift = cascade::check_shift(cascade::shift_sample(*train, c.chain, c.thresholds),
                                     cascade::shift_sample(*test, c.chain, c.thresholds), shift_options);
    }
    const char* mode = o.budget ? "naive" : cascade::calibration_mode_name(o.mode);
    const bool tested = !o.budget && o.mode != cascade::CalibrationMode::naive;

    if (auto svg = args.get("--svg")) {
        const cascade::OutcomeTable& shown = test ? *test : *train;
        const std::string set = test ? "test" : "train";
        Plot plot;
        plot.title = "Cost and quality of " + join(c.chain, " > ") + " (" + set + ", " + std::to_string(shown.query_count()) + " queries)";
        plot.subtitle = "chosen on train: " + std::string(mode) + ", target " + percent(o.target, 0) + " of " + o.reference +
                        "; saving " + percent(sets.back().saving()) + " on " + set;
        if (c.chain.size() > 1) {
            for (const auto& p : cascade::cascade_curve(shown, c.chain, {4000})) plot.cloud.push_back({p.cost, p.quality});
            plot.frontier = cascade::pareto_frontier(plot.cloud);
        }
        std::vector<std::string> names;
        for (const std::string& m : shown.models()) {
            const std::size_t i = shown.model_index(m);
            bool complete = true;
            for (std::size_t q = 0; q < shown.query_count() && complete; ++q) complete = shown.has(i, q);
            if (complete) names.push_back(m);
        }
        plot.models = cascade::model_points(shown, names);
        plot.oracle = cascade::oracle_point(shown, c.chain);
        const std::size_t first = shown.model_index(c.chain.front());
        const std::size_t ref = shown.model_index(o.reference);
        if (first != ref) {
            plot.random_line = cascade::random_router_curve({shown.mean_cost(first), shown.mean_quality(first)},
                                                            {shown.mean_cost(ref), shown.mean_quality(ref)}, 1);
        }
        plot.chosen = cascade::CostQuality{sets.back().replay.cost, sets.back().replay.quality};
        plot.chosen_label = "chosen setting";
        plot.cloud_label = "thresholds of the chosen chain";
        if (!o.budget) {
            plot.target_quality = o.target * sets.back().reference_quality;
            plot.target_label = "target: " + percent(o.target, 0) + " of " + o.reference;
        }
        write_file(*svg, render_svg(plot));
    }

    if (args.has("--json")) {
        std::vector<std::pair<std::string, Json>> members = {
            {"chain", json_strings(c.chain)},
            {"thresholds", json_numbers(c.thresholds)},
            {"reference", Json(o.reference)},
            {"mode", Json(mode)},
            {"target", o.budget ? Json(nullptr) : Json(o.target)},
            {"budget", o.budget ? Json(*o.budget) : Json(nullptr)},
            {"delta", Json(o.delta)},
            {"guarantee", Json(cascade::guarantee_name(c.guarantee))},
            {"guarantee_text", Json(c.guarantee_text)},
            {"bound", tested ? Json(cascade::risk_bound_name(c.bound)) : Json(nullptr)},
            {"selection_queries", Json(c.selection_queries)},
            {"test_queries", Json(c.test_queries)},
            {"settings_tested", Json(c.tested)},
            {"target_met", Json(c.target_met)},
            {"loss_bound", Json(c.loss_bound)},
            {"allowed_loss", Json(c.allowed_loss)},
            {"chains_searched", Json(c.chains)},
            {"settings_searched", Json(c.settings)},
        };
        for (const SetReport& s : sets) members.emplace_back(s.name, s.to_json(o.target));
        if (shift) members.emplace_back("shift", shift_json(*shift));
        std::cout << dump_json(json_object(std::move(members))) << "\n";
    } else {
        std::cout << "chain:       " << join(c.chain, " > ") << "\n";
        if (!c.thresholds.empty()) {
            std::cout << "thresholds:  ";
            for (std::size_t i = 0; i < c.thresholds.size(); ++i) {
                std::cout << (i ? ", " : "") << c.chain[i] << " accepts at confidence >= "
                          << cascade::detail::format_number(c.thresholds[i]);
            }
            std::cout << "\n";
        }
        std::cout << "\n" << text_report(sets, o.reference) << "\n";
        if (o.budget) {
            std::cout << "budget " << dollars(*o.budget) << " per query (naive): " << (c.target_met ? "met" : "NOT met") << "\n";
        } else {
            std::cout << "target " << percent(o.target, 1) << " of " << o.reference << "'s quality (" << mode;
            if (tested) {
                std::cout << ", " << cascade::risk_bound_name(c.bound) << " bound, delta " << cascade::detail::format_number(o.delta);
            }
            std::cout << "): " << (c.target_met ? "met on train" : "NOT met by any setting on train");
            if (tested && c.target_met) {
                std::cout << "; loss bound " << fixed(c.loss_bound) << " <= allowed " << fixed(c.allowed_loss);
            }
            std::cout << "\n";
            std::cout << "guarantee: " << c.guarantee_text << "\n";
            if (test) {
                std::cout << "on test: " << (sets[1].relative_quality() >= o.target - 1e-12 ? "met" : "missed") << " ("
                          << fixed(sets[1].relative_quality()) << " of " << o.reference << ")\n";
            }
        }
        std::cout << "searched " << c.chains << " chains, " << c.settings << " settings\n";
        if (shift) std::cout << "\n" << shift_text(*shift, "train", "test");
    }
    if (shift && shift->premise_in_doubt) {
        std::cerr << "cascade-eval: the guarantee's premise is in doubt: the test traffic is not drawn like the training "
                     "traffic (shift check p = "
                  << p_value_text(shift->p_value) << ")\n";
    }
    if (!c.target_met) {
        std::cerr << "cascade-eval: no setting met the " << (o.budget ? "budget" : "target") << " on train\n";
        return exit_target_missed;
    }
    return exit_ok;
}

}  // namespace cascade_eval
