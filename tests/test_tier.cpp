// Tests for tier.hpp and cost.hpp: every cascade::tier(...) overload, the configuration checks,
// and each accepted shape of model, verifier and cost function.
#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/cascade.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_value = std::numeric_limits<double>::infinity();

struct Answer {
    std::string text;
    double confidence = 0.0;
    int tokens = 0;
};

// The answer's confidence is read from the question, "0.75" -> 0.75, so each test states it.
Answer answer_with_confidence(const std::string& question) {
    return Answer{"re:" + question, std::stod(question), static_cast<int>(question.size())};
}

const auto model = [](const std::string& q) { return answer_with_confidence(q); };
const auto confidence_of = [](const Answer& a) { return a.confidence; };

// A model that counts its own calls: operator() is non-const, as a real client's would be.
struct CountingModel {
    int calls = 0;
    Answer operator()(const std::string& q) {
        ++calls;
        return Answer{q, 1.0, calls};
    }
};

}  // namespace

TEST_CASE("tier(name, model) has no verifier and costs nothing") {
    auto t = cascade::tier("big", model);
    CHECK(t.name() == "big");
    STATIC_REQUIRE_FALSE(decltype(t)::has_verifier());
    CHECK(t.threshold() == 0.0);
    REQUIRE(t.fixed_price().has_value());
    CHECK(*t.fixed_price() == 0.0);

    cascade::Cascade c{std::move(t)};
    auto r = c.run(std::string("0.1"));
    CHECK(r.resolution() == cascade::Resolution::accepted);
    CHECK(r.value().text == "re:0.1");
    CHECK_FALSE(r.confidence().has_value());
    CHECK(r.cost() == 0.0);
}

TEST_CASE("tier(name, model, price_per_call) charges the fixed price on every call") {
    auto t = cascade::tier("big", model, cascade::price_per_call(0.005));
    STATIC_REQUIRE_FALSE(decltype(t)::has_verifier());
    REQUIRE(t.fixed_price().has_value());
    CHECK(*t.fixed_price() == 0.005);

    cascade::Cascade c{std::move(t)};
    auto r = c.run(std::string("0.1"));
    CHECK(r.resolution() == cascade::Resolution::accepted);
    CHECK(r.cost() == Approx(0.005));
    CHECK(r.trace()[0].cost == Approx(0.005));
}

TEST_CASE("tier(name, model, cost_from) has no fixed price and charges what the function computes") {
    auto t = cascade::tier("big", model, cascade::cost_from([](const Answer& a) { return a.tokens * 1e-6; }));
    CHECK_FALSE(t.fixed_price().has_value());

    cascade::Cascade c{std::move(t)};
    CHECK(c.run(std::string("0.25")).cost() == Approx(4e-6));
    CHECK(c.run(std::string("0.250000")).cost() == Approx(8e-6));
}

