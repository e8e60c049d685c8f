// Tests for core/cascade.hpp (class Cascade) and core/result.hpp: which tier answers, what the trace
// records for each tier, the NoPassPolicy fallbacks, costs, and the result's accessors.
#include "catch.hpp"

#include <cascade/cascade.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_value = std::numeric_limits<double>::infinity();

using cascade::AttemptStatus;
using cascade::Resolution;

// A model that answers "<name>:<question>" and counts its calls in *calls.
auto named_model(std::string name, int* calls = nullptr) {
    return [name = std::move(name), calls](const std::string& q) {
        if (calls) ++*calls;
        return name + ":" + q;
    };
}

// A verifier that gives the same confidence to every answer.
auto constant_confidence(double c) {
    return [c](const std::string&) { return c; };
}

auto throwing_model(std::string message) {
    return [message = std::move(message)](const std::string&) -> std::string { throw std::runtime_error(message); };
}

// What the model of a tier that must not be reached does.
auto unreachable_model() {
    return [](const std::string&) -> std::string {
        FAIL("a tier after the accepted one was called");
        return {};
    };
}

// The exception inside an exception_ptr, as the text of what it holds.
std::string rethrown_text(const std::exception_ptr& e) {
    REQUIRE(e);
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return std::string("std:") + ex.what();
    } catch (int i) {
        return "int:" + std::to_string(i);
    } catch (...) {
        return "other";
    }
}

}  // namespace

TEST_CASE("accepts the first tier whose verifier passes and skips the rest") {
    int mini_calls = 0;
    int mid_calls = 0;
    int big_calls = 0;
    cascade::Cascade c{
        cascade::tier("mini", named_model("mini", &mini_calls), constant_confidence(0.2), 0.8),
        cascade::tier("mid", named_model("mid", &mid_calls), constant_confidence(0.9), 0.8),
        cascade::tier("big", named_model("big", &big_calls)),
    };
    auto r = c.run(std::string("q"));

    CHECK(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK(r.value() == "mid:q");
    CHECK(*r == "mid:q");
    CHECK(r->size() == 5u);
    CHECK(r.resolution() == Resolution::accepted);
    CHECK(r.tier() == "mid");
    CHECK(r.tier_index() == 1u);
    CHECK(r.confidence() == 0.9);
    CHECK(r.escalations() == 1u);
    CHECK(mini_calls == 1);
    CHECK(mid_calls == 1);
    CHECK(big_calls == 0);

    REQUIRE(r.trace().size() == 3u);
    CHECK(r.trace()[0].tier == "mini");
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[0].confidence == 0.2);
    CHECK(r.trace()[0].threshold == 0.8);
    CHECK(r.trace()[0].called());
    CHECK(r.trace()[1].tier == "mid");
    CHECK(r.trace()[1].status == AttemptStatus::accepted);
    CHECK(r.trace()[2].tier == "big");
    CHECK(r.trace()[2].status == AttemptStatus::skipped);
    CHECK_FALSE(r.trace()[2].called());
    CHECK_FALSE(r.trace()[2].confidence.has_value());
    CHECK(r.trace()[2].cost == 0.0);
    CHECK(r.trace()[2].latency == std::chrono::nanoseconds{0});
    CHECK(r.trace()[2].error.empty());
}

TEST_CASE("the first tier's accepted answer ends the query without calling later tiers") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.95), 0.9),
                       cascade::tier("big", unreachable_model())};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "mini:q");
    CHECK(r.tier_index() == 0u);
    CHECK(r.escalations() == 0u);
    CHECK(r.trace()[1].status == AttemptStatus::skipped);
}

TEST_CASE("every tier after the accepted one has a skipped entry with its name and threshold") {
    cascade::Cascade c{cascade::tier("t0", named_model("t0"), constant_confidence(0.95), 0.9),
                       cascade::tier("t1", unreachable_model(), constant_confidence(1.0), 0.1),
                       cascade::tier("t2", unreachable_model(), constant_confidence(1.0), 0.2),
                       cascade::tier("t3", unreachable_model(), constant_confidence(1.0), 0.3),
                       cascade::tier("t4", unreachable_model(), constant_confidence(1.0), 0.4),
                       cascade::tier("t5", unreachable_model())};
    const char* const names[] = {"t0", "t1", "t2", "t3", "t4", "t5"};
    const double thresholds[] = {0.9, 0.1, 0.2, 0.3, 0.4, 0.0};
    for (int run = 0; run < 2; ++run) {  // the second run's result reuses nothing of the first's
        auto r = c.run(std::string("q"));
        CHECK(r.value() == "t0:q");
        REQUIRE(r.trace().size() == 6u);
        for (std::size_t i = 1; i < 6; ++i) {
            const cascade::Attempt& a = r.trace()[i];
            CHECK(a.tier == names[i]);
            CHECK(a.threshold == thresholds[i]);
            CHECK(a.status == AttemptStatus::skipped);
            CHECK_FALSE(a.called());
            CHECK_FALSE(a.confidence.has_value());
            CHECK(a.cost == 0.0);
            CHECK(a.latency == std::chrono::nanoseconds{0});
            CHECK(a.error.empty());
            CHECK(a.note.empty());
            CHECK_FALSE(a.exception);
        }
    }
}

