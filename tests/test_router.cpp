// Tests for router.hpp: threshold checks, routing boundaries, scorer failures, the kinds of route
// target, route names, and what a Routed result exposes.
#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/cascade.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

// The request is its own difficulty, so each test states the score it routes.
const auto score_is_request = [](double difficulty) { return difficulty; };

// A model that answers with its own name.
auto answers(std::string name) {
    return [name = std::move(name)](double) { return name; };
}


// A router of three routes over `thresholds`, for the threshold checks.
void make_three_routes(std::vector<double> thresholds) {
    cascade::Router r{score_is_request, std::move(thresholds), answers("easy"), answers("medium"),
                      answers("hard")};
    (void)r;
}

}  // namespace

TEST_CASE("Router rejects the wrong number of thresholds, saying how many it needs") {
    const std::string too_few = invalid_argument_message([] { make_three_routes({0.5}); });
    CHECK_THAT(too_few, Catch::Matchers::ContainsSubstring("3 routes need 2 thresholds, got 1"));
    CHECK_THAT(invalid_argument_message([] { make_three_routes({}); }), Catch::Matchers::ContainsSubstring("got 0"));
    CHECK_THAT(invalid_argument_message([] { make_three_routes({0.2, 0.4, 0.6}); }), Catch::Matchers::ContainsSubstring("got 3"));
    CHECK_THROWS_AS(cascade::Router(score_is_request, {0.5}, answers("only")), std::invalid_argument);
}

TEST_CASE("Router's threshold count message agrees in number with its counts") {
    CHECK_THAT(invalid_argument_message([] {
                   cascade::Router r{score_is_request, {0.3, 0.6}, answers("easy"), answers("hard")};
                   (void)r;
               }),
               Catch::Matchers::ContainsSubstring("2 routes need 1 threshold, got 2"));
    CHECK_THAT(invalid_argument_message([] {
                   cascade::Router r{score_is_request, {0.5}, answers("only")};
                   (void)r;
               }),
               Catch::Matchers::ContainsSubstring("1 route needs 0 thresholds, got 1"));
}

TEST_CASE("Router rejects a NaN threshold, naming which") {
    const std::string msg = invalid_argument_message([] { make_three_routes({0.2, nan_value}); });
    CHECK_THAT(msg, Catch::Matchers::ContainsSubstring("thresholds[1]"));
    CHECK_THAT(msg, Catch::Matchers::ContainsSubstring("NaN"));
}

TEST_CASE("Router rejects a threshold outside [0, 1], naming which and its value") {
    const std::string below = invalid_argument_message([] { make_three_routes({-0.1, 0.5}); });
    CHECK_THAT(below, Catch::Matchers::ContainsSubstring("thresholds[0]"));
    CHECK_THAT(below, Catch::Matchers::ContainsSubstring("-0.1"));
    CHECK_THAT(below, Catch::Matchers::ContainsSubstring("outside [0, 1]"));
    const std::string above = invalid_argument_message([] { make_three_routes({0.5, 1.5}); });
    CHECK_THAT(above, Catch::Matchers::ContainsSubstring("thresholds[1]"));
    CHECK_THAT(above, Catch::Matchers::ContainsSubstring("1.5"));
    CHECK_THROWS_AS(make_three_routes({0.5, std::numeric_limits<double>::infinity()}), std::invalid_argument);
}

TEST_CASE("Router rejects thresholds that are not strictly ascending, equal ones too") {
    const std::string descending = invalid_argument_message([] { make_three_routes({0.6, 0.3}); });
    CHECK_THAT(descending, Catch::Matchers::ContainsSubstring("strictly ascending"));
    CHECK_THAT(descending, Catch::Matchers::ContainsSubstring("thresholds[1]"));
    const std::string equal = invalid_argument_message([] { make_three_routes({0.5, 0.5}); });
    CHECK_THAT(equal, Catch::Matchers::ContainsSubstring("strictly ascending"));
    CHECK_THAT(equal, Catch::Matchers::ContainsSubstring("0.5"));
}

TEST_CASE("Router accepts thresholds at the bounds 0 and 1") {
    cascade::Router r{score_is_request, {0.0, 1.0}, answers("never"), answers("most"), answers("top")};
    CHECK(r.thresholds()[0] == 0.0);
    CHECK(r.thresholds()[1] == 1.0);
    CHECK(r.run(0.0).value() == "most");
    CHECK(r.run(0.999).value() == "most");
    CHECK(r.run(1.0).value() == "top");
}

