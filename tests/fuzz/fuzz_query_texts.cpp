// SPDX-License-Identifier: MIT
// read_query_texts_csv: any bytes either read as query texts or raise cascade::ParseError; what it
// reads keeps its promises (unique ids found by find(), texts not empty and valid UTF-8, labels in
// [0, 1]) and, written back as CSV, reads back the same.
#include <cascade/core/parse_error.hpp>
#include <cascade/eval/query_texts.hpp>

#include <cstddef>
#include <sstream>
#include <string>

#include "fuzz_target.hpp"

namespace {

void check(const cascade::QueryTexts& q, bool utf8) {
    CASCADE_FUZZ_EXPECT(q.size() > 0, "no queries and no error");
    CASCADE_FUZZ_EXPECT(q.texts.size() == q.size() && q.lines.size() == q.size(), "columns of different lengths");
    CASCADE_FUZZ_EXPECT(q.labels.empty() || q.labels.size() == q.size(), "labels for some queries only");
    for (std::size_t i = 0; i < q.size(); ++i) {
        CASCADE_FUZZ_EXPECT(!q.ids[i].empty() && !q.texts[i].empty(), q.ids[i]);
        CASCADE_FUZZ_EXPECT(q.find(q.ids[i]) == i, "an id not found at its place: " + q.ids[i]);
        CASCADE_FUZZ_EXPECT(i == 0 || q.lines[i] > q.lines[i - 1], "lines out of order");
        if (utf8) {
            CASCADE_FUZZ_EXPECT(cascade::detail::first_invalid_utf8(q.ids[i]) == std::string_view::npos &&
                                    cascade::detail::first_invalid_utf8(q.texts[i]) == std::string_view::npos,
                                "invalid UTF-8 let through: " + q.ids[i]);
        }
        if (!q.labels.empty()) CASCADE_FUZZ_EXPECT(q.labels[i] >= 0.0 && q.labels[i] <= 1.0, q.ids[i]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(cascade_fuzz::as_text(data, size));
    cascade::QueryTextOptions defaults;
    defaults.max_record_bytes = 4096;
    cascade::QueryTextOptions dataset = defaults;
    dataset.id_column = "query_id";
    dataset.text_columns = {"system_prompt", "user_prompt"};
    dataset.require_utf8 = false;
    for (const cascade::QueryTextOptions* options : {&defaults, &dataset}) {
        cascade::QueryTexts q;
        try {
            std::istringstream in(text);
            q = cascade::read_query_texts_csv(in, "fuzz.csv", *options);
        } catch (const cascade::ParseError&) {
            continue;
        }
        check(q, options->require_utf8);
        std::string written = q.labels.empty() ? "id,text\n" : "id,text,label\n";
        for (std::size_t i = 0; i < q.size(); ++i) {
            written += cascade::detail::csv_escape(q.ids[i]) + "," + cascade::detail::csv_escape(q.texts[i]);
            if (!q.labels.empty()) written += "," + cascade::detail::format_number(q.labels[i]);
            written += "\r\n";
        }
        cascade::QueryTextOptions back_options;
        back_options.require_utf8 = options->require_utf8;
        try {
            std::istringstream in(written);
            const cascade::QueryTexts back = cascade::read_query_texts_csv(in, "written.csv", back_options);
            CASCADE_FUZZ_EXPECT(back.ids == q.ids && back.texts == q.texts && back.labels == q.labels, written);
        } catch (const cascade::ParseError& e) {
            CASCADE_FUZZ_EXPECT(false, written + "\n" + e.what());
        }
    }
    return 0;
}
