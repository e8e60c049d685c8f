// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_OUTCOME_LOG_HPP
#define CASCADE_EVAL_OUTCOME_LOG_HPP

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/csv.hpp"
#include "detail/line_reader.hpp"
#include "detail/utf8.hpp"
#include "../detail/json.hpp"
#include "../detail/number.hpp"
#include "../core/parse_error.hpp"

// Logged outcomes: what each model answered to each query, how good it was and what it cost.
// Replay (replay.hpp), the cost/quality curve (curve.hpp) and calibration (calibrate.hpp) read
// them instead of calling models.
namespace cascade {

/// One logged call of one model on one query; a row of an outcome log.
///
/// The CSV form has the header `query_id,model,quality,cost,confidence,benchmark,tokens_in,
/// tokens_out,latency_ms` (columns in any order; query_id, model, quality and cost required;
/// other columns ignored).
struct Outcome {
    std::string query_id;
    std::string model;
    /// How good the answer was, in [0, 1] (1 right, 0 wrong, or a graded score). Empty when not
    /// labelled yet, as in rows an OutcomeSink writes at run time; replay needs it.
    std::optional<double> quality;
    /// Dollars the call cost (>= 0), including any verification it needed.
    double cost = 0.0;
    /// The raw confidence signal a cascade thresholds on (any scale, higher = more confident;
    /// -inf allowed). Empty when there is none, which a cascade treats as a rejection.
    std::optional<double> confidence;
    std::string benchmark;
    std::optional<double> tokens_in;
    std::optional<double> tokens_out;
    std::optional<double> latency_ms;
};

/// The rows of one log file, each with the 1-based line it starts on (0 for rows made in code).
struct OutcomeLog {
    std::string source;
    std::vector<Outcome> rows;
    std::vector<std::size_t> lines;
};

/// How to read an outcome log.
struct ReadOptions {
    /// Accept rows whose quality is empty (e.g. written by an OutcomeSink before labelling).
    /// OutcomeTable still refuses them.
    bool allow_unlabelled = false;
    /// Called every `progress_every` rows with the number read so far, e.g. to report progress
    /// on large logs.
    std::function<void(std::size_t rows)> progress;
    std::size_t progress_every = 100000;
    /// The longest line read, in bytes, without its line end (for CSV: the longest record, with
    /// the line breaks inside its quoted fields). A longer one is a ParseError naming its line and
    /// this limit, raised before the line is held in memory: an outcome row is ids and numbers,
    /// so a longer line is almost surely not an outcome log (a binary file, /dev/zero).
    std::size_t max_line_bytes = detail::default_max_record_bytes;
    /// The most models a query may have outcomes for. More is a ParseError naming the query and
    /// the line: a query with thousands of models is a log whose columns were mixed up (ids in
    /// the model column), and a cascade search over them could not finish.
    std::size_t max_models_per_query = 1000;
};

namespace detail {

// The most dollars a log's costs may add up to. Far above any real bill, and far enough below
// the largest double that no sum of costs (a mean, a cascade's calls on a query, a prefix sum)
// can overflow to infinity and print as "$inf" or a NaN saving.
inline constexpr double max_total_cost = 1e300;

inline std::string total_cost_error(double cost, const std::string& model) {
    return "the costs add up to more than " + format_number(max_total_cost) + " dollars by this row (model \"" + model +
           "\", cost " + format_number(cost) + "); a cost is the dollars one call cost";
}

// Hashes a (query, model) pair of indices for the duplicate check.
struct IndexPairHash {
    std::size_t operator()(const std::pair<std::size_t, std::size_t>& p) const noexcept {
        std::uint64_t h =
            static_cast<std::uint64_t>(p.first) * 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(p.second);
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        return static_cast<std::size_t>(h);
    }
};

// One outcome row as a reader found it, its text still in the reader's buffers: what the checks
// below see, whatever the row is then read into (an OutcomeLog, or straight into an OutcomeTable).
struct OutcomeFields {
    std::string_view query_id;
    std::string_view model;
    std::optional<double> quality;
    double cost = 0.0;
    std::optional<double> confidence;
    std::string_view benchmark;
    std::optional<double> tokens_in;
    std::optional<double> tokens_out;
    std::optional<double> latency_ms;
};

// The checks every row passes, shared by both readers (CSV, JSON Lines) and both destinations
// (OutcomeLog, OutcomeTable), so that all of them refuse the same things with the same words.
class OutcomeChecks {
public:
    OutcomeChecks(std::string source, const ReadOptions& options) : source_(std::move(source)), options_(options) {}

    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    [[noreturn]] void fail(std::size_t line, std::string reason) const {
        throw ParseError(source_, line, std::move(reason));
    }

