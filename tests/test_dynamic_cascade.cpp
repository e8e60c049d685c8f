// Tests for core/dynamic_cascade.hpp and core/tier_registry.hpp: a chain configured at run time
// by name gives what the static Cascade of the same tiers gives (results, traces, stats, events,
// deadlines, cost caps, errors), and refuses a wrong configuration with a message that says what.
#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/core/dynamic_cascade.hpp>
#include <cascade/core/tier_registry.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/text_checks.hpp"
#include "support/threads.hpp"

namespace {

using namespace std::chrono_literals;
using cascade::AttemptStatus;
using Registry = cascade::TierRegistry<int, std::string>;
using Dynamic = cascade::DynamicCascade<int, std::string>;

// What the tiers of one cascade share: a clock the models move on, and the events seen. Each
// cascade gets one of its own, so that the static and the dynamic cascade see the same times.
struct World {
    std::atomic<std::int64_t> ns{0};
    std::vector<std::string> events;

    void advance(std::chrono::nanoseconds d) { ns += d.count(); }
    cascade::CascadeOptions options(cascade::NoPassPolicy policy) {
        cascade::CascadeOptions o;
        o.when_none_pass = policy;
        o.now = [this] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns.load())); };
        o.on_event = [this](const cascade::Event& e) {
            std::string line = std::to_string(static_cast<int>(e.kind)) + "|" + std::string(e.source) + "|" +
                               std::to_string(e.tier_index);
            if (e.attempt != nullptr) line += "|" + e.attempt->describe();
            if (e.kind == cascade::EventKind::query_finished) {
                line += "|" + std::to_string(static_cast<int>(e.resolution)) + "|" + std::to_string(e.cost) + "|" +
                        std::to_string(e.latency.count());
            }
            events.push_back(std::move(line));
        };
        return o;
    }
};

// The cheap tier: takes the call's context, fails now and then, is slow now and then (past its
// time limit), has a Verdict verifier that fails or gives NaN now and then, and a cost function
// that fails now and then (charged its estimate).
auto mini_tier(World& w, double threshold) {
    auto model = [&w](const int& id, const cascade::CallContext& context) -> std::string {
        w.advance(std::chrono::milliseconds(id % 5));
        if (id % 7 == 0) throw std::runtime_error("mini is down");
        return "mini:" + std::to_string(id) + ":" + std::string(context.tier);
    };
    auto verifier = [](const int& id, const std::string&) {
        if (id % 11 == 0) throw std::logic_error("verifier broke");
        cascade::Verdict v;
        v.confidence = id % 13 == 0 ? std::numeric_limits<double>::quiet_NaN() : (id % 10) / 10.0;
        v.extra_cost = 1e-5;
        if (id % 3 == 0) v.note = "checked twice";
        return v;
    };
    auto cost = cascade::cost_from([](const int& id, const std::string&) { return id % 17 == 0 ? -1.0 : 1e-4 * (id % 4); });
    return cascade::tier("mini", std::move(model), std::move(verifier), threshold, std::move(cost))
        .with_time_limit(3ms)
        .with_cost_estimate(2e-4);
}

auto mid_tier(World& w, double threshold) {
    auto model = [&w](const int& id) {
        w.advance(2ms);
        return "mid:" + std::to_string(id);
    };
    auto verifier = [](const std::string& answer) { return (answer.back() - '0') / 10.0; };
    return cascade::tier("mid", std::move(model), std::move(verifier), threshold, cascade::price_per_call(1e-3));
}

auto big_tier(World& w) {
    auto model = [&w](const int& id) -> std::string {
        w.advance(5ms);
        if (id % 19 == 0) throw 42;
        return "big:" + std::to_string(id);
    };
    return cascade::tier("big", std::move(model), cascade::price_per_call(1e-2));
}

// A query's limits, varied with its id: a deadline, a cost cap, both, or none.
std::optional<cascade::Limits> limits_for(int id) {
    cascade::Limits l;
    if (id % 6 == 0) l.timeout = 4ms;
    if (id % 8 == 0) l.max_cost = 5e-4;
    if (id % 9 == 0) l.max_cost = 0.0;
    if (!l.timeout && !l.max_cost) return std::nullopt;
    return l;
}

void check_same_attempt(const cascade::Attempt& s, const cascade::Attempt& d) {
    CHECK(s.tier == d.tier);
    CHECK(s.status == d.status);
    CHECK(s.confidence == d.confidence);
    CHECK(s.threshold == d.threshold);
    CHECK(s.cost == d.cost);
    CHECK(s.latency == d.latency);
    CHECK(s.error == d.error);
    CHECK(s.note == d.note);
    CHECK(static_cast<bool>(s.exception) == static_cast<bool>(d.exception));
}

