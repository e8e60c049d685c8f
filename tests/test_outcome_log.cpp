#include "catch.hpp"

#include <cascade/eval/outcome_log.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>  // mkdir
#include <unistd.h>    // getpid, rmdir

#include "failing_streambuf.hpp"

namespace {

const char* const header = "query_id,model,quality,cost,confidence,benchmark,tokens_in,tokens_out,latency_ms\n";

cascade::OutcomeLog read_csv(const std::string& text, cascade::ReadOptions options = {}) {
    std::istringstream in(text);
    return cascade::read_outcomes_csv(in, "log.csv", options);
}

cascade::ParseError csv_error(const std::string& text) {
    try {
        read_csv(text);
    } catch (const cascade::ParseError& e) {
        return e;
    }
    FAIL("no ParseError for:\n" << text);
    return cascade::ParseError("", 0, "");
}

cascade::ParseError jsonl_error(const std::string& text) {
    try {
        std::istringstream in(text);
        cascade::read_outcomes_jsonl(in, "log.jsonl");
    } catch (const cascade::ParseError& e) {
        return e;
    }
    FAIL("no ParseError for:\n" << text);
    return cascade::ParseError("", 0, "");
}

}  // namespace

TEST_CASE("reads the dataset format, with -inf, nan and empty confidences") {
    const auto log = read_csv(std::string(header) +
                              "q1,small,1,0.001,-0.25,mmlu,10,1,12.5\n"
                              "q1,big,0,0.01,-inf,mmlu,10,1,\n"
                              "q2,small,0.5,0,,gsm8k,,,\n"
                              "q2,big,1,0.02,nan,gsm8k,,,\n");
    REQUIRE(log.rows.size() == 4);
    CHECK(log.source == "log.csv");
    CHECK(log.lines == std::vector<std::size_t>{2, 3, 4, 5});
    const cascade::Outcome& a = log.rows[0];
    CHECK(a.query_id == "q1");
    CHECK(a.model == "small");
    CHECK(*a.quality == 1.0);
    CHECK(a.cost == 0.001);
    CHECK(*a.confidence == -0.25);
    CHECK(a.benchmark == "mmlu");
    CHECK(*a.tokens_in == 10.0);
    CHECK(*a.latency_ms == 12.5);
    CHECK(*log.rows[1].confidence == -std::numeric_limits<double>::infinity());
    CHECK_FALSE(log.rows[1].latency_ms.has_value());
    CHECK_FALSE(log.rows[2].confidence.has_value());
    CHECK(*log.rows[2].quality == 0.5);
    CHECK_FALSE(log.rows[3].confidence.has_value());
}

TEST_CASE("columns may come in any order, extra columns are ignored, optional ones may be absent") {
    const auto log = read_csv("note,cost,model,quality,query_id\r\n\"a, b\",0.5,m,1,q\r\n");
    REQUIRE(log.rows.size() == 1);
    CHECK(log.rows[0].cost == 0.5);
    CHECK(log.rows[0].model == "m");
    CHECK(log.rows[0].query_id == "q");
    CHECK_FALSE(log.rows[0].confidence.has_value());
}

TEST_CASE("quoted ids with commas, quotes and newlines are read whole") {
    const auto log = read_csv("query_id,model,quality,cost\n\"q,\"\"1\"\"\nx\",m,1,0\nq2,m,0,0\n");
    REQUIRE(log.rows.size() == 2);
    CHECK(log.rows[0].query_id == "q,\"1\"\nx");
    CHECK(log.lines[1] == 4);
}

