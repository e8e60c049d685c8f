// SPDX-License-Identifier: MIT
// read_outcomes_csv: any bytes either read as a log or raise cascade::ParseError; a log read
// back from write_outcomes_csv is the same log; read_outcome_table_csv gives the same table or error.
#include "outcome_rows.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    cascade_fuzz::check_outcome_reader(
        cascade_fuzz::as_text(data, size),
        [](std::istream& in, const cascade::ReadOptions& options) {
            return cascade::read_outcomes_csv(in, "fuzz.csv", options);
        },
        [](std::istream& in, const cascade::ReadOptions& options, const cascade::TableOptions& table) {
            return cascade::read_outcome_table_csv(in, "fuzz.csv", options, table);
        },
        [](std::ostream& out, const std::vector<cascade::Outcome>& rows) { cascade::write_outcomes_csv(out, rows); });
    return 0;
}
