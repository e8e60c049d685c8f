#include "catch.hpp"
#include "question.hpp"
#include "text_checks.hpp"

#include <cascade/verify/judge.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace v = cascade::verify;
using cascade::ChatReply;
using cascade::Verdict;

namespace {

// A judge whose reply is fixed by the test; it records what it was shown.
struct FixedJudge {
    std::string reply;
    std::string* shown = nullptr;
    std::string operator()(const Question& q, const ChatReply& a) {
        if (shown != nullptr) *shown = q.text + " -> " + a.text;
        return reply;
    }
};

Verdict grade(std::string reply, std::optional<double> price = std::nullopt) {
    if (price) return v::judge(FixedJudge{std::move(reply)}, v::score_scale(1, 10), cascade::price_per_call(*price))(Question{"q"}, ChatReply{"a", {}, ""});
    return v::judge(FixedJudge{std::move(reply)}, v::score_scale(1, 10))(Question{"q"}, ChatReply{"a", {}, ""});
}

}  // namespace

TEST_CASE("score_scale maps the first number of the reply from [lo, hi] to [0, 1]") {
    const auto ten = v::score_scale(1, 10);
    CHECK(ten("10") == 1.0);
    CHECK(ten("1") == 0.0);
    CHECK(*ten("Score: 8/10") == Approx(7.0 / 9.0));
    CHECK(*ten("I'd give it 5.5 out of 10.") == Approx(0.5));
    CHECK(*ten("GPT4 thinks: 7") == Approx(6.0 / 9.0));  // a number glued to a word is not the score
    CHECK(*v::score_scale(1, 5)("**4**") == Approx(0.75));
    CHECK(ten("11") == std::nullopt);
    CHECK(ten("0") == std::nullopt);
    CHECK(ten("-3") == std::nullopt);
    CHECK(ten("no score") == std::nullopt);
}

TEST_CASE("unit_score reads a number in [0, 1] or a percentage") {
    const auto unit = v::unit_score();
    CHECK(*unit("0.85") == Approx(0.85));
    CHECK(*unit("confidence: .9") == Approx(0.9));
    CHECK(*unit("85%") == Approx(0.85));
    CHECK(unit("1.5") == std::nullopt);
    CHECK(unit("150%") == std::nullopt);
}

TEST_CASE("score_scale refuses an empty or inverted scale") {
    CHECK_THROWS_AS(v::score_scale(5, 5), std::invalid_argument);
    CHECK_THROWS_AS(v::score_scale(10, 1), std::invalid_argument);
    CHECK_THROWS_AS(v::score_scale(0, std::numeric_limits<double>::infinity()), std::invalid_argument);
}

TEST_CASE("yes_no reads the first word, after at most two labels") {
    const auto yn = v::yes_no();
    CHECK(yn("Yes") == 1.0);
    CHECK(yn("yes, the answer is right") == 1.0);
    CHECK(yn("**No**.") == 0.0);
    CHECK(yn("  NO") == 0.0);
    CHECK(yn("Answer: Yes") == 1.0);
    CHECK(yn("**Verdict:** no") == 0.0);
    CHECK(yn("Final answer: yes") == 1.0);
    CHECK(yn("The answer is correct, yes") == std::nullopt);
    CHECK(yn("Yesterday") == std::nullopt);
    CHECK(yn("") == std::nullopt);
}

TEST_CASE("the judge sees the request and the answer; its score becomes the confidence") {
    std::string shown;
    auto j = v::judge(FixedJudge{"Yes", &shown}, v::yes_no());
    const Verdict out = j(Question{"2+2?"}, ChatReply{"4", {}, "stop"});
    CHECK(out.confidence == 1.0);
    CHECK(shown == "2+2? -> 4");
    CHECK(contains(out.note, "judge: \"Yes\""));
}

TEST_CASE("the judge's cost is returned as extra cost, also when its reply does not parse") {
    CHECK(grade("7", 0.002).extra_cost == Approx(0.002));
    const Verdict bad = grade("It looks fine to me.", 0.002);
    CHECK(bad.confidence == 0.0);
    CHECK(bad.extra_cost == Approx(0.002));
    CHECK(contains(bad.note, "not understood"));
    CHECK(contains(bad.note, "a number from 1 to 10"));
    CHECK(contains(bad.note, "\"It looks fine to me.\""));
}

TEST_CASE("a cost function prices the judge's reply") {
    auto by_length = cascade::cost_from([](const std::string& reply) { return 0.001 * static_cast<double>(reply.size()); });
    auto j = v::judge(FixedJudge{"8 out of 10"}, v::score_scale(1, 10), by_length);
    CHECK(j(Question{"q"}, ChatReply{"a", {}, ""}).extra_cost == Approx(0.011));
}

TEST_CASE("a custom parser may return a double; NaN, out-of-range and throwing parsers reject") {
    auto half = [](std::string_view) { return 0.5; };
    CHECK(v::judge(FixedJudge{"x"}, half)(Question{}, ChatReply{}).confidence == 0.5);

    auto too_big = [](std::string_view) { return 2.0; };
    const Verdict big = v::judge(FixedJudge{"x"}, too_big, cascade::price_per_call(0.1))(Question{}, ChatReply{});
    CHECK(big.confidence == 0.0);
    CHECK(big.extra_cost == Approx(0.1));
    CHECK(contains(big.note, "outside [0, 1]"));

    auto nan = [](std::string_view) { return std::numeric_limits<double>::quiet_NaN(); };
    CHECK(v::judge(FixedJudge{"x"}, nan)(Question{}, ChatReply{}).confidence == 0.0);

    auto throws = [](std::string_view) -> std::optional<double> { throw std::runtime_error("cannot read"); };
    const Verdict thrown = v::judge(FixedJudge{"x"}, throws, cascade::price_per_call(0.1))(Question{}, ChatReply{});
    CHECK(thrown.confidence == 0.0);
    CHECK(thrown.extra_cost == Approx(0.1));
    CHECK(contains(thrown.note, "cannot read"));
}

TEST_CASE("a judge may reply with a Response type and may take the answer alone") {
    auto chat_judge = [](const ChatReply& a) { return ChatReply{a.text == "4" ? "yes" : "no", {}, "stop"}; };
    auto j = v::judge(chat_judge, v::yes_no());
    STATIC_REQUIRE(std::is_invocable_v<decltype(j)&, const ChatReply&>);
    CHECK(j(ChatReply{"4", {}, ""}).confidence == 1.0);
    CHECK(j(Question{"2+2"}, ChatReply{"5", {}, ""}).confidence == 0.0);

    auto needs_request = FixedJudge{"yes"};
    STATIC_REQUIRE_FALSE(std::is_invocable_v<decltype(v::judge(needs_request, v::yes_no()))&, const ChatReply&>);
}

TEST_CASE("a judge that throws is not caught, for the tier to record as a verifier error") {
    auto broken = [](const Question&, const ChatReply&) -> std::string { throw std::runtime_error("judge down"); };
    auto j = v::judge(broken, v::yes_no(), cascade::price_per_call(0.1));
    CHECK_THROWS_WITH(j(Question{}, ChatReply{}), "judge down");
}