TEST_CASE("malformed CSV logs are ParseErrors with file, line and reason") {
    struct Case {
        std::string text;
        std::size_t line;
        const char* reason;
    };
    const std::string h = header;
    const std::vector<Case> cases = {
        {"", 0, "the file is empty"},
        {"\n\n", 0, "the file is empty"},
        {"query_id,model,cost,confidence\nq,m,0,0\n", 1, "no column \"quality\""},
        {"query_id,quality,cost\nq,1,0\n", 1, "no column \"model\""},
        {"query_id,model,quality,cost,cost\nq,m,1,0,0\n", 1, "appears twice"},
        {h, 1, "no outcome rows"},
        {h + "q,m,1,0.1,0,b,,,\nq,m2,1,0.1,0,b,,\n", 3, "the row has 8 fields, the header 9"},
        {h + "q,m,1,abc,0,b,,,\n", 2, "column \"cost\": \"abc\" is not a number"},
        {h + "q,m,1,0.1,high,b,,,\n", 2, "column \"confidence\": \"high\" is not a number"},
        {h + "q,m,,0.1,0,b,,,\n", 2, "quality is empty"},
        {h + "q,m,1.5,0.1,0,b,,,\n", 2, "quality 1.5 is outside [0, 1]"},
        {h + "q,m,-0.1,0.1,0,b,,,\n", 2, "outside [0, 1]"},
        {h + "q,m,nan,0.1,0,b,,,\n", 2, "quality is NaN"},
        {h + "q,m,1,-0.1,0,b,,,\n", 2, "cost -0.1 must be a finite number >= 0"},
        {h + "q,m,1,inf,0,b,,,\n", 2, "cost inf must be"},
        {h + "q,m,1,,0,b,,,\n", 2, "column \"cost\" is empty"},
        {h + ",m,1,0,0,b,,,\n", 2, "query_id is empty"},
        {h + "q,,1,0,0,b,,,\n", 2, "model is empty"},
        {h + "q,m,1,0,0,b,-5,,\n", 2, "tokens_in -5"},
        {h + "q,m,1,0,0,b,,,\nq2,m,1,0,0,b,,,\nq,m,0,0,0,b,,,\n", 4, "duplicate outcome for query \"q\" and model \"m\" (first on line 2)"},
        {h + "q,m,1,0,\"0,b,,,\n", 2, "not closed"},
        {h + "q,m,1,0,0\"x,b,,,\n", 2, "unquoted field"},
    };
    for (const Case& c : cases) {
        INFO("input:\n" << c.text);
        const cascade::ParseError e = csv_error(c.text);
        CHECK(e.source() == "log.csv");
        CHECK(e.line() == c.line);
        CHECK(e.reason().find(c.reason) != std::string::npos);
    }
}

TEST_CASE("unlabelled rows are read only when allowed") {
    cascade::ReadOptions o;
    o.allow_unlabelled = true;
    const auto log = read_csv("query_id,model,quality,cost\nq,m,,0.1\n", o);
    REQUIRE(log.rows.size() == 1);
    CHECK_FALSE(log.rows[0].quality.has_value());
    // A table needs every quality.
    CHECK_THROWS_AS(cascade::OutcomeTable(log), cascade::ParseError);
}

TEST_CASE("progress is reported while reading") {
    std::string text = "query_id,model,quality,cost\n";
    for (int i = 0; i < 25; ++i) text += "q" + std::to_string(i) + ",m,1,0\n";
    std::vector<std::size_t> seen;
    cascade::ReadOptions o;
    o.progress_every = 10;
    o.progress = [&](std::size_t rows) { seen.push_back(rows); };
    read_csv(text, o);
    CHECK(seen == std::vector<std::size_t>{10, 20, 25});
}

TEST_CASE("CSV written by write_outcomes_csv reads back unchanged") {
    std::vector<cascade::Outcome> rows(3);
    rows[0] = {"q,1", "m\"x", 1.0, 0.1, -std::numeric_limits<double>::infinity(), "b\nc", 3.0, 4.0, 5.5};
    rows[1] = {"q2", "m", 0.25, 1e-7, 0.123456789012345678, "", std::nullopt, std::nullopt, std::nullopt};
    rows[2] = {"q3", "m", 0.0, 0.0, std::nullopt, "x", std::nullopt, 1.0, std::nullopt};
    std::stringstream buf;
    cascade::write_outcomes_csv(buf, rows);
    const auto log = cascade::read_outcomes_csv(buf, "rt.csv");
    REQUIRE(log.rows.size() == 3);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const cascade::Outcome& a = rows[i];
        const cascade::Outcome& b = log.rows[i];
        CHECK(a.query_id == b.query_id);
        CHECK(a.model == b.model);
        CHECK(a.quality == b.quality);
        CHECK(a.cost == b.cost);
        CHECK(a.confidence == b.confidence);
        CHECK(a.benchmark == b.benchmark);
        CHECK(a.tokens_in == b.tokens_in);
        CHECK(a.tokens_out == b.tokens_out);
        CHECK(a.latency_ms == b.latency_ms);
    }
}

