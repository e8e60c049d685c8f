// Event hooks: what a cascade tells its hook, in which order, and that a failing hook harms
// nothing but is counted.
#include <stdexcept>
#include <string>
#include <vector>

#include <cascade/cascade.hpp>

#include "catch.hpp"

namespace {

struct Answer {
    std::string text;
    double confidence = 0.0;
};

struct Seen {
    cascade::EventKind kind;
    std::string source;
    std::size_t tier_index;
    std::string status;  // of the attempt, when the event has one
};

cascade::CascadeOptions recording(std::vector<Seen>& log) {
    cascade::CascadeOptions options;
    options.on_event = [&log](const cascade::Event& e) {
        log.push_back({e.kind, std::string(e.source), e.tier_index,
                       e.attempt ? std::string(cascade::to_string(e.attempt->status)) : std::string()});
    };
    return options;
}

auto answer(std::string text, double confidence) {
    return [=](const std::string&) { return Answer{text, confidence}; };
}
double confidence_of(const Answer& a) { return a.confidence; }

}  // namespace

TEST_CASE("an escalating query reports start, finish and escalation of each tier, then its end") {
    std::vector<Seen> log;
    cascade::Cascade c{recording(log), cascade::tier("mini", answer("doubtful", 0.2), confidence_of, 0.8),
                       cascade::tier("big", answer("sure", 1.0), cascade::price_per_call(0.01))};
    c.run(std::string("q"));
    using K = cascade::EventKind;
    REQUIRE(log.size() == 6);
    CHECK((log[0].kind == K::tier_started && log[0].source == "mini"));
    CHECK((log[1].kind == K::tier_finished && log[1].status == "rejected"));
    CHECK((log[2].kind == K::escalated && log[2].source == "mini" && log[2].tier_index == 0));
    CHECK((log[3].kind == K::tier_started && log[3].source == "big" && log[3].tier_index == 1));
    CHECK((log[4].kind == K::tier_finished && log[4].status == "accepted"));
    CHECK((log[5].kind == K::query_finished && log[5].source == "big"));
}

TEST_CASE("the finishing event carries the query's resolution, cost and latency") {
    cascade::Event last;
    cascade::CascadeOptions options;
    options.on_event = [&last](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::query_finished) last = e;
    };
    cascade::Cascade c{options, cascade::tier("mini", answer("a", 0.9), confidence_of, 0.5, cascade::price_per_call(0.25))};
    auto r = c.run(std::string("q"));
    CHECK(last.resolution == cascade::Resolution::accepted);
    CHECK(last.cost == r.cost());
    CHECK(last.latency == r.latency());
}

TEST_CASE("a tier skipped for the cost cap is reported as skipped") {
    std::vector<Seen> log;
    auto options = recording(log);
    options.limits.max_cost = 0.001;
    cascade::Cascade c{options, cascade::tier("mini", answer("doubtful", 0.2), confidence_of, 0.8),
                       cascade::tier("big", answer("sure", 1.0), cascade::price_per_call(0.01))};
    c.run(std::string("q"));
    REQUIRE(log.size() == 4);
    CHECK(log[2].kind == cascade::EventKind::tier_skipped);
    CHECK(log[2].status == "not called: over budget");
    CHECK(log[3].kind == cascade::EventKind::query_finished);
}

TEST_CASE("a hook that throws is counted and the query is unharmed") {
    cascade::CascadeOptions options;
    options.on_event = [](const cascade::Event&) { throw std::runtime_error("hook failed"); };
    cascade::Cascade c{options, cascade::tier("mini", answer("doubtful", 0.2), confidence_of, 0.8),
                       cascade::tier("big", answer("sure", 1.0))};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "sure");
    CHECK(c.stats().hook_errors == 6);
    CHECK(c.stats().queries == 1);
}

TEST_CASE("event kinds have readable names") {
    CHECK(cascade::to_string(cascade::EventKind::breaker_opened) == "breaker_opened");
    CHECK(cascade::to_string(cascade::EventKind::cache_hit) == "cache_hit");
}
