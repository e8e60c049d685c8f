#include "catch.hpp"

#include <cascade/eval/detail/csv.hpp>
#include <cascade/core/parse_error.hpp>

#include <istream>
#include <sstream>
#include <string>
#include <vector>

#include "failing_streambuf.hpp"

namespace {

using Records = std::vector<std::vector<std::string>>;

Records read_all(const std::string& text, std::vector<std::size_t>* lines = nullptr) {
    std::istringstream in(text);
    cascade::detail::CsvReader csv(in, "mem.csv");
    Records out;
    std::vector<std::string> fields;
    while (csv.next(fields)) {
        out.push_back(fields);
        if (lines) lines->push_back(csv.line());
    }
    return out;
}

cascade::ParseError parse_error_of(const std::string& text) {
    try {
        read_all(text);
    } catch (const cascade::ParseError& e) {
        return e;
    }
    FAIL("no ParseError for: " << text);
    return cascade::ParseError("", 0, "");
}

}  // namespace

TEST_CASE("splits plain fields on commas, LF-terminated") {
    const Records r = read_all("a,b,c\n1,2,3\n");
    REQUIRE(r.size() == 2);
    CHECK(r[0] == std::vector<std::string>{"a", "b", "c"});
    CHECK(r[1] == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("accepts CRLF line ends and a last record without a line end") {
    const Records r = read_all("a,b\r\n1,2\r\n3,4");
    REQUIRE(r.size() == 3);
    CHECK(r[1] == std::vector<std::string>{"1", "2"});
    CHECK(r[2] == std::vector<std::string>{"3", "4"});
}

TEST_CASE("keeps empty fields, including a trailing one") {
    const Records r = read_all(",x,\n");
    REQUIRE(r.size() == 1);
    CHECK(r[0] == std::vector<std::string>{"", "x", ""});
}

TEST_CASE("quoted fields hold commas, doubled quotes and line breaks") {
    std::vector<std::size_t> lines;
    const Records r = read_all("id,text\n1,\"a, \"\"b\"\"\nc\r\nd\"\n2,plain\n", &lines);
    REQUIRE(r.size() == 3);
    CHECK(r[1][1] == "a, \"b\"\nc\r\nd");
    CHECK(r[2] == std::vector<std::string>{"2", "plain"});
    // The record after a field spanning three lines starts on line 5.
    CHECK(lines == std::vector<std::size_t>{1, 2, 5});
}

TEST_CASE("an empty quoted field is an empty string") {
    const Records r = read_all("\"\",\"\"\n");
    REQUIRE(r.size() == 1);
    CHECK(r[0] == std::vector<std::string>{"", ""});
}

TEST_CASE("a blank line is a record without fields") {
    const Records r = read_all("a\n\nb\n");
    REQUIRE(r.size() == 3);
    CHECK(r[1].empty());
    CHECK(r[2] == std::vector<std::string>{"b"});
}

TEST_CASE("skips a UTF-8 byte order mark at the start") {
    const Records r = read_all("\xEF\xBB\xBFquery_id,model\n");
    REQUIRE(r.size() == 1);
    CHECK(r[0][0] == "query_id");
}

TEST_CASE("empty input has no records") { CHECK(read_all("").empty()); }

TEST_CASE("reads records larger than its buffer") {
    const std::string big(200000, 'x');
    const Records r = read_all("\"" + big + "\",y\nz\n");
    REQUIRE(r.size() == 2);
    CHECK(r[0][0] == big);
    CHECK(r[0][1] == "y");
}

TEST_CASE("an unterminated quote is a ParseError at the line where the field opened") {
    const cascade::ParseError e = parse_error_of("a,b\n1,\"open\n\n\n");
    CHECK(e.source() == "mem.csv");
    CHECK(e.line() == 2);
    CHECK(e.reason().find("not closed") != std::string::npos);
    CHECK(std::string(e.what()) == "mem.csv:2: " + e.reason());
}

TEST_CASE("text after a closing quote is a ParseError") {
    const cascade::ParseError e = parse_error_of("x\n\"a\"b,c\n");
    CHECK(e.line() == 2);
    CHECK(e.reason().find("after a closing quote") != std::string::npos);
}

TEST_CASE("a quote inside an unquoted field is a ParseError") {
    const cascade::ParseError e = parse_error_of("x\n\ny\nab\"c\n");
    CHECK(e.line() == 4);
    CHECK(e.reason().find("unquoted field") != std::string::npos);
}

TEST_CASE("csv_escape quotes only what needs it and round-trips") {
    using cascade::detail::csv_escape;
    CHECK(csv_escape("plain") == "plain");
    CHECK(csv_escape("") == "");
    CHECK(csv_escape("a,b") == "\"a,b\"");
    CHECK(csv_escape("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_escape(" pad") == "\" pad\"");
    const std::vector<std::string> tricky{"a,b", "q\"uote", "line\nbreak", "cr\r\nlf", "", " x "};
    std::string line;
    for (std::size_t i = 0; i < tricky.size(); ++i) line += (i ? "," : "") + csv_escape(tricky[i]);
    const Records r = read_all(line + "\n");
    REQUIRE(r.size() == 1);
    CHECK(r[0] == tricky);
}

TEST_CASE("ParseError without a line names only the source") {
    const cascade::ParseError e("log.csv", 0, "the file is empty");
    CHECK(std::string(e.what()) == "log.csv: the file is empty");
    const cascade::ParseError f("log.csv", 7, "bad");
    CHECK(std::string(f.what()) == "log.csv:7: bad");
}

namespace {

// 8,290 records of 24 bytes: about 199 KB.
std::string numbered_records() {
    std::string text;
    for (int i = 0; i < 8290; ++i) {
        std::string id = std::to_string(100000 + i);
        text += "row-" + id + ",value-" + id + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("a read error is a ParseError, not the end of the input") {
    const std::string text = numbered_records();
    cascade_test::FailingStreambuf buf(text, std::size_t{128} << 10);
    std::istream in(&buf);
    cascade::detail::CsvReader csv(in, "mem.csv");
    std::vector<std::string> fields;
    std::size_t records = 0;
    try {
        while (csv.next(fields)) ++records;
        FAIL("read " << records << " records and no error");
    } catch (const cascade::ParseError& e) {
        CHECK(e.source() == "mem.csv");
        CHECK(e.reason().find("read error after 131072 bytes") != std::string::npos);
        // Every record before the failure was returned, and the error names the line it stopped in.
        CHECK(records == 131072 / 24);
        CHECK(e.line() == records + 1);
    }
}

TEST_CASE("the whole text through the same stream reads without error") {
    const std::string text = numbered_records();
    cascade_test::FailingStreambuf buf(text, text.size());
    std::istream in(&buf);
    cascade::detail::CsvReader csv(in, "mem.csv");
    std::vector<std::string> fields;
    std::size_t records = 0;
    while (csv.next(fields)) ++records;
    CHECK(records == 8290);
}

TEST_CASE("a stream that cannot be read at all is a ParseError, not an empty input") {
    std::istringstream in("a,b\n");
    in.setstate(std::ios::failbit);
    cascade::detail::CsvReader csv(in, "mem.csv");
    std::vector<std::string> fields;
    CHECK_THROWS_AS(csv.next(fields), cascade::ParseError);
}

TEST_CASE("a record longer than the limit is a ParseError at its line, naming the limit") {
    const std::string ok = "a,b\n" + std::string(14, 'x') + ",y\n";  // 16 bytes: at the limit
    {
        std::istringstream in(ok);
        cascade::detail::CsvReader csv(in, "mem.csv", 16);
        std::vector<std::string> fields;
        CHECK(csv.next(fields));
        CHECK(csv.next(fields));
        CHECK(fields[0] == std::string(14, 'x'));
    }
    for (const std::string& text :
         {std::string("a\n") + "\"" + std::string(20, 'q') + "\"\n", std::string("a\n") + std::string(17, 'x') + "\n",
          std::string("a\n") + std::string(40, ',')}) {
        std::istringstream in(text);
        cascade::detail::CsvReader csv(in, "mem.csv", 16);
        std::vector<std::string> fields;
        CHECK(csv.next(fields));
        try {
            csv.next(fields);
            FAIL("no error for " << text);
        } catch (const cascade::ParseError& e) {
            CHECK(e.line() == 2);
            CHECK(e.reason().find("longer than the limit of 16 bytes") != std::string::npos);
        }
    }
}

TEST_CASE("an endless line stops at the default limit, long before memory runs out") {
    // Like reading /dev/zero: no line end, ever.
    std::string zeros((std::size_t{1} << 20) + 100, '\0');
    std::istringstream in(zeros);
    cascade::detail::CsvReader csv(in, "zeros.csv");
    std::vector<std::string> fields;
    try {
        csv.next(fields);
        FAIL("no error");
    } catch (const cascade::ParseError& e) {
        CHECK(std::string(e.what()).rfind("zeros.csv:1: the record is longer than the limit of 1048576 bytes", 0) == 0);
    }
}