TEST_CASE("JSON Lines written by write_outcomes_jsonl reads back unchanged") {
    std::vector<cascade::Outcome> rows(2);
    rows[0] = {"q\"1", "m", 1.0, 0.1, -std::numeric_limits<double>::infinity(), "b", 3.0, std::nullopt, 5.5};
    rows[1] = {"q2", "m", 0.5, 0.2, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt};
    std::stringstream buf;
    cascade::write_outcomes_jsonl(buf, rows);
    const auto log = cascade::read_outcomes_jsonl(buf, "rt.jsonl");
    REQUIRE(log.rows.size() == 2);
    CHECK(log.rows[0].query_id == "q\"1");
    CHECK(*log.rows[0].confidence == -std::numeric_limits<double>::infinity());
    CHECK(*log.rows[0].latency_ms == 5.5);
    CHECK_FALSE(log.rows[1].confidence.has_value());
    CHECK(*log.rows[1].quality == 0.5);
}

TEST_CASE("malformed JSON Lines logs are ParseErrors with file, line and reason") {
    struct Case {
        std::string text;
        std::size_t line;
        const char* reason;
    };
    const std::vector<Case> cases = {
        {"", 0, "the file is empty"},
        {"\n  \n", 0, "the file is empty"},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0}\n{\"query_id\":\"q2\",", 2, "invalid JSON at column"},
        {"[1]\n", 1, "expected a JSON object, got an array"},
        {"{\"model\":\"m\",\"quality\":1,\"cost\":0}\n", 1, "no \"query_id\""},
        {"{\"query_id\":1,\"model\":\"m\",\"quality\":1,\"cost\":0}\n", 1, "\"query_id\" must be a string"},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1}\n", 1, "no \"cost\""},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":\"1\",\"cost\":0}\n", 1, "\"quality\" must be a number"},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":2,\"cost\":0}\n", 1, "outside [0, 1]"},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0,\"confidence\":\"x\"}\n", 1, "\"confidence\" must be a number"},
        {"{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0}\n\n{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0}\n", 3, "duplicate"},
    };
    for (const Case& c : cases) {
        INFO("input:\n" << c.text);
        const cascade::ParseError e = jsonl_error(c.text);
        CHECK(e.source() == "log.jsonl");
        CHECK(e.line() == c.line);
        CHECK(e.reason().find(c.reason) != std::string::npos);
    }
}

TEST_CASE("read_outcomes picks the format by extension and names a file it cannot open") {
    // Names of this process's own: the C++17 and C++20 builds of this test run at the same time.
    const std::string stem = "cascade_test_outcome_log_" + std::to_string(::getpid());
    const std::string csv = stem + ".csv";
    const std::string jsonl = stem + ".jsonl";
    {
        std::ofstream(csv, std::ios::binary) << "query_id,model,quality,cost\nq,m,1,0.5\n";
        std::ofstream(jsonl, std::ios::binary) << "{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0.5}\n";
    }
    CHECK(cascade::read_outcomes(csv).rows.at(0).cost == 0.5);
    CHECK(cascade::read_outcomes(jsonl).rows.at(0).cost == 0.5);
    std::remove(csv.c_str());
    std::remove(jsonl.c_str());
    try {
        cascade::read_outcomes("no/such/file.csv");
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.source() == "no/such/file.csv");
        CHECK(e.reason().find("cannot open") != std::string::npos);
    }
}