TEST_CASE("escalates when the verifier rejects") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.79), 0.8),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "big:q");
    CHECK(r.tier() == "big");
    CHECK(r.resolution() == Resolution::accepted);
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[1].status == AttemptStatus::accepted);
    // The last tier has no verifier, so its answer carries no confidence.
    CHECK_FALSE(r.confidence().has_value());
}

TEST_CASE("a model that throws a std::exception is recorded and the query escalates") {
    cascade::Cascade c{cascade::tier("mini", throwing_model("rate limited"), constant_confidence(1.0)),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "big:q");
    CHECK(r.resolution() == Resolution::accepted);
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::model_error);
    CHECK(a.called());
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("rate limited"));
    CHECK_FALSE(a.confidence.has_value());
    CHECK(rethrown_text(a.exception) == "std:rate limited");
    CHECK_THROWS_AS(std::rethrow_exception(a.exception), std::runtime_error);
}

TEST_CASE("a model that throws a non-std type is recorded and the query escalates") {
    cascade::Cascade c{cascade::tier("mini", [](const std::string&) -> std::string { throw 42; }),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "big:q");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::model_error);
    CHECK_FALSE(a.error.empty());
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("model threw"));
    CHECK(rethrown_text(a.exception) == "int:42");
}

TEST_CASE("a verifier that throws is a verifier error and the query escalates") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"),
                                     [](const std::string&) -> double { throw std::logic_error("judge offline"); }),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "big:q");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::verifier_error);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("judge offline"));
    CHECK_FALSE(a.confidence.has_value());
    CHECK(rethrown_text(a.exception) == "std:judge offline");
}

TEST_CASE("a verifier returning NaN or a value outside [0, 1] is a verifier error naming the value") {
    struct Case {
        double confidence;
        const char* shown;
    };
    for (const Case& k : {Case{nan_value, "nan"}, Case{1.5, "1.5"}, Case{-0.1, "-0.1"}, Case{inf_value, "inf"}}) {
        INFO("verifier returns " << k.shown);
        cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(k.confidence), 0.0),
                           cascade::tier("big", named_model("big"))};
        auto r = c.run(std::string("q"));
        CHECK(r.value() == "big:q");
        CHECK(r.resolution() == Resolution::accepted);
        const cascade::Attempt& a = r.trace()[0];
        CHECK(a.status == AttemptStatus::verifier_error);
        CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring(k.shown));
        CHECK_FALSE(a.confidence.has_value());
        CHECK_FALSE(a.exception);
    }
}

TEST_CASE("a Verdict with an invalid confidence is a verifier error that keeps its note") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"),
                                     [](const std::string&) { return cascade::Verdict{1.5, 0.0, "judge said 150%"}; }),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.trace()[0].status == AttemptStatus::verifier_error);
    CHECK_THAT(r.trace()[0].error, Catch::Matchers::ContainsSubstring("1.5"));
    CHECK(r.trace()[0].note == "judge said 150%");
}

TEST_CASE("when every tier fails the result is unanswered and value() throws CascadeError with each reason") {
    cascade::Cascade c{cascade::tier("mini", throwing_model("mini is down")),
                       cascade::tier("big", throwing_model("big is down"))};
    auto r = c.run(std::string("q"));
    CHECK_FALSE(r.has_value());
    CHECK_FALSE(static_cast<bool>(r));
    CHECK(r.resolution() == Resolution::unanswered);
    CHECK(r.tier().empty());
    CHECK_FALSE(r.tier_index().has_value());
    CHECK_FALSE(r.confidence().has_value());
    CHECK(r.escalations() == 1u);

    CHECK_THROWS_AS(r.value(), cascade::CascadeError);
    const auto& const_r = r;
    CHECK_THROWS_AS(const_r.value(), cascade::CascadeError);
    CHECK_THROWS_AS(std::move(r).value(), cascade::CascadeError);
    try {
        (void)r.value();
        FAIL("value() returned without an answer");
    } catch (const cascade::CascadeError& e) {
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("mini"));
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("mini is down"));
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("big"));
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("big is down"));
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("model error"));
        REQUIRE(e.attempts().size() == 2u);
        CHECK(e.attempts()[0].tier == "mini");
        CHECK(e.attempts()[0].status == AttemptStatus::model_error);
        CHECK(rethrown_text(e.attempts()[0].exception) == "std:mini is down");
        CHECK(e.attempts()[1].tier == "big");
        CHECK(e.attempts()[1].status == AttemptStatus::model_error);
    }
    // A CascadeError is a std::runtime_error, for callers that catch those.
    CHECK_THROWS_AS(r.value(), std::runtime_error);
}