TEST_CASE("tier(name, model, verifier) accepts from the default threshold 0.5") {
    auto t = cascade::tier("mini", model, confidence_of);
    STATIC_REQUIRE(decltype(t)::has_verifier());
    CHECK(t.threshold() == 0.5);
    CHECK(*t.fixed_price() == 0.0);

    cascade::Cascade c{std::move(t)};
    auto at = c.run(std::string("0.5"));
    CHECK(at.trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(at.confidence() == 0.5);
    auto below = c.run(std::string("0.49"));
    CHECK(below.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(below.trace()[0].confidence == 0.49);
}

TEST_CASE("tier(name, model, verifier, threshold) accepts at and above the threshold only") {
    auto t = cascade::tier("mini", model, confidence_of, 0.8);
    CHECK(t.threshold() == 0.8);
    CHECK(*t.fixed_price() == 0.0);

    cascade::Cascade c{std::move(t)};
    CHECK(c.run(std::string("0.8")).trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(c.run(std::string("1")).trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(c.run(std::string("0.79")).trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(c.run(std::string("0")).trace()[0].status == cascade::AttemptStatus::rejected);
}

TEST_CASE("tier(name, model, verifier, cost) uses the default threshold 0.5 and the cost") {
    auto t = cascade::tier("mini", model, confidence_of, cascade::price_per_call(0.0002));
    CHECK(t.threshold() == 0.5);
    CHECK(*t.fixed_price() == 0.0002);

    cascade::Cascade c{std::move(t)};
    auto r = c.run(std::string("0.6"));
    CHECK(r.trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(r.cost() == Approx(0.0002));
}

TEST_CASE("tier(name, model, verifier, threshold, cost) keeps all of them") {
    auto t = cascade::tier("mini", model, confidence_of, 0.9, cascade::price_per_call(0.0003));
    CHECK(t.name() == "mini");
    CHECK(t.threshold() == 0.9);
    CHECK(*t.fixed_price() == 0.0003);

    cascade::Cascade c{std::move(t)};
    auto r = c.run(std::string("0.85"));
    CHECK(r.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(r.trace()[0].threshold == 0.9);
    CHECK(r.cost() == Approx(0.0003));
}

TEST_CASE("tier(name, model, verifier, threshold, cost_from) computes the cost of each answer") {
    auto t = cascade::tier("mini", model, confidence_of, 0.9,
                           cascade::cost_from([](const Answer& a) { return a.tokens * 1e-6; }));
    CHECK_FALSE(t.fixed_price().has_value());

    cascade::Cascade c{std::move(t)};
    CHECK(c.run(std::string("0.95")).cost() == Approx(4e-6));
    CHECK(c.run(std::string("0.95000")).cost() == Approx(7e-6));
}

TEST_CASE("tier accepts the threshold bounds 0 and 1") {
    CHECK(cascade::tier("lo", model, confidence_of, 0.0).threshold() == 0.0);
    CHECK(cascade::tier("hi", model, confidence_of, 1.0).threshold() == 1.0);
}

TEST_CASE("tier rejects a threshold outside [0, 1] or NaN, naming the tier and the value") {
    const std::string nan_msg =
        invalid_argument_message([] { (void)cascade::tier("mini-nan", model, confidence_of, nan_value); });
    CHECK_THAT(nan_msg, Catch::Matchers::ContainsSubstring("mini-nan"));
    CHECK_THAT(nan_msg, Catch::Matchers::ContainsSubstring("nan"));
    CHECK_THAT(nan_msg, Catch::Matchers::ContainsSubstring("threshold"));

    const std::string low_msg =
        invalid_argument_message([] { (void)cascade::tier("mini-low", model, confidence_of, -0.1); });
    CHECK_THAT(low_msg, Catch::Matchers::ContainsSubstring("mini-low"));
    CHECK_THAT(low_msg, Catch::Matchers::ContainsSubstring("-0.1"));

    const std::string high_msg = invalid_argument_message(
        [] { (void)cascade::tier("mini-high", model, confidence_of, 1.5, cascade::price_per_call(0.1)); });
    CHECK_THAT(high_msg, Catch::Matchers::ContainsSubstring("mini-high"));
    CHECK_THAT(high_msg, Catch::Matchers::ContainsSubstring("1.5"));

    const std::string computed_msg = invalid_argument_message([] {
        (void)cascade::tier("mini-computed", model, confidence_of, 2.0,
                            cascade::cost_from([](const Answer&) { return 0.0; }));
    });
    CHECK_THAT(computed_msg, Catch::Matchers::ContainsSubstring("mini-computed"));
    CHECK_THAT(computed_msg, Catch::Matchers::ContainsSubstring("2.0"));
}

TEST_CASE("tier rejects an empty name with every overload") {
    CHECK_THAT(invalid_argument_message([] { (void)cascade::tier("", model); }), Catch::Matchers::ContainsSubstring("name"));
    CHECK_THROWS_AS(cascade::tier("", model, cascade::price_per_call(1.0)), std::invalid_argument);
    CHECK_THROWS_AS(cascade::tier("", model, confidence_of), std::invalid_argument);
    CHECK_THROWS_AS(cascade::tier("", model, confidence_of, 0.7), std::invalid_argument);
    CHECK_THROWS_AS(cascade::tier("", model, confidence_of, cascade::price_per_call(1.0)), std::invalid_argument);
    CHECK_THROWS_AS(cascade::tier("", model, confidence_of, 0.7, cascade::price_per_call(1.0)),
                    std::invalid_argument);
}

TEST_CASE("price_per_call rejects a negative, NaN or infinite price, naming the value") {
    const std::string negative = invalid_argument_message([] { (void)cascade::price_per_call(-1.0); });
    CHECK_THAT(negative, Catch::Matchers::ContainsSubstring("price_per_call"));
    CHECK_THAT(negative, Catch::Matchers::ContainsSubstring("-1"));
    CHECK_THAT(invalid_argument_message([] { (void)cascade::price_per_call(nan_value); }), Catch::Matchers::ContainsSubstring("nan"));
    CHECK_THAT(invalid_argument_message([] { (void)cascade::price_per_call(inf_value); }), Catch::Matchers::ContainsSubstring("inf"));
    CHECK_THROWS_AS(cascade::price_per_call(-inf_value), std::invalid_argument);
    CHECK_THROWS_AS(cascade::price_per_call(-1e-12), std::invalid_argument);
    CHECK(cascade::price_per_call(0.0).dollars == 0.0);
    CHECK(cascade::price_per_call(0.0025).dollars == 0.0025);
}

TEST_CASE("a move-only model is stored and called") {
    auto t = cascade::tier("owner", [secret = std::make_unique<int>(42)](const std::string& q) {
        return Answer{q + std::to_string(*secret), 1.0, 0};
    });
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<decltype(t)>);
    STATIC_REQUIRE(std::is_move_constructible_v<decltype(t)>);

    cascade::Cascade c{std::move(t)};
    CHECK(c.run(std::string("q")).value().text == "q42");
}

TEST_CASE("a model is called non-const and keeps its state between calls") {
    CountingModel counter;
    cascade::Cascade c{cascade::tier("functor", counter),
                       cascade::tier("mutable", [calls = 0](const std::string& q) mutable {
                           ++calls;
                           return Answer{q, 1.0, calls};
                       })};
    CHECK(c.run(std::string("a")).value().tokens == 1);
    CHECK(c.run(std::string("b")).value().tokens == 2);
    CHECK(c.run(std::string("c")).value().tokens == 3);
    CHECK(c.tier<0>().model().calls == 3);
    // The tier holds its own copy: the functor passed in is untouched.
    CHECK(counter.calls == 0);
}

TEST_CASE("a stateful mutable lambda model counts across queries") {
    cascade::Cascade c{cascade::tier("mini",
                                     [calls = 0](const std::string& q) mutable {
                                         ++calls;
                                         return Answer{q, 0.0, calls};
                                     },
                                     [](const Answer& a) { return a.tokens >= 3; }),
                       cascade::tier("big", model)};
    CHECK(c.run(std::string("0.5")).tier_index() == 1u);
    CHECK(c.run(std::string("0.5")).tier_index() == 1u);
    CHECK(c.run(std::string("0.5")).tier_index() == 0u);
}

namespace {
Answer plain_function_model(const std::string& q) { return Answer{"plain:" + q, 1.0, 1}; }
bool plain_function_verifier(const Answer& a) { return a.text.size() > 7; }
}  // namespace

TEST_CASE("plain functions are accepted as model and verifier") {
    cascade::Cascade c{cascade::tier("plain", plain_function_model, plain_function_verifier),
                       cascade::tier("last", plain_function_model)};
    auto r = c.run(std::string("long question"));
    CHECK(r.value().text == "plain:long question");
    CHECK(r.tier_index() == 0u);
    CHECK(c.run(std::string("x")).tier_index() == 1u);
}

TEST_CASE("a verifier may take (request, response) and return a double") {
    // Accepts only when the answer repeats the question: the request is needed to judge.
    cascade::Cascade c{cascade::tier("mini", [](const std::string& q) { return Answer{q == "0.1" ? "x" : q, 0, 0}; },
                                     [](const std::string& q, const Answer& a) { return a.text == q ? 0.9 : 0.1; },
                                     0.5)};
    CHECK(c.run(std::string("0.3")).trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(c.run(std::string("0.3")).confidence() == 0.9);
    CHECK(c.run(std::string("0.1")).trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(c.run(std::string("0.1")).trace()[0].confidence == 0.1);
}

TEST_CASE("a verifier may take the response only") {
    cascade::Cascade c{cascade::tier("mini", model, [](const Answer& a) { return a.confidence; }, 0.7)};
    CHECK(c.run(std::string("0.7")).trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(c.run(std::string("0.6")).trace()[0].status == cascade::AttemptStatus::rejected);
}

TEST_CASE("a bool verifier accepts on true with confidence 1 and rejects on false with 0") {
    cascade::Cascade c{cascade::tier("mini", model, [](const Answer& a) { return a.confidence > 0.5; })};
    auto yes = c.run(std::string("0.9"));
    CHECK(yes.trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(yes.trace()[0].confidence == 1.0);
    auto no = c.run(std::string("0.2"));
    CHECK(no.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK(no.trace()[0].confidence == 0.0);
}

TEST_CASE("a Verdict verifier's confidence decides and its cost and note are kept") {
    cascade::Cascade c{cascade::tier(
        "mini", model,
        [](const std::string& q, const Answer& a) {
            return cascade::Verdict{a.confidence, 0.001, "judged " + q};
        },
        0.6, cascade::price_per_call(0.002))};
    auto r = c.run(std::string("0.65"));
    CHECK(r.trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(r.confidence() == 0.65);
    CHECK(r.trace()[0].note == "judged 0.65");
    CHECK(r.cost() == Approx(0.003));
    CHECK(c.run(std::string("0.55")).trace()[0].status == cascade::AttemptStatus::rejected);
}

TEST_CASE("a verifier may return float or int") {
    cascade::Cascade floats{cascade::tier("f", model, [](const Answer& a) { return static_cast<float>(a.confidence); },
                                          0.7)};
    auto f = floats.run(std::string("0.75"));
    CHECK(f.trace()[0].status == cascade::AttemptStatus::accepted);
    REQUIRE(f.confidence().has_value());
    CHECK(*f.confidence() == Approx(0.75));
    CHECK(floats.run(std::string("0.25")).trace()[0].status == cascade::AttemptStatus::rejected);

    cascade::Cascade ints{cascade::tier("i", model, [](const Answer& a) { return static_cast<int>(a.confidence); })};
    auto one = ints.run(std::string("1"));
    CHECK(one.trace()[0].status == cascade::AttemptStatus::accepted);
    CHECK(one.confidence() == 1.0);
    CHECK(ints.run(std::string("0")).trace()[0].status == cascade::AttemptStatus::rejected);
    // An int outside [0, 1] is no confidence either.
    auto two = ints.run(std::string("2"));
    CHECK(two.trace()[0].status == cascade::AttemptStatus::verifier_error);
    CHECK_THAT(two.trace()[0].error, Catch::Matchers::ContainsSubstring("2"));
}

TEST_CASE("a verifier is called non-const and may keep state") {
    cascade::Cascade c{cascade::tier("mini", model, [seen = 0](const Answer&) mutable { return ++seen >= 2; }),
                       cascade::tier("big", model)};
    CHECK(c.run(std::string("0.1")).tier_index() == 1u);
    CHECK(c.run(std::string("0.1")).tier_index() == 0u);
}

TEST_CASE("cost_from accepts a function of the response") {
    cascade::Cascade c{cascade::tier("big", model,
                                     cascade::cost_from([](const Answer& a) { return a.tokens * 0.5e-6; }))};
    CHECK(c.run(std::string("0.123")).cost() == Approx(2.5e-6));
}

TEST_CASE("cost_from accepts a function of the request and the response") {
    cascade::Cascade c{cascade::tier(
        "big", model, cascade::cost_from([](const std::string& q, const Answer& a) {
            return static_cast<double>(q.size()) * 1e-6 + static_cast<double>(a.tokens) * 2e-6;
        }))};
    CHECK(c.run(std::string("0.12")).cost() == Approx(4e-6 + 8e-6));
}

TEST_CASE("cost_from may return float and be move-only") {
    auto cost = cascade::cost_from([rate = std::make_unique<float>(0.25f)](const Answer& a) {
        return *rate * static_cast<float>(a.tokens);
    });
    cascade::Cascade c{cascade::tier("big", model, std::move(cost))};
    CHECK(c.run(std::string("0.5")).cost() == Approx(0.75));
}

TEST_CASE("a tier's callables are reachable through the tier") {
    auto t = cascade::tier("mini", CountingModel{}, confidence_of, 0.4, cascade::price_per_call(0.01));
    CHECK(t.model()(std::string("q")).tokens == 1);
    CHECK(t.model().calls == 1);
    CHECK(t.verifier()(Answer{"", 0.3, 0}) == 0.3);
    CHECK(t.cost().dollars == 0.01);
}

#if CASCADE_HAS_CONCEPTS
TEST_CASE("the concepts accept the documented callable shapes") {
    auto void_model = [](const std::string&) {};
    auto scorer = [](const std::string& q) { return static_cast<double>(q.size()) / 10.0; };
    STATIC_REQUIRE(cascade::model_for<decltype(model), std::string>);
    STATIC_REQUIRE(cascade::model_for<CountingModel, std::string>);
    STATIC_REQUIRE_FALSE(cascade::model_for<decltype(void_model), std::string>);
    STATIC_REQUIRE(cascade::verifier_for<decltype(confidence_of), std::string, Answer>);
    STATIC_REQUIRE(cascade::verifier_for<bool (*)(const std::string&, const Answer&), std::string, Answer>);
    STATIC_REQUIRE(cascade::verifier_for<cascade::Verdict (*)(const Answer&), std::string, Answer>);
    STATIC_REQUIRE_FALSE(cascade::verifier_for<std::string (*)(const Answer&), std::string, Answer>);
    STATIC_REQUIRE(cascade::scorer_for<decltype(scorer), std::string>);
}
#endif
