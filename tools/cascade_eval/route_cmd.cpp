// cascade-eval route: train the project's text scorer (hashed n-gram logistic regression) to
// tell which queries need the strong model, then judge it as a router on held-out queries
// (RouteLLM's APGR and CPT); with --target, also choose its threshold with a stated risk.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <unordered_map>

#include <cascade/eval/calibrate_router.hpp>
#include <cascade/eval/detail/csv.hpp>
#include <cascade/eval/metrics.hpp>
#include <cascade/core/parse_error.hpp>
#include <cascade/score/text_classifier.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "svg_plot.hpp"

namespace cascade_eval {
namespace {

// query_id -> the text a router sees: the system prompt (when any), a blank line, the user prompt.
std::unordered_map<std::string, std::string> read_queries(const std::string& path, const Progress& progress,
                                                          const ReadLimits& limits) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw cascade::ParseError(path, 0, "cannot open");
    cascade::detail::CsvReader csv(in, path, limits.max_line_bytes);
    std::vector<std::string> f;
    while (csv.next(f) && f.empty()) {
    }
    if (f.empty()) throw cascade::ParseError(path, 0, "the file is empty; expected a header with query_id and user_prompt");
    const std::size_t header_line = csv.line();
    const std::size_t none = f.size();
    std::size_t id = none;
    std::size_t user = none;
    std::size_t system = none;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "query_id") id = i;
        if (f[i] == "user_prompt") user = i;
        if (f[i] == "system_prompt") system = i;
    }
    if (id == none) throw cascade::ParseError(path, header_line, "the header has no column \"query_id\"");
    if (user == none) throw cascade::ParseError(path, header_line, "the header has no column \"user_prompt\"");
    const std::size_t columns = f.size();
    std::unordered_map<std::string, std::string> out;
    std::unordered_map<std::string, std::size_t> first_line;
    while (csv.next(f)) {
        if (f.empty()) continue;
        if (f.size() != columns) {
            throw cascade::ParseError(path, csv.line(), "the row has " + std::to_string(f.size()) + " fields, the header " +
                                                            std::to_string(columns));
        }
        if (f[id].empty()) throw cascade::ParseError(path, csv.line(), "query_id is empty");
        std::string text = system != none && !f[system].empty() ? f[system] + "\n\n" + f[user] : f[user];
        if (text.empty()) throw cascade::ParseError(path, csv.line(), "query \"" + f[id] + "\" has no text");
        const auto [it, inserted] = first_line.emplace(f[id], csv.line());
        if (!inserted) {
            throw cascade::ParseError(path, csv.line(), "duplicate query \"" + f[id] + "\" (first on line " + std::to_string(it->second) + ")");
        }
        out.emplace(f[id], std::move(text));
    }
    if (out.empty()) throw cascade::ParseError(path, header_line, "no queries");
    progress.say("read " + std::to_string(out.size()) + " queries from " + path);
    return out;
}

cascade::RiskBound parse_bound(const std::string& word) {
    if (word == "betting") return cascade::RiskBound::betting;
    if (word == "bernstein") return cascade::RiskBound::bernstein;
    if (word == "kl") return cascade::RiskBound::kl;
    throw UsageError("option --bound: betting, bernstein or kl; got " + word);
}

struct Labelled {
    std::vector<std::string> texts;
    std::vector<double> weak;
    std::vector<double> strong;
    std::vector<double> weak_cost;
    std::vector<double> strong_cost;
};

Labelled join(const cascade::OutcomeTable& table, const std::unordered_map<std::string, std::string>& queries,
              const std::string& queries_path, const std::string& weak, const std::string& strong) {
    const std::size_t w = table.model_index(weak);
    const std::size_t s = table.model_index(strong);
    table.require({w, s});
    Labelled out;
    for (std::size_t q = 0; q < table.query_count(); ++q) {
        const auto it = queries.find(table.queries()[q]);
        if (it == queries.end()) {
            throw cascade::ParseError(table.source(), table.query_line(q),
                                      "query \"" + table.queries()[q] + "\" has no text in " + queries_path);
        }
        out.texts.push_back(it->second);
        out.weak.push_back(table.quality(w, q));
        out.strong.push_back(table.quality(s, q));
        out.weak_cost.push_back(table.cost(w, q));
        out.strong_cost.push_back(table.cost(s, q));
    }
    return out;
}

}  // namespace

