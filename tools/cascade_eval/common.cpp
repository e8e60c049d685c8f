#include "common.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include <cascade/core/parse_error.hpp>

namespace cascade_eval {

void Progress::say(const std::string& line) const {
    if (!quiet) std::cerr << "cascade-eval: " << line << std::endl;
}

cascade::OutcomeLog read_log(const std::string& path, const Progress& progress) {
    cascade::ReadOptions options;
    options.progress_every = 250000;
    options.progress = [&](std::size_t rows) {
        if (rows >= options.progress_every) progress.say("reading " + path + ": " + std::to_string(rows) + " rows");
    };
    return cascade::read_outcomes(path, options);
}

std::string fixed(double x, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
    return buf;
}

std::string percent(double fraction, int decimals) { return fixed(100.0 * fraction, decimals) + "%"; }

std::string dollars(double x) {
    char buf[64];
    // Enough decimals for three significant digits of a per-query price.
    int decimals = 2;
    if (x > 0 && x < 1) decimals = std::min(12, static_cast<int>(std::ceil(-std::log10(x))) + 2);
    std::snprintf(buf, sizeof buf, "$%.*f", decimals, x);
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
