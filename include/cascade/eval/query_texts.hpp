// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_QUERY_TEXTS_HPP
#define CASCADE_EVAL_QUERY_TEXTS_HPP

#include <cmath>
#include <cstddef>
#include <fstream>
#include <istream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/chunked_input.hpp"
#include "detail/csv.hpp"
#include "detail/utf8.hpp"
#include "outcome_log.hpp"
#include "../core/parse_error.hpp"
#include "../detail/number.hpp"

// Query texts logged next to outcome logs (a queries.csv: id, text, optional label), read without
// a hand-written parser: the input a difficulty scorer (score::TextClassifier, score::KnnScorer)
// trains on, joined to an OutcomeTable by query id.
namespace cascade {

/// How to read a query-text CSV file: which columns hold what, and the limits.
///
///     cascade::QueryTextOptions o;            // the shape of the datasets' queries.csv:
///     o.id_column = "query_id";               // query_id,benchmark,system_prompt,user_prompt
///     o.text_columns = {"system_prompt", "user_prompt"};
struct QueryTextOptions {
    /// The column of query ids (unique, not empty).
    std::string id_column = "id";
    /// The column(s) of the text. Several are joined into one text, the non-empty ones in this
    /// order with a blank line ("\n\n") between them (a system prompt and a user prompt).
    std::vector<std::string> text_columns = {"text"};
    /// The column of labels (a number in [0, 1], e.g. 1 when the query needed the strong
    /// model). Read when the header has it; a file without it has no labels. Empty: never read.
    std::string label_column = "label";
    /// Refuse ids and texts that are not valid UTF-8, naming the line, the column and the byte:
    /// a file in another encoding (Latin-1, UTF-16) would otherwise train on garbled features.
    bool require_utf8 = true;
    /// The longest record read, in bytes, with the line breaks inside its quoted fields. A
    /// longer one is a ParseError naming its line and this limit, raised before the record is
    /// held in memory.
    std::size_t max_record_bytes = detail::default_max_record_bytes;
};

/// The queries of one query-text file, in file order, as parallel columns: `texts` and `labels`
/// go straight into score::TextClassifier::train. Read the columns freely; add queries only
/// with add(), which keeps the index find() uses.
///
/// Thread-safety: none while it is modified; const members may be called from many threads.
struct QueryTexts {
    std::string source;
    std::vector<std::string> ids;
    std::vector<std::string> texts;
    /// One per query when the file has the label column, else empty.
    std::vector<double> labels;
    /// The 1-based line each query's record starts on.
    std::vector<std::size_t> lines;

    [[nodiscard]] std::size_t size() const noexcept { return ids.size(); }

    /// The index of query `id`; empty when the file has no such query.
    [[nodiscard]] std::optional<std::size_t> find(std::string_view id) const {
        const auto it = index_.find(std::string(id));
        if (it == index_.end()) return std::nullopt;
        return it->second;
    }

    /// The text of query `id`. Throws cascade::ParseError (`source: no query "id"`) when the file
    /// has none: the outcome log and the query file do not match.
    [[nodiscard]] const std::string& text_of(std::string_view id) const {
        if (const auto q = find(id)) return texts[*q];
        throw ParseError(source, 0,
                         "no query \"" + std::string(id) + "\" in this file (" + std::to_string(size()) +
                             " queries); does it belong to the outcome log?");
    }