    // Checks one row's values (in this order: the first problem is the one reported) and adds
    // its cost to the total; a NaN confidence becomes none.
    void check(OutcomeFields& o, std::size_t line) {
        if (o.query_id.empty()) fail(line, "query_id is empty");
        if (o.model.empty()) fail(line, "model is empty");
        if (o.quality) {
            if (!(*o.quality >= 0.0 && *o.quality <= 1.0)) {
                fail(line, "quality " + format_number(*o.quality) + " is outside [0, 1]");
            }
        } else if (!options_.allow_unlabelled) {
            fail(line, "quality is empty; label every outcome (1 right, 0 wrong, or a score in [0, 1]) before replay");
        }
        if (!(o.cost >= 0.0) || !std::isfinite(o.cost)) {
            fail(line, "cost " + format_number(o.cost) + " must be a finite number >= 0");
        }
        if (o.confidence && std::isnan(*o.confidence)) o.confidence.reset();
        check_count(o.tokens_in, "tokens_in", line);
        check_count(o.tokens_out, "tokens_out", line);
        check_count(o.latency_ms, "latency_ms", line);

        total_cost_ += o.cost;
        if (!(total_cost_ <= max_total_cost)) fail(line, total_cost_error(o.cost, std::string(o.model)));
    }

    [[noreturn]] void duplicate(std::string_view query, std::string_view model, std::size_t line,
                                std::size_t first_line) const {
        fail(line, "duplicate outcome for query \"" + std::string(query) + "\" and model \"" + std::string(model) +
                       "\" (first on line " + std::to_string(first_line) + ")");
    }

    // Counts one more model for a query that had `models` of them.
    template <class Count>
    void add_model(Count& models, std::string_view query, std::size_t line) const {
        if (++models > options_.max_models_per_query) {
            fail(line, "query \"" + std::string(query) + "\" has outcomes for more than " +
                           std::to_string(options_.max_models_per_query) +
                           " models (ReadOptions::max_models_per_query, cascade-eval --max-models-per-query); "
                           "is the model column right?");
        }
    }

    // Called after each row is stored, with the number stored so far.
    void stored(std::size_t rows) const {
        if (options_.progress && options_.progress_every > 0 && rows % options_.progress_every == 0) {
            options_.progress(rows);
        }
    }

    // Called at the end of the input, `rows` stored.
    void finish(std::size_t rows, std::size_t last_line) const {
        if (rows == 0) fail(last_line, "no outcome rows");
        if (options_.progress) options_.progress(rows);
    }

private:
    void check_count(const std::optional<double>& v, const char* column, std::size_t line) const {
        if (v && (!(*v >= 0.0) || !std::isfinite(*v))) {
            fail(line, std::string(column) + " " + format_number(*v) + " must be a finite number >= 0");
        }
    }

    std::string source_;
    const ReadOptions& options_;
    double total_cost_ = 0.0;
};

// Checks and stores rows as they are read into an OutcomeLog.
class OutcomeCollector {
public:
    OutcomeCollector(std::string source, const ReadOptions& options) : checks_(std::move(source), options) {
        log_.source = checks_.source();
    }

    [[noreturn]] void fail(std::size_t line, std::string reason) const { checks_.fail(line, std::move(reason)); }

    void add(OutcomeFields& f, std::size_t line) {
        checks_.check(f, line);
        Outcome o{std::string(f.query_id), std::string(f.model), f.quality, f.cost, f.confidence,
                  std::string(f.benchmark), f.tokens_in, f.tokens_out, f.latency_ms};
        const auto [it, inserted] = queries_.try_emplace(o.query_id, models_per_query_.size());
        if (inserted) models_per_query_.push_back(0);
        const std::size_t query = it->second;
        const std::size_t model = models_.try_emplace(o.model, models_.size()).first->second;
        const auto first = first_line_.try_emplace({query, model}, line);
        if (!first.second) checks_.duplicate(o.query_id, o.model, line, first.first->second);
        checks_.add_model(models_per_query_[query], o.query_id, line);
        log_.rows.push_back(std::move(o));
        log_.lines.push_back(line);
        checks_.stored(log_.rows.size());
    }