TEST_CASE("a score exactly on a threshold takes the higher route") {
    cascade::Router r{score_is_request, {0.3, 0.7}, answers("easy"), answers("medium"), answers("hard")};
    STATIC_REQUIRE(decltype(r)::route_count == 3);
    CHECK(r.run(0.0).route() == 0u);
    CHECK(r.run(0.0).value() == "easy");
    CHECK(r.run(std::nextafter(0.3, 0.0)).route() == 0u);
    CHECK(r.run(0.3).route() == 1u);
    CHECK(r.run(0.3).value() == "medium");
    CHECK(r.run(std::nextafter(0.7, 0.0)).route() == 1u);
    CHECK(r.run(0.7).route() == 2u);
    CHECK(r.run(1.0).route() == 2u);
    CHECK(r.run(1.0).value() == "hard");

    CHECK(r.route_for(0.0) == 0u);
    CHECK(r.route_for(0.3) == 1u);
    CHECK(r.route_for(0.7) == 2u);
    CHECK(r.route_for(1.0) == 2u);
}

TEST_CASE("a scorer that throws sends the query to the last route and is recorded") {
    cascade::Router r{[](double d) -> double {
                          if (d < 0.0) throw std::runtime_error("difficulty model offline");
                          return d;
                      },
                      {0.5}, answers("cheap"), answers("strong")};
    auto routed = r.run(-1.0);
    CHECK(routed.route() == 1u);
    CHECK(routed.value() == "strong");
    CHECK_FALSE(routed.score().has_value());
    CHECK_THAT(routed.scorer_error(), Catch::Matchers::ContainsSubstring("difficulty model offline"));
    CHECK(r.stats().scorer_errors == 1u);

    auto fine = r.run(0.1);
    CHECK(fine.route() == 0u);
    CHECK(fine.scorer_error().empty());
    CHECK(r.stats().scorer_errors == 1u);
}

TEST_CASE("a scorer that throws a non-std type sends the query to the last route") {
    cascade::Router r{[](double) -> double { throw 7; }, {0.5}, answers("cheap"), answers("strong")};
    auto routed = r.run(0.1);
    CHECK(routed.route() == 1u);
    CHECK_FALSE(routed.score().has_value());
    CHECK_FALSE(routed.scorer_error().empty());
}

TEST_CASE("a scorer returning NaN or a value outside [0, 1] sends the query to the last route") {
    cascade::Router r{score_is_request, {0.3, 0.7}, answers("easy"), answers("medium"), answers("hard")};
    struct Case {
        double score;
        const char* shown;
    };
    std::uint64_t errors = 0;
    for (const Case& k : {Case{nan_value, "nan"}, Case{1.5, "1.5"}, Case{-0.1, "-0.1"}}) {
        INFO("scorer returns " << k.shown);
        auto routed = r.run(k.score);
        ++errors;
        CHECK(routed.route() == 2u);
        CHECK(routed.value() == "hard");
        CHECK_FALSE(routed.score().has_value());
        CHECK_THAT(routed.scorer_error(), Catch::Matchers::ContainsSubstring(k.shown));
        CHECK(r.stats().scorer_errors == errors);
    }
}

TEST_CASE("one Router may route to a bare lambda, a Tier and a whole Cascade") {
    cascade::Router r{
        score_is_request,
        {0.3, 0.7},
        cascade::Cascade{cascade::tier("mini", answers("mini-answer"),
                                       [](double q, const std::string&) { return q < 0.15 ? 0.9 : 0.1; }, 0.8,
                                       cascade::price_per_call(0.0002)),
                         cascade::tier("big", answers("big-answer"), cascade::price_per_call(0.005))},
        [](double) { return std::string("bare-answer"); },
        cascade::tier("solo", answers("solo-answer"), cascade::price_per_call(0.003)),
    };

    auto easy = r.run(0.1);
    CHECK(easy.route() == 0u);
    CHECK(easy.value() == "mini-answer");
    CHECK(easy.tier() == "mini");
    CHECK(easy.trace().size() == 2u);
    CHECK(easy.trace()[1].status == cascade::AttemptStatus::skipped);
    CHECK(easy.cost() == Approx(0.0002));

    auto escalated = r.run(0.2);
    CHECK(escalated.route() == 0u);
    CHECK(escalated.value() == "big-answer");
    CHECK(escalated.tier() == "big");
    CHECK(escalated.escalations() == 1u);
    CHECK(escalated.cost() == Approx(0.0052));

    auto bare = r.run(0.5);
    CHECK(bare.route() == 1u);
    CHECK(bare.value() == "bare-answer");
    CHECK(bare.tier() == "route 1");
    CHECK(bare.trace().size() == 1u);
    CHECK(bare.cost() == 0.0);

    auto solo = r.run(0.9);
    CHECK(solo.route() == 2u);
    CHECK(solo.value() == "solo-answer");
    CHECK(solo.tier() == "solo");
    CHECK(solo.cost() == Approx(0.003));
}

