// cascade-eval monitor: a logged stream replayed through fixed thresholds with a quality monitor
// that labels a share of the queries, next to the same thresholds left alone.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <cascade/detail/number.hpp>
#include <cascade/eval/calibration_file.hpp>
#include <cascade/eval/monitor_replay.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace cascade_eval {

namespace {

// JSON has no infinity, and a threshold may be one (a log-probability of 0): written as the
// calibration file writes it, a string.
Json threshold_json(double t) {
    if (std::isfinite(t)) return Json(t);
    return Json(std::string(t > 0 ? "inf" : "-inf"));
}

Json event_json(const cascade::MonitorEvent& e, bool with_action) {
    std::vector<std::pair<std::string, Json>> members = {
        {"query", Json(e.query)},
        {"tier", Json(e.tier)},
        {"model", Json(e.model)},
        {"evidence", Json(e.evidence)},
        {"labels", Json(static_cast<double>(e.labels))},
        {"labels_since", Json(static_cast<double>(e.labels_since))},
        {"loss_estimate", Json(e.loss_estimate)},
    };
    if (with_action) members.emplace_back("action", Json(e.action));
    return json_object(std::move(members));
}

Json events_json(const std::vector<cascade::MonitorEvent>& events, bool with_action) {
    Json::Array out;
    for (const auto& e : events) out.push_back(event_json(e, with_action));
    return Json(std::move(out));
}

Json figures_json(const cascade::StreamFigures& f) {
    return json_object({
        {"cost", Json(f.cost)},
        {"label_cost", Json(f.label_cost)},
        {"quality", Json(f.quality)},
        {"saving", Json(f.saving)},
        {"windows", Json(f.windows)},
        {"windows_below_target", Json(f.windows_below_target)},
        {"answered", json_numbers(f.answered)},
    });
}

std::string event_line(const cascade::MonitorEvent& e) {
    return "query " + std::to_string(e.query) + ", tier " + std::to_string(e.tier + 1) + " (" + e.model + "): evidence " +
           fixed(e.evidence, 1) + " after " + std::to_string(e.labels) + " labels, mean loss " +
           fixed(e.loss_estimate) + " over the last " + std::to_string(e.labels_since);
}

void require_model(const cascade::OutcomeTable& table, const std::string& model, const std::string& flag,
                   const std::string& log) {
    if (table.find_model(model)) return;
    throw UsageError("option " + flag + ": no model \"" + model + "\" in " + log + " (models: " + join(table.models(), ", ") +
                     ")");
}

}  // namespace