    OutcomeLog finish(std::size_t last_line) {
        checks_.finish(log_.rows.size(), last_line);
        return std::move(log_);
    }

private:
    OutcomeChecks checks_;
    OutcomeLog log_;
    std::unordered_map<std::string, std::size_t> queries_;
    std::unordered_map<std::string, std::size_t> models_;
    std::unordered_map<std::pair<std::size_t, std::size_t>, std::size_t, IndexPairHash> first_line_;
    std::vector<std::size_t> models_per_query_;
};

inline std::string quoted(std::string_view s) {
    std::string out = "\"";
    // Long cells (a prompt pasted into the wrong column) would drown the message.
    if (s.size() > 40) {
        out.append(s.substr(0, 40));
        out += "...";
    } else {
        out.append(s);
    }
    return out + "\"";
}

// Reads the rows of a CSV outcome log into `out` (an OutcomeCollector or an OutcomeTableBuilder:
// fail(line, reason) and add(OutcomeFields&, line)); returns the line of the last row, or the
// header's when there is none. No string is made per field: the fields are views into the
// reader's buffer.
template <class Sink>
std::size_t read_outcome_rows_csv(std::istream& in, const std::string& source, const ReadOptions& options, Sink& out) {
    CsvReader csv(in, source, options.max_line_bytes);
    std::vector<std::string_view> f;
    while (csv.next(f) && f.empty()) {
    }
    if (f.empty()) {
        out.fail(0, "the file is empty; expected a header line with query_id,model,quality,cost");
    }
    const std::vector<std::string> header(f.begin(), f.end());
    const std::size_t header_line = csv.line();

    enum Column { query_id, model, quality, cost, confidence, benchmark, tokens_in, tokens_out, latency_ms, known };
    static constexpr std::string_view names[known] = {"query_id",  "model",     "quality",    "cost",      "confidence",
                                                      "benchmark", "tokens_in", "tokens_out", "latency_ms"};
    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    std::size_t where[known];
    std::fill(std::begin(where), std::end(where), none);
    for (std::size_t i = 0; i < header.size(); ++i) {
        for (std::size_t c = 0; c < known; ++c) {
            if (header[i] != names[c]) continue;
            if (where[c] != none) out.fail(header_line, "column \"" + header[i] + "\" appears twice in the header");
            where[c] = i;
        }
    }
    for (std::size_t c = 0; c <= cost; ++c) {
        if (where[c] == none) {
            out.fail(header_line, "the header has no column \"" + std::string(names[c]) +
                                      "\" (needs query_id, model, quality, cost)");
        }
    }

    auto number = [&](Column c, bool optional) -> std::optional<double> {
        if (where[c] == none) return std::nullopt;
        const std::string_view text = f[where[c]];
        if (text.empty()) {
            if (optional) return std::nullopt;
            out.fail(csv.line(), "column \"" + std::string(names[c]) + "\" is empty");
        }
        double v = 0.0;
        if (!parse_number(text, v)) {
            out.fail(csv.line(), "column \"" + std::string(names[c]) + "\": " + quoted(text) + " is not a number");
        }
        return v;
    };

    std::size_t last_line = header_line;
    OutcomeFields o;
    while (csv.next(f)) {
        if (f.empty()) continue;
        last_line = csv.line();
        if (f.size() != header.size()) {
            out.fail(csv.line(), "the row has " + std::to_string(f.size()) + " fields, the header " +
                                     std::to_string(header.size()));
        }
        o.query_id = f[where[query_id]];
        o.model = f[where[model]];
        o.quality = number(quality, true);  // the checks explain an empty one
        if (o.quality && std::isnan(*o.quality)) out.fail(csv.line(), "quality is NaN");
        o.cost = *number(cost, false);
        o.confidence = number(confidence, true);
        o.benchmark = where[benchmark] != none ? f[where[benchmark]] : std::string_view();
        o.tokens_in = number(tokens_in, true);
        o.tokens_out = number(tokens_out, true);
        o.latency_ms = number(latency_ms, true);
        out.add(o, csv.line());
    }
    return last_line;
}

// Reads the rows of a JSON Lines outcome log into `out` (as read_outcome_rows_csv); returns the
// last line's number.
template <class Sink>
std::size_t read_outcome_rows_jsonl(std::istream& in, const std::string& source, const ReadOptions& options,
                                    Sink& out) {
    LineReader lines(in, source, options.max_line_bytes);
    std::string text;
    std::size_t line = 0;
    bool any_line = false;
    JsonValue v;
    OutcomeFields o;
    while (lines.next(text)) {
        line = lines.line();
        if (text.find_first_not_of(" \t") == std::string::npos) continue;
        any_line = true;
        try {
            v = parse_json(text);
        } catch (const JsonError& e) {
            out.fail(line, "invalid JSON at column " + std::to_string(e.offset() + 1) + ": " + e.reason());
        }
        if (!v.is_object()) out.fail(line, "expected a JSON object, got " + std::string(JsonValue::type_name(v.type())));
        auto string_of = [&](const char* key, bool required) -> std::string_view {
            const JsonValue* x = v.find(key);
            if (!x || x->is_null()) {
                if (required) out.fail(line, "no \"" + std::string(key) + "\"");
                return {};
            }
            if (!x->is_string()) {
                out.fail(line, "\"" + std::string(key) + "\" must be a string, got " + std::string(JsonValue::type_name(x->type())));
            }
            return x->as_string();
        };
        auto number_of = [&](const char* key, bool required, bool special) -> std::optional<double> {
            const JsonValue* x = v.find(key);
            if (!x || x->is_null()) {
                if (required) out.fail(line, "no \"" + std::string(key) + "\"");
                return std::nullopt;
            }
            if (x->is_number()) return x->as_number();
            double d = 0.0;
            if (special && x->is_string() && parse_number(x->as_string(), d) && !std::isfinite(d)) return d;
            out.fail(line, "\"" + std::string(key) + "\" must be a number, got " +
                               (x->is_string() ? quoted(x->as_string()) : std::string(JsonValue::type_name(x->type()))));
        };
        o.query_id = string_of("query_id", true);
        o.model = string_of("model", true);
        o.quality = number_of("quality", !options.allow_unlabelled, false);
        o.cost = *number_of("cost", true, false);
        o.confidence = number_of("confidence", false, true);
        o.benchmark = string_of("benchmark", false);
        o.tokens_in = number_of("tokens_in", false, false);
        o.tokens_out = number_of("tokens_out", false, false);
        o.latency_ms = number_of("latency_ms", false, false);
        out.add(o, line);
    }
    if (!any_line) out.fail(0, "the file is empty; expected one JSON object per line");
    return line;
}

}  // namespace detail

namespace detail {

// Opens an outcome log for reading, or throws cascade::ParseError naming it and the system's
// reason.
inline std::ifstream open_outcome_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ParseError(path, 0, std::string("cannot open: ") + std::strerror(errno));
    // Opening a directory succeeds; reading it fails. Tell that here, with the system's reason,
    // rather than as a read error of a file.
    errno = 0;
    in.peek();
    if (in.bad()) {
        const int error = errno;
        throw ParseError(path, 0,
                         std::string("cannot read") + (error != 0 ? ": " + std::string(std::strerror(error)) : ""));
    }
    return in;
}

// Whether the log at `path` is JSON Lines (by its extension) rather than CSV.
inline bool is_jsonl_path(std::string_view path) {
    auto ends_with = [&](std::string_view suffix) {
        return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
    };
    return ends_with(".jsonl") || ends_with(".ndjson");
}

}  // namespace detail