template <class R>
void check_same_result(const R& s, const cascade::Result<std::string>& d) {
    CHECK(s.has_value() == d.has_value());
    if (s.has_value() && d.has_value()) CHECK(*s == *d);
    CHECK(s.tier() == d.tier());
    CHECK(s.tier_index() == d.tier_index());
    CHECK(s.resolution() == d.resolution());
    CHECK(s.confidence() == d.confidence());
    CHECK(s.cost() == d.cost());
    CHECK(s.latency() == d.latency());
    CHECK(s.escalations() == d.escalations());
    REQUIRE(s.trace().size() == d.trace().size());
    for (std::size_t i = 0; i < s.trace().size(); ++i) check_same_attempt(s.trace()[i], d.trace()[i]);
}

void check_same_stats(const cascade::Stats& s, const cascade::Stats& d) {
    CHECK(s.queries == d.queries);
    CHECK(s.accepted == d.accepted);
    CHECK(s.fallbacks == d.fallbacks);
    CHECK(s.unanswered == d.unanswered);
    CHECK(s.escalations == d.escalations);
    CHECK(s.errors == d.errors);
    CHECK(s.hook_errors == d.hook_errors);
    CHECK(s.cost == d.cost);
    CHECK(s.baseline_cost == d.baseline_cost);
    CHECK(s.latency == d.latency);
    CHECK(s.latency_p50 == d.latency_p50);
    CHECK(s.latency_p99 == d.latency_p99);
    REQUIRE(s.tiers.size() == d.tiers.size());
    for (std::size_t i = 0; i < s.tiers.size(); ++i) {
        const cascade::TierStats& a = s.tiers[i];
        const cascade::TierStats& b = d.tiers[i];
        CHECK(a.name == b.name);
        CHECK(a.calls == b.calls);
        CHECK(a.accepted == b.accepted);
        CHECK(a.rejected == b.rejected);
        CHECK(a.model_errors == b.model_errors);
        CHECK(a.verifier_errors == b.verifier_errors);
        CHECK(a.timeouts == b.timeouts);
        CHECK(a.cost_errors == b.cost_errors);
        CHECK(a.skipped_deadline == b.skipped_deadline);
        CHECK(a.skipped_budget == b.skipped_budget);
        CHECK(a.cost == b.cost);
        CHECK(a.latency == b.latency);
    }
}

// Runs queries 0..n-1 through both cascades, each with its own world, and compares everything.
template <class Static>
void check_equivalent(Static& s, World& ws, Dynamic& d, World& wd, int n) {
    for (int id = 0; id < n; ++id) {
        INFO("query " << id);
        const auto limits = limits_for(id);
        const auto rs = limits ? s.run(id, *limits) : s.run(id);
        const auto rd = limits ? d.run(id, *limits) : d.run(id);
        check_same_result(rs, rd);
    }
    check_same_stats(s.stats(), d.stats());
    CHECK(ws.events == wd.events);
    CHECK(ws.ns.load() == wd.ns.load());
}

// How many of the results had each status, so that an equivalence test can show that it saw
// every path it claims to compare.
template <class C>
std::vector<int> status_counts(C& c, int n) {
    std::vector<int> counts(9, 0);
    for (int id = 0; id < n; ++id) {
        const auto limits = limits_for(id);
        const auto r = limits ? c.run(id, *limits) : c.run(id);
        for (const cascade::Attempt& a : r.trace()) ++counts[static_cast<std::size_t>(a.status)];
    }
    return counts;
}

}  // namespace

TEST_CASE("a dynamic chain gives the static cascade's results, traces, stats and events") {
    const auto policy = GENERATE(cascade::NoPassPolicy::accept_last, cascade::NoPassPolicy::most_confident,
                                 cascade::NoPassPolicy::no_answer);
    World ws;
    World wd;
    cascade::Cascade s{ws.options(policy), mini_tier(ws, 0.6), mid_tier(ws, 0.5), big_tier(ws)};
    Registry registry;
    // Registered with other thresholds: the chain's own must win.
    registry.add(mini_tier(wd, 0.1));
    registry.add(mid_tier(wd, 0.9));
    registry.add(big_tier(wd));
    Dynamic d(registry, {"mini", "mid", "big"}, {0.6, 0.5}, wd.options(policy));
    REQUIRE(d.tier_count() == 3);
    check_equivalent(s, ws, d, wd, 300);
}

