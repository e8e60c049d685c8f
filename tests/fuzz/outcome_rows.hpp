// SPDX-License-Identifier: MIT
// The outcome-log targets' shared check: a log read, written and read again is the same log, and
// the table reader gives the table (or the error) that reading the rows and building it gives.
#ifndef CASCADE_FUZZ_OUTCOME_ROWS_HPP
#define CASCADE_FUZZ_OUTCOME_ROWS_HPP

#include <cascade/core/parse_error.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/outcome_table_reader.hpp>

#include <cmath>
#include <cstddef>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/same_table.hpp"
#include "fuzz_target.hpp"

namespace cascade_fuzz {

inline cascade::ReadOptions small_limits() {
    cascade::ReadOptions options;
    options.allow_unlabelled = true;
    options.max_line_bytes = 4096;
    options.max_models_per_query = 8;
    return options;
}

// Small enough that the fuzzer's logs reach it.
inline cascade::TableOptions small_table() {
    cascade::TableOptions options;
    options.max_cells = 64;
    return options;
}

inline bool same_number(const std::optional<double>& a, const std::optional<double>& b) {
    if (a.has_value() != b.has_value()) return false;
    if (!a) return true;
    return (std::isnan(*a) && std::isnan(*b)) || *a == *b;
}

inline bool same_rows(const std::vector<cascade::Outcome>& a, const std::vector<cascade::Outcome>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const cascade::Outcome& x = a[i];
        const cascade::Outcome& y = b[i];
        if (x.query_id != y.query_id || x.model != y.model || x.benchmark != y.benchmark || x.cost != y.cost ||
            !same_number(x.quality, y.quality) || !same_number(x.confidence, y.confidence) ||
            !same_number(x.tokens_in, y.tokens_in) || !same_number(x.tokens_out, y.tokens_out) ||
            !same_number(x.latency_ms, y.latency_ms)) {
            return false;
        }
    }
    return true;
}

// Reads `text` with `read_table`, and with `read` then OutcomeTable: the same table or the same
// error.
template <class Read, class ReadTable>
void check_table_reader(std::string_view text, Read read, ReadTable read_table) {
    std::string rows_error;
    cascade::OutcomeTable rows_table;
    try {
        std::istringstream in{std::string(text)};
        rows_table = cascade::OutcomeTable(read(in, small_limits()), small_table());
    } catch (const cascade::ParseError& e) {
        rows_error = e.what();
    }
    std::string error;
    cascade::OutcomeTable table;
    try {
        std::istringstream in{std::string(text)};
        table = read_table(in, small_limits(), small_table());
    } catch (const cascade::ParseError& e) {
        error = e.what();
    }
    CASCADE_FUZZ_EXPECT(error == rows_error, error + "\nthe rows then the table: " + rows_error);
    if (error.empty()) {
        const std::string difference = cascade_test::table_difference(rows_table, table);
        CASCADE_FUZZ_EXPECT(difference.empty(), difference);
    }
}

// Reads `text` with `read`; the rows it accepts must also build a table or be refused with a
// ParseError, and must read back unchanged from what `write` makes of them; `read_table` must
// agree (check_table_reader).
template <class Read, class ReadTable, class Write>
void check_outcome_reader(std::string_view text, Read read, ReadTable read_table, Write write) {
    check_table_reader(text, read, read_table);
    cascade::OutcomeLog log;
    try {
        std::istringstream in{std::string(text)};
        log = read(in, small_limits());
    } catch (const cascade::ParseError&) {
        return;
    }
    CASCADE_FUZZ_EXPECT(log.rows.size() == log.lines.size(), log.source);
    try {
        const cascade::OutcomeTable table(log);
        CASCADE_FUZZ_EXPECT(table.query_count() * table.model_count() >= log.rows.size() || log.rows.empty(),
                            "a table smaller than its rows");
    } catch (const cascade::ParseError&) {}
    std::ostringstream out;
    try {
        write(out, log.rows);
    } catch (const std::invalid_argument&) {
        return;  // a row the writer refuses, before writing anything
    }
    try {
        std::istringstream again(out.str());
        const cascade::OutcomeLog back = read(again, small_limits());
        CASCADE_FUZZ_EXPECT(same_rows(back.rows, log.rows), out.str());
    } catch (const cascade::ParseError& e) {
        // Quoting adds bytes: a line near the limit may pass it once written.
        CASCADE_FUZZ_EXPECT(e.reason().find("longer than the limit") != std::string::npos, out.str() + "\n" + e.what());
    }
}

}  // namespace cascade_fuzz

#endif  // CASCADE_FUZZ_OUTCOME_ROWS_HPP
