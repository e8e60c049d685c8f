// SPDX-License-Identifier: MIT
// Compares two OutcomeTables cell by cell: what the differential tests and fuzz targets of the
// table reader check against the rows-then-table path.
#ifndef CASCADE_TESTS_SAME_TABLE_HPP
#define CASCADE_TESTS_SAME_TABLE_HPP

#include <cascade/eval/outcome_log.hpp>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>

namespace cascade_test {

/// Empty when `a` and `b` hold the same source, queries (with their lines), models and cells
/// (bit for bit, so -0 differs from 0 and NaN equals NaN); else what differs first.
inline std::string table_difference(const cascade::OutcomeTable& a, const cascade::OutcomeTable& b) {
    if (a.source() != b.source()) return "source " + a.source() + " vs " + b.source();
    if (a.queries() != b.queries()) return "queries differ";
    if (a.models() != b.models()) return "models differ";
    for (std::size_t q = 0; q < a.query_count(); ++q) {
        if (a.query_line(q) != b.query_line(q)) return "line of query " + a.queries()[q];
    }
    auto same = [](double x, double y) {
        return std::memcmp(&x, &y, sizeof x) == 0 || (std::isnan(x) && std::isnan(y));
    };
    for (std::size_t m = 0; m < a.model_count(); ++m) {
        if (b.find_model(a.models()[m]) != m) return "index of model " + a.models()[m];
        for (std::size_t q = 0; q < a.query_count(); ++q) {
            const std::string cell = " of model " + a.models()[m] + ", query " + a.queries()[q];
            if (a.has(m, q) != b.has(m, q)) return "presence" + cell;
            if (!same(a.quality(m, q), b.quality(m, q))) return "quality" + cell;
            if (!same(a.cost(m, q), b.cost(m, q))) return "cost" + cell;
            if (!same(a.confidence(m, q), b.confidence(m, q))) return "confidence" + cell;
        }
        try {
            a.require({m});
        } catch (const cascade::ParseError& e) {
            try {
                b.require({m});
                return "require() of model " + a.models()[m];
            } catch (const cascade::ParseError& f) {
                if (std::string(e.what()) != f.what()) return std::string("require(): ") + e.what() + " vs " + f.what();
            }
            continue;
        }
        try {
            b.require({m});
        } catch (const cascade::ParseError&) {
            return "require() of model " + a.models()[m];
        }
    }
    return {};
}

}  // namespace cascade_test

#endif  // CASCADE_TESTS_SAME_TABLE_HPP