TEST_CASE("accept_last is the default policy") {
    CHECK(cascade::CascadeOptions{}.when_none_pass == cascade::NoPassPolicy::accept_last);
    CHECK(cascade::CascadeOptions{}.collect_stats);
    cascade::Cascade c{cascade::tier("only", named_model("only"))};
    CHECK(c.options().when_none_pass == cascade::NoPassPolicy::accept_last);
}

TEST_CASE("accept_last answers with the last tier's answer when none passes") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.6), 0.9),
                       cascade::tier("big", named_model("big"), constant_confidence(0.3), 0.9)};
    auto r = c.run(std::string("q"));
    CHECK(r.has_value());
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "big:q");
    CHECK(r.tier() == "big");
    CHECK(r.tier_index() == 1u);
    CHECK(r.confidence() == 0.3);
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[1].status == AttemptStatus::rejected);
}

TEST_CASE("accept_last falls back to the latest earlier answer when the last tier throws") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.6), 0.9),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.1), 0.9),
                       cascade::tier("big", throwing_model("big timed out"))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mid:q");
    CHECK(r.tier() == "mid");
    CHECK(r.tier_index() == 1u);
    CHECK(r.confidence() == 0.1);
    CHECK(r.trace()[2].status == AttemptStatus::model_error);
    CHECK(r.escalations() == 2u);
}

TEST_CASE("accept_last skips tiers that threw when falling back") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.2), 0.9),
                       cascade::tier("mid", throwing_model("mid down"), constant_confidence(1.0), 0.9),
                       cascade::tier("big", throwing_model("big down"))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mini:q");
    CHECK(r.tier_index() == 0u);
}

TEST_CASE("accept_last falls back to an answer whose verifier failed") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(nan_value)),
                       cascade::tier("big", throwing_model("big down"))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mini:q");
    CHECK_FALSE(r.confidence().has_value());
}

TEST_CASE("most_confident answers with the highest confidence seen") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.6), 0.9),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.4), 0.9),
                       cascade::tier("big", named_model("big"), constant_confidence(0.5), 0.9)};
    CHECK(c.options().when_none_pass == cascade::NoPassPolicy::most_confident);
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mini:q");
    CHECK(r.tier_index() == 0u);
    CHECK(r.confidence() == 0.6);
}

TEST_CASE("most_confident breaks ties in favour of the later tier") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.5), 0.9),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.5), 0.9),
                       cascade::tier("big", named_model("big"), constant_confidence(0.2), 0.9)};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "mid:q");
    CHECK(r.tier_index() == 1u);
}

TEST_CASE("most_confident ranks an answer whose verifier failed below every scored answer") {
    // A scored answer of confidence 0 still beats a later answer whose verifier failed.
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.0), 0.9),
                       cascade::tier("big", named_model("big"),
                                     [](const std::string&) -> double { throw std::runtime_error("no judge"); })};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mini:q");
    CHECK(r.confidence() == 0.0);

    cascade::Cascade failed_first{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                                  cascade::tier("mini", named_model("mini"), constant_confidence(nan_value)),
                                  cascade::tier("big", named_model("big"), constant_confidence(0.1), 0.9)};
    CHECK(failed_first.run(std::string("q")).value() == "big:q");
}

TEST_CASE("most_confident falls back to the later of two answers whose verifiers failed") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                       cascade::tier("mini", named_model("mini"), constant_confidence(nan_value)),
                       cascade::tier("mid", named_model("mid"), constant_confidence(2.0)),
                       cascade::tier("big", throwing_model("big down"))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "mid:q");
}

TEST_CASE("most_confident still accepts the first answer that passes") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.7), 0.9),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.91), 0.9),
                       cascade::tier("big", unreachable_model())};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::accepted);
    CHECK(r.value() == "mid:q");
}