TEST_CASE("routes are named after their targets") {
    cascade::Router r{
        score_is_request,
        {0.3, 0.7},
        cascade::Cascade{cascade::tier("mini", answers("m"), [](const std::string&) { return true; }),
                         cascade::tier("big", answers("b"))},
        answers("bare"),
        cascade::tier("solo", answers("s")),
    };
    CHECK(r.route_name(0) == "mini>big");
    CHECK(r.route_name(1) == "route 1");
    CHECK(r.route_name(2) == "solo");
    const cascade::RouterStats s = r.stats();
    REQUIRE(s.routes.size() == 3u);
    CHECK(s.routes[0].name == "mini>big");
    CHECK(s.routes[1].name == "route 1");
    CHECK(s.routes[2].name == "solo");

    // A bare lambda is named after its own route's position: the first route is "route 0".
    cascade::Router first_bare{score_is_request, {0.5}, answers("bare"), cascade::tier("big", answers("b"))};
    CHECK(first_bare.route_name(0) == "route 0");
    CHECK(first_bare.run(0.1).tier() == "route 0");
}

TEST_CASE("route<I>() exposes the inner cascade with stats of its own") {
    cascade::Router r{score_is_request,
                      {0.5},
                      cascade::Cascade{cascade::tier("mini", answers("mini"),
                                                     [](double q, const std::string&) { return q < 0.25; }),
                                       cascade::tier("big", answers("big"), cascade::price_per_call(0.01))},
                      cascade::tier("solo", answers("solo"))};
    (void)r.run(0.1);
    (void)r.run(0.3);
    (void)r.run(0.4);
    (void)r.run(0.8);

    auto& inner = r.route<0>();
    CHECK(inner.tier_name(0) == "mini");
    CHECK(inner.tier<1>().name() == "big");
    const cascade::Stats s = inner.stats();
    CHECK(s.queries == 3u);
    CHECK(s.tiers[0].accepted == 1u);
    CHECK(s.tiers[0].rejected == 2u);
    CHECK(s.tiers[1].calls == 2u);
    CHECK(s.escalations == 2u);
    CHECK(s.cost == Approx(0.02));

    const cascade::Stats solo = r.route<1>().stats();
    CHECK(solo.queries == 1u);
    REQUIRE(solo.tiers.size() == 1u);
    CHECK(solo.tiers[0].name == "solo");
}