    /// Adds a query (what the reader calls for each row); false, changing nothing, when `id` is
    /// already there. Throws std::invalid_argument when `label` is given for some queries and not
    /// others, which would leave `labels` out of step with `ids`.
    bool add(std::string id, std::string text, std::optional<double> label, std::size_t line) {
        if (!ids.empty() && label.has_value() != (labels.size() == ids.size())) {
            throw std::invalid_argument("cascade::QueryTexts::add: query \"" + id + "\" " +
                                        (label ? "has a label where the others have none"
                                               : "has no label where the others have one"));
        }
        if (!index_.try_emplace(id, ids.size()).second) return false;
        ids.push_back(std::move(id));
        texts.push_back(std::move(text));
        if (label) labels.push_back(*label);
        lines.push_back(line);
        return true;
    }

private:
    std::unordered_map<std::string, std::size_t> index_;
};

namespace detail {

inline void require_utf8_field(const std::string& source, std::size_t line, std::string_view column,
                               std::string_view text) {
    const std::size_t at = first_invalid_utf8(text);
    if (at == std::string_view::npos) return;
    static const char* hex = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(text[at]);
    throw ParseError(source, line,
                     "column \"" + std::string(column) + "\" is not valid UTF-8 (byte " + std::to_string(at + 1) +
                         " of the field is 0x" + hex[byte >> 4] + hex[byte & 0xF] +
                         "); save the file as UTF-8 (QueryTextOptions::require_utf8)");
}

}  // namespace detail

/// Reads a query-text file in CSV (RFC 4180: quoted fields may hold commas, quotes and line
/// breaks) from `in`; `source` names it in errors. The first non-blank record is the header; the
/// columns may come in any order, others are ignored; blank lines are skipped.
///
/// Throws cascade::ParseError (`source:line: reason`) for: an empty input; a header without the
/// id column or a text column, or with one of them twice; a row with another number of fields
/// than the header; an empty id; a row whose text columns are all empty; a duplicate id (naming
/// the line of the first); a label that is empty, not a number or outside [0, 1]; an id or text
/// that is not valid UTF-8 (unless options.require_utf8 is false); a header without rows;
/// malformed CSV; a record longer than options.max_record_bytes; a read error (never taken for
/// the end of the input). Throws std::invalid_argument for options without an id or a text column.
inline QueryTexts read_query_texts_csv(std::istream& in, std::string source, const QueryTextOptions& options = {}) {
    if (options.id_column.empty() || options.text_columns.empty()) {
        throw std::invalid_argument("cascade::read_query_texts: name the id column and at least one text column");
    }
    QueryTexts out;
    out.source = source;
    auto fail = [&](std::size_t line, std::string reason) { throw ParseError(source, line, std::move(reason)); };
    detail::CsvReader csv(in, source, options.max_record_bytes, "QueryTextOptions::max_record_bytes");
    std::vector<std::string_view> f;
    while (csv.next(f) && f.empty()) {}
    if (f.empty()) {
        fail(0, "the file is empty; expected a header line with the columns \"" + options.id_column + "\" and \"" +
                    options.text_columns.front() + "\"");
    }
    const std::vector<std::string> header(f.begin(), f.end());
    const std::size_t header_line = csv.line();
    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    auto column = [&](const std::string& name, bool required, const char* option) {
        std::size_t at = none;
        for (std::size_t i = 0; i < header.size(); ++i) {
            if (header[i] != name) continue;
            if (at != none) fail(header_line, "column \"" + name + "\" appears twice in the header");
            at = i;
        }
        if (at == none && required) {
            fail(header_line, "the header has no column \"" + name + "\" (QueryTextOptions::" + option + ")");
        }
        return at;
    };
    const std::size_t id = column(options.id_column, true, "id_column");
    std::vector<std::size_t> text;
    for (const std::string& name : options.text_columns) text.push_back(column(name, true, "text_columns"));
    const std::size_t label = options.label_column.empty() ? none : column(options.label_column, false, "label_column");

    std::string joined;
    while (csv.next(f)) {
        if (f.empty()) continue;
        const std::size_t line = csv.line();
        if (f.size() != header.size()) {
            fail(line,
                 "the row has " + std::to_string(f.size()) + " fields, the header " + std::to_string(header.size()));
        }
        if (f[id].empty()) fail(line, "column \"" + options.id_column + "\" is empty");
        if (options.require_utf8) detail::require_utf8_field(source, line, options.id_column, f[id]);
        joined.clear();
        for (std::size_t k = 0; k < text.size(); ++k) {
            const std::string_view part = f[text[k]];
            if (options.require_utf8) detail::require_utf8_field(source, line, options.text_columns[k], part);
            if (part.empty()) continue;
            if (!joined.empty()) joined += "\n\n";
            joined.append(part);
        }
        if (joined.empty()) fail(line, "query " + detail::quoted(f[id]) + " has no text");
        std::optional<double> value;
        if (label != none) {
            const std::string_view cell = f[label];
            double v = 0.0;
            if (cell.empty()) fail(line, "column \"" + options.label_column + "\" is empty");
            if (!detail::parse_number(cell, v)) {
                fail(line, "column \"" + options.label_column + "\": " + detail::quoted(cell) + " is not a number");
            }
            if (!(v >= 0.0 && v <= 1.0)) fail(line, "label " + detail::format_number(v) + " is outside [0, 1]");
            value = v;
        }
        if (!out.add(std::string(f[id]), joined, value, line)) {
            fail(line, "duplicate query " + detail::quoted(f[id]) + " (first on line " +
                           std::to_string(out.lines[*out.find(f[id])]) + ")");
        }
    }
    if (out.size() == 0) fail(header_line, "no queries");
    return out;
}

/// Reads the query-text CSV file at `path` (as read_query_texts_csv). Throws cascade::ParseError
/// also when the file cannot be opened or read.
///
///     cascade::QueryTextOptions o;
///     o.id_column = "query_id";
///     o.text_columns = {"system_prompt", "user_prompt"};
///     const cascade::QueryTexts queries = cascade::read_query_texts("queries.csv", o);
inline QueryTexts read_query_texts(const std::string& path, const QueryTextOptions& options = {}) {
    std::ifstream in = detail::open_outcome_file(path);
    return read_query_texts_csv(in, path, options);
}

}  // namespace cascade

#endif  // CASCADE_EVAL_QUERY_TEXTS_HPP
