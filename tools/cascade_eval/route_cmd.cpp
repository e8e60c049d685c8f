// cascade-eval route: train the project's text scorer (hashed n-gram logistic regression) to
// tell which queries need the strong model, then judge it as a router on held-out queries
// (RouteLLM's APGR and CPT).
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <numeric>
#include <unordered_map>

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
                                      "--seed", "--svg"}),
                    {"--json", "--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const std::uint64_t seed = args.whole("--seed").value_or(1);
    const std::string weak = args.require("--weak");
    const std::string strong = args.require("--strong");
    if (weak == strong) throw UsageError("--weak and --strong name the same model");
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
        std::cout << dump_json(json_object({
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
                     }))
                  << "\n";
        return exit_ok;
    }
    std::cout << "text scorer trained on " << tr.texts.size() << " queries, judged on " << te.texts.size() << "\n"
              << "  " << weak << ": quality " << fixed(weak_quality) << ", " << dollars(weak_cost) << " per query\n"
              << "  " << strong << ": quality " << fixed(strong_quality) << ", " << dollars(strong_cost) << " per query\n"
              << "  APGR      " << fixed(e.apgr, 3) << "   (random router 0.5)\n"
              << "  CPT(50%)  " << percent(e.cpt50) << " of queries to " << strong << "   (random router 50%)\n"
              << "  CPT(80%)  " << percent(e.cpt80) << " of queries to " << strong << "   (random router 80%)\n";
    return exit_ok;
}

}  // namespace cascade_eval