TEST_CASE("a table holds queries x models matrices in first-seen order") {
    const cascade::OutcomeTable t(read_csv("query_id,model,quality,cost,confidence\n"
                                           "q1,a,1,0.1,0.9\nq1,b,0,0.2,\nq2,b,1,0.3,0.5\nq2,a,0,0.4,-inf\n"));
    CHECK(t.queries() == std::vector<std::string>{"q1", "q2"});
    CHECK(t.models() == std::vector<std::string>{"a", "b"});
    const std::size_t a = t.model_index("a");
    const std::size_t b = t.model_index("b");
    CHECK(t.quality(b, 1) == 1.0);
    CHECK(t.cost(a, 1) == 0.4);
    CHECK(std::isnan(t.confidence(b, 0)));
    CHECK(t.confidence(a, 1) == -std::numeric_limits<double>::infinity());
    CHECK(t.mean_quality(a) == 0.5);
    CHECK(std::fabs(t.mean_cost(b) - 0.25) < 1e-12);
    CHECK_FALSE(t.find_model("c").has_value());
    try {
        (void)t.model_index("c");
        FAIL("no throw");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("no model \"c\" in the log (models: a, b)") != std::string::npos);
    }
}

TEST_CASE("a query lacking a model is an error naming both, when that model is needed") {
    const cascade::OutcomeTable t(read_csv("query_id,model,quality,cost\nq1,a,1,0\nq1,b,1,0\nq2,a,1,0\n"));
    CHECK_NOTHROW(t.require({t.model_index("a")}));
    try {
        t.require({t.model_index("a"), t.model_index("b")});
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.line() == 4);
        CHECK(e.reason().find("query \"q2\" has no outcome for model \"b\"") != std::string::npos);
    }
}

TEST_CASE("split_by_query is reproducible, exhaustive and independent of the log's order") {
    std::string forward = "query_id,model,quality,cost\n";
    std::string backward = forward;
    std::vector<std::string> lines;
    for (int i = 0; i < 100; ++i) lines.push_back("q" + std::to_string(i) + ",m,1,0\n");
    for (const auto& l : lines) forward += l;
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) backward += *it;
    const cascade::OutcomeTable f(read_csv(forward));
    const cascade::OutcomeTable b(read_csv(backward));
    const auto [f_train, f_test] = cascade::split_by_query(f, 0.5, 7);
    const auto [b_train, b_test] = cascade::split_by_query(b, 0.5, 7);
    CHECK(f_train.query_count() == 50);
    CHECK(f_test.query_count() == 50);
    std::vector<std::string> x = f_train.queries();
    std::vector<std::string> y = b_train.queries();
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    CHECK(x == y);
    const auto [other_train, other_test] = cascade::split_by_query(f, 0.5, 8);
    std::vector<std::string> z = other_train.queries();
    std::sort(z.begin(), z.end());
    CHECK(z != x);
    for (const auto& q : f_test.queries()) CHECK(std::find(x.begin(), x.end(), q) == x.end());
    CHECK_THROWS_AS(cascade::split_by_query(f, 1.0, 1), std::invalid_argument);
    CHECK_THROWS_AS(cascade::split_by_query(f, 0.001, 1), std::invalid_argument);
}

namespace {

// 8,290 outcome rows (two models per query), the JSON Lines form when `jsonl`.
std::string many_rows(bool jsonl) {
    std::string text = jsonl ? "" : "query_id,model,quality,cost\n";
    for (int i = 0; i < 8290; ++i) {
        const std::string q = "q" + std::to_string(i / 2);
        const std::string m = i % 2 ? "big" : "small";
        text += jsonl ? "{\"query_id\":\"" + q + "\",\"model\":\"" + m + "\",\"quality\":1,\"cost\":0.5}\n"
                      : q + "," + m + ",1,0.5\n";
    }
    return text;
}

}  // namespace

TEST_CASE("a read error in the middle of a log is a ParseError, never a shorter log") {
    for (const bool jsonl : {false, true}) {
        const std::string text = many_rows(jsonl);
        REQUIRE(text.size() > (std::size_t{128} << 10));
        cascade_test::FailingStreambuf buf(text, std::size_t{128} << 10);
        std::istream in(&buf);
        INFO((jsonl ? "JSON Lines" : "CSV"));
        try {
            const cascade::OutcomeLog log =
                jsonl ? cascade::read_outcomes_jsonl(in, "log") : cascade::read_outcomes_csv(in, "log");
            FAIL("read " << log.rows.size() << " of 8290 rows and no error");
        } catch (const cascade::ParseError& e) {
            CHECK(e.source() == "log");
            CHECK(e.line() > 1);
            CHECK(e.reason().find("read error after 131072 bytes") != std::string::npos);
        }
        // The same stream without the failure reads every row.
        cascade_test::FailingStreambuf whole(text, text.size());
        std::istream all(&whole);
        CHECK((jsonl ? cascade::read_outcomes_jsonl(all, "log") : cascade::read_outcomes_csv(all, "log")).rows.size() ==
              8290);
    }
}