TEST_CASE("the queries of the equivalence test reach every status a trace may hold but cancelled") {
    World w;
    Registry registry;
    registry.add(mini_tier(w, 0.1));
    registry.add(mid_tier(w, 0.9));
    registry.add(big_tier(w));
    Dynamic d(registry, {"mini", "mid", "big"}, {0.6, 0.5}, w.options(cascade::NoPassPolicy::accept_last));
    const std::vector<int> counts = status_counts(d, 300);
    for (const AttemptStatus st :
         {AttemptStatus::skipped, AttemptStatus::accepted, AttemptStatus::rejected, AttemptStatus::model_error,
          AttemptStatus::verifier_error, AttemptStatus::timed_out, AttemptStatus::deadline_passed,
          AttemptStatus::over_budget}) {
        INFO(cascade::to_string(st));
        CHECK(counts[static_cast<std::size_t>(st)] > 0);
    }
    const cascade::Stats st = d.stats();
    CHECK(st.tiers[0].cost_errors > 0);
    CHECK(st.fallbacks > 0);
}

TEST_CASE("dynamic chains of two tiers and of one give what the static cascade gives") {
    World ws;
    World wd;
    Registry registry;
    registry.add(mini_tier(wd, 0.3));
    registry.add(mid_tier(wd, 0.3));
    registry.add(big_tier(wd));
    SECTION("two tiers, skipping one registered") {
        cascade::Cascade s{ws.options(cascade::NoPassPolicy::accept_last), mini_tier(ws, 0.7), big_tier(ws)};
        Dynamic d(registry, {"mini", "big"}, {0.7}, wd.options(cascade::NoPassPolicy::accept_last));
        check_equivalent(s, ws, d, wd, 200);
    }
    SECTION("one tier: no threshold, the registered one kept") {
        cascade::Cascade s{ws.options(cascade::NoPassPolicy::no_answer), mid_tier(ws, 0.3)};
        Dynamic d(registry, {"mid"}, {}, wd.options(cascade::NoPassPolicy::no_answer));
        check_equivalent(s, ws, d, wd, 100);
        CHECK(d.stats().tiers.at(0).rejected > 0);
    }
}

TEST_CASE("a dynamic chain's trace names outlive neither the cascade nor the registry's order") {
    World w;
    auto registry = std::make_unique<Registry>();
    registry->add(mid_tier(w, 0.2));
    registry->add(big_tier(w));
    Dynamic d(*registry, {"mid", "big"}, {0.95}, w.options(cascade::NoPassPolicy::accept_last));
    registry.reset();  // the cascade keeps the tiers it chains
    const auto r = d.run(1);
    REQUIRE(r.has_value());
    CHECK(*r == "big:1");
    CHECK(r.trace()[0].tier == "mid");
    CHECK(r.trace()[0].threshold == 0.95);
    CHECK(d.tier_name(1) == "big");
    CHECK(d.chain() == std::vector<std::string>{"mid", "big"});
    CHECK(d.thresholds() == std::vector<double>{0.95});
}

TEST_CASE("registered tiers take the shapes cascade::tier takes, move-only callables too") {
    Registry registry;
    auto owned = std::make_unique<int>(7);
    registry.add("mini", [p = std::move(owned)](const int& id) { return std::to_string(id + *p); },
                 [](const std::string& a) { return a == "8"; });
    registry.add("big", [](const int& id) { return "big" + std::to_string(id); }, cascade::price_per_call(0.5));
    CHECK(registry.size() == 2);
    CHECK(registry.names() == std::vector<std::string>{"mini", "big"});
    CHECK(registry.has_verifier("mini"));
    CHECK_FALSE(registry.has_verifier("big"));
    Dynamic d(registry, {"mini", "big"}, {0.5});
    CHECK(*d.run(1) == "8");
    const auto r = d.run(2);
    CHECK(*r == "big2");
    CHECK(r.cost() == 0.5);
    CHECK(d.stats().queries == 2);
    CHECK(d.stats().baseline_cost == 1.0);
    d.reset_stats();
    CHECK(d.stats().queries == 0);
}

TEST_CASE("a chain shares its registered tiers' state with other chains of the same registry") {
    auto calls = std::make_shared<std::atomic<int>>(0);
    Registry registry;
    registry.add("counter", [calls](const int&) { return std::to_string(++*calls); });
    Dynamic a(registry, {"counter"}, {});
    Dynamic b(registry, {"counter"}, {});
    CHECK(*a.run(0) == "1");
    CHECK(*b.run(0) == "2");
}

