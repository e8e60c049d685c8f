#include "catch.hpp"

#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/outcome_table_reader.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>  // getpid

#include "failing_streambuf.hpp"
#include "same_table.hpp"

namespace {

// What reading `text` gives: the table, or the error's whole text.
struct Read {
    cascade::OutcomeTable table;
    std::string error;  // empty when a table was read
    std::vector<std::size_t> progress;
};

Read rows_then_table(const std::string& text, bool jsonl, cascade::ReadOptions options = {},
                     const cascade::TableOptions& table = {}) {
    Read r;
    options.progress = [&](std::size_t rows) { r.progress.push_back(rows); };
    try {
        std::istringstream in(text);
        r.table = cascade::OutcomeTable(
            jsonl ? cascade::read_outcomes_jsonl(in, "log", options) : cascade::read_outcomes_csv(in, "log", options),
            table);
    } catch (const cascade::ParseError& e) {
        r.error = e.what();
    }
    return r;
}

Read table_reader(const std::string& text, bool jsonl, cascade::ReadOptions options = {},
                  const cascade::TableOptions& table = {}) {
    Read r;
    options.progress = [&](std::size_t rows) { r.progress.push_back(rows); };
    try {
        std::istringstream in(text);
        r.table = jsonl ? cascade::read_outcome_table_jsonl(in, "log", options, table)
                        : cascade::read_outcome_table_csv(in, "log", options, table);
    } catch (const cascade::ParseError& e) {
        r.error = e.what();
    }
    return r;
}

// Both paths on `text`: the same error, or the same table, and the same progress reports.
void check_same(const std::string& text, bool jsonl, const cascade::ReadOptions& options = {},
                const cascade::TableOptions& table = {}) {
    INFO((jsonl ? "JSON Lines" : "CSV") << " input:\n" << text.substr(0, 2000));
    const Read a = rows_then_table(text, jsonl, options, table);
    const Read b = table_reader(text, jsonl, options, table);
    CHECK(b.error == a.error);
    if (a.error.empty() && b.error.empty()) CHECK(cascade_test::table_difference(a.table, b.table).empty());
    CHECK(b.progress == a.progress);
}

const std::string header = "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms\n";

std::string jsonl_row(const std::string& q, const std::string& m, const std::string& rest) {
    return "{\"query_id\":\"" + q + "\",\"model\":\"" + m + "\"" + rest + "}\n";
}

}  // namespace

TEST_CASE("read_outcome_table builds the table of OutcomeTable(read_outcomes) on valid logs") {
    const std::vector<std::string> logs = {
        header +
            "q1,small,1,0.001,-0.25,mmlu,10,1,12.5\nq1,big,0,0.01,-inf,mmlu,10,1,\n"
            "q2,small,0.5,0,,gsm8k,,,\nq2,big,1,0.02,nan,gsm8k,,,\n",
        // columns in another order, extra columns, CRLF, a BOM, blank lines, quoted ids
        "\xEF\xBB\xBFnote,cost,model,quality,query_id\r\n\"a, "
        "b\",0.5,m,1,q\r\n\r\n\"x\",1e-3,n,0,\"q,\"\"2\"\"\nz\"\r\n",
        // queries lacking models, models first seen late, -0 and denormal costs
        "query_id,model,quality,cost,confidence\nq1,a,1,-0,1\nq2,b,0,4.9e-324,2\nq3,a,1,1e-300,inf\nq3,c,1,0,\n",
        // rows grouped by model, not by query
        "query_id,model,quality,cost\nq1,a,1,0.1\nq2,a,0,0.1\nq3,a,1,0.1\nq1,b,1,0.2\nq3,b,1,0.2\n",
        // no line end at the end; a lone CR as the line end
        "query_id,model,quality,cost\rq1,a,1,0.1\rq2,a,0,0.2",
    };
    for (const std::string& log : logs) check_same(log, false);
    const Read r = table_reader(logs[0], false);
    REQUIRE(r.error.empty());
    CHECK(r.table.query_count() == 2);
    CHECK(r.table.quality(r.table.model_index("small"), 1) == 0.5);

    check_same(jsonl_row("q1", "a", ",\"quality\":1,\"cost\":0.5,\"confidence\":\"-inf\"") + "\n" +
                   jsonl_row("q1", "b", ",\"quality\":0,\"cost\":0.25,\"confidence\":null,\"benchmark\":\"x\"") +
                   jsonl_row("q2", "b", ",\"quality\":0.5,\"cost\":1e-9,\"confidence\":0.5"),
               true);
}

