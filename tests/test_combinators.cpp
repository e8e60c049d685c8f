#include "catch.hpp"
#include "question.hpp"
#include "text_checks.hpp"

#include <cascade/verify/combinators.hpp>

#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace v = cascade::verify;
using cascade::Verdict;

namespace {

struct Answer {
    double score = 0.0;
};

// A part that returns a fixed verdict and counts its calls.
struct Fixed {
    Verdict verdict;
    int* calls = nullptr;
    Verdict operator()(const Answer&) {
        if (calls != nullptr) ++*calls;
        return verdict;
    }
};

}  // namespace

TEST_CASE("all_of takes the lowest confidence, any_of the highest") {
    auto lo = [](const Answer&) { return 0.3; };
    auto hi = [](const Answer&) { return 0.8; };
    CHECK(v::all_of(lo, hi)(Answer{}).confidence == Approx(0.3));
    CHECK(v::any_of(lo, hi)(Answer{}).confidence == Approx(0.8));
    CHECK(v::all_of(hi)(Answer{}).confidence == Approx(0.8));
}

TEST_CASE("parts may return a double, a bool or a Verdict") {
    auto yes = [](const Answer&) { return true; };
    auto no = [](const Answer&) { return false; };
    auto number = [](const Answer& a) { return static_cast<float>(a.score); };
    CHECK(v::all_of(yes, number)(Answer{0.6}).confidence == Approx(0.6));
    CHECK(v::any_of(no, number)(Answer{0.6}).confidence == Approx(0.6));
    CHECK(v::all_of(yes, no)(Answer{}).confidence == 0.0);
}

TEST_CASE("all_of sums the parts' extra costs and joins their notes") {
    Fixed a{Verdict{0.9, 0.01, "judge said yes"}};
    Fixed b{Verdict{0.7, 0.02, "3 of 4 agree"}};
    const Verdict out = v::all_of(a, b)(Answer{});
    CHECK(out.confidence == Approx(0.7));
    CHECK(out.extra_cost == Approx(0.03));
    CHECK(out.note == "judge said yes; 3 of 4 agree");
}

TEST_CASE("all_of stops at the first part that gives 0, any_of at the first that gives 1") {
    int later = 0;
    Fixed zero{Verdict{0.0, 0.0, "empty answer"}};
    Fixed paid{Verdict{1.0, 0.5, ""}, &later};
    const Verdict out = v::all_of(zero, paid)(Answer{});
    CHECK(out.confidence == 0.0);
    CHECK(out.extra_cost == 0.0);
    CHECK(later == 0);

    const Verdict any = v::any_of([](const Answer&) { return true; }, paid)(Answer{});
    CHECK(any.confidence == 1.0);
    CHECK(later == 0);
    CHECK(v::any_of([](const Answer&) { return 0.2; }, paid)(Answer{}).extra_cost == Approx(0.5));
    CHECK(later == 1);
}

TEST_CASE("weighted averages with weights scaled to sum to 1 and calls every part") {
    int calls = 0;
    Fixed a{Verdict{1.0, 0.1, "a"}, &calls};
    Fixed b{Verdict{0.0, 0.2, "b"}, &calls};
    auto w = v::weighted({3.0, 1.0}, a, b);
    CHECK(w.weights()[0] == Approx(0.75));
    const Verdict out = w(Answer{});
    CHECK(out.confidence == Approx(0.75));
    CHECK(out.extra_cost == Approx(0.3));
    CHECK(out.note == "a; b");
    CHECK(calls == 2);
}

TEST_CASE("weighted refuses a wrong number of weights, negative or NaN weights, and all zeros") {
    auto p = [](const Answer&) { return 0.5; };
    CHECK_THROWS_AS(v::weighted({1.0}, p, p), std::invalid_argument);
    CHECK_THROWS_AS(v::weighted({1.0, -1.0}, p, p), std::invalid_argument);
    CHECK_THROWS_AS(v::weighted({0.0, 0.0}, p, p), std::invalid_argument);
    CHECK_THROWS_AS(v::weighted({1.0, std::numeric_limits<double>::quiet_NaN()}, p, p), std::invalid_argument);
}

