// SPDX-License-Identifier: MIT
// CsvReader: any bytes either read as records or raise cascade::ParseError; the records written
// back with csv_escape read back as the same records.
#include <cascade/core/parse_error.hpp>
#include <cascade/eval/detail/csv.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

namespace {

constexpr std::size_t max_record_bytes = 4096;

std::vector<std::vector<std::string>> read_all(const std::string& text) {
    std::istringstream in(text);
    cascade::detail::CsvReader csv(in, "fuzz.csv", max_record_bytes);
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> fields;
    while (csv.next(fields)) {
        // One empty field and a blank line are written alike; both read as no fields.
        if (fields.size() == 1 && fields[0].empty()) fields.clear();
        records.push_back(fields);
    }
    return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::vector<std::string>> records;
    try {
        records = read_all(std::string(cascade_fuzz::as_text(data, size)));
    } catch (const cascade::ParseError& e) {
        CASCADE_FUZZ_EXPECT(e.line() >= 1, e.what());
        return 0;
    }
    // A byte order mark first, so that data that starts like one is not taken for it.
    std::string written = "\xEF\xBB\xBF";
    for (const auto& record : records) {
        for (std::size_t i = 0; i < record.size(); ++i) {
            if (i > 0) written += ',';
            written += cascade::detail::csv_escape(record[i]);
        }
        written += "\r\n";
    }
    try {
        CASCADE_FUZZ_EXPECT(read_all(written) == records, written);
    } catch (const cascade::ParseError& e) {
        // Quoting adds bytes: a record near the limit may pass the limit once written.
        CASCADE_FUZZ_EXPECT(std::string(e.what()).find("longer than the limit") != std::string::npos,
                            written + "\n" + e.what());
    }
    return 0;
}
