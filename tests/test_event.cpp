// Event hooks: what a cascade tells its hook, in which order, and that a failing hook harms
// nothing but is counted.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/runtime/breaker.hpp>
#include <cascade/runtime/budget.hpp>
#include <cascade/runtime/cache.hpp>
#include <cascade/runtime/retry.hpp>

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

std::size_t count(const std::vector<Seen>& log, cascade::EventKind kind) {
    std::size_t n = 0;
    for (const Seen& s : log) n += s.kind == kind ? 1U : 0U;
    return n;
}

const Seen* first(const std::vector<Seen>& log, cascade::EventKind kind) {
    for (const Seen& s : log)
        if (s.kind == kind) return &s;
    return nullptr;
}

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

TEST_CASE("event kinds of the budget and the concurrency limit have readable names") {
    CHECK(cascade::to_string(cascade::EventKind::budget_refused) == "budget_refused");
    CHECK(cascade::to_string(cascade::EventKind::concurrency_limited) == "concurrency_limited");
    CHECK(cascade::to_string(cascade::EventKind::shared_state_unavailable) == "shared_state_unavailable");
}

TEST_CASE("the cascade's hook sees every cache hit of a with_cache tier, from that tier") {
    std::vector<Seen> log;
    cascade::LruCache<std::string, Answer> answers{16};
    auto cached = cascade::with_cache(answer("cached", 1.0), answers, [](const std::string& q) { return q; });
    cascade::Cascade c{recording(log), cascade::tier("big", std::move(cached))};
    for (int i = 0; i < 641 + 1; ++i) c.run(std::string("same question"));
    CHECK(answers.stats().hits == 641);
    CHECK(count(log, cascade::EventKind::cache_hit) == 641);
    const Seen* hit = first(log, cascade::EventKind::cache_hit);
    REQUIRE(hit != nullptr);
    CHECK(hit->source == "big");
    CHECK(hit->tier_index == 0);
}

TEST_CASE("a wrapper with a hook of its own reports to it and to the cascade's hook") {
    std::vector<Seen> log;
    std::vector<std::string> own;
    cascade::LruCache<std::string, Answer> answers{16};
    auto cached = cascade::with_cache(answer("cached", 1.0), answers, [](const std::string& q) { return q; })
                      .with_event_hook([&own](const cascade::Event& e) { own.emplace_back(e.source); }, "answers");
    cascade::Cascade c{recording(log), cascade::tier("mini", answer("no", 0.0), confidence_of, 0.5),
                       cascade::tier("big", std::move(cached))};
    c.run(std::string("q"));
    c.run(std::string("q"));
    REQUIRE(own.size() == 1);
    CHECK(own[0] == "answers");
    const Seen* hit = first(log, cascade::EventKind::cache_hit);
    REQUIRE(hit != nullptr);
    CHECK(hit->source == "answers");
    CHECK(hit->tier_index == 1);
}

TEST_CASE("the cascade's hook sees a retry wrapper's retries and a breaker's opening") {
    std::vector<Seen> log;
    int calls = 0;
    auto flaky = [&calls](const std::string&) -> Answer {
        if (++calls <= 3) throw std::runtime_error("503");
        return Answer{"ok", 1.0};
    };
    using namespace std::chrono_literals;
    auto guarded = cascade::with_breaker(flaky, cascade::BreakerPolicy{3, 30s, 1});
    auto retried = cascade::with_retry(std::move(guarded), cascade::RetryPolicy{3, 0ns, 0ns, 1.0, 0.0});
    cascade::Cascade c{recording(log), cascade::tier("mini", std::move(retried)), cascade::tier("big", answer("big", 1.0))};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "big");  // three failures: the retries ran out and the breaker opened
    CHECK(count(log, cascade::EventKind::retried) == 2);
    CHECK(count(log, cascade::EventKind::breaker_opened) == 1);
    const Seen* retry = first(log, cascade::EventKind::retried);
    REQUIRE(retry != nullptr);
    CHECK(retry->source == "mini");
    const Seen* opened = first(log, cascade::EventKind::breaker_opened);
    REQUIRE(opened != nullptr);
    CHECK(opened->source == "mini");
}

TEST_CASE("the cascade's hook sees a budget refusing a call") {
    std::vector<Seen> log;
    cascade::Budget budget{0.001};
    cascade::Cascade c{recording(log), cascade::tier("mini", cascade::with_budget(answer("mini", 1.0), budget, 0.01)),
                       cascade::tier("big", answer("big", 1.0))};
    c.run(std::string("q"));
    const Seen* refused = first(log, cascade::EventKind::budget_refused);
    REQUIRE(refused != nullptr);
    CHECK(refused->source == "mini");
    CHECK(refused->tier_index == 0);
}

TEST_CASE("a throwing hook called by a wrapper is counted in the cascade's hook errors") {
    cascade::LruCache<std::string, Answer> answers{16};
    cascade::CascadeOptions options;
    options.on_event = [](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::cache_hit) throw std::runtime_error("hook failed");
    };
    cascade::Cascade c{options, cascade::tier("big", cascade::with_cache(answer("a", 1.0), answers,
                                                                       [](const std::string& q) { return q; }))};
    c.run(std::string("q"));
    auto r = c.run(std::string("q"));
    CHECK(r->text == "a");
    CHECK(c.stats().hook_errors == 1);
}
