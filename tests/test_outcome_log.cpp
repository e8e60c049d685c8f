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

#include <unistd.h>  // getpid

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
