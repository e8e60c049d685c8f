// What the commands of cascade-eval share: reading logs with progress, number formatting and
// building JSON output.
#ifndef CASCADE_EVAL_COMMON_HPP
#define CASCADE_EVAL_COMMON_HPP

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <cascade/detail/json.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/outcome_table_reader.hpp>
#include <cascade/eval/replay.hpp>

#include "cli.hpp"

namespace cascade_eval {

using Json = cascade::detail::JsonValue;

/// Exit codes: what a script can branch on.
enum ExitCode : int {
    exit_ok = 0,
    exit_bad_input = 1,       ///< a malformed or unreadable file (file:line: reason on stderr)
    exit_usage = 2,           ///< a mistake on the command line or an invalid option value
    exit_target_missed = 3,   ///< calibrate found no setting meeting the target (the report is printed)
};

/// Where progress goes: stderr, unless --quiet.
struct Progress {
    bool quiet = false;
    void say(const std::string& line) const;
};

/// The limits on what a log may hold (ReadOptions, TableOptions), from --max-line-bytes,
/// --max-models-per-query and --max-table-cells; every command that reads a log takes them.
struct ReadLimits {
    std::size_t max_line_bytes = cascade::ReadOptions{}.max_line_bytes;
    std::size_t max_models_per_query = cascade::ReadOptions{}.max_models_per_query;
    cascade::TableOptions table;
};

/// `flags` with the read-limit flags added, for Args.
std::vector<std::string> with_read_limits(std::vector<std::string> flags);

/// The read limits given on the command line (defaults for those absent).
ReadLimits read_limits(const Args& args);

/// Reads an outcome log (CSV, or JSON Lines for .jsonl/.ndjson), reporting progress on large ones.
cascade::OutcomeLog read_log(const std::string& path, const Progress& progress, const ReadLimits& limits);

/// Reads an outcome log as a table.
cascade::OutcomeTable read_table(const std::string& path, const Progress& progress, const ReadLimits& limits);

/// "0.8512"; "12.3%"; "$0.000123".
std::string fixed(double x, int decimals = 4);
std::string percent(double fraction, int decimals = 1);
std::string dollars(double x);

/// "a > b > c".
std::string join(const std::vector<std::string>& items, const std::string& separator);

/// JSON builders.
Json json_object(std::vector<std::pair<std::string, Json>> members);
Json json_strings(const std::vector<std::string>& items);
Json json_numbers(const std::vector<double>& items);

/// A replay's figures, with the reference's on the same queries.
struct SetReport {
    std::string name;  ///< "train", "test", "log"
    cascade::ReplayResult replay;
    double reference_quality = 0.0;
    double reference_cost = 0.0;
    [[nodiscard]] double saving() const { return reference_cost > 0 ? 1.0 - replay.cost / reference_cost : 0.0; }
    [[nodiscard]] double relative_quality() const {
        return reference_quality > 0 ? replay.quality / reference_quality : 0.0;
    }
    [[nodiscard]] Json to_json(double target) const;
};

/// Replays `chain` on `table` and measures `reference` there too. A model the table lacks is bad
/// data in that table (cascade::ParseError naming its file), not a command-line mistake: the
/// chain was chosen on another log.
SetReport measure(const std::string& name, const cascade::OutcomeTable& table, const std::vector<std::string>& chain,
                  const std::vector<double>& thresholds, const std::string& reference);

/// Side-by-side text table of one or more sets.
std::string text_report(const std::vector<SetReport>& sets, const std::string& reference);

/// `value` as JSON text; throws std::logic_error if any number in it is not finite (JSON has no
/// infinity or NaN, and a result that is one is a bug, not a figure to print).
std::string dump_json(const Json& value);

/// Writes `text` to `path`; throws cascade::ParseError naming the file when it cannot.
void write_file(const std::string& path, const std::string& text);

}  // namespace cascade_eval

#endif  // CASCADE_EVAL_COMMON_HPP