TEST_CASE("Routed exposes the score, the route and the route's result") {
    cascade::Router r{score_is_request, {0.5}, cascade::tier("cheap", answers("cheap"), cascade::price_per_call(0.001)),
                      cascade::Cascade{cascade::tier("strong", answers("strong"), [](const std::string&) { return 0.3; },
                                                     0.6, cascade::price_per_call(0.01))}};
    cascade::Routed<std::string> routed = r.run(0.75);
    CHECK(routed.score() == 0.75);
    CHECK(routed.route() == 1u);
    CHECK(routed.scorer_error().empty());
    CHECK(routed.resolution() == cascade::Resolution::fallback);
    CHECK(routed.value() == "strong");
    CHECK(routed.confidence() == 0.3);
    CHECK(routed.cost() == Approx(0.01));
    CHECK(routed.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK_THAT(routed.explain(), Catch::Matchers::ContainsSubstring("strong: rejected (confidence 0.300 < 0.600)"));

    // A Routed is a Result: it can be handed to code that takes one.
    const cascade::Result<std::string>& as_result = routed;
    CHECK(as_result.tier() == "strong");
}

TEST_CASE("a route whose cascade has a clock of its own times the route on that clock") {
    std::chrono::steady_clock::time_point now{};
    cascade::CascadeOptions options;
    options.now = [&now] { return now; };
    auto slow = [&now](double) {
        now += std::chrono::milliseconds(5);
        return std::string("timed");
    };
    cascade::Router r{score_is_request, {0.5}, cascade::Cascade{options, cascade::tier("timed", slow)},
                      answers("other")};
    auto routed = r.run(0.2);
    CHECK(routed.value() == "timed");
    CHECK(routed.latency() == std::chrono::milliseconds(5));
    CHECK(routed.trace()[0].latency == std::chrono::milliseconds(5));
    CHECK(routed.scorer_latency() >= std::chrono::nanoseconds{0});
}

TEST_CASE("a routed query's route latency and scorer latency add up to its recorded latency") {
    cascade::Router r{score_is_request, {0.5}, answers("easy"), answers("hard")};
    auto routed = r.run(0.2);
    CHECK(routed.value() == "easy");
    CHECK(routed.latency() >= std::chrono::nanoseconds{0});
    CHECK(routed.scorer_latency() >= std::chrono::nanoseconds{0});
    CHECK(r.stats().latency == routed.latency() + routed.scorer_latency());
}

TEST_CASE("a route without an answer gives an unanswered Routed whose value() throws") {
    cascade::Router r{score_is_request, {0.5}, answers("cheap"),
                      cascade::tier("strong", [](double) -> std::string { throw std::runtime_error("outage"); })};
    auto routed = r.run(0.9);
    CHECK(routed.route() == 1u);
    CHECK_FALSE(routed.has_value());
    CHECK(routed.resolution() == cascade::Resolution::unanswered);
    CHECK_THROWS_AS(routed.value(), cascade::CascadeError);
    CHECK(r.stats().unanswered == 1u);
    CHECK(r.stats().routes[1].unanswered == 1u);
}

TEST_CASE("a Router with one route needs no thresholds") {
    cascade::Router r{score_is_request, {}, answers("only")};
    STATIC_REQUIRE(decltype(r)::route_count == 1);
    CHECK(r.thresholds().empty());
    CHECK(r.run(0.0).value() == "only");
    CHECK(r.run(1.0).route() == 0u);
    CHECK(r.run(nan_value).route() == 0u);
}

TEST_CASE("a string literal request reaches a scorer and models taking std::string") {
    cascade::Router r{[](const std::string& q) { return q.size() > 5 ? 0.9 : 0.1; },
                      {0.5},
                      [](std::string q) { return "short:" + q; },
                      cascade::tier("long", [](const std::string& q) { return "long:" + q; })};
    CHECK(r.run("hi").value() == "short:hi");
    CHECK(r.run("a longer one").value() == "long:a longer one");
}

TEST_CASE("a scorer may return float or int and be stateful and move-only") {
    cascade::Router ints{[](double d) { return d > 0.5 ? 1 : 0; }, {0.5}, answers("easy"), answers("hard")};
    CHECK(ints.run(0.9).route() == 1u);
    CHECK(ints.run(0.9).score() == 1.0);
    CHECK(ints.run(0.1).route() == 0u);

    cascade::Router alternating{[flip = std::make_unique<bool>(false)](double) mutable {
                                    *flip = !*flip;
                                    return *flip ? 0.9f : 0.1f;
                                },
                                {0.5},
                                answers("easy"),
                                answers("hard")};
    CHECK(alternating.run(0.0).route() == 1u);
    CHECK(alternating.run(0.0).route() == 0u);
    CHECK(alternating.run(0.0).route() == 1u);
}

TEST_CASE("trace and route names stay valid after the Router is moved") {
    std::optional<cascade::Routed<std::string>> before_move;
    auto build = [] {
        return cascade::Router{score_is_request, {0.5},
                               cascade::tier("a-cheap-route-name-longer-than-any-sso-buffer", answers("cheap")),
                               cascade::tier("a-strong-route-name-longer-than-any-sso-buffer", answers("strong"))};
    };
    using R = decltype(build());
    std::unique_ptr<R> moved;
    {
        auto original = build();
        before_move.emplace(original.run(0.2));
        moved = std::make_unique<R>(std::move(original));
    }
    CHECK(before_move->tier() == "a-cheap-route-name-longer-than-any-sso-buffer");
    CHECK(moved->route_name(1) == "a-strong-route-name-longer-than-any-sso-buffer");
    CHECK(moved->run(0.9).tier() == "a-strong-route-name-longer-than-any-sso-buffer");
    CHECK(moved->stats().queries == 2u);
}
