#include "catch.hpp"

#include <cascade/detail/json.hpp>

#include <cmath>
#include <cstddef>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define CASCADE_TEST_SMALL_STACKS 1
#endif

using cascade::detail::JsonError;
using cascade::detail::JsonValue;
using cascade::detail::parse_json;

namespace {

JsonError error_of(const std::string& text) {
    try {
        parse_json(text);
    } catch (const JsonError& e) {
        return e;
    }
    FAIL("no JsonError for: " << text);
    return JsonError(0, "");
}

}  // namespace

TEST_CASE("parses every kind of value") {
    const JsonValue v = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "e": ""} )");
    REQUIRE(v.is_object());
    const JsonValue& a = *v.find("a");
    REQUIRE(a.as_array().size() == 5);
    CHECK(a.as_array()[0].as_number() == 1.0);
    CHECK(a.as_array()[1].as_number() == -2500.0);
    CHECK(a.as_array()[2].as_bool());
    CHECK_FALSE(a.as_array()[3].as_bool());
    CHECK(a.as_array()[4].is_null());
    CHECK(v.find("b")->find("c")->as_string() == "d");
    CHECK(v.find("e")->as_string().empty());
    CHECK(v.find("missing") == nullptr);
}

TEST_CASE("parses scalars at the top level") {
    CHECK(parse_json("0").as_number() == 0.0);
    CHECK(parse_json("-0.5").as_number() == -0.5);
    CHECK(parse_json("\"x\"").as_string() == "x");
    CHECK(parse_json(" null ").is_null());
    CHECK(parse_json("1E+2").as_number() == 100.0);
}

TEST_CASE("decodes escapes, including surrogate pairs, to UTF-8") {
    const JsonValue v = parse_json(R"("q\" b\\ s\/ \b\f\n\r\t \u00e9 \u20AC \ud83d\ude00")");
    CHECK(v.as_string() == "q\" b\\ s/ \b\f\n\r\t \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST_CASE("keeps raw UTF-8 in strings") {
    CHECK(parse_json("\"caf\xC3\xA9\"").as_string() == "caf\xC3\xA9");
}

TEST_CASE("keeps object members in order, duplicates included, find returns the first") {
    const JsonValue v = parse_json(R"({"k": 1, "j": 2, "k": 3})");
    REQUIRE(v.as_object().size() == 3);
    CHECK(v.as_object()[0].key == "k");
    CHECK(v.as_object()[1].key == "j");
    CHECK(v.find("k")->as_number() == 1.0);
}

TEST_CASE("numbers beyond double range become infinity or zero") {
    CHECK(parse_json("1e999").as_number() == HUGE_VAL);
    CHECK(parse_json("-1e999").as_number() == -HUGE_VAL);
    CHECK(parse_json("1e-999").as_number() == 0.0);
    CHECK(parse_json("0.0000000000000000000000000000001e-400").as_number() == 0.0);
}

TEST_CASE("rejects malformed JSON with the byte offset and reason") {
    struct Case {
        const char* text;
        std::size_t offset;
        const char* reason;
    };
    const Case cases[] = {
        {"[1,2,]", 5, "trailing comma"},
        {R"({"a":1,})", 7, "trailing comma"},
        {"", 0, "end of input"},
        {"   ", 3, "end of input"},
        {"[1 2]", 3, "expected ',' or ']'"},
        {R"({"a" 1})", 5, "expected ':'"},
        {"{a:1}", 1, "member name"},
        {"'x'", 0, "expected a value"},
        {"01", 0, "leading zeros"},
        {"+1", 0, "expected a value"},
        {"1.", 2, "after the decimal point"},
        {"1e", 2, "exponent"},
        {"-", 1, "digit"},
        {"NaN", 0, "expected a value"},
        {"tru", 0, "invalid literal"},
        {"nul", 0, "invalid literal"},
        {R"("a\x")", 2, "invalid escape"},
        {R"("\u12G4")", 5, "hex digit"},
        {"\"a\tb\"", 2, "control character"},
        {"\"abc", 0, "unterminated string"},
        {R"("\ud800")", 1, "lone high surrogate"},
        {R"("\udc00")", 1, "lone low surrogate"},
        {R"("\ud800\u0041")", 1, "not followed by a low"},
        {"\"\xC3\"", 1, "UTF-8"},
        {"\"\xFF\"", 1, "UTF-8"},
        {"\"\xC0\xAF\"", 1, "UTF-8"},
        {"\"\xED\xA0\x80\"", 1, "UTF-8"},
        {"\xEF\xBB\xBF{}", 0, "expected a value"},
        {"{} {}", 3, "after the JSON value"},
        {"[1] x", 4, "after the JSON value"},
        {"// c\n1", 0, "expected a value"},
    };
    for (const Case& c : cases) {
        INFO("input: " << c.text);
        const JsonError e = error_of(c.text);
        CHECK(e.offset() == c.offset);
        CHECK(e.reason().find(c.reason) != std::string::npos);
        CHECK(std::string(e.what()).find("JSON at byte " + std::to_string(c.offset) + ": ") == 0);
    }
}

TEST_CASE("limits nesting depth instead of overflowing the stack") {
    const std::string deep(100000, '[');
    const JsonError e = error_of(deep);
    CHECK(e.reason().find("nesting deeper than") != std::string::npos);
    const std::string ok = std::string(200, '[') + std::string(200, ']');
    CHECK(parse_json(ok).is_array());
    CHECK_THROWS_AS(parse_json("[[[]]]", 2), JsonError);
    CHECK(parse_json("[[]]", 2).is_array());
}

namespace {

// Arrays and objects alternating, `depth` deep, with a string innermost.
std::string nested(std::size_t depth) {
    std::string open, close;
    for (std::size_t i = 0; i < depth; ++i) {
        open += i % 2 == 0 ? "[" : "{\"k\":";
        close.insert(0, i % 2 == 0 ? "]" : "}");
    }
    return open + "\"innermost\"" + close;
}

#ifdef CASCADE_TEST_SMALL_STACKS
struct SmallStackParse {
    std::string text;
    bool parsed = false;
    std::string error;
};

void* parse_on_this_thread(void* arg) {
    auto* job = static_cast<SmallStackParse*>(arg);
    try {
        const JsonValue v = parse_json(job->text);
        job->parsed = v.is_array();
    } catch (const JsonError& e) {
        job->error = e.what();
    }
    return nullptr;
}

// Parses `text` (and destroys the result) on a thread whose whole stack is 64 KiB.
SmallStackParse parse_on_small_stack(std::string text) {
    SmallStackParse job;
    job.text = std::move(text);
    pthread_attr_t attr;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, std::size_t{64} * 1024) == 0);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, &attr, &parse_on_this_thread, &job) == 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    return job;
}
#endif

}  // namespace