TEST_CASE("no_answer leaves the query unanswered when no tier passes") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::no_answer},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.6), 0.9),
                       cascade::tier("big", named_model("big"), constant_confidence(0.3), 0.9)};
    auto r = c.run(std::string("q"));
    CHECK_FALSE(r.has_value());
    CHECK(r.resolution() == Resolution::unanswered);
    CHECK_FALSE(r.tier_index().has_value());
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[1].status == AttemptStatus::rejected);
    try {
        (void)r.value();
        FAIL("value() returned without an answer");
    } catch (const cascade::CascadeError& e) {
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("mini: rejected (confidence 0.600 < 0.900)"));
        CHECK_THAT(what, Catch::Matchers::ContainsSubstring("big: rejected (confidence 0.300 < 0.900)"));
    }
}

TEST_CASE("no_answer still returns an answer that passes") {
    cascade::Cascade c{cascade::CascadeOptions{cascade::NoPassPolicy::no_answer},
                       cascade::tier("mini", named_model("mini"), constant_confidence(0.2), 0.9),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::accepted);
    CHECK(r.value() == "big:q");
}

TEST_CASE("the cost adds the fixed prices of the called tiers only") {
    cascade::Cascade c{
        cascade::tier("mini", named_model("mini"), constant_confidence(0.2), 0.8, cascade::price_per_call(0.0002)),
        cascade::tier("mid", named_model("mid"), constant_confidence(0.9), 0.8, cascade::price_per_call(0.001)),
        cascade::tier("big", named_model("big"), cascade::price_per_call(0.005)),
    };
    auto r = c.run(std::string("q"));
    CHECK(r.cost() == Approx(0.0012));
    CHECK(r.trace()[0].cost == Approx(0.0002));
    CHECK(r.trace()[1].cost == Approx(0.001));
    CHECK(r.trace()[2].cost == 0.0);
}

TEST_CASE("a tier is charged its price when its verifier rejects or fails") {
    cascade::Cascade c{
        cascade::tier("mini", named_model("mini"), constant_confidence(0.1), 0.8, cascade::price_per_call(0.0002)),
        cascade::tier("mid", named_model("mid"), constant_confidence(nan_value), 0.8, cascade::price_per_call(0.001)),
        cascade::tier("big", named_model("big"), cascade::price_per_call(0.005)),
    };
    auto r = c.run(std::string("q"));
    CHECK(r.trace()[0].cost == Approx(0.0002));
    CHECK(r.trace()[1].cost == Approx(0.001));
    CHECK(r.trace()[2].cost == Approx(0.005));
    CHECK(r.cost() == Approx(0.0062));
}

TEST_CASE("a model that throws is not charged: there is no answer to bill") {
    cascade::Cascade c{cascade::tier("mini", throwing_model("down"), cascade::price_per_call(0.0002)),
                       cascade::tier("big", named_model("big"), cascade::price_per_call(0.005))};
    auto r = c.run(std::string("q"));
    CHECK(r.trace()[0].cost == 0.0);
    CHECK(r.cost() == Approx(0.005));
}

TEST_CASE("a Verdict's extra_cost is added to its tier and its note reaches the trace") {
    cascade::Cascade c{cascade::tier(
                           "mini", named_model("mini"),
                           [](const std::string&) { return cascade::Verdict{0.3, 0.0004, "judge: off topic"}; }, 0.8,
                           cascade::price_per_call(0.0002)),
                       cascade::tier("big", named_model("big"),
                                     [](const std::string&) { return cascade::Verdict{0.9, 0.001, ""}; }, 0.8,
                                     cascade::price_per_call(0.005))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "big:q");
    CHECK(r.trace()[0].cost == Approx(0.0006));
    CHECK(r.trace()[0].note == "judge: off topic");
    CHECK(r.trace()[1].cost == Approx(0.006));
    CHECK(r.trace()[1].note.empty());
    CHECK(r.cost() == Approx(0.0066));
}

