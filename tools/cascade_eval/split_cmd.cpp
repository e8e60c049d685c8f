// cascade-eval split: one log into two by query id, reproducibly.
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <sstream>
#include <unordered_set>

#include <cascade/core/parse_error.hpp>
#include <cascade/eval/detail/utf8.hpp>
#include <cascade/eval/outcome_log.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace cascade_eval {

int run_split(const std::vector<std::string>& words) {
    const Args args("split", words, with_read_limits({"--log", "--fraction", "--seed", "--train-out", "--test-out"}),
                    {"--quiet"});
    Progress progress{args.has("--quiet")};
    const ReadLimits limits = read_limits(args);
    const double fraction = args.number("--fraction").value_or(0.5);
    if (!(fraction > 0 && fraction < 1)) throw UsageError("option --fraction must be in (0, 1)");
    const std::uint64_t seed = args.whole("--seed").value_or(1);
    const std::string train_out = args.require("--train-out");
    const std::string test_out = args.require("--test-out");

    const cascade::OutcomeLog log = read_log(args.require("--log"), progress, limits);
    // Split the queries as calibrate --log --split does, then write each row to its part.
    const cascade::OutcomeTable table(log, limits.table);
    const auto parts = cascade::split_by_query(table, fraction, seed);
    const std::unordered_set<std::string> first(parts.first.queries().begin(), parts.first.queries().end());
    std::vector<cascade::Outcome> a;
    std::vector<cascade::Outcome> b;
    for (const cascade::Outcome& o : log.rows) (first.count(o.query_id) ? a : b).push_back(o);
    auto is_jsonl = [](const std::string& path) {
        return path.size() > 6 && (path.compare(path.size() - 6, 6, ".jsonl") == 0 ||
                                   (path.size() > 7 && path.compare(path.size() - 7, 7, ".ndjson") == 0));
    };
    // JSON holds only Unicode text, so a log with other bytes in its ids cannot be split into
    // JSON Lines that read back the same: refuse it, naming the row, before writing anything.
    if (is_jsonl(train_out) || is_jsonl(test_out)) {
        for (std::size_t r = 0; r < log.rows.size(); ++r) {
            const cascade::Outcome& o = log.rows[r];
            try {
                cascade::detail::require_json_text(o.query_id, "query_id");
                cascade::detail::require_json_text(o.model, "model");
                cascade::detail::require_json_text(o.benchmark, "benchmark");
            } catch (const std::invalid_argument& e) {
                throw cascade::ParseError(log.source, r < log.lines.size() ? log.lines[r] : 0, e.what());
            }
        }
    }
    auto write = [&](const std::string& path, const std::vector<cascade::Outcome>& rows) {
        std::ostringstream out;
        if (is_jsonl(path)) {
            cascade::write_outcomes_jsonl(out, rows);
        } else {
            cascade::write_outcomes_csv(out, rows);
        }
        write_file(path, out.str());
    };
    write(train_out, a);
    write(test_out, b);
    std::cout << train_out << ": " << parts.first.query_count() << " queries, " << a.size() << " rows\n"
              << test_out << ": " << parts.second.query_count() << " queries, " << b.size() << " rows\n";
    return exit_ok;
}

}  // namespace cascade_eval