TEST_CASE("the deepest nesting allowed parses on a 64 KiB stack, one level more is refused") {
    REQUIRE(cascade::detail::json_max_depth == 256);
    const JsonValue v = parse_json(nested(256));
    const JsonValue* at = &v;
    for (std::size_t i = 0; i < 256; ++i) at = i % 2 == 0 ? &at->as_array().at(0) : at->find("k");
    CHECK(at->as_string() == "innermost");
    const JsonError e = error_of(nested(257));
    CHECK(e.reason() == "nesting deeper than 256 arrays/objects");
#ifdef CASCADE_TEST_SMALL_STACKS
    const SmallStackParse ok = parse_on_small_stack(nested(256));
    CHECK(ok.parsed);
    CHECK(ok.error.empty());
    const SmallStackParse deep = parse_on_small_stack(nested(257));
    CHECK_FALSE(deep.parsed);
    CHECK(deep.error.find("nesting deeper than 256 arrays/objects") != std::string::npos);
#else
    WARN("no small-stack thread on this platform: the 64 KiB check is skipped");
#endif
}

TEST_CASE("a wrong-type access names both types and the value's offset") {
    const JsonValue v = parse_json(R"({"n": "text"})");
    try {
        (void)v.find("n")->as_number();
        FAIL("no throw");
    } catch (const JsonError& e) {
        CHECK(e.offset() == 6);
        CHECK(e.reason() == "expected a number, got a string");
    }
}

TEST_CASE("json_escape output parses back to the same string") {
    using cascade::detail::json_escape;
    const std::string raw = std::string("quote\" back\\ nl\n tab\t bell\x07 nul") + '\0' + " \xC3\xA9";
    const std::string escaped = json_escape(raw);
    CHECK(escaped.find('\n') == std::string::npos);
    CHECK(escaped.find("\\u0007") != std::string::npos);
    CHECK(parse_json("\"" + escaped + "\"").as_string() == raw);
}

TEST_CASE("json_escape replaces invalid UTF-8 so the output stays valid JSON") {
    using cascade::detail::json_escape;
    const std::string escaped = json_escape("a\xFF" "b\xC3");
    CHECK(escaped == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
    CHECK(parse_json("\"" + escaped + "\"").is_string());
}

TEST_CASE("dump writes compact JSON that parses back") {
    const JsonValue v = parse_json(R"({"a": [1, 0.1, "x\n"], "b": null, "c": true})");
    CHECK(v.dump() == R"({"a":[1,0.1,"x\n"],"b":null,"c":true})");
    CHECK(parse_json(v.dump()).dump() == v.dump());
    CHECK(JsonValue(std::nan("")).dump() == "null");
    CHECK(JsonValue(3).dump() == "3");
}
