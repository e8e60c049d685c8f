#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/verify/checks.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace v = cascade::verify;
using cascade::ChatReply;

namespace {

ChatReply reply(std::string text, std::string finish = "stop") { return ChatReply{std::move(text), {}, std::move(finish)}; }

}  // namespace

TEST_CASE("non_empty rejects empty and blank text and passes anything else") {
    const auto check = v::non_empty();
    CHECK(check(reply("")).confidence == 0.0);
    CHECK(contains(check(reply("")).note, "empty"));
    CHECK(check(reply(" \n\t ")).confidence == 0.0);
    CHECK(contains(check(reply(" \n")).note, "blank"));
    CHECK(check(reply("0")).confidence == 1.0);
    CHECK(check(std::string("ok")).confidence == 1.0);
}

TEST_CASE("no_refusal finds refusals and hedges regardless of case, spacing and typographic apostrophes") {
    const auto check = v::no_refusal();
    CHECK(check(reply("The capital of France is Paris.")).confidence == 1.0);
    const cascade::Verdict ai = check(reply("AS AN AI, I have no opinions."));
    CHECK(ai.confidence == 0.0);
    CHECK(contains(ai.note, "as an ai"));
    CHECK(check(reply("Well... I'm   not\nsure, but maybe 4.")).confidence == 0.0);
    CHECK(check(reply("I\xE2\x80\x99m not sure.")).confidence == 0.0);  // I’m
    CHECK(check(reply("Sorry: I cannot help with that")).confidence == 0.0);
    CHECK(check(std::string("I don't know")).confidence == 0.0);
}

TEST_CASE("no_refusal takes a list of its own instead of the default") {
    const auto check = v::no_refusal({"Unknown", "N/A"});
    CHECK(check(reply("unknown")).confidence == 0.0);
    CHECK(check(reply("Answer: n/a")).confidence == 0.0);
    CHECK(check(reply("I'm not sure")).confidence == 1.0);  // not in this list
    std::vector<std::string> extended = v::default_refusal_phrases();
    extended.push_back("no idea");
    CHECK(v::no_refusal(extended)(reply("No idea, sorry")).confidence == 0.0);
}

TEST_CASE("no_refusal refuses an empty list or a blank phrase") {
    CHECK_THROWS_AS(v::no_refusal(std::vector<std::string>{}), std::invalid_argument);
    CHECK_THROWS_AS(v::no_refusal({"fine", "  "}), std::invalid_argument);
}

TEST_CASE("not_truncated rejects a finish reason of length or max_tokens, in any case") {
    const auto check = v::not_truncated();
    CHECK(check(reply("x", "stop")).confidence == 1.0);
    CHECK(check(reply("x", "")).confidence == 1.0);
    const cascade::Verdict cut = check(reply("x", "length"));
    CHECK(cut.confidence == 0.0);
    CHECK(contains(cut.note, "length"));
    CHECK(check(reply("x", "MAX_TOKENS")).confidence == 0.0);
    CHECK(v::not_truncated({"content_filter"})(reply("x", "content_filter")).confidence == 0.0);
    CHECK(v::not_truncated({"content_filter"})(reply("x", "length")).confidence == 1.0);
    CHECK_THROWS_AS(v::not_truncated(std::vector<std::string>{}), std::invalid_argument);
}

TEST_CASE("matches searches by default and matches the whole text with RegexMode::full") {
    const auto final_answer = v::matches(R"(####\s*-?[0-9][0-9,]*)");
    CHECK(final_answer(reply("so 6 x 7 = 42\n#### 42")).confidence == 1.0);
    const cascade::Verdict miss = final_answer(reply("the answer is 42"));
    CHECK(miss.confidence == 0.0);
    CHECK(contains(miss.note, "does not match"));

    const auto letter = v::matches("[A-D]", v::RegexMode::full);
    CHECK(letter(reply("B")).confidence == 1.0);
    CHECK(letter(reply("B because")).confidence == 0.0);
    CHECK(contains(letter(reply("B because")).note, "fully"));

    const auto icase = v::matches("paris", v::RegexMode::search, std::regex::ECMAScript | std::regex::icase);
    CHECK(icase(reply("PARIS")).confidence == 1.0);
}

TEST_CASE("matches refuses an invalid regular expression with the pattern in the message") {
    try {
        (void)v::matches("([a-z");
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(contains(e.what(), "cascade::verify::matches"));
        CHECK(contains(e.what(), "([a-z"));
    }
}

TEST_CASE("text_satisfies runs a predicate on the text and names it when it fails") {
    int calls = 0;
    auto check = v::text_satisfies(
        [&calls](std::string_view t) {
            ++calls;
            return t.size() <= 5;
        },
        "at most 5 bytes");
    CHECK(check(reply("short")).confidence == 1.0);
    const cascade::Verdict fail = check(reply("too long"));
    CHECK(fail.confidence == 0.0);
    CHECK(contains(fail.note, "at most 5 bytes"));
    CHECK(calls == 2);
}

TEST_CASE("valid_json passes JSON and rejects anything else with the parser's reason") {
    const auto check = v::valid_json();
    CHECK(check(reply(R"({"answer": 42})")).confidence == 1.0);
    CHECK(check(reply(" [1, 2, 3] ")).confidence == 1.0);
    CHECK(check(reply("42")).confidence == 1.0);
    const cascade::Verdict bad = check(reply(R"({"answer": 42,})"));
    CHECK(bad.confidence == 0.0);
    CHECK(contains(bad.note, "not valid JSON"));
    CHECK(contains(bad.note, "byte"));
    CHECK(check(reply("")).confidence == 0.0);
    CHECK(check(reply("Sure! {\"a\": 1}")).confidence == 0.0);
}

TEST_CASE("valid_json checks the shape and the required members when asked") {
    v::JsonOptions object_with_answer;
    object_with_answer.required_keys = {"answer"};
    const auto check = v::valid_json(object_with_answer);
    CHECK(check(reply(R"({"answer": "B", "why": "..."})")).confidence == 1.0);
    const cascade::Verdict lacks = check(reply(R"({"why": "..."})"));
    CHECK(lacks.confidence == 0.0);
    CHECK(contains(lacks.note, "\"answer\""));
    const cascade::Verdict array = check(reply("[1]"));
    CHECK(array.confidence == 0.0);
    CHECK(contains(array.note, "not an object"));

    v::JsonOptions arrays;
    arrays.shape = v::JsonOptions::Shape::array;
    CHECK(v::valid_json(arrays)(reply("[]")).confidence == 1.0);
    CHECK(v::valid_json(arrays)(reply("{}")).confidence == 0.0);
}

TEST_CASE("valid_json reads JSON inside a Markdown code fence only when allowed") {
    const std::string fenced = "```json\n{\"answer\": 1}\n```";
    CHECK(v::valid_json()(reply(fenced)).confidence == 0.0);
    v::JsonOptions lenient;
    lenient.allow_code_fence = true;
    CHECK(v::valid_json(lenient)(reply(fenced)).confidence == 1.0);
    CHECK(v::valid_json(lenient)(reply("{\"answer\": 1}")).confidence == 1.0);
    CHECK(v::valid_json(lenient)(reply("```\nnot json\n```")).confidence == 0.0);
}