TEST_CASE("an invalid extra_cost is noted, counted as $0 and as a cost error, and the answer kept") {
    for (double extra : {nan_value, -0.5, inf_value}) {
        INFO("extra_cost " << extra);
        cascade::Cascade c{cascade::tier(
            "mini", named_model("mini"),
            [extra](const std::string&) { return cascade::Verdict{0.9, extra, "checked"}; }, 0.8,
            cascade::price_per_call(0.0002))};
        auto r = c.run(std::string("q"));
        CHECK(r.resolution() == Resolution::accepted);
        CHECK(r.value() == "mini:q");
        CHECK(r.cost() == Approx(0.0002));
        const std::string& note = r.trace()[0].note;
        CHECK_THAT(note, Catch::Matchers::ContainsSubstring("checked"));
        CHECK_THAT(note, Catch::Matchers::ContainsSubstring("extra cost"));
        CHECK_THAT(note, Catch::Matchers::ContainsSubstring("counted as $0"));
        CHECK(c.stats().tiers[0].cost_errors == 1);
    }
}

TEST_CASE("a cost function returning NaN or a negative value is noted, counted as $0, and the answer kept") {
    for (double dollars : {nan_value, -0.001, inf_value}) {
        INFO("cost function returns " << dollars);
        cascade::Cascade c{
            cascade::tier("mini", named_model("mini"), constant_confidence(0.9), 0.8,
                          cascade::cost_from([dollars](const std::string&) { return dollars; })),
            cascade::tier("big", unreachable_model())};
        auto r = c.run(std::string("q"));
        CHECK(r.resolution() == Resolution::accepted);
        CHECK(r.value() == "mini:q");
        CHECK(r.cost() == 0.0);
        CHECK(r.trace()[0].status == AttemptStatus::accepted);
        CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("cost function returned"));
        CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("counted as $0"));
    }
}

TEST_CASE("a cost function that throws is noted, counted as $0, and the answer kept") {
    cascade::Cascade c{cascade::tier("big", named_model("big"), cascade::cost_from([](const std::string&) -> double {
                                         throw std::runtime_error("no usage field");
                                     }))};
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::accepted);
    CHECK(r.value() == "big:q");
    CHECK(r.cost() == 0.0);
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("no usage field"));
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("counted as $0"));
    CHECK(r.trace()[0].error.empty());
}

TEST_CASE("a cost failure is appended to the verifier's note") {
    cascade::Cascade c{cascade::tier(
        "mini", named_model("mini"), [](const std::string&) { return cascade::Verdict{0.9, 0.0, "judge ok"}; }, 0.5,
        cascade::cost_from([](const std::string&) { return -1.0; }))};
    auto r = c.run(std::string("q"));
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("judge ok"));
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("cost function returned"));
}

TEST_CASE("a bool verifier accepts on true and escalates on false") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"),
                                     [](const std::string& q, const std::string&) { return q.size() < 4; }),
                       cascade::tier("big", named_model("big"))};
    auto short_q = c.run(std::string("abc"));
    CHECK(short_q.value() == "mini:abc");
    CHECK(short_q.confidence() == 1.0);
    auto long_q = c.run(std::string("abcd"));
    CHECK(long_q.value() == "big:abcd");
    CHECK(long_q.trace()[0].status == AttemptStatus::rejected);
    CHECK(long_q.trace()[0].confidence == 0.0);
}

TEST_CASE("escalations() counts the tiers called past the first") {
    cascade::Cascade c{cascade::tier("t0", named_model("t0"), [](const std::string& a) { return a.size() > 6; }),
                       cascade::tier("t1", named_model("t1"), [](const std::string& a) { return a.size() > 5; }),
                       cascade::tier("t2", named_model("t2"), [](const std::string& a) { return a.size() > 4; }),
                       cascade::tier("t3", named_model("t3"))};
    CHECK(c.run(std::string("abcd")).escalations() == 0u);
    CHECK(c.run(std::string("abc")).escalations() == 1u);
    CHECK(c.run(std::string("ab")).escalations() == 2u);
    CHECK(c.run(std::string("a")).escalations() == 3u);
}

TEST_CASE("latency() is the sum of the called tiers' latencies") {
    // The cascade reads the test's own clock, which each model moves on by its own amount.
    using std::chrono::milliseconds;
    std::chrono::steady_clock::time_point now{};
    auto taking = [&now](milliseconds took, std::string name) {
        return [&now, took, name = std::move(name)](const std::string& q) {
            now += took;
            return name + ":" + q;
        };
    };
    cascade::CascadeOptions options;
    options.now = [&now] { return now; };
    cascade::Cascade c{options, cascade::tier("mini", taking(milliseconds(3), "mini"), constant_confidence(0.1)),
                       cascade::tier("mid", taking(milliseconds(5), "mid"), constant_confidence(0.9)),
                       cascade::tier("big", taking(milliseconds(7), "big"))};
    auto r = c.run(std::string("q"));
    CHECK(r.value() == "mid:q");
    CHECK(r.trace()[0].latency == milliseconds(3));
    CHECK(r.trace()[1].latency == milliseconds(5));
    CHECK(r.trace()[2].latency == std::chrono::nanoseconds{0});
    CHECK(r.latency() == milliseconds(8));
}