/// Reads an outcome log in CSV (RFC 4180) from `in`; `source` names it in errors.
///
/// Throws cascade::ParseError (`source:line: reason`) for: an empty input, a header without
/// query_id, model, quality or cost, a column named twice, a row with another number of fields
/// than the header, an empty query_id or model, a value that is not a number, a quality outside
/// [0, 1] (or empty, unless allowed), a negative or infinite cost, a duplicate (query, model),
/// a header without rows, and malformed CSV. Blank lines are skipped. Also, before taking the
/// memory: a read error (never taken for the end of the input), a record longer than
/// options.max_line_bytes, a query with more than options.max_models_per_query models, and
/// costs that add up to more than 1e300 dollars.
///
/// Confidences may be empty or `nan` (no signal) and `-inf`/`inf`; tokens_in, tokens_out and
/// latency_ms may be empty.
inline OutcomeLog read_outcomes_csv(std::istream& in, std::string source, const ReadOptions& options = {}) {
    detail::OutcomeCollector out(source, options);
    return out.finish(detail::read_outcome_rows_csv(in, source, options, out));
}

/// Reads an outcome log in JSON Lines: one JSON object per line with the CSV's column names as
/// keys (other keys ignored). Numbers are JSON numbers; since JSON has no infinity, a confidence
/// may also be the string "-inf", "inf" or "nan"; null or a missing key means none. Throws
/// cascade::ParseError as read_outcomes_csv (a line longer than options.max_line_bytes included),
/// and for a line that is not a JSON object.
inline OutcomeLog read_outcomes_jsonl(std::istream& in, std::string source, const ReadOptions& options = {}) {
    detail::OutcomeCollector out(source, options);
    return out.finish(detail::read_outcome_rows_jsonl(in, source, options, out));
}

