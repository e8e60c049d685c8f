#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/integration/fmt.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

auto two_tier_cascade() {
    return cascade::Cascade{cascade::tier("mini", [](int x) { return x; }, [](int x) { return x > 0 ? 0.9 : 0.2; }, 0.5,
                                          cascade::price_per_call(0.001)),
                            cascade::tier("big", [](int x) { return -x; }, cascade::price_per_call(0.01))};
}

cascade::Stats fixture_stats() {
    cascade::Stats s;
    s.queries = 10;
    s.accepted = 9;
    s.unanswered = 1;
    s.escalations = 4;
    s.errors = 1;
    s.cost = 0.05;
    s.baseline_cost = 0.1;
    cascade::TierStats mini;
    mini.name = "mini";
    mini.calls = 10;
    mini.accepted = 6;
    mini.rejected = 3;
    mini.model_errors = 1;
    mini.cost = 0.01;
    mini.latency = 20ms;
    s.tiers = {mini};
    return s;
}

}  // namespace

TEST_CASE("formats a result on one line, and with its trace under {:t}") {
    auto c = two_tier_cascade();
    const auto accepted = c.run(1);
    const std::string line = fmt::format("{}", accepted);
    CHECK(starts_with(line, "accepted by mini (confidence 0.900), $0.001000, "));
    CHECK(ends_with(line, " ms"));

    const auto escalated = c.run(-1);
    const std::string traced = fmt::format("{:t}", escalated);
    CHECK(starts_with(traced, "accepted by big, $0.011000, "));
    CHECK(traced.find("\n  mini: rejected (confidence 0.200 < 0.500), $0.001000, ") != std::string::npos);
    CHECK(traced.find("\n  big: accepted, $0.010000, ") != std::string::npos);
}

TEST_CASE("formats an attempt as Attempt::describe does") {
    auto c = two_tier_cascade();
    const auto r = c.run(-1);
    CHECK(fmt::format("{}", r.trace()[0]) == r.trace()[0].describe());
}

TEST_CASE("formats a routed result with its route and score") {
    cascade::Router router{[](int x) { return x > 0 ? 0.9 : 0.1; }, {0.5}, two_tier_cascade(),
                           cascade::tier("big", [](int x) { return x; })};
    const std::string line = fmt::format("{}", router.run(3));
    CHECK(starts_with(line, "accepted by big, $0.000000, "));
    CHECK(ends_with(line, " [route 1, score 0.900]"));
}

TEST_CASE("formats stats with totals, and a line per tier under {:t}") {
    const auto s = fixture_stats();
    CHECK(fmt::format("{}", s) ==
          "10 queries: 9 accepted, 0 fallbacks, 1 unanswered; 4 escalations, 1 errors; $0.050000 (saving 50.0%)");
    CHECK(fmt::format("{:t}", s) ==
          "10 queries: 9 accepted, 0 fallbacks, 1 unanswered; 4 escalations, 1 errors; $0.050000 (saving 50.0%)\n"
          "  mini: 10 calls, 6 accepted, 3 rejected, 1 model errors, 0 verifier errors, $0.010000, 20.000 ms");
}

TEST_CASE("tier and cascade stats list timeouts, hedges and cancelled calls when there are any") {
    auto s = fixture_stats();
    s.hedges = 2;
    cascade::TierStats& mini = s.tiers[0];
    mini.calls = 13;
    mini.timeouts = 1;
    mini.hedges = 2;
    mini.cancelled = 2;
    CHECK(fmt::format("{:t}", s) ==
          "10 queries: 9 accepted, 0 fallbacks, 1 unanswered; 4 escalations, 1 errors; $0.050000; 2 hedges "
          "(saving 50.0%)\n"
          "  mini: 13 calls, 6 accepted, 3 rejected, 1 model errors, 0 verifier errors, 1 timed out, "
          "2 as hedge backup, 2 cancelled, $0.010000, 20.000 ms");
}

TEST_CASE("tier stats list early stops and streamed calls when there are any") {
    auto s = fixture_stats();
    cascade::TierStats& mini = s.tiers[0];
    mini.calls = 13;
    mini.stopped_early = 4;
    mini.streamed = 13;
    mini.tokens = 1200;
    mini.first_tokens = 10;
    mini.first_token_total = std::chrono::milliseconds(35);
    CHECK(fmt::format("{}", mini) ==
          "mini: 13 calls, 6 accepted, 3 rejected, 1 model errors, 0 verifier errors, 4 stopped early, "
          "13 streamed (1200 tokens, first after 3.500 ms on average), $0.010000, 20.000 ms");
}

TEST_CASE("formats router stats with a line per route under {:t}") {
    cascade::RouterStats s;
    s.queries = 4;
    s.scorer_errors = 1;
    s.cost = 0.02;
    cascade::RouteStats r;
    r.name = "mini>big";
    r.queries = 4;
    r.cost = 0.02;
    r.latency = 1500us;
    s.routes = {r};
    CHECK(fmt::format("{:t}", s) ==
          "4 queries: 0 unanswered, 1 scorer errors; $0.020000\n"
          "  mini>big: 4 queries, 0 unanswered, $0.020000, 1.500 ms");
}

TEST_CASE("rejects an unknown format option") {
    const auto s = fixture_stats();
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), s), fmt::format_error);
}
