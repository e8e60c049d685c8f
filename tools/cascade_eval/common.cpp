#include "common.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <cascade/core/parse_error.hpp>

namespace cascade_eval {

void Progress::say(const std::string& line) const {
    if (!quiet) std::cerr << "cascade-eval: " << line << std::endl;
}

std::vector<std::string> with_read_limits(std::vector<std::string> flags) {
    flags.emplace_back("--max-line-bytes");
    flags.emplace_back("--max-models-per-query");
    flags.emplace_back("--max-table-cells");
    return flags;
}

ReadLimits read_limits(const Args& args) {
    ReadLimits limits;
    if (auto n = args.count("--max-line-bytes")) limits.max_line_bytes = *n;
    if (auto n = args.count("--max-models-per-query")) limits.max_models_per_query = *n;
    if (auto n = args.count("--max-table-cells")) limits.table.max_cells = *n;
    if (limits.max_line_bytes == 0) throw UsageError("option --max-line-bytes must be >= 1");
    if (limits.max_models_per_query == 0) throw UsageError("option --max-models-per-query must be >= 1");
    return limits;
}

namespace {

cascade::ReadOptions read_options(const std::string& path, const Progress& progress, const ReadLimits& limits) {
    cascade::ReadOptions options;
    options.max_line_bytes = limits.max_line_bytes;
    options.max_models_per_query = limits.max_models_per_query;
    options.progress_every = 250000;
    options.progress = [&progress, path, every = options.progress_every](std::size_t rows) {
        if (rows >= every) progress.say("reading " + path + ": " + std::to_string(rows) + " rows");
    };
    return options;
}

}  // namespace

cascade::OutcomeLog read_log(const std::string& path, const Progress& progress, const ReadLimits& limits) {
    return cascade::read_outcomes(path, read_options(path, progress, limits));
}

namespace {

// A figure about to be printed; one that is not finite is a bug, never a result.
double printable(double x) {
    if (!std::isfinite(x)) throw std::logic_error("a result is not a finite number; this is a bug in cascade-eval");
    return x;
}

void require_finite(const Json& v) {
    if (v.is_number()) {
        printable(v.as_number());
    } else if (v.is_array()) {
        for (const Json& x : v.as_array()) require_finite(x);
    } else if (v.is_object()) {
        for (const auto& member : v.as_object()) require_finite(member.value);
    }
}

}  // namespace

std::string dump_json(const Json& value) {
    require_finite(value);
    return value.dump();
}

cascade::OutcomeTable read_table(const std::string& path, const Progress& progress, const ReadLimits& limits) {
    // Straight into the table: the rows themselves would take ten times its memory.
    return cascade::read_outcome_table(path, read_options(path, progress, limits), limits.table);
}

std::string fixed(double x, int decimals) {
    printable(x);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return buf;
}

std::string percent(double fraction, int decimals) { return fixed(100.0 * fraction, decimals) + "%"; }

std::string dollars(double x) {
    printable(x);
    char buf[64];
    // Enough decimals for three significant digits of a per-query price.
    int decimals = 2;
    if (x > 0 && x < 1) decimals = std::min(12, static_cast<int>(std::ceil(-std::log10(x))) + 2);
    // Past a trillion dollars all digits would not fit, and would not be read: an exponent.
    if (x >= 1e12) {
        std::snprintf(buf, sizeof buf, "$%.3g", x);
    } else {
        std::snprintf(buf, sizeof buf, "$%.*f", decimals, x);
    }
    return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
    return out;
}

Json json_object(std::vector<std::pair<std::string, Json>> members) {
    Json::Object o;
    for (auto& [k, v] : members) o.push_back(cascade::detail::JsonMember{k, std::move(v)});
    return Json(std::move(o));
}

Json json_strings(const std::vector<std::string>& items) {
    Json::Array a;
    for (const std::string& s : items) a.emplace_back(s);
    return Json(std::move(a));
}

Json json_numbers(const std::vector<double>& items) {
    Json::Array a;
    for (const double x : items) a.emplace_back(x);
    return Json(std::move(a));
}

Json SetReport::to_json(double target) const {
    return json_object({
        {"queries", Json(replay.queries)},
        {"quality", Json(replay.quality)},
        {"cost", Json(replay.cost)},
        {"reference_quality", Json(reference_quality)},
        {"reference_cost", Json(reference_cost)},
        {"relative_quality", Json(relative_quality())},
        {"saving", Json(saving())},
        {"target_met", Json(replay.quality >= target * reference_quality - 1e-12)},
        {"answered", json_numbers(replay.answered)},
        {"called", json_numbers(replay.called)},
        {"escalation_rate", Json(replay.escalation_rate)},
    });
}

SetReport measure(const std::string& name, const cascade::OutcomeTable& table, const std::vector<std::string>& chain,
                  const std::vector<double>& thresholds, const std::string& reference) {
    SetReport r;
    r.name = name;
    std::vector<std::string> needed = chain;
    needed.push_back(reference);
    for (const std::string& m : needed) {
        if (!table.find_model(m)) {
            throw cascade::ParseError(table.source(), 0,
                                      "no outcomes for model \"" + m + "\" (" +
                                          (m == reference ? "the reference" : "in the chain") +
                                          "); models in this log: " + join(table.models(), ", "));
        }
    }
    r.replay = cascade::replay_cascade(table, chain, thresholds);
    const std::size_t ref = table.model_index(reference);
    r.reference_quality = table.mean_quality(ref);
    r.reference_cost = table.mean_cost(ref);
    return r;
}

std::string text_report(const std::vector<SetReport>& sets, const std::string& reference) {
    std::string out;
    std::size_t label_width = 24;
    for (const std::string& m : sets.front().replay.chain) label_width = std::max(label_width, m.size() + 13);
    label_width = std::max(label_width, reference.size() + 11);
    auto row = [&](const std::string& label, auto cell) {
        char buf[64];
        out += "  " + label + std::string(label_width - std::min(label_width, label.size()), ' ');
        for (const SetReport& s : sets) {
            std::snprintf(buf, sizeof buf, "%14s", cell(s).c_str());
            out += buf;
        }
        out += "\n";
    };
    row("", [](const SetReport& s) { return s.name; });
    row("queries", [](const SetReport& s) { return std::to_string(s.replay.queries); });
    row("quality", [](const SetReport& s) { return fixed(s.replay.quality); });
    row(reference + " quality", [](const SetReport& s) { return fixed(s.reference_quality); });
    row("quality / " + reference, [](const SetReport& s) { return fixed(s.relative_quality()); });
    row("cost per query", [](const SetReport& s) { return dollars(s.replay.cost); });
    row(reference + " cost", [](const SetReport& s) { return dollars(s.reference_cost); });
    row("saving", [](const SetReport& s) { return percent(s.saving()); });
    const std::vector<std::string>& chain = sets.front().replay.chain;
    for (std::size_t i = 0; i < chain.size(); ++i) {
        row("answered by " + chain[i], [i](const SetReport& s) { return percent(s.replay.answered[i]); });
    }
    if (chain.size() > 1) row("escalated", [](const SetReport& s) { return percent(s.replay.escalation_rate); });
    return out;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw cascade::ParseError(path, 0, std::string("cannot write: ") + std::strerror(errno));
    out << text;
    out.close();
    if (!out) throw cascade::ParseError(path, 0, "cannot write");
}

}  // namespace cascade_eval