/// Reads the outcome log at `path`: JSON Lines when it ends in .jsonl or .ndjson, CSV otherwise.
/// Throws cascade::ParseError when the file cannot be opened or read (a directory: "cannot
/// read: Is a directory") or is malformed.
///
/// Only the table wanted? read_outcome_table (outcome_table_reader.hpp) reads the same table
/// without the rows, in a tenth of the memory.
inline OutcomeLog read_outcomes(const std::string& path, const ReadOptions& options = {}) {
    std::ifstream in = detail::open_outcome_file(path);
    if (detail::is_jsonl_path(path)) return read_outcomes_jsonl(in, path, options);
    return read_outcomes_csv(in, path, options);
}

/// The CSV header that write_outcome_csv writes rows for.
inline const char* outcome_csv_header() noexcept {
    return "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms";
}

/// One row in the CSV form (with its line end), numbers in the shortest form that reads back
/// exactly; empty cells for what is not known.
inline std::string outcome_csv_row(const Outcome& o) {
    auto opt = [](const std::optional<double>& v) { return v ? detail::format_number(*v) : std::string(); };
    std::string row = detail::csv_escape(o.query_id);
    row += ',';
    row += detail::csv_escape(o.model);
    row += ',' + opt(o.quality) + ',' + detail::format_number(o.cost) + ',' + opt(o.confidence) + ',';
    row += detail::csv_escape(o.benchmark);
    row += ',' + opt(o.tokens_in) + ',' + opt(o.tokens_out) + ',' + opt(o.latency_ms) + "\r\n";
    return row;
}

/// One row in the JSON Lines form (with its line end); unknown values are omitted, infinite
/// confidences written as strings. JSON strings are Unicode, so a query_id, model or benchmark
/// that is not valid UTF-8 cannot be written unchanged: that is a std::invalid_argument naming
/// the field and the byte (write CSV, which keeps any bytes, instead).
inline std::string outcome_json_row(const Outcome& o) {
    detail::require_json_text(o.query_id, "query_id");
    detail::require_json_text(o.model, "model");
    detail::require_json_text(o.benchmark, "benchmark");
    std::string row = "{\"query_id\":\"" + detail::json_escape(o.query_id) + "\",\"model\":\"" +
                      detail::json_escape(o.model) + "\"";
    auto num = [&](const char* key, const std::optional<double>& v) {
        if (!v) return;
        row += ",\"";
        row += key;
        row += "\":";
        row += std::isfinite(*v) ? detail::format_number(*v) : "\"" + detail::format_number(*v) + "\"";
    };
    num("quality", o.quality);
    num("cost", o.cost);
    num("confidence", o.confidence);
    if (!o.benchmark.empty()) row += ",\"benchmark\":\"" + detail::json_escape(o.benchmark) + "\"";
    num("tokens_in", o.tokens_in);
    num("tokens_out", o.tokens_out);
    num("latency_ms", o.latency_ms);
    return row + "}\n";
}

/// Writes `rows` as CSV with its header; read_outcomes_csv reads it back unchanged.
inline void write_outcomes_csv(std::ostream& out, const std::vector<Outcome>& rows) {
    out << outcome_csv_header() << "\r\n";
    for (const Outcome& o : rows) out << outcome_csv_row(o);
}

/// Writes `rows` as JSON Lines; read_outcomes_jsonl reads it back unchanged. Throws
/// std::invalid_argument, before writing anything, for a row outcome_json_row refuses.
inline void write_outcomes_jsonl(std::ostream& out, const std::vector<Outcome>& rows) {
    for (const Outcome& o : rows) {
        detail::require_json_text(o.query_id, "query_id");
        detail::require_json_text(o.model, "model");
        detail::require_json_text(o.benchmark, "benchmark");
    }
    for (const Outcome& o : rows) out << outcome_json_row(o);
}