int run_route(const std::vector<std::string>& words) {
    const Args args("route", words,
                    with_read_limits({"--train", "--train-queries", "--test", "--test-queries", "--weak", "--strong",
                                      "--seed", "--svg", "--target", "--delta", "--bound", "--selection"}),
                    {"--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const std::uint64_t seed = args.whole("--seed").value_or(1);
    const std::string weak = args.require("--weak");
    const std::string strong = args.require("--strong");
    if (weak == strong) throw UsageError("--weak and --strong name the same model");
    // The threshold's calibration, checked before any file is read.
    std::optional<cascade::RouterCalibrateOptions> calibration;
    if (args.has("--target")) {
        cascade::RouterCalibrateOptions o;
        o.weak = weak;
        o.strong = strong;
        o.target = *args.number("--target");
        if (!(o.target > 0.0 && o.target <= 1.0)) {
            throw UsageError("option --target: a fraction of the strong model's quality in (0, 1], e.g. 0.95; got " +
                             *args.get("--target"));
        }
        o.delta = args.number("--delta").value_or(0.1);
        if (!(o.delta > 0.0 && o.delta < 1.0)) {
            throw UsageError("option --delta: the risk, a probability in (0, 1), e.g. 0.1; got " + *args.get("--delta"));
        }
        o.bound = parse_bound(args.get("--bound").value_or("betting"));
        o.selection_fraction = args.number("--selection");  // unset: chosen from the target
        if (o.selection_fraction && !(*o.selection_fraction > 0.0 && *o.selection_fraction < 1.0)) {
            throw UsageError("option --selection: the share of the test queries that proposes the thresholds to test, in "
                             "(0, 1); got " + *args.get("--selection"));
        }
        o.split_seed = seed;
        calibration = o;
    } else {
        for (const char* flag : {"--delta", "--bound", "--selection"}) {
            if (args.has(flag)) throw UsageError(std::string(flag) + " goes with --target");
        }
    }
    const std::string train_queries_path = args.require("--train-queries");
    const std::string test_queries_path = args.require("--test-queries");
    const cascade::OutcomeTable train = read_table(args.require("--train"), progress, limits);
    const cascade::OutcomeTable test = read_table(args.require("--test"), progress, limits);
    const auto train_queries = read_queries(train_queries_path, progress, limits);
    const auto test_queries =
        test_queries_path == train_queries_path ? train_queries : read_queries(test_queries_path, progress, limits);
    const Labelled tr = join(train, train_queries, train_queries_path, weak, strong);
    const Labelled te = join(test, test_queries, test_queries_path, weak, strong);

    // A query needs the strong model by as much as the strong model beats the weak one on it.
    std::vector<double> labels;
    for (std::size_t i = 0; i < tr.texts.size(); ++i) labels.push_back(std::clamp(tr.strong[i] - tr.weak[i], 0.0, 1.0));
    cascade::score::TrainOptions options;
    options.seed = seed;
    progress.say("training the text scorer on " + std::to_string(tr.texts.size()) + " queries");
    const auto scorer = cascade::score::TextClassifier::train(tr.texts, labels, options);
    std::vector<double> scores;
    scores.reserve(te.texts.size());
    for (const std::string& t : te.texts) scores.push_back(scorer.score(t));
    const cascade::RouterEval e = cascade::evaluate_router(te.weak, te.strong, scores);
    // The scorer never saw the test queries: its scores there are honest ones to calibrate on.
    std::optional<cascade::RouterCalibration> chosen;
    if (calibration) chosen = cascade::calibrate_router(test, scores, *calibration);

    const double n = static_cast<double>(te.texts.size());
    const double weak_cost = std::accumulate(te.weak_cost.begin(), te.weak_cost.end(), 0.0) / n;
    const double strong_cost = std::accumulate(te.strong_cost.begin(), te.strong_cost.end(), 0.0) / n;
    const double weak_quality = e.curve.front().quality;
    const double strong_quality = e.curve.back().quality;

    if (auto svg = args.get("--svg")) {
        // The router's curve in dollars: the same order of queries as evaluate_router, ties together.
        std::vector<std::size_t> order(te.texts.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
        Plot plot;
        plot.title = "Routing " + weak + " / " + strong + " by the text scorer (test, " + std::to_string(te.texts.size()) + " queries)";
        plot.subtitle = "APGR " + fixed(e.apgr, 3) + ", CPT(50%) " + percent(e.cpt50) + ", CPT(80%) " + percent(e.cpt80) +
                        " (random router: APGR 0.5)";
        double cost = weak_cost * n;
        double quality = weak_quality * n;
        plot.frontier.push_back({weak_cost, weak_quality});
        for (std::size_t i = 0; i < order.size();) {
            std::size_t j = i;
            while (j < order.size() && scores[order[j]] == scores[order[i]]) {
                cost += te.strong_cost[order[j]] - te.weak_cost[order[j]];
                quality += te.strong[order[j]] - te.weak[order[j]];
                ++j;
            }
            plot.frontier.push_back({cost / n, quality / n});
            i = j;
        }
        plot.frontier_label = "router as its threshold moves";
        plot.models = {{weak, weak_cost, weak_quality}, {strong, strong_cost, strong_quality}};
        double oracle_cost = 0;
        double oracle_quality = 0;
        for (std::size_t i = 0; i < te.texts.size(); ++i) {
            const bool use_strong = te.strong[i] > te.weak[i];
            oracle_cost += use_strong ? te.strong_cost[i] : te.weak_cost[i];
            oracle_quality += std::max(te.strong[i], te.weak[i]);
        }
        plot.oracle = cascade::CostQuality{oracle_cost / n, oracle_quality / n};
        plot.random_line = cascade::random_router_curve({weak_cost, weak_quality}, {strong_cost, strong_quality}, 1);
        write_file(*svg, render_svg(plot));
    }

    if (args.has("--json")) {
        std::vector<std::pair<std::string, Json>> members = {
                         {"weak", Json(weak)},
                         {"strong", Json(strong)},
                         {"train_queries", Json(tr.texts.size())},
                         {"test_queries", Json(te.texts.size())},
                         {"apgr", Json(e.apgr)},
                         {"cpt50", Json(e.cpt50)},
                         {"cpt80", Json(e.cpt80)},
                         {"weak_quality", Json(weak_quality)},
                         {"strong_quality", Json(strong_quality)},
                         {"weak_cost", Json(weak_cost)},
                         {"strong_cost", Json(strong_cost)},
        };
        if (chosen) {
            members.emplace_back("calibration", json_object({
                                                    {"threshold", Json(chosen->threshold)},
                                                    {"strong_share", Json(chosen->strong_share)},
                                                    {"target", Json(calibration->target)},
                                                    {"delta", Json(chosen->delta)},
                                                    {"bound", Json(cascade::risk_bound_name(chosen->bound))},
                                                    {"guarantee", Json(cascade::guarantee_name(chosen->guarantee))},
                                                    {"guarantee_text", Json(chosen->guarantee_text)},
                                                    {"selection_queries", Json(chosen->selection_queries)},
                                                    {"test_queries", Json(chosen->test_queries)},
                                                    {"settings_tested", Json(chosen->tested)},
                                                    {"target_met", Json(chosen->target_met)},
                                                    {"loss_bound", Json(chosen->loss_bound)},
                                                    {"allowed_loss", Json(chosen->allowed_loss)},
                                                    {"quality", Json(chosen->train.quality)},
                                                    {"cost", Json(chosen->train.cost)},
                                                    {"saving", Json(chosen->saving)},
                                                }));
        }
        std::cout << dump_json(json_object(std::move(members))) << "\n";
        return exit_ok;
    }
    std::cout << "text scorer trained on " << tr.texts.size() << " queries, judged on " << te.texts.size() << "\n"
              << "  " << weak << ": quality " << fixed(weak_quality) << ", " << dollars(weak_cost) << " per query\n"
              << "  " << strong << ": quality " << fixed(strong_quality) << ", " << dollars(strong_cost) << " per query\n"
              << "  APGR      " << fixed(e.apgr, 3) << "   (random router 0.5)\n"
              << "  CPT(50%)  " << percent(e.cpt50) << " of queries to " << strong << "   (random router 50%)\n"
              << "  CPT(80%)  " << percent(e.cpt80) << " of queries to " << strong << "   (random router 80%)\n";
    if (chosen) {
        const cascade::RouterCalibration& c = *chosen;
        std::cout << "\nthreshold:   queries scoring >= " << cascade::detail::format_number(c.threshold) << " go to " << strong
                  << " (" << percent(c.strong_share) << " of the test queries)\n"
                  << "  quality " << fixed(c.train.quality) << " against " << strong << "'s " << fixed(c.reference_quality)
                  << ", " << dollars(c.train.cost) << " per query, saving " << percent(c.saving) << "\n"
                  << "target " << percent(calibration->target, 1) << " of " << strong << "'s quality (family_wise, "
                  << cascade::risk_bound_name(c.bound) << " bound, delta " << cascade::detail::format_number(c.delta)
                  << "): " << (c.target_met ? "met" : "NOT met") << "; loss bound " << fixed(c.loss_bound) << " <= allowed "
                  << fixed(c.allowed_loss) << "\n"
                  << "guarantee: " << c.guarantee_text << "\n";
    }
    return exit_ok;
}

}  // namespace cascade_eval
