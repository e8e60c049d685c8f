// SPDX-License-Identifier: MIT
// The outcome-log targets' shared check: a log read, written and read again is the same log.
#ifndef CASCADE_FUZZ_OUTCOME_ROWS_HPP
#define CASCADE_FUZZ_OUTCOME_ROWS_HPP

#include <cascade/core/parse_error.hpp>
#include <cascade/eval/outcome_log.hpp>

#include <cmath>
#include <cstddef>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

namespace cascade_fuzz {

inline cascade::ReadOptions small_limits() {
    cascade::ReadOptions options;
    options.allow_unlabelled = true;
    options.max_line_bytes = 4096;
    options.max_models_per_query = 8;
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

// Reads `text` with `read`; the rows it accepts must also build a table or be refused with a
// ParseError, and must read back unchanged from what `write` makes of them.
template <class Read, class Write>
void check_outcome_reader(std::string_view text, Read read, Write write) {
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