TEST_CASE("a directory is reported as unreadable, not as an empty file") {
    const std::string path = "cascade_test_outcome_dir_" + std::to_string(::getpid());
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);
    for (const std::string& name : {path, path + "/"}) {
        try {
            cascade::read_outcomes(name);
            FAIL("no throw");
        } catch (const cascade::ParseError& e) {
            CHECK(e.source() == name);
            CHECK(e.reason().find("empty") == std::string::npos);
            CHECK(e.reason().find("cannot") == 0);
        }
    }
    ::rmdir(path.c_str());
}

TEST_CASE("a JSON Lines line longer than the limit is a ParseError naming its line and the limit") {
    const std::string row = "{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":0}";  // 49 bytes
    cascade::ReadOptions o;
    o.max_line_bytes = row.size();
    {
        std::istringstream in(row + "\r\n" + row.substr(0, 13) + "r" + row.substr(14) + "\r\n");
        CHECK(cascade::read_outcomes_jsonl(in, "log.jsonl", o).rows.size() == 2);
    }
    std::istringstream in(row + "\n" + row.substr(0, 13) + "rr" + row.substr(14) + "\n");
    try {
        cascade::read_outcomes_jsonl(in, "log.jsonl", o);
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.line() == 2);
        CHECK(e.reason().find("longer than the limit of " + std::to_string(row.size()) + " bytes") !=
              std::string::npos);
    }
    // An endless line stops at the default limit with the same error, not an allocation failure.
    std::istringstream endless(std::string((std::size_t{1} << 20) + 1, '\0'));
    try {
        cascade::read_outcomes_jsonl(endless, "zeros.jsonl");
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()).rfind("zeros.jsonl:1: the line is longer than the limit of 1048576 bytes", 0) == 0);
    }
    CHECK(cascade::ReadOptions{}.max_line_bytes == (std::size_t{1} << 20));
}

TEST_CASE("a CSV record longer than ReadOptions::max_line_bytes is a ParseError") {
    cascade::ReadOptions o;
    o.max_line_bytes = 32;
    try {
        read_csv("query_id,model,quality,cost\nq,m,1,0\n" + std::string(40, 'q') + ",m,1,0\n", o);
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.line() == 3);
        CHECK(e.reason().find("longer than the limit of 32 bytes") != std::string::npos);
    }
}

TEST_CASE("more models for one query than the limit is a ParseError naming the query") {
    cascade::ReadOptions o;
    o.max_models_per_query = 3;
    const std::string text = "query_id,model,quality,cost\nq,a,1,0\nq,b,1,0\nq,c,1,0\nr,d,1,0\nq,d,1,0\n";
    try {
        read_csv(text, o);
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.line() == 6);
        CHECK(e.reason().find("query \"q\" has outcomes for more than 3 models") != std::string::npos);
    }
    o.max_models_per_query = 4;
    CHECK(read_csv(text, o).rows.size() == 5);
    CHECK(cascade::ReadOptions{}.max_models_per_query == 1000);
}

TEST_CASE("duplicates are found among many models of one query") {
    cascade::ReadOptions o;
    o.max_models_per_query = 20000;
    std::string text = "query_id,model,quality,cost\n";
    for (int m = 0; m < 20000; ++m) text += "q,m" + std::to_string(m) + ",1,0\n";
    CHECK(read_csv(text, o).rows.size() == 20000);
    text += "q,m12345,1,0\n";
    try {
        read_csv(text, o);
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.line() == 20002);
        CHECK(e.reason() == "duplicate outcome for query \"q\" and model \"m12345\" (first on line 12347)");
    }
}