/// Limits on the table an OutcomeTable builds.
struct TableOptions {
    /// The most (query, model) cells the dense table may have; each takes 25 bytes. A log where
    /// most queries lack most models (a model column holding ids) would otherwise ask for the
    /// square of its rows. The default, 2^26 cells (1.7 GB), holds 10 models x 6.7M queries.
    std::size_t max_cells = std::size_t{1} << 26;
};

namespace detail {
class OutcomeTableBuilder;

inline bool too_many_cells(std::size_t queries, std::size_t models, const TableOptions& options) noexcept {
    return models > 0 && queries > options.max_cells / models;
}

inline ParseError table_too_large(const std::string& source, std::size_t queries, std::size_t models,
                                  const TableOptions& options) {
    return ParseError(source, 0,
                      std::to_string(queries) + " queries x " + std::to_string(models) +
                          " models make a table of more than " + std::to_string(options.max_cells) +
                          " cells (TableOptions::max_cells, cascade-eval --max-table-cells); most queries lack most "
                          "models: is the model column right?");
}
}  // namespace detail

/// An outcome log as dense queries x models matrices, for fast replay.
///
///     auto table = cascade::read_outcome_table("outcomes.csv");   // outcome_table_reader.hpp
///     auto same = cascade::OutcomeTable(cascade::read_outcomes("outcomes.csv"));  // with the rows
///     std::size_t m = table.model_index("gpt-4o");
///     double q = table.quality(m, 0);
///
/// Queries and models keep the order of their first appearance in the log. A query need not have
/// every model; asking for a missing (model, query) pair is a ParseError naming both and the line
/// of the query's first row (see require()).
///
/// Thread-safety: immutable after construction; const members may be called from many threads.
class OutcomeTable {
public:
    OutcomeTable() = default;

    /// Builds the table. Throws cascade::ParseError for a row without quality, a negative or
    /// infinite cost, costs adding up past the readers' limit, or a duplicate (query, model)
    /// (possible when the log was built in code), and, before allocating it, for a table of more
    /// than options.max_cells cells.
    explicit OutcomeTable(const OutcomeLog& log, const TableOptions& options = {}) : source_(log.source) {
        std::unordered_map<std::string_view, std::size_t> query_of;
        std::unordered_map<std::string_view, std::size_t> model_of;
        std::vector<std::size_t> q_of_row(log.rows.size());
        std::vector<std::size_t> m_of_row(log.rows.size());
        query_of.reserve(log.rows.size());
        double total_cost = 0.0;
        for (std::size_t r = 0; r < log.rows.size(); ++r) {
            const Outcome& o = log.rows[r];
            const std::size_t line = r < log.lines.size() ? log.lines[r] : 0;
            if (!o.quality) throw ParseError(source_, line, "quality is empty; label every outcome before replay");
            // Rows made in code were not checked by a reader.
            if (!(o.cost >= 0.0) || !std::isfinite(o.cost)) {
                throw ParseError(source_, line,
                                 "cost " + detail::format_number(o.cost) + " must be a finite number >= 0");
            }
            total_cost += o.cost;
            if (!(total_cost <= detail::max_total_cost)) {
                throw ParseError(source_, line, detail::total_cost_error(o.cost, o.model));
            }
            const auto q = query_of.try_emplace(o.query_id, queries_.size());
            if (q.second) {
                queries_.push_back(o.query_id);
                query_lines_.push_back(line);
            }
            const auto m = model_of.try_emplace(o.model, models_.size());
            if (m.second) models_.push_back(o.model);
            q_of_row[r] = q.first->second;
            m_of_row[r] = m.first->second;
        }
        const std::size_t nq = queries_.size();
        const std::size_t nm = models_.size();
        if (detail::too_many_cells(nq, nm, options)) throw detail::table_too_large(source_, nq, nm, options);
        columns_.resize(nm);
        for (Column& c : columns_) {
            c.quality.assign(nq, 0.0);
            c.cost.assign(nq, 0.0);
            c.confidence.assign(nq, std::numeric_limits<double>::quiet_NaN());
            c.present.assign(nq, 0);
        }
        for (std::size_t r = 0; r < log.rows.size(); ++r) {
            const Outcome& o = log.rows[r];
            Column& c = columns_[m_of_row[r]];
            const std::size_t q = q_of_row[r];
            if (c.present[q]) {
                throw ParseError(source_, r < log.lines.size() ? log.lines[r] : 0,
                                 "duplicate outcome for query \"" + o.query_id + "\" and model \"" + o.model + "\"");
            }
            c.present[q] = 1;
            c.quality[q] = *o.quality;
            c.cost[q] = o.cost;
            if (o.confidence) c.confidence[q] = *o.confidence;
        }
        for (std::size_t m = 0; m < models_.size(); ++m) {
            model_index_.emplace(models_[m], m);
            Column& c = columns_[m];
            for (std::size_t q = 0; q < nq; ++q) c.missing += c.present[q] ? 0u : 1u;
        }
    }

    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    [[nodiscard]] std::size_t query_count() const noexcept { return queries_.size(); }
    [[nodiscard]] std::size_t model_count() const noexcept { return models_.size(); }
    [[nodiscard]] const std::vector<std::string>& queries() const noexcept { return queries_; }
    [[nodiscard]] const std::vector<std::string>& models() const noexcept { return models_; }
    /// The line of the query's first row in the source (0 when unknown).
    [[nodiscard]] std::size_t query_line(std::size_t q) const { return query_lines_.at(q); }

