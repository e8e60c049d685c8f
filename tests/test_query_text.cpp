// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <cascade/score/query_text.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

// A scorer of its own: the difficulty is the text's length in [0, 1].
struct LengthScorer {
    double operator()(std::string_view text) const { return static_cast<double>(text.size()) / 100.0; }
};

struct Ticket {
    std::string subject;
    std::string body;
};

struct Chat {
    std::string system;
    std::string user;
};

}  // namespace

// A Request that states its text by specialisation, returning a std::string by value.
template <>
struct cascade::score::QueryText<Chat> {
    static std::string get(const Chat& c) { return c.system + "\n" + c.user; }
};

TEST_CASE("strings, string views, C strings and arrays are texts") {
    using cascade::score::QueryText;
    const std::string s = "abc";
    CHECK(std::string(QueryText<std::string>::get(s)) == "abc");
    CHECK(std::string(QueryText<std::string_view>::get(std::string_view("de"))) == "de");
    const char* c = "fgh";
    CHECK(std::string(QueryText<const char*>::get(c)) == "fgh");
    char buffer[] = "ij";
    CHECK(std::string(QueryText<char*>::get(buffer)) == "ij");
    CHECK(std::string(QueryText<char[3]>::get(buffer)) == "ij");
    STATIC_REQUIRE(cascade::score::has_query_text_v<std::string>);
    STATIC_REQUIRE(cascade::score::has_query_text_v<Chat>);
    STATIC_REQUIRE_FALSE(cascade::score::has_query_text_v<Ticket>);
    STATIC_REQUIRE_FALSE(cascade::score::has_query_text_v<int>);
}

TEST_CASE("a null C string is an error, not a crash") {
    const char* none = nullptr;
    CHECK_THROWS_AS(cascade::score::QueryText<const char*>::get(none), std::invalid_argument);
    CHECK_THROWS_WITH(cascade::score::QueryText<const char*>::get(none),
                      Catch::Matchers::ContainsSubstring("null pointer"));
}

TEST_CASE("with_text reads the text with the extractor and scores it") {
    auto by_body = cascade::score::with_text(LengthScorer{}, [](const Ticket& t) { return t.body; });
    CHECK(by_body(Ticket{"x", std::string(30, 'b')}) == Approx(0.3));

    auto by_subject = cascade::score::with_text(LengthScorer{}, [](const Ticket& t) -> const std::string& {
        return t.subject;
    });
    CHECK(by_subject(Ticket{std::string(7, 's'), "b"}) == Approx(0.07));

    auto c_string = cascade::score::with_text(LengthScorer{}, [](const Ticket&) { return "four"; });
    CHECK(c_string(Ticket{}) == Approx(0.04));
}

TEST_CASE("with_text can share a scorer held by reference") {
    int calls = 0;
    auto counting = [&calls](std::string_view text) {
        ++calls;
        return static_cast<double>(text.size()) / 10.0;
    };
    auto shared = cascade::score::with_text(std::ref(counting), [](const Ticket& t) { return t.subject; });
    CHECK(shared(Ticket{"abc", ""}) == Approx(0.3));
    CHECK(shared(Ticket{"abcde", ""}) == Approx(0.5));
    CHECK(calls == 2);
}

TEST_CASE("a text returned by value stays alive while it is scored") {
    std::string seen;
    cascade::detail::with_query_text(Chat{"be brief", "hello"}, [&](std::string_view text) {
        seen = std::string(text);
        return 0.0;
    });
    CHECK(seen == "be brief\nhello");
}