int run_monitor(const std::vector<std::string>& words) {
    const Args args("monitor", words,
                    with_read_limits({"--log", "--reference", "--target", "--calibration", "--chain", "--thresholds",
                                      "--label-rate", "--suspect-label-rate", "--window", "--alpha", "--seed"}),
                    {"--act", "--act-on-suspicion", "--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const std::string path = args.require("--log");

    // Everything on the command line is checked before the log is read.
    cascade::MonitorReplayOptions o;
    std::string thresholds_flag = "--thresholds";
    std::optional<double> file_target;
    if (auto file = args.get("--calibration")) {
        if (args.has("--chain") || args.has("--thresholds")) {
            throw UsageError("--calibration gives the chain and thresholds: leave out --chain and --thresholds");
        }
        const cascade::CalibrationFile cal = cascade::load_calibration_file(*file);
        o.chain = cal.chain;
        o.thresholds = cal.thresholds;
        o.reference = cal.reference;
        file_target = cal.target;
        thresholds_flag = "--calibration";
    } else {
        o.chain = args.list("--chain");
        if (o.chain.empty()) throw UsageError("'monitor' needs --calibration FILE or --chain m1,m2 --thresholds t1");
        for (const std::string& t : args.list("--thresholds")) {
            double v = 0.0;
            if (!cascade::detail::parse_number(t, v) || std::isnan(v)) {
                throw UsageError("option --thresholds: \"" + t + "\" is not a number");
            }
            o.thresholds.push_back(v);
        }
    }
    if (o.thresholds.size() + 1 != o.chain.size()) {
        throw UsageError("option " + thresholds_flag + ": a chain of " + std::to_string(o.chain.size()) + " tiers needs " +
                         std::to_string(o.chain.size() - 1) + " thresholds (none for the last tier), got " +
                         std::to_string(o.thresholds.size()));
    }
    if (auto r = args.get("--reference")) o.reference = *r;
    o.target = args.number("--target").value_or(file_target.value_or(0.95));
    if (!(o.target > 0.0 && o.target <= 1.0)) {
        throw UsageError("option --target: a fraction of the reference's quality in (0, 1], e.g. 0.95; got " +
                         cascade::detail::format_number(o.target));
    }
    o.label_rate = args.number("--label-rate").value_or(0.1);
    if (!(o.label_rate >= 0.0 && o.label_rate <= 1.0)) {
        throw UsageError("option --label-rate: the share of the queries answered below the reference to label, in [0, 1]; got " +
                         *args.get("--label-rate"));
    }
    o.suspect_label_rate = args.number("--suspect-label-rate");
    if (o.suspect_label_rate &&
        !(*o.suspect_label_rate > 0.0 && *o.suspect_label_rate <= 1.0 && *o.suspect_label_rate >= o.label_rate)) {
        throw UsageError("option --suspect-label-rate: the share of a suspect tier's answers to label, in (0, 1] and at "
                         "least --label-rate; got " + *args.get("--suspect-label-rate"));
    }
    o.window = args.count("--window").value_or(200);
    if (o.window == 0) throw UsageError("option --window: a number of queries >= 1");
    o.alpha = args.number("--alpha").value_or(o.alpha);
    if (!(o.alpha > 0.0 && o.alpha < 1.0)) {
        throw UsageError("option --alpha: the false alarm level, in (0, 1), e.g. 0.001; got " + *args.get("--alpha"));
    }
    o.seed = args.whole("--seed").value_or(1);
    o.act = args.has("--act");
    o.act_on_suspicion = args.has("--act-on-suspicion");
    if (o.act_on_suspicion && !(o.act && o.suspect_label_rate)) {
        throw UsageError("option --act-on-suspicion goes with --act and --suspect-label-rate: a tier is a suspect only "
                         "with suspect labelling, and only an acting monitor holds answers back");
    }

    const cascade::OutcomeTable table = read_table(path, progress, limits);
    const std::string chain_flag = args.has("--calibration") ? "--calibration" : "--chain";
    for (const std::string& m : o.chain) require_model(table, m, chain_flag, path);
    if (!o.reference.empty()) require_model(table, o.reference, args.has("--reference") ? "--reference" : chain_flag, path);
    const cascade::MonitorReplayReport r = cascade::replay_monitored(table, o);

    if (args.has("--json")) {
        Json::Array thresholds;
        for (const double t : r.thresholds) thresholds.push_back(threshold_json(t));
        std::cout << dump_json(json_object({
                         {"chain", json_strings(r.chain)},
                         {"thresholds", Json(std::move(thresholds))},
                         {"reference", Json(r.reference)},
                         {"target", Json(r.target)},
                         {"label_rate", Json(r.label_rate)},
                         {"suspect_label_rate", r.suspect_label_rate ? Json(*r.suspect_label_rate) : Json(nullptr)},
                         {"delta", Json(r.alpha)},
                         {"window", Json(r.window)},
                         {"act", Json(r.act)},
                         {"act_on_suspicion", Json(r.act_on_suspicion)},
                         {"queries", Json(r.queries)},
                         {"labels", Json(r.labels)},
                         {"label_cost", Json(r.monitored.label_cost)},
                         {"cost", Json(r.monitored.cost)},
                         {"reference_cost", Json(r.reference_cost)},
                         {"saving", Json(r.monitored.saving)},
                         {"quality", Json(r.monitored.quality)},
                         {"reference_quality", Json(r.reference_quality)},
                         {"windows", Json(r.monitored.windows)},
                         {"windows_below_target", Json(r.monitored.windows_below_target)},
                         {"answered", json_numbers(r.monitored.answered)},
                         {"alarms", events_json(r.alarms, false)},
                         {"recoveries", events_json(r.recoveries, false)},
                         {"adjustments", events_json(r.adjustments, true)},
                         {"static", figures_json(r.static_thresholds)},
                     }))
                  << "\n";
        return exit_ok;
    }

    std::string setting;
    for (std::size_t i = 0; i < r.chain.size(); ++i) {
        setting += (i ? " > " : "") + r.chain[i];
        if (i < r.thresholds.size()) setting += " @ " + cascade::detail::format_number(r.thresholds[i]);
    }
    std::cout << "monitor " << setting << " on " << r.queries << " queries of " << path << "\n"
              << "  target " << percent(r.target) << " of " << r.reference << "'s quality; labels on "
              << percent(r.label_rate) << " of the queries answered below it"
              << (r.suspect_label_rate ? " (" + percent(*r.suspect_label_rate) + " of a suspect tier's)" : std::string())
              << "; false alarm level "
              << cascade::detail::format_number(r.alpha) << (r.act ? (r.act_on_suspicion ? "; acting on alarms and suspicion" : "; acting on alarms") : "; alarms only") << "\n\n";
    std::cout << "  labels: " << r.labels << ", costing " << dollars(r.monitored.label_cost) << "\n";
    auto row = [&](const char* name, const cascade::StreamFigures& f) {
        std::cout << "  " << name << "quality " << fixed(f.quality) << " (" << fixed(r.reference_quality > 0 ? f.quality / r.reference_quality : 0.0)
                  << " of the reference), cost " << dollars(f.cost + f.label_cost) << ", saving " << percent(f.saving)
                  << ", windows below target " << f.windows_below_target << " of " << f.windows << " (" << r.window
                  << " queries each)\n";
    };
    row(r.act ? "monitored, acting: " : "monitored:         ", r.monitored);
    row("static thresholds: ", r.static_thresholds);
    std::cout << "  always " << r.reference << ": quality " << fixed(r.reference_quality) << ", cost "
              << dollars(r.reference_cost) << "\n\n";
    if (r.alarms.empty()) {
        std::cout << "  no alarm\n";
    } else {
        std::cout << "  alarms:\n";
        for (const auto& e : r.alarms) std::cout << "    " << event_line(e) << "\n";
    }
    if (!r.recoveries.empty()) {
        std::cout << "  recoveries:\n";
        for (const auto& e : r.recoveries) std::cout << "    " << event_line(e) << "\n";
    }
    if (!r.adjustments.empty()) {
        std::cout << "  adjustments:\n";
        for (const auto& e : r.adjustments) std::cout << "    " << e.action << " " << event_line(e) << "\n";
    }
    return exit_ok;
}

}  // namespace cascade_eval