    /// The index of model `name`; empty when the log has no such model.
    [[nodiscard]] std::optional<std::size_t> find_model(std::string_view name) const {
        const auto it = model_index_.find(std::string(name));
        if (it == model_index_.end()) return std::nullopt;
        return it->second;
    }
    /// The index of model `name`; throws std::invalid_argument listing the models there are.
    [[nodiscard]] std::size_t model_index(std::string_view name) const {
        if (auto m = find_model(name)) return *m;
        std::string known;
        for (const std::string& m : models_) known += (known.empty() ? "" : ", ") + m;
        throw std::invalid_argument(source_ + ": no model \"" + std::string(name) + "\" in the log (models: " + known + ")");
    }

    /// Whether the log has model m's outcome for query q.
    [[nodiscard]] bool has(std::size_t m, std::size_t q) const { return columns_.at(m).present[q] != 0; }
    [[nodiscard]] double quality(std::size_t m, std::size_t q) const { return columns_.at(m).quality[q]; }
    [[nodiscard]] double cost(std::size_t m, std::size_t q) const { return columns_.at(m).cost[q]; }
    /// The logged confidence; NaN when there is none.
    [[nodiscard]] double confidence(std::size_t m, std::size_t q) const { return columns_.at(m).confidence[q]; }

    /// Whole columns, one entry per query (for loops that must be fast).
    [[nodiscard]] const std::vector<double>& quality_column(std::size_t m) const { return columns_.at(m).quality; }
    [[nodiscard]] const std::vector<double>& cost_column(std::size_t m) const { return columns_.at(m).cost; }
    [[nodiscard]] const std::vector<double>& confidence_column(std::size_t m) const {
        return columns_.at(m).confidence;
    }

    /// Throws cascade::ParseError (`source:line: query "q" has no outcome for model "m"`, the line
    /// of the query's first row) unless every query has an outcome for each of `models`.
    void require(const std::vector<std::size_t>& models) const {
        for (const std::size_t m : models) {
            const Column& c = columns_.at(m);
            if (c.missing == 0) continue;
            for (std::size_t q = 0; q < queries_.size(); ++q) {
                if (!c.present[q]) {
                    throw ParseError(source_, query_lines_[q],
                                     "query \"" + queries_[q] + "\" has no outcome for model \"" + models_[m] +
                                         "\" (" + std::to_string(c.missing) + " queries lack it)");
                }
            }
        }
    }

    /// Mean quality and cost of model m over the queries (all of which must have it).
    [[nodiscard]] double mean_quality(std::size_t m) const {
        require({m});
        return mean(columns_.at(m).quality);
    }
    [[nodiscard]] double mean_cost(std::size_t m) const {
        require({m});
        return mean(columns_.at(m).cost);
    }