TEST_CASE("latency() is the sum of the called tiers' latencies on the real clock too") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.1)),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.9)),
                       cascade::tier("big", named_model("big"))};
    auto r = c.run(std::string("q"));
    std::chrono::nanoseconds sum{0};
    for (const cascade::Attempt& a : r.trace()) sum += a.latency;
    CHECK(r.trace()[2].latency == std::chrono::nanoseconds{0});
    CHECK(r.latency() == sum);
}

TEST_CASE("a query reads the clock at its start and at the end of each tier called, no more") {
    int reads = 0;
    std::chrono::steady_clock::time_point now{};
    cascade::CascadeOptions options;
    options.now = [&reads, &now] {
        ++reads;
        return now += std::chrono::milliseconds(1);
    };
    cascade::Cascade c{options, cascade::tier("mini", named_model("mini"), [](const std::string& a) {
                           return a == "mini:easy" ? 1.0 : 0.0;
                       }),
                       cascade::tier("mid", named_model("mid"), constant_confidence(0.0)),
                       cascade::tier("big", named_model("big"))};
    auto easy = c.run(std::string("easy"));
    CHECK(easy.tier() == "mini");
    CHECK(reads == 2);
    CHECK(easy.latency() == std::chrono::milliseconds(1));
    reads = 0;
    auto hard = c.run(std::string("hard"));
    CHECK(hard.tier() == "big");
    CHECK(reads == 4);
    CHECK(hard.latency() == std::chrono::milliseconds(3));
    for (const cascade::Attempt& a : hard.trace()) CHECK(a.latency == std::chrono::milliseconds(1));
}

TEST_CASE("a query with latency measurement off and no limits reads no clock") {
    int reads = 0;
    cascade::CascadeOptions options;
    options.measure_latency = false;
    options.now = [&reads] {
        ++reads;
        return std::chrono::steady_clock::time_point{};
    };
    cascade::Cascade c{options, cascade::tier("mini", named_model("mini"), constant_confidence(0.0)),
                       cascade::tier("big", named_model("big"))};
    CHECK(c.run(std::string("q")).tier() == "big");
    CHECK(reads == 0);
}

namespace {
// Names longer than any small-string buffer, so that a trace viewing freed names is caught by ASan.
auto make_long_named_cascade() {
    return cascade::Cascade{
        cascade::tier("a-cheap-model-whose-name-is-longer-than-sso", named_model("mini"), constant_confidence(0.1)),
        cascade::tier("an-expensive-model-whose-name-is-long-too", named_model("big"))};
}
}  // namespace

TEST_CASE("trace tier names stay valid after the cascade is moved") {
    using LongCascade = decltype(make_long_named_cascade());
    cascade::Result<std::string> before_move;
    std::optional<LongCascade> kept;
    {
        auto original = make_long_named_cascade();
        before_move = original.run(std::string("q"));
        kept.emplace(std::move(original));
    }  // `original`, now moved from, is destroyed here.
    CHECK(before_move.trace()[0].tier == "a-cheap-model-whose-name-is-longer-than-sso");
    CHECK(before_move.trace()[1].tier == "an-expensive-model-whose-name-is-long-too");
    CHECK(before_move.tier() == "an-expensive-model-whose-name-is-long-too");
    CHECK_THAT(before_move.explain(), Catch::Matchers::ContainsSubstring("a-cheap-model-whose-name-is-longer-than-sso: rejected"));

    // Moving again, into a cascade on the heap, keeps them valid too.
    auto moved_twice = std::make_unique<LongCascade>(std::move(*kept));
    kept.reset();
    CHECK(before_move.trace()[0].tier == "a-cheap-model-whose-name-is-longer-than-sso");
    CHECK(moved_twice->run(std::string("q")).tier() == "an-expensive-model-whose-name-is-long-too");
    CHECK(moved_twice->tier_name(0) == "a-cheap-model-whose-name-is-longer-than-sso");
}