TEST_CASE("costs that are each finite but add up past the limit are refused, naming the row") {
    const cascade::ParseError e = csv_error("query_id,model,quality,cost\nq1,big,1,9e299\nq2,big,1,9e299\n");
    CHECK(e.line() == 3);
    CHECK(e.reason().find("the costs add up to more than 1e+300 dollars") != std::string::npos);
    CHECK(e.reason().find("model \"big\"") != std::string::npos);
    const cascade::ParseError j = jsonl_error(
        "{\"query_id\":\"q\",\"model\":\"m\",\"quality\":1,\"cost\":9e299}\n"
        "{\"query_id\":\"q\",\"model\":\"n\",\"quality\":1,\"cost\":9e299}\n");
    CHECK(j.line() == 2);
    // A log built in code is checked when it becomes a table.
    cascade::OutcomeLog log;
    log.source = "built";
    log.rows = {{"q1", "big", 1.0, 9e299, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt},
                {"q2", "big", 1.0, 9e299, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt}};
    log.lines = {1, 2};
    try {
        const cascade::OutcomeTable t(log);
        FAIL("a table with mean cost " << t.mean_cost(0));
    } catch (const cascade::ParseError& err) {
        CHECK(std::string(err.what()).rfind("built:2: the costs add up", 0) == 0);
    }
}

TEST_CASE("ids that are not UTF-8 round-trip through CSV and are refused by JSON Lines") {
    std::vector<cascade::Outcome> rows(2);
    rows[0] = {"id\xff", "m", 1.0, 0.1, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt};
    rows[1] = {"id\xfe", "m", 1.0, 0.1, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt};
    std::stringstream csv;
    cascade::write_outcomes_csv(csv, rows);
    const auto back = cascade::read_outcomes_csv(csv, "rt.csv");
    REQUIRE(back.rows.size() == 2);
    CHECK(back.rows[0].query_id == "id\xff");
    CHECK(back.rows[1].query_id == "id\xfe");

    // Escaping both as U+FFFD would make them one id; nothing is written instead.
    std::stringstream jsonl;
    try {
        cascade::write_outcomes_jsonl(jsonl, rows);
        FAIL("wrote " << jsonl.str());
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("query_id \"id?\" is not valid UTF-8 (byte 3 is 0xff)") != std::string::npos);
    }
    CHECK(jsonl.str().empty());
    for (const char* bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "a\x80"}) {
        CHECK(cascade::detail::first_invalid_utf8(bad) != std::string_view::npos);
    }
}

TEST_CASE("JSON Lines round-trip any valid UTF-8 and control characters in ids") {
    std::vector<cascade::Outcome> rows(3);
    rows[0] = {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "m/\\x",
               1.0,
               0.1,
               std::nullopt,
               "b\tc",
               std::nullopt,
               std::nullopt,
               std::nullopt};
    rows[1] = {std::string("nul\0byte", 8), "m", 0.0, 0.1, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt};
    rows[2] = {"line\nbreak\x01\x7f", "m", 0.5, 0.1, std::nullopt, "", std::nullopt, std::nullopt, std::nullopt};
    std::stringstream buf;
    cascade::write_outcomes_jsonl(buf, rows);
    const auto back = cascade::read_outcomes_jsonl(buf, "rt.jsonl");
    REQUIRE(back.rows.size() == 3);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        CHECK(back.rows[i].query_id == rows[i].query_id);
        CHECK(back.rows[i].model == rows[i].model);
        CHECK(back.rows[i].benchmark == rows[i].benchmark);
    }
}

TEST_CASE("a table of more cells than TableOptions::max_cells is refused before it is built") {
    // 40 queries, each with a model of its own: 1,600 cells for 40 rows.
    std::string text = "query_id,model,quality,cost\n";
    for (int i = 0; i < 40; ++i) text += "q" + std::to_string(i) + ",m" + std::to_string(i) + ",1,0\n";
    const cascade::OutcomeLog log = read_csv(text);
    cascade::TableOptions o;
    o.max_cells = 1599;
    try {
        const cascade::OutcomeTable t(log, o);
        FAIL("built " << t.query_count() << " x " << t.model_count());
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()) ==
              "log.csv: 40 queries x 40 models make a table of more than 1599 cells (TableOptions::max_cells, "
              "cascade-eval --max-table-cells); most queries lack most models: is the model column right?");
    }
    o.max_cells = 1600;
    CHECK(cascade::OutcomeTable(log, o).model_count() == 40);
    CHECK(cascade::TableOptions{}.max_cells == (std::size_t{1} << 26));
}