    /// The table restricted to some queries (in the order given), e.g. a train or test split.
    [[nodiscard]] OutcomeTable subset(const std::vector<std::size_t>& query_indices) const {
        OutcomeTable t;
        t.source_ = source_;
        t.models_ = models_;
        t.model_index_ = model_index_;
        t.columns_.resize(columns_.size());
        const std::size_t n = query_indices.size();
        t.queries_.reserve(n);
        t.query_lines_.reserve(n);
        for (const std::size_t q : query_indices) {
            t.queries_.push_back(queries_.at(q));
            t.query_lines_.push_back(query_lines_[q]);
        }
        for (std::size_t m = 0; m < columns_.size(); ++m) {
            const Column& from = columns_[m];
            Column& to = t.columns_[m];
            to.quality.reserve(n);
            to.cost.reserve(n);
            to.confidence.reserve(n);
            to.present.reserve(n);
            for (const std::size_t q : query_indices) {
                to.quality.push_back(from.quality[q]);
                to.cost.push_back(from.cost[q]);
                to.confidence.push_back(from.confidence[q]);
                to.present.push_back(from.present[q]);
                to.missing += from.present[q] ? 0u : 1u;
            }
        }
        return t;
    }

private:
    friend class detail::OutcomeTableBuilder;

    struct Column {
        std::vector<double> quality;
        std::vector<double> cost;
        std::vector<double> confidence;
        std::vector<unsigned char> present;
        std::size_t missing = 0;
    };

    static double mean(const std::vector<double>& v) {
        if (v.empty()) return 0.0;
        double s = 0.0;
        for (const double x : v) s += x;
        return s / static_cast<double>(v.size());
    }

    std::string source_;
    std::vector<std::string> queries_;
    std::vector<std::size_t> query_lines_;
    std::vector<std::string> models_;
    std::unordered_map<std::string, std::size_t> model_index_;
    std::vector<Column> columns_;
};

namespace detail {

// The table's queries in an order drawn from `seed` and their ids alone: FNV-1a over the seed's
// bytes and the id, then a final mix (stable and well spread), ties by id. Neither the log's
// order nor anything logged about a query moves it.
inline std::vector<std::size_t> shuffled_queries(const OutcomeTable& table, std::uint64_t seed) {
    auto key = [seed](const std::string& id) {
        std::uint64_t h = 1469598103934665603ull;
        for (int i = 0; i < 8; ++i) {
            h ^= (seed >> (8 * i)) & 0xFFu;
            h *= 1099511628211ull;
        }
        for (const char c : id) {
            h ^= static_cast<unsigned char>(c);
            h *= 1099511628211ull;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        return h;
    };
    const std::size_t n = table.query_count();
    std::vector<std::pair<std::uint64_t, std::size_t>> keyed(n);
    for (std::size_t q = 0; q < n; ++q) keyed[q] = {key(table.queries()[q]), q};
    std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : table.queries()[a.second] < table.queries()[b.second];
    });
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = keyed[i].second;
    return order;
}

}  // namespace detail

/// Splits a table's queries in two, e.g. train and test: a `first_fraction` share (rounded
/// down) goes to the first table. Which queries go where depends only on their ids and `seed`
/// (a hash, the same on every platform), not on the order of the log, so a split is
/// reproducible from the command line. Throws std::invalid_argument unless 0 < first_fraction < 1
/// and both parts get at least one query.
inline std::pair<OutcomeTable, OutcomeTable> split_by_query(const OutcomeTable& table, double first_fraction,
                                                            std::uint64_t seed) {
    if (!(first_fraction > 0.0 && first_fraction < 1.0)) {
        throw std::invalid_argument("cascade::split_by_query: the fraction must be in (0, 1), got " +
                                    detail::format_number(first_fraction));
    }
    const std::size_t n = table.query_count();
    const std::vector<std::size_t> order = detail::shuffled_queries(table, seed);
    const auto first_n = static_cast<std::size_t>(std::floor(first_fraction * static_cast<double>(n)));
    if (first_n == 0 || first_n == n) {
        throw std::invalid_argument("cascade::split_by_query: " + std::to_string(n) +
                                    " queries cannot be split into two non-empty parts at " +
                                    detail::format_number(first_fraction));
    }
    std::vector<std::size_t> a;
    std::vector<std::size_t> b;
    for (std::size_t i = 0; i < n; ++i) (i < first_n ? a : b).push_back(order[i]);
    // Keep the log's order within each part.
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return {table.subset(a), table.subset(b)};
}

}  // namespace cascade

#endif  // CASCADE_EVAL_OUTCOME_LOG_HPP