TEST_CASE("TierRegistry refuses a name registered twice, naming it") {
    World w;
    Registry registry;
    registry.add(big_tier(w));
    const std::string m = invalid_argument_message([&] { registry.add(big_tier(w)); });
    CHECK(contains(m, "cascade::TierRegistry::add"));
    CHECK(contains(m, "\"big\" is registered already"));
    CHECK(registry.size() == 1);
}

TEST_CASE("DynamicCascade refuses a chain it cannot run, saying what is wrong") {
    World w;
    Registry registry;
    registry.add(mini_tier(w, 0.5));
    registry.add(mid_tier(w, 0.5));
    registry.add(big_tier(w));
    auto message = [&](std::vector<std::string> chain, std::vector<double> thresholds) {
        return invalid_argument_message([&] { Dynamic d(registry, chain, thresholds); });
    };
    CHECK(contains(message({"mini", "gpt-5"}, {0.5}),
                   "cascade::DynamicCascade: unknown tier \"gpt-5\"; registered: \"mini\", \"mid\", \"big\""));
    CHECK(contains(message({}, {}), "the chain is empty"));
    CHECK(contains(message({"mini", "big"}, {}), "a chain of 2 tiers takes 1 thresholds (one per tier but the last), got 0"));
    CHECK(contains(message({"big"}, {0.5}), "a chain of 1 tiers takes 0 thresholds"));
    CHECK(contains(message({"mini", "big"}, {std::nan("")}), "threshold 1 (of tier \"mini\") must be in [0, 1], got nan"));
    CHECK(contains(message({"mini", "mid", "big"}, {0.5, 1.5}), "threshold 2 (of tier \"mid\") must be in [0, 1], got 1.5"));
    CHECK(contains(message({"mini", "big"}, {-0.1}), "got -0.1"));
    CHECK(contains(message({"mini", "mini"}, {0.5}), "tier \"mini\" appears twice in the chain"));
    CHECK(contains(message({"big", "mini"}, {0.5}), "tier \"big\" is number 1 of 2 but has no verifier"));

    Registry empty;
    CHECK(contains(invalid_argument_message([&] { Dynamic d(empty, {"x"}, {}); }),
                   "unknown tier \"x\"; no tier is registered"));

    Registry many;
    std::vector<std::string> chain;
    for (int i = 0; i <= CASCADE_MAX_TIERS; ++i) {
        chain.push_back("t" + std::to_string(i));
        many.add(chain.back(), [](const int&) { return std::string(); }, [](const std::string&) { return 1.0; });
    }
    CHECK(contains(invalid_argument_message([&] {
                       Dynamic d(many, chain, std::vector<double>(chain.size() - 1, 0.5));
                   }),
                   "longer than CASCADE_MAX_TIERS"));
}

TEST_CASE("DynamicCascade refuses the options the static cascade refuses, with its message") {
    Registry registry;
    registry.add("big", [](const int&) { return std::string("x"); });
    cascade::CascadeOptions o;
    o.limits.timeout = 0ns;
    const std::string dynamic = invalid_argument_message([&] { Dynamic d(registry, {"big"}, {}, o); });
    const std::string fixed = invalid_argument_message([&] {
        cascade::Cascade c{o, cascade::tier("big", [](const int&) { return std::string("x"); })};
    });
    CHECK(dynamic == fixed);
    Dynamic d(registry, {"big"}, {});
    cascade::Limits bad;
    bad.max_cost = -1.0;
    CHECK(contains(invalid_argument_message([&] { (void)d.run(1, bad); }), "cascade::Limits: the cost cap"));
}

TEST_CASE("a dynamic chain may be run from many threads at once") {
    cascade::TierRegistry<int, int> registry;
    registry.add("mini", [](const int& id) { return id; }, [](const int&, const int& a) { return a % 2 == 0; },
                 cascade::price_per_call(1e-3));
    registry.add("big", [](const int& id) { return -id; }, cascade::price_per_call(1e-2));
    cascade::DynamicCascade<int, int> d(registry, {"mini", "big"}, {0.5});
    std::atomic<int> wrong{0};
    cascade_test::on_threads(4, 500, [&](int t, int i) {
        const int id = t * 1000 + i;
        const auto r = d.run(id);
        if (!r.has_value() || *r != (id % 2 == 0 ? id : -id)) ++wrong;
    });
    CHECK(wrong.load() == 0);
    const cascade::Stats s = d.stats();
    CHECK(s.queries == 2000);
    CHECK(s.tiers[0].accepted == 1000);
    CHECK(s.tiers[1].accepted == 1000);
    CHECK(s.cost == Approx(2000 * 1e-3 + 1000 * 1e-2));
}
