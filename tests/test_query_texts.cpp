#include "catch.hpp"

#include <cascade/eval/query_texts.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>  // getpid

#include "failing_streambuf.hpp"

namespace {

cascade::QueryTexts read(const std::string& text, const cascade::QueryTextOptions& options = {}) {
    std::istringstream in(text);
    return cascade::read_query_texts_csv(in, "queries.csv", options);
}

cascade::ParseError error_of(const std::string& text, const cascade::QueryTextOptions& options = {}) {
    try {
        read(text, options);
    } catch (const cascade::ParseError& e) {
        return e;
    }
    FAIL("no ParseError for:\n" << text);
    return cascade::ParseError("", 0, "");
}

cascade::QueryTextOptions dataset_shape() {
    cascade::QueryTextOptions o;
    o.id_column = "query_id";
    o.text_columns = {"system_prompt", "user_prompt"};
    return o;
}

}  // namespace

TEST_CASE("reads ids, texts and labels, quoted fields with commas, quotes and line breaks whole") {
    const auto q = read(
        "id,text,label\r\n"
        "a,\"What is 2+2?\",0\r\n"
        "\r\n"
        "b,\"Prove it, \"\"carefully\"\":\nstep 1\r\nstep 2\",1\r\n"
        "c,plain,0.25");
    REQUIRE(q.size() == 3);
    CHECK(q.source == "queries.csv");
    CHECK(q.ids == std::vector<std::string>{"a", "b", "c"});
    CHECK(q.texts[1] == "Prove it, \"carefully\":\nstep 1\r\nstep 2");
    CHECK(q.labels == std::vector<double>{0.0, 1.0, 0.25});
    CHECK(q.lines == std::vector<std::size_t>{2, 4, 7});
    CHECK(q.find("b") == std::size_t{1});
    CHECK_FALSE(q.find("z").has_value());
    CHECK(q.text_of("c") == "plain");
}

TEST_CASE("the caller names the columns; several text columns join with a blank line, empty ones skipped") {
    const auto q = read(
        "query_id,benchmark,system_prompt,user_prompt\n"
        "gsm8k-0,gsm8k,\"Think step by step.\",\"Problem: 2+2?\"\n"
        "mmlu-0,mmlu,,\"Which is prime?\nA. 4\nB. 5\"\n",
        dataset_shape());
    REQUIRE(q.size() == 2);
    CHECK(q.texts[0] == "Think step by step.\n\nProblem: 2+2?");
    CHECK(q.texts[1] == "Which is prime?\nA. 4\nB. 5");
    CHECK(q.labels.empty());  // no label column: no labels
    try {
        (void)q.text_of("gsm8k-1");
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()) ==
              "queries.csv: no query \"gsm8k-1\" in this file (2 queries); does it belong to the outcome log?");
    }
}

TEST_CASE("malformed query-text files are ParseErrors naming the file, line and column") {
    struct Case {
        std::string text;
        std::size_t line;
        const char* reason;
    };
    const std::vector<Case> cases = {
        {"", 0, "the file is empty; expected a header line with the columns \"id\" and \"text\""},
        {"\n\r\n", 0, "the file is empty"},
        {"id,prompt\na,b\n", 1, "the header has no column \"text\" (QueryTextOptions::text_columns)"},
        {"query_id,text\na,b\n", 1, "the header has no column \"id\" (QueryTextOptions::id_column)"},
        {"id,text,id\na,b,c\n", 1, "column \"id\" appears twice in the header"},
        {"id,text,label,label\na,b,1,1\n", 1, "column \"label\" appears twice"},
        {"id,text\n", 1, "no queries"},
        {"id,text\na,b\nc,d,e\n", 3, "the row has 3 fields, the header 2"},
        {"id,text\n,b\n", 2, "column \"id\" is empty"},
        {"id,text\na,\n", 2, "query \"a\" has no text"},
        {"id,text\na,x\nb,y\na,z\n", 4, "duplicate query \"a\" (first on line 2)"},
        {"id,text,label\na,x,\n", 2, "column \"label\" is empty"},
        {"id,text,label\na,x,yes\n", 2, "column \"label\": \"yes\" is not a number"},
        {"id,text,label\na,x,1.5\n", 2, "label 1.5 is outside [0, 1]"},
        {"id,text,label\na,x,nan\n", 2, "label nan is outside [0, 1]"},
        {"id,text\na,\"unclosed\n", 2, "a quoted field is not closed"},
        {"id,text\na,b\"c\n", 2, "a double quote inside an unquoted field"},
        {"id,text\na,\"b\"c\n", 2, "unexpected character 'c' after a closing quote"},
        {"id,text\na,caf\xe9\n", 2, "column \"text\" is not valid UTF-8 (byte 4 of the field is 0xe9)"},
        {"id,text\n\xff,x\n", 2, "column \"id\" is not valid UTF-8 (byte 1 of the field is 0xff)"},
    };
    for (const Case& c : cases) {
        INFO("input:\n" << c.text);
        const cascade::ParseError e = error_of(c.text);
        CHECK(e.source() == "queries.csv");
        CHECK(e.line() == c.line);
        CHECK(e.reason().find(c.reason) != std::string::npos);
    }
}