TEST_CASE("a move-only Response is returned and can be moved out") {
    auto boxed = [](int offset) {
        return [offset](const std::string& q) { return std::make_unique<int>(static_cast<int>(q.size()) + offset); };
    };
    cascade::Cascade c{cascade::tier("mini", boxed(0), [](const std::unique_ptr<int>& p) { return *p > 3; }),
                       cascade::tier("big", boxed(100))};
    auto accepted = c.run(std::string("abcd"));
    REQUIRE(accepted.has_value());
    CHECK(*accepted.value() == 4);
    std::unique_ptr<int> owned = std::move(accepted).value();
    REQUIRE(owned);
    CHECK(*owned == 4);

    auto escalated = c.run(std::string("ab"));
    CHECK(*escalated.value() == 102);

    cascade::Cascade fallback{cascade::CascadeOptions{cascade::NoPassPolicy::most_confident},
                              cascade::tier("mini", boxed(0), [](const std::unique_ptr<int>&) { return 0.4; }, 0.9),
                              cascade::tier("big", boxed(100), [](const std::unique_ptr<int>&) { return 0.2; }, 0.9)};
    auto fell_back = fallback.run(std::string("ab"));
    CHECK(fell_back.resolution() == Resolution::fallback);
    CHECK(*fell_back.value() == 2);
}

TEST_CASE("a string literal request reaches models, verifiers and cost functions taking std::string") {
    cascade::Cascade c{
        cascade::tier("mini", [](std::string q) { return "mini:" + q; },
                      [](const std::string& q, const std::string& a) { return a == "mini:" + q && q == "easy"; }, 0.5,
                      cascade::cost_from([](const std::string& q, const std::string&) {
                          return static_cast<double>(q.size()) * 1e-6;
                      })),
        cascade::tier("big", [](const std::string& q) { return "big:" + q; })};
    auto easy = c.run("easy");
    CHECK(easy.value() == "mini:easy");
    CHECK(easy.cost() == Approx(4e-6));
    auto hard = c.run("hard!");
    CHECK(hard.value() == "big:hard!");
}

TEST_CASE("a cascade of one tier answers with that tier") {
    cascade::Cascade c{cascade::tier("only", named_model("only"), constant_confidence(0.4), 0.5)};
    STATIC_REQUIRE(decltype(c)::tier_count == 1);
    auto r = c.run(std::string("q"));
    CHECK(r.resolution() == Resolution::fallback);
    CHECK(r.value() == "only:q");
    CHECK(r.escalations() == 0u);
}

TEST_CASE("tier_name() and tier<I>() expose the cascade's tiers") {
    int calls = 0;
    cascade::Cascade c{cascade::tier("mini", named_model("mini", &calls), constant_confidence(0.9)),
                       cascade::tier("big", named_model("big"), cascade::price_per_call(0.01))};
    STATIC_REQUIRE(decltype(c)::tier_count == 2);
    CHECK(c.tier_name(0) == "mini");
    CHECK(c.tier_name(1) == "big");
    CHECK(c.tier<0>().name() == "mini");
    CHECK(c.tier<1>().fixed_price() == 0.01);
    CHECK(c.tier<0>().model()(std::string("direct")) == "mini:direct");
    CHECK(calls == 1);
}

TEST_CASE("explain() states the resolution, the answering tier and a line per tier") {
    cascade::Cascade c{
        cascade::tier("mini", named_model("mini"), constant_confidence(0.42), 0.8, cascade::price_per_call(0.0002)),
        cascade::tier("mid", named_model("mid"), constant_confidence(0.9), 0.8, cascade::price_per_call(0.001)),
        cascade::tier("big", named_model("big"), cascade::price_per_call(0.005)),
    };
    const std::string text = c.run(std::string("q")).explain();
    CHECK(text.rfind("accepted by mid", 0) == 0);
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("\n  mini: rejected (confidence 0.420 < 0.800), $0.000200, "));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("\n  mid: accepted (confidence 0.900 >= 0.800), $0.001000, "));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("\n  big: skipped"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring(" ms"));

    cascade::Cascade failing{cascade::tier("mini", throwing_model("quota exceeded")),
                             cascade::tier("big", throwing_model("overloaded"))};
    const std::string unanswered = failing.run(std::string("q")).explain();
    CHECK(unanswered.rfind("unanswered", 0) == 0);
    CHECK_THAT(unanswered, Catch::Matchers::ContainsSubstring("mini: model error (model threw: quota exceeded)"));
    CHECK_THAT(unanswered, Catch::Matchers::ContainsSubstring("big: model error (model threw: overloaded)"));

    cascade::Cascade fallback{cascade::tier("mini", named_model("mini"), constant_confidence(0.1)),
                              cascade::tier("big", throwing_model("overloaded"))};
    CHECK(fallback.run(std::string("q")).explain().rfind("fallback by mini", 0) == 0);
}