TEST_CASE("read_outcome_table refuses what the rows-then-table path refuses, with the same words and line") {
    const std::string h = header;
    const std::vector<std::string> csv = {
        "",
        "\n\n",
        "query_id,model,cost,confidence\nq,m,0,0\n",
        "query_id,model,quality,cost,cost\nq,m,1,0,0\n",
        h,
        h + "q,m,1,0.1,0,b,,,\nq,m2,1,0.1,0,b,,\n",
        h + "q,m,1,abc,0,b,,,\n",
        h + "q,m,1,0.1,high,b,,,\n",
        h + "q,m,,0.1,0,b,,,\n",
        h + "q,m,1.5,0.1,0,b,,,\n",
        h + "q,m,nan,0.1,0,b,,,\n",
        h + "q,m,1,-0.1,0,b,,,\n",
        h + "q,m,1,inf,0,b,,,\n",
        h + "q,m,1,,0,b,,,\n",
        h + ",m,1,0,0,b,,,\n",
        h + "q,,1,0,0,b,,,\n",
        h + "q,m,1,0,0,b,-5,,\n",
        h + "q,m,1,0,0,b,,,\nq2,m,1,0,0,b,,,\nq,m,0,0,0,b,,,\n",
        h + "q,m,1,0,\"0,b,,,\n",
        h + "q,m,1,0,0\"x,b,,,\n",
        h + "q,m,1,0,\"0\"x,b,,,\n",
        "query_id,model,quality,cost\nq1,big,1,9e299\nq2,big,1,9e299\n",
        "query_id,model,quality,cost\nq,a,1,0\nq,b,1,0\nq,c,1,0\nr,d,1,0\nq,d,1,0\nq,e,1,0\n",
    };
    cascade::ReadOptions few_models;
    few_models.max_models_per_query = 3;
    for (const std::string& text : csv) {
        check_same(text, false);
        check_same(text, false, few_models);
    }
    const std::vector<std::string> jsonl = {
        "",
        "\n  \n",
        jsonl_row("q", "m", ",\"quality\":1,\"cost\":0") + "{\"query_id\":\"q2\",",
        "[1]\n",
        "{\"model\":\"m\",\"quality\":1,\"cost\":0}\n",
        "{\"query_id\":1,\"model\":\"m\",\"quality\":1,\"cost\":0}\n",
        jsonl_row("q", "m", ",\"quality\":1"),
        jsonl_row("q", "m", ",\"quality\":\"1\",\"cost\":0"),
        jsonl_row("q", "m", ",\"quality\":2,\"cost\":0"),
        jsonl_row("q", "m", ",\"quality\":1,\"cost\":0,\"confidence\":\"x\""),
        jsonl_row("q", "m", ",\"quality\":1,\"cost\":0") + "\n" + jsonl_row("q", "m", ",\"quality\":1,\"cost\":0"),
        jsonl_row("q\xff", "m", ",\"quality\":1,\"cost\":0"),
    };
    for (const std::string& text : jsonl) check_same(text, true);
}

TEST_CASE("read_outcome_table reports an unlabelled row only after the rows' own errors, as the table would") {
    cascade::ReadOptions unlabelled;
    unlabelled.allow_unlabelled = true;
    const std::string h = "query_id,model,quality,cost\n";
    // The table refuses the first unlabelled row...
    check_same(h + "q1,a,1,0\nq2,a,,0\nq3,a,,0\n", false, unlabelled);
    // ... but a malformed row later in the file is reported first, as the rows are read first.
    check_same(h + "q1,a,1,0\nq2,a,,0\nq3,a,x,0\n", false, unlabelled);
    check_same(h + "q1,a,,0\nq1,a,1,0\n", false, unlabelled);
    const Read r = table_reader(h + "q1,a,1,0\nq2,a,,0\nq3,a,,0\n", false, unlabelled);
    CHECK(r.error == "log:3: quality is empty; label every outcome before replay");
}

TEST_CASE("read_outcome_table refuses a table of too many cells after the rows' own errors") {
    std::string text = "query_id,model,quality,cost\n";
    for (int i = 0; i < 40; ++i) text += "q" + std::to_string(i) + ",m" + std::to_string(i) + ",1,0\n";
    cascade::TableOptions small;
    small.max_cells = 1599;
    check_same(text, false, {}, small);
    const Read r = table_reader(text, false, {}, small);
    CHECK(r.error.find("40 queries x 40 models make a table of more than 1599 cells") != std::string::npos);
    // Past the limit, duplicates and malformed rows are still found, and reported first.
    check_same(text + "q3,m3,1,0\n", false, {}, small);
    check_same(text + "q39,m0,1,0\nq39,m0,1,0\n", false, {}, small);
    check_same(text + "q3,m3,x,0\n", false, {}, small);
    // ... also for cells that got no room before the limit was passed (past the first 64 queries).
    std::string more = text;
    for (int i = 40; i < 70; ++i) more += "q" + std::to_string(i) + ",m0,1,0\n";
    check_same(more + "q69,m0,0,0\n", false, {}, small);
    CHECK(table_reader(more + "q69,m0,0,0\n", false, {}, small).error.find("(first on line 71)") != std::string::npos);
    small.max_cells = 1600;
    check_same(text, false, {}, small);
    CHECK(table_reader(text, false, {}, small).error.empty());
}