TEST_CASE("the UTF-8 check can be turned off for files of bytes") {
    cascade::QueryTextOptions o;
    o.require_utf8 = false;
    CHECK(read("id,text\na,caf\xe9\n", o).texts[0] == "caf\xe9");
}

TEST_CASE("a record longer than QueryTextOptions::max_record_bytes is refused before it is read whole") {
    cascade::QueryTextOptions o;
    o.max_record_bytes = 32;
    const std::string ok = "id,text\na,\"" + std::string(26, 'x') + "\"\n";  // a,"x...x": 30 bytes
    CHECK(read(ok, o).texts[0].size() == 26);
    const cascade::ParseError e = error_of("id,text\na,b\nc,\"" + std::string(40, 'x') + "\n\"\n", o);
    CHECK(e.line() == 3);
    CHECK(e.reason() ==
          "the record is longer than the limit of 32 bytes (QueryTextOptions::max_record_bytes); is this a CSV file?");
}

TEST_CASE("a read error in the middle of a query file is a ParseError, never fewer queries") {
    std::string text = "id,text\n";
    for (int i = 0; i < 5000; ++i) text += "q" + std::to_string(i) + ",\"a query, number " + std::to_string(i) + "\"\n";
    REQUIRE(text.size() > (std::size_t{64} << 10));
    cascade_test::FailingStreambuf buf(text, std::size_t{64} << 10);
    std::istream in(&buf);
    try {
        const auto q = cascade::read_query_texts_csv(in, "queries.csv");
        FAIL("read " << q.size() << " queries and no error");
    } catch (const cascade::ParseError& e) {
        CHECK(e.reason().find("read error after 65536 bytes") != std::string::npos);
    }
    cascade_test::FailingStreambuf whole(text, text.size());
    std::istream all(&whole);
    CHECK(cascade::read_query_texts_csv(all, "queries.csv").size() == 5000);
}

TEST_CASE("read_query_texts reads a file by path and names one it cannot open") {
    const std::string path = "cascade_test_query_texts_" + std::to_string(::getpid()) + ".csv";
    std::ofstream(path, std::ios::binary) << "\xEF\xBB\xBFid,text\nq1,hello\n";
    CHECK(cascade::read_query_texts(path).text_of("q1") == "hello");
    std::remove(path.c_str());
    try {
        (void)cascade::read_query_texts("no/such/queries.csv");
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.source() == "no/such/queries.csv");
        CHECK(e.reason().find("cannot open") == 0);
    }
}

TEST_CASE("options without an id or a text column are refused") {
    cascade::QueryTextOptions o;
    o.text_columns.clear();
    CHECK_THROWS_AS(read("id,text\na,b\n", o), std::invalid_argument);
    o = {};
    o.id_column.clear();
    CHECK_THROWS_AS(read("id,text\na,b\n", o), std::invalid_argument);
}

TEST_CASE("QueryTexts::add refuses a label on some queries and not others") {
    cascade::QueryTexts with;
    CHECK(with.add("a", "first", 1.0, 2));
    CHECK_THROWS_WITH(with.add("b", "second", std::nullopt, 3), Catch::Contains("has no label where the others have one"));
    cascade::QueryTexts without;
    CHECK(without.add("a", "first", std::nullopt, 2));
    CHECK_THROWS_WITH(without.add("b", "second", 0.0, 3), Catch::Contains("has a label where the others have none"));
    CHECK(with.labels.size() == with.ids.size());
    CHECK(without.labels.empty());
    CHECK_FALSE(with.add("a", "again", 0.0, 4));  // a repeated id changes nothing
    CHECK(with.size() == 1);
}