TEST_CASE("describe() gives one line per attempt with status, reason, cost and note") {
    cascade::Cascade c{
        cascade::tier("mini", named_model("mini"),
                      [](const std::string&) { return cascade::Verdict{0.3, 0.0, "judge: vague"}; }, 0.5,
                      cascade::price_per_call(0.0002)),
        cascade::tier("mid", named_model("mid"), constant_confidence(nan_value)),
        cascade::tier("big", named_model("big"), cascade::price_per_call(0.005)),
        cascade::tier("spare", named_model("spare")),
    };
    auto r = c.run(std::string("q"));
    const std::string mini = r.trace()[0].describe();
    CHECK(mini.rfind("mini: rejected (confidence 0.300 < 0.500), $0.000200, ", 0) == 0);
    CHECK_THAT(mini, Catch::Matchers::ContainsSubstring(" ms; judge: vague"));
    const std::string mid = r.trace()[1].describe();
    CHECK(mid.rfind("mid: verifier error (verifier returned nan", 0) == 0);
    CHECK(r.trace()[2].describe().rfind("big: accepted, $0.005000, ", 0) == 0);
    CHECK(r.trace()[3].describe() == "spare: skipped");
    for (const cascade::Attempt& a : r.trace()) CHECK(a.describe().find('\n') == std::string::npos);
}

TEST_CASE("the status and resolution names are readable") {
    CHECK(cascade::to_string(AttemptStatus::skipped) == "skipped");
    CHECK(cascade::to_string(AttemptStatus::accepted) == "accepted");
    CHECK(cascade::to_string(AttemptStatus::rejected) == "rejected");
    CHECK(cascade::to_string(AttemptStatus::model_error) == "model error");
    CHECK(cascade::to_string(AttemptStatus::verifier_error) == "verifier error");
    CHECK(cascade::to_string(Resolution::accepted) == "accepted");
    CHECK(cascade::to_string(Resolution::fallback) == "fallback");
    CHECK(cascade::to_string(Resolution::unanswered) == "unanswered");
}

TEST_CASE("a result is a plain value that can be copied") {
    cascade::Cascade c{cascade::tier("mini", named_model("mini"), constant_confidence(0.1)),
                       cascade::tier("big", named_model("big"), cascade::price_per_call(0.002))};
    const auto original = c.run(std::string("q"));
    const cascade::Result<std::string> copy = original;
    CHECK(copy.value() == "big:q");
    CHECK(copy.tier() == "big");
    CHECK(copy.cost() == original.cost());
    CHECK(copy.trace().size() == 2u);
    CHECK(copy.trace()[0].status == AttemptStatus::rejected);
    CHECK(copy.explain() == original.explain());
}

namespace {
// Owns its cascade, as a request handler would: the exception leaves, the cascade does not.
void ask_a_cascade_that_cannot_answer() {
    cascade::Cascade local{cascade::CascadeOptions{cascade::NoPassPolicy::no_answer},
                           cascade::tier(std::string(40, 'm'), [](const std::string&) -> std::string {
                               throw std::runtime_error("down");
                           })};
    local.run(std::string("q")).value();
}
}  // namespace

TEST_CASE("a CascadeError keeps its tier names after the cascade that threw it is gone") {
    try {
        ask_a_cascade_that_cannot_answer();
        FAIL("expected a CascadeError");
    } catch (const cascade::CascadeError& e) {
        const cascade::CascadeError copy = e;  // the runtime may copy exceptions too
        REQUIRE(copy.attempts().size() == 1u);
        CHECK(copy.attempts()[0].tier == std::string(40, 'm'));
        CHECK(e.attempts()[0].error.find("down") != std::string::npos);
    }
}

TEST_CASE("with latency measurement off, answers and costs are the same and latencies are zero") {
    cascade::CascadeOptions options;
    options.measure_latency = false;
    cascade::Cascade c{options,
                       cascade::tier("mini", [](const std::string& q) { return q + "?"; },
                                     [](const std::string& a) { return a.size() > 3 ? 0.1 : 0.9; }, 0.5,
                                     cascade::price_per_call(0.001)),
                       cascade::tier("big", [](const std::string& q) { return q + "!"; }, cascade::price_per_call(0.01))};
    auto easy = c.run(std::string("hi"));
    auto hard = c.run(std::string("hello"));
    CHECK(easy.value() == "hi?");
    CHECK(hard.value() == "hello!");
    CHECK(hard.cost() == Approx(0.011));
    CHECK(hard.latency().count() == 0);
    CHECK(c.stats().latency.count() == 0);
    CHECK(c.stats().queries == 2u);
}