TEST_CASE("negate gives 1 - confidence and keeps the part's cost and note") {
    Fixed a{Verdict{0.2, 0.05, "matched"}};
    const Verdict out = v::negate(a)(Answer{});
    CHECK(out.confidence == Approx(0.8));
    CHECK(out.extra_cost == Approx(0.05));
    CHECK(out.note == "matched");
    CHECK(v::negate([](const Answer&) { return true; })(Answer{}).confidence == 0.0);
}

TEST_CASE("a part that takes the request receives it through the combinator") {
    std::string seen;
    auto needs_request = [&seen](const Question& q, const Answer&) {
        seen = q.text;
        return 0.9;
    };
    auto alone = [](const Answer& a) { return a.score; };
    auto both = v::all_of(alone, v::negate(needs_request));
    const Verdict out = both(Question{"what?"}, Answer{0.5});
    CHECK(seen == "what?");
    CHECK(out.confidence == Approx(0.1));
}

TEST_CASE("a combinator can be called without a request only when no part needs one") {
    auto alone = [](const Answer& a) { return a.score; };
    auto needs_request = [](const Question&, const Answer&) { return 1.0; };
    using Alone = decltype(v::all_of(alone, alone));
    using Mixed = decltype(v::all_of(alone, needs_request));
    STATIC_REQUIRE(std::is_invocable_v<Alone&, const Answer&>);
    STATIC_REQUIRE(std::is_invocable_v<Alone&, const Question&, const Answer&>);
    STATIC_REQUIRE_FALSE(std::is_invocable_v<Mixed&, const Answer&>);
    STATIC_REQUIRE(std::is_invocable_v<Mixed&, const Question&, const Answer&>);
    STATIC_REQUIRE(std::is_invocable_v<decltype(v::any_of(v::negate(alone)))&, const Answer&>);
}

TEST_CASE("a part's confidence outside [0, 1] or NaN is an error naming the part") {
    auto ok = [](const Answer&) { return 0.5; };
    auto too_high = [](const Answer&) { return 1.5; };
    auto not_a_number = [](const Answer&) { return std::numeric_limits<double>::quiet_NaN(); };
    try {
        (void)v::all_of(ok, too_high)(Answer{});
        FAIL("no exception");
    } catch (const std::domain_error& e) {
        CHECK(contains(e.what(), "cascade::verify::all_of"));
        CHECK(contains(e.what(), "part 2"));
        CHECK(contains(e.what(), "1.5"));
    }
    CHECK_THROWS_AS(v::weighted({1, 1}, ok, not_a_number)(Answer{}), std::domain_error);
    Fixed negative_cost{Verdict{0.5, -1.0, ""}};
    CHECK_THROWS_AS(v::any_of(negative_cost)(Answer{}), std::domain_error);
}

TEST_CASE("a part that throws after others spent money gives a rejection that keeps the cost") {
    Fixed paid{Verdict{0.9, 0.25, "judge: yes"}};
    auto throws = [](const Answer&) -> double { throw std::runtime_error("boom"); };
    const Verdict out = v::all_of(paid, throws)(Answer{});
    CHECK(out.confidence == 0.0);
    CHECK(out.extra_cost == Approx(0.25));
    CHECK(contains(out.note, "part 2 threw: boom"));
    // With nothing spent the exception goes on, for the tier to record as a verifier error.
    CHECK_THROWS_WITH(v::all_of(throws, paid)(Answer{}), "boom");
}

TEST_CASE("combinators nest") {
    auto a = [](const Answer&) { return 0.9; };
    auto b = [](const Answer&) { return 0.4; };
    auto c = [](const Answer&) { return 0.6; };
    auto nested = v::all_of(v::any_of(a, b), v::weighted({1, 1}, b, c), v::negate(b));
    CHECK(nested(Answer{}).confidence == Approx(0.5));
}