TEST_CASE("read_outcome_table matches the rows-then-table path on logs larger than the reading buffer") {
    // Quoted fields, CRLF and lone CR line ends cross the 64 KiB chunks the readers take at a time.
    std::string text = "query_id,model,quality,cost,confidence\r\n";
    std::string jsonl;
    for (int i = 0; i < 9000; ++i) {
        const std::string q =
            i % 7 == 0 ? "\"q" + std::to_string(i / 3) + ",\"\"x\"\"\n\"" : "q" + std::to_string(i / 3);
        const std::string m = "m" + std::to_string(i % 3);
        text += q + "," + m + "," + std::to_string(i % 2) + ",0." + std::to_string(i) + "," +
                (i % 5 ? std::to_string(i) + "e-3" : "") + (i % 11 ? "\r\n" : "\r");
        jsonl += jsonl_row("q" + std::to_string(i / 3), m, ",\"quality\":1,\"cost\":" + std::to_string(i));
    }
    REQUIRE(text.size() > (std::size_t{3} << 16));
    check_same(text, false);
    check_same(jsonl, true);
    // A record longer than the limit, a quote out of place and a duplicate, each far from the start.
    cascade::ReadOptions limit;
    limit.max_line_bytes = 40;
    check_same(text + "q1,m1,1," + std::string(60, '1') + ",0\n", false, limit);
    check_same(text.substr(0, 100000) + "\"" + text.substr(100000), false);
    check_same(text + "q1,m1,1,0,0\n", false);
}

TEST_CASE("varied logs read alike by both paths") {
    // A generator of small logs with every kind of mistake, each read both ways.
    std::uint64_t state = 7;
    auto next = [&](std::uint64_t n) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return (state >> 33) % n;
    };
    const std::vector<std::string> cells = {"1", "0",  "0.5",  "",      "nan",   "-inf", "x",
                                            "2", "-1", "1e-3", "\"1\"", "9e299", "+0"};
    const std::vector<std::string> ids = {"q1", "q2", "q3", "", "\"q,1\"", "q\xff"};
    for (int n = 0; n < 400; ++n) {
        std::string csv = n % 9 == 0 ? "cost,query_id,model,quality\n" : "query_id,model,quality,cost\n";
        std::string jsonl;
        const std::uint64_t rows = 1 + next(12);
        for (std::uint64_t r = 0; r < rows; ++r) {
            const std::string q = ids[next(ids.size())];
            const std::string m = "m" + std::to_string(next(4));
            const std::string quality = cells[next(cells.size())];
            const std::string cost = cells[next(cells.size())];
            csv += n % 9 == 0 ? cost + "," + q + "," + m + "," + quality : q + "," + m + "," + quality + "," + cost;
            csv += next(10) == 0 ? ",extra\n" : (next(6) == 0 ? "\r\n" : "\n");
            if (q.find('"') == std::string::npos) {
                jsonl += "{\"query_id\":\"" + q + "\",\"model\":\"" + m + "\"" +
                         (quality.empty() ? "" : ",\"quality\":" + quality) +
                         (cost.empty() ? "" : ",\"cost\":" + cost) + "}\n";
            }
        }
        cascade::ReadOptions options;
        options.allow_unlabelled = next(2) == 0;
        options.max_models_per_query = 1 + next(4);
        options.progress_every = 1 + next(5);
        cascade::TableOptions table;
        table.max_cells = 1 + next(20);
        check_same(csv, false, options, table);
        check_same(jsonl, true, options, table);
    }
}

TEST_CASE("a read error in the middle of a log is the same ParseError on both paths") {
    std::string text = "query_id,model,quality,cost\n";
    for (int i = 0; i < 8290; ++i) text += "q" + std::to_string(i / 2) + (i % 2 ? ",big" : ",small") + ",1,0.5\n";
    std::string errors[2];
    for (int path = 0; path < 2; ++path) {
        cascade_test::FailingStreambuf buf(text, std::size_t{128} << 10);
        std::istream in(&buf);
        try {
            if (path == 0) {
                (void)cascade::OutcomeTable(cascade::read_outcomes_csv(in, "log"));
            } else {
                (void)cascade::read_outcome_table_csv(in, "log");
            }
        } catch (const cascade::ParseError& e) {
            errors[path] = e.what();
        }
    }
    CHECK(errors[1].find("read error after 131072 bytes") != std::string::npos);
    CHECK(errors[1] == errors[0]);
}

TEST_CASE("read_outcome_table picks the format by extension and names a file it cannot open") {
    const std::string stem = "cascade_test_outcome_table_reader_" + std::to_string(::getpid());
    const std::string csv = stem + ".csv";
    const std::string jsonl = stem + ".ndjson";
    {
        std::ofstream(csv, std::ios::binary) << "query_id,model,quality,cost\nq,m,1,0.5\n";
        std::ofstream(jsonl, std::ios::binary) << "{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0.25}\n";
    }
    CHECK(cascade::read_outcome_table(csv).cost(0, 0) == 0.5);
    CHECK(cascade::read_outcome_table(jsonl).cost(0, 0) == 0.25);
    CHECK(cascade::read_outcome_table(jsonl).source() == jsonl);
    std::remove(csv.c_str());
    std::remove(jsonl.c_str());
    try {
        (void)cascade::read_outcome_table("no/such/file.csv");
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.source() == "no/such/file.csv");
        CHECK(e.reason().find("cannot open") != std::string::npos);
    }
}
