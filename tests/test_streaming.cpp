// Tests for streamed cascades (Cascade::stream, Router::stream, DynamicCascade::stream): what the
// caller's sink sees in buffered and pass-through mode, the early-exit rule, stall limits and
// deadlines, fallbacks, the trace and the stats of streamed calls, hedging, and the runtime
// wrappers around a streaming model. The models are in-process fakes that call the sink; where
// time matters they advance a cascade::ManualClock themselves. Hedging uses real threads: the
// models only record into atomics, and only the test's thread asserts.
#include "catch.hpp"
#include "threads.hpp"

#include <cascade/cascade.hpp>
#include <cascade/runtime/breaker.hpp>
#include <cascade/runtime/budget.hpp>
#include <cascade/runtime/cache.hpp>
#include <cascade/runtime/clock.hpp>
#include <cascade/runtime/concurrency_limit.hpp>
#include <cascade/runtime/retry.hpp>
#include <cascade/verify/early_exit.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/count_allocations.hpp"

using namespace std::chrono_literals;

namespace {

using cascade::AttemptStatus;
using cascade::StreamEventKind;
using cascade::StreamMode;

struct Tok {
    std::string text;
    std::optional<double> logprob;
};

// Tokens with the given texts, each with log-probability `lp`.
std::vector<Tok> toks(std::vector<std::string> words, std::optional<double> lp = -0.05) {
    std::vector<Tok> out;
    for (auto& w : words) out.push_back(Tok{std::move(w), lp});
    return out;
}

// What a fake streaming model did, read by the test after the query.
struct Probe {
    int calls = 0;
    std::size_t chunks_sent = 0;   // sink calls
    std::size_t stops_heard = 0;   // sink calls that answered stop
    std::string returned;          // the text it returned last
};

// A streaming model: advances `clock` by `gap` before each token, hands it to the sink and ends
// (returns what it produced, the stopping token included) when the sink says stop, unless it
// ignores stops. Optionally throws once stopped.
struct Streamer {
    std::vector<Tok> tokens;
    cascade::ManualClock clock;
    std::chrono::nanoseconds gap{0};
    std::shared_ptr<Probe> probe = std::make_shared<Probe>();
    bool ignore_stop = false;
    bool throw_after_stop = false;

    std::string operator()(const std::string&, cascade::TokenSink& sink) {
        ++probe->calls;
        std::string text;
        for (const auto& t : tokens) {
            clock.advance(gap);
            text += t.text;
            ++probe->chunks_sent;
            if (sink(t.text, t.logprob) == cascade::StreamControl::stop) {
                ++probe->stops_heard;
                if (throw_after_stop) throw std::runtime_error("connection reset after stop");
                if (!ignore_stop) break;
            }
        }
        probe->returned = text;
        return text;
    }
};

// One event as the caller's sink saw it (copied: the views die with the call).
struct Seen {
    StreamEventKind kind = StreamEventKind::token;
    std::string tier;
    std::size_t tier_index = 0;
    std::string text;
    std::optional<double> logprob;
    std::size_t discarded = 0;
};

struct Recorder {
    std::vector<Seen> events;
    void operator()(const cascade::StreamEvent& e) {
        Seen s;
        s.kind = e.kind;
        s.tier = std::string(e.tier);
        s.tier_index = e.tier_index;
        s.text = std::string(e.chunk.text);
        s.logprob = e.chunk.logprob;
        s.discarded = e.discarded_tokens;
        events.push_back(std::move(s));
    }
    std::size_t tokens() const {
        std::size_t n = 0;
        for (const auto& e : events) n += e.kind == StreamEventKind::token ? 1 : 0;
        return n;
    }
    std::size_t discards() const { return events.size() - tokens(); }
};

// What a caller that honours discards shows at the end; fails the test on a discard that takes
// back more tokens, or another tier's, than the screen holds.
std::string shown(const std::vector<Seen>& events) {
    std::vector<Seen> screen;
    for (const auto& e : events) {
        if (e.kind == StreamEventKind::token) {
            screen.push_back(e);
            continue;
        }
        REQUIRE(e.discarded <= screen.size());
        for (std::size_t i = 0; i < e.discarded; ++i) {
            CHECK(screen.back().tier_index == e.tier_index);
            screen.pop_back();
        }
    }
    std::string out;
    for (const auto& s : screen) out += s.text;
    return out;
}

bool has_good(const std::string& s) { return s.find("good") != std::string::npos; }
const auto good = [](const std::string& s) { return has_good(s); };

cascade::CascadeOptions options_on(const cascade::ManualClock& clock,
                                   cascade::NoPassPolicy policy = cascade::NoPassPolicy::no_answer) {
    cascade::CascadeOptions o;
    o.now = [clock] { return clock.now(); };
    o.when_none_pass = policy;
    return o;
}

// A rule that stops at the `n`-th token (1-based), and counts how often it is asked.
struct StopAt {
    std::size_t n;
    std::shared_ptr<std::atomic<int>> asked = std::make_shared<std::atomic<int>>(0);
    std::optional<std::string> operator()(const cascade::StreamState& s) const {
        ++*asked;
        if (s.tokens() >= n) return "enough after " + std::to_string(s.tokens()) + " tokens";
        return std::nullopt;
    }
};

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Buffered mode

TEST_CASE("buffered: nothing reaches the caller before acceptance; the accepted tier's tokens in order", "[streaming]") {
    cascade::ManualClock clock;
    Recorder rec;
    // The first tier checks, while it streams, that the caller has heard nothing.
    auto seen_while_streaming = std::make_shared<std::size_t>(99);
    auto mini = [&rec, seen_while_streaming, clock](const std::string&, cascade::TokenSink& sink) {
        std::string text;
        for (const char* w : {"bad ", "guess ", "here"}) {
            clock.advance(5ms);
            text += w;
            if (sink(w, -2.0) == cascade::StreamControl::stop) break;
        }
        *seen_while_streaming = rec.events.size();
        return text;
    };
    Streamer big{toks({"a ", "good ", "answer"}), clock, 10ms};
    big.tokens[0].logprob = -0.5;
    big.tokens[1].logprob = -0.25;
    big.tokens[2].logprob = std::nullopt;
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good, 0.5, cascade::price_per_call(0.001)),
                       cascade::tier("big", big, cascade::price_per_call(0.01))};

    auto r = c.stream(std::string("q"), rec);
    REQUIRE(r.has_value());
    CHECK(r.value() == "a good answer");
    CHECK(r.tier() == "big");
    CHECK(*seen_while_streaming == 0);
    REQUIRE(rec.events.size() == 3);
    CHECK(rec.discards() == 0);
    const char* want[] = {"a ", "good ", "answer"};
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(rec.events[i].kind == StreamEventKind::token);
        CHECK(rec.events[i].tier == "big");
        CHECK(rec.events[i].tier_index == 1);
        CHECK(rec.events[i].text == want[i]);
    }
    REQUIRE(rec.events[0].logprob.has_value());
    CHECK(*rec.events[0].logprob == -0.5);
    REQUIRE(rec.events[1].logprob.has_value());
    CHECK(*rec.events[1].logprob == -0.25);
    CHECK_FALSE(rec.events[2].logprob.has_value());
    // The first token reached the caller when big's stream had ended: 3 * 5 ms + 3 * 10 ms.
    REQUIRE(r.first_token_latency().has_value());
    CHECK(*r.first_token_latency() == 45ms);
    // Both calls streamed; their trace says so.
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[0].stream.streamed);
    CHECK(r.trace()[0].stream.tokens == 3);
    REQUIRE(r.trace()[0].stream.first_token.has_value());
    CHECK(*r.trace()[0].stream.first_token == 5ms);
    CHECK(r.trace()[1].stream.tokens == 3);
    REQUIRE(r.trace()[1].stream.first_token.has_value());
    CHECK(*r.trace()[1].stream.first_token == 10ms);
    CHECK_FALSE(r.trace()[1].stream.stopped_at_token.has_value());
}

TEST_CASE("buffered: an early-exit stop shows the caller nothing of the stopped tier", "[streaming]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"x", "y", "z", "w"}), clock, 1ms};
    Streamer big{toks({"good"}), clock, 1ms};
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", mini, good, 0.5).with_early_exit(StopAt{2}),
                       cascade::tier("big", big)};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::buffered);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good");
    REQUIRE(rec.events.size() == 1);
    CHECK(rec.events[0].tier == "big");
    CHECK(rec.events[0].text == "good");
}

// ---------------------------------------------------------------------------------------------
// Pass-through mode

TEST_CASE("pass-through: tokens at once; a rejection takes them back, then the next tier's", "[streaming]") {
    cascade::ManualClock clock;
    Recorder rec;
    auto seen_after_each = std::make_shared<std::vector<std::size_t>>();
    auto mini = [&rec, seen_after_each, clock](const std::string&, cascade::TokenSink& sink) {
        std::string text;
        for (const char* w : {"no ", "idea ", "sorry"}) {
            clock.advance(2ms);
            text += w;
            sink(w, -1.0);
            seen_after_each->push_back(rec.events.size());
        }
        return text;
    };
    Streamer big{toks({"good ", "one"}), clock, 3ms};
    struct Discard {
        std::string source;
        std::size_t tier_index;
        std::string detail;
    };
    std::vector<Discard> discards;  // copied: an event's views die with the hook's call
    auto opts = options_on(clock);
    opts.on_event = [&discards](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::stream_discarded) {
            discards.push_back(Discard{std::string(e.source), e.tier_index, std::string(e.detail)});
        }
    };
    cascade::Cascade c{opts, cascade::tier("mini", mini, good), cascade::tier("big", big)};

    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good one");
    CHECK(*seen_after_each == std::vector<std::size_t>{1, 2, 3});
    REQUIRE(rec.events.size() == 6);
    for (std::size_t i = 0; i < 3; ++i) CHECK(rec.events[i].tier == "mini");
    CHECK(rec.events[3].kind == StreamEventKind::discard);
    CHECK(rec.events[3].tier == "mini");
    CHECK(rec.events[3].tier_index == 0);
    CHECK(rec.events[3].discarded == 3);
    CHECK(rec.events[4].tier == "big");
    CHECK(rec.events[4].text == "good ");
    CHECK(rec.events[5].text == "one");
    CHECK(shown(rec.events) == "good one");
    // The caller's first token was mini's, 2 ms in.
    REQUIRE(r.first_token_latency().has_value());
    CHECK(*r.first_token_latency() == 2ms);
    // The hook heard of the take-back.
    REQUIRE(discards.size() == 1);
    CHECK(discards[0].tier_index == 0);
    CHECK(discards[0].source == "mini");
    CHECK(discards[0].detail == "3 tokens");
}

TEST_CASE("pass-through: a final tier that does not stream arrives as one chunk", "[streaming]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"meh ", "meh"}), clock, 1ms};
    auto big = [clock](const std::string&) {
        clock.advance(7ms);
        return std::string("the whole good answer");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good), cascade::tier("big", big)};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    REQUIRE(rec.events.size() == 4);
    CHECK(rec.events[2].kind == StreamEventKind::discard);
    CHECK(rec.events[2].discarded == 2);
    CHECK(rec.events[3].kind == StreamEventKind::token);
    CHECK(rec.events[3].tier == "big");
    CHECK(rec.events[3].text == "the whole good answer");
    CHECK_FALSE(rec.events[3].logprob.has_value());
    CHECK_FALSE(r.trace()[1].stream.streamed);
    CHECK(shown(rec.events) == "the whole good answer");
}

TEST_CASE("buffered: a non-streaming accepted tier's answer arrives as one chunk", "[streaming]") {
    auto plain = [](const std::string& q) { return "good: " + q; };
    cascade::Cascade c{cascade::tier("only", plain)};
    Recorder rec;
    auto r = c.stream(std::string("hi"), rec);
    REQUIRE(r.has_value());
    REQUIRE(rec.events.size() == 1);
    CHECK(rec.events[0].text == "good: hi");
    CHECK(r.first_token_latency().has_value());
}

// ---------------------------------------------------------------------------------------------
// The early-exit rule

TEST_CASE("early exit: stops at the right token, traced, charged on the partial answer", "[streaming][early-exit]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"aa", "bb", "cc", "dd", "ee"}), clock, 4ms};
    Streamer big{toks({"good"}), clock, 1ms};
    auto per_char = cascade::cost_from([](const std::string& s) { return 0.001 * static_cast<double>(s.size()); });
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", mini, good, 0.5, per_char).with_early_exit(StopAt{3}),
                       cascade::tier("big", big, cascade::price_per_call(0.01))};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good");
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::stopped);
    CHECK(contains(a.note, "enough after 3 tokens"));
    CHECK(a.error.empty());
    CHECK(a.stream.streamed);
    CHECK(a.stream.tokens == 3);
    REQUIRE(a.stream.stopped_at_token.has_value());
    CHECK(*a.stream.stopped_at_token == 2);
    CHECK(a.stream.stopped_after == 12ms);
    CHECK(contains(a.describe(), "at token 3 after 12.000 ms"));
    // The model heard the stop once and ended; the stopping token is produced, and charged.
    CHECK(mini.probe->stops_heard == 1);
    CHECK(mini.probe->chunks_sent == 3);
    CHECK(mini.probe->returned == "aabbcc");
    CHECK(a.cost == Approx(0.006));
    CHECK(r.cost() == Approx(0.016));
    // The caller saw the two tokens before the stop, then their take-back, then big's.
    REQUIRE(rec.events.size() == 4);
    CHECK(rec.events[0].text == "aa");
    CHECK(rec.events[1].text == "bb");
    CHECK(rec.events[2].kind == StreamEventKind::discard);
    CHECK(rec.events[2].discarded == 2);
    CHECK(rec.events[3].text == "good");
    // Stats: one stop, not an error, charged.
    const auto s = c.stats();
    CHECK(s.tiers[0].stopped_early == 1);
    CHECK(s.tiers[0].calls == 1);
    CHECK(s.tiers[0].model_errors == 0);
    CHECK(s.errors == 0);
    CHECK(s.tiers[0].cost == Approx(0.006));
    CHECK(s.tiers[0].cost_errors == 0);
}

TEST_CASE("early exit: a ready-made rule fires at the unsure token", "[streaming][early-exit]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"The ", "capital ", "is ", "Zorb", "ville"}), clock, 1ms};
    mini.tokens[3].logprob = std::log(0.05);
    Streamer big{toks({"good"}), clock};
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", mini, good).with_early_exit(cascade::verify::stop_when_min_prob_below(0.2, 1)),
                       cascade::tier("big", big)};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::stopped);
    REQUIRE(a.stream.stopped_at_token.has_value());
    CHECK(*a.stream.stopped_at_token == 3);
    CHECK(contains(a.note, "lowest token probability"));
}

TEST_CASE("early exit: a model that throws after the stop is charged the estimate, noted", "[streaming][early-exit]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"a", "b", "c", "d"}), clock, 1ms};
    mini.throw_after_stop = true;
    auto per_char = cascade::cost_from([](const std::string& s) { return 0.001 * static_cast<double>(s.size()); });
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", mini, good, 0.5, per_char).with_early_exit(StopAt{2}).with_cost_estimate(0.004),
                       cascade::tier("big", Streamer{toks({"good"}), clock})};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::stopped);
    CHECK(contains(a.note, "enough after 2 tokens"));
    CHECK(contains(a.note, "charged the tier's estimate"));
    CHECK(contains(a.note, "after 2 tokens"));
    CHECK(contains(a.error, "connection reset after stop"));
    CHECK(a.cost == Approx(0.004));
    const auto s = c.stats();
    CHECK(s.tiers[0].stopped_early == 1);
    CHECK(s.tiers[0].cost_errors == 1);
    CHECK(s.tiers[0].cost == Approx(0.004));
}

TEST_CASE("early exit: a fixed-price tier whose stream fails midway is charged its price, not a cost error", "[streaming][early-exit]") {
    // A tier at a fixed price has no cost function that could fail: a call that streamed tokens
    // and then threw is charged that price, which is known. Stats::cost_errors counts failed cost
    // functions (and costs over max_dollars) only, and the note should not call the cost unknown.
    cascade::ManualClock clock;
    auto broken = [](const std::string&, cascade::TokenSink& sink) -> std::string {
        sink("good ");
        sink("but");
        throw std::runtime_error("connection reset");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", broken, good, 0.5, cascade::price_per_call(0.004)),
                       cascade::tier("big", Streamer{toks({"big"}), clock})};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::model_error);
    CHECK(a.cost == Approx(0.004));
    INFO(a.describe());
    CHECK_FALSE(contains(a.note, "cost is unknown"));
    const auto s = c.stats();
    CHECK(s.tiers[0].cost == Approx(0.004));
    CHECK(s.tiers[0].cost_errors == 0);
}

TEST_CASE("early exit: stopped calls' costs do not inflate the mean cost a cost cap estimates with", "[streaming][early-exit]") {
    // mini's cost is computed per answer (no estimate), so a query's cost cap estimates a call
    // of mini at the mean cost of its calls so far. A stopped stream is charged for its partial
    // answer; that money must not be divided by the answered calls alone (it is then counted,
    // but the call is not), or the mean grows past any real call's cost and mini is skipped.
    cascade::ManualClock clock;
    auto mini = [](const std::string& q, cascade::TokenSink& sink) {
        const std::vector<std::string> words =
            q == "stop" ? std::vector<std::string>{"a", "b", "c", "d"} : std::vector<std::string>{"good", "123456"};
        std::string text;
        for (const auto& w : words) {
            text += w;
            if (sink(w) == cascade::StreamControl::stop) break;
        }
        return text;
    };
    auto per_char = cascade::cost_from([](const std::string& s) { return 0.001 * static_cast<double>(s.size()); });
    auto marker = [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.last_text() == "c") return std::string("c is a bad sign");
        return std::nullopt;
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good, 0.5, per_char).with_early_exit(marker),
                       cascade::tier("big", Streamer{toks({"big"}), clock}, cascade::price_per_call(0.001))};
    auto r1 = c.run(std::string("stop"));   // mini stopped: charged $0.003 for "abc"
    REQUIRE(r1.trace()[0].status == AttemptStatus::stopped);
    CHECK(r1.trace()[0].cost == Approx(0.003));
    auto r2 = c.run(std::string("ok"));     // mini answers: $0.010
    REQUIRE(r2.tier() == "mini");
    CHECK(r2.cost() == Approx(0.010));
    // Every call of mini so far cost at most $0.010; a cap of $0.012 affords one.
    cascade::Limits limits;
    limits.max_cost = 0.012;
    auto r3 = c.run(std::string("ok"), limits);
    INFO(r3.trace()[0].describe());
    CHECK(r3.trace()[0].status == AttemptStatus::accepted);
    CHECK(r3.tier() == "mini");
}

TEST_CASE("a const sink is accepted", "[streaming]") {
    cascade::Cascade c{cascade::tier("only", Streamer{toks({"good"}), cascade::ManualClock{}})};
    std::size_t heard = 0;
    const auto sink = [&heard](const cascade::StreamEvent&) { ++heard; };
    auto r = c.stream(std::string("q"), sink);
    REQUIRE(r.has_value());
    CHECK(heard == 1);
    cascade::Router router{[](const std::string&) { return 0.1; }, {0.5},
                           cascade::Cascade{cascade::tier("a", Streamer{toks({"good"}), cascade::ManualClock{}})},
                           cascade::Cascade{cascade::tier("b", Streamer{toks({"good"}), cascade::ManualClock{}})}};
    auto r2 = router.stream(std::string("q"), sink);
    REQUIRE(r2.has_value());
    CHECK(heard == 2);
}

TEST_CASE("early exit: a rule that throws is noted, not asked again, and the answer stands", "[streaming][early-exit]") {
    cascade::ManualClock clock;
    auto asked = std::make_shared<int>(0);
    auto rule = [asked](const cascade::StreamState& s) -> std::optional<std::string> {
        ++*asked;
        if (s.tokens() == 2) throw std::runtime_error("rule bug");
        return std::nullopt;
    };
    Streamer mini{toks({"a ", "good ", "answer ", "indeed"}), clock, 1ms};
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good).with_early_exit(rule),
                       cascade::tier("big", Streamer{toks({"big"}), clock})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "a good answer indeed");
    CHECK(r.tier() == "mini");
    CHECK(*asked == 2);
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::accepted);
    CHECK(contains(a.note, "early-exit rule threw at token 2"));
    CHECK(contains(a.note, "rule bug"));
    CHECK(a.stream.tokens == 4);
    CHECK_FALSE(a.stream.stopped_at_token.has_value());
    // Every token reached the caller, none taken back.
    CHECK(rec.tokens() == 4);
    CHECK(rec.discards() == 0);
}

TEST_CASE("early exit: a rule's failure note survives a verifier's note", "[streaming][early-exit]") {
    // The rule threw (noted), and the verifier's extra cost is invalid (also noted): both notes
    // must be in the trace.
    cascade::ManualClock clock;
    auto rule = [](const cascade::StreamState&) -> std::optional<std::string> { throw std::runtime_error("rule bug"); };
    auto verdict = [](const std::string&) { return cascade::Verdict{0.9, std::nan(""), "judge says fine"}; };
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", Streamer{toks({"a", "b"}), clock}, verdict, 0.5).with_early_exit(rule),
                       cascade::tier("big", Streamer{toks({"big"}), clock})};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    const auto& a = r.trace()[0];
    CHECK(contains(a.note, "judge says fine"));
    CHECK(contains(a.note, "extra cost"));
    CHECK(contains(a.note, "early-exit rule threw"));
}

TEST_CASE("early exit: a model that ignores the stop keeps calling the sink; those chunks are ignored", "[streaming][early-exit]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"1", "2", "3", "4", "5", "6"}), clock, 1ms};
    mini.ignore_stop = true;
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good).with_early_exit(StopAt{2}),
                       cascade::tier("big", Streamer{toks({"good"}), clock})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good");
    CHECK(mini.probe->chunks_sent == 6);
    CHECK(mini.probe->stops_heard == 5);  // every chunk from the stopping one on
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::stopped);
    CHECK(a.stream.tokens == 2);
    CHECK(*a.stream.stopped_at_token == 1);
    CHECK(a.stream.stopped_after == 2ms);
    REQUIRE(rec.events.size() == 3);
    CHECK(rec.events[0].text == "1");
    CHECK(rec.events[1].discarded == 1);
    CHECK(rec.events[2].text == "good");
}

// ---------------------------------------------------------------------------------------------
// Stalls and deadlines

TEST_CASE("stall: a gap over the limit times the call out; never an answer; escalates", "[streaming][stall]") {
    cascade::ManualClock clock;
    auto stalled_model = [clock](const std::string&, cascade::TokenSink& sink) {
        std::string text;
        const std::pair<const char*, std::chrono::milliseconds> plan[] = {
            {"good ", 5ms}, {"so ", 10ms}, {"far", 80ms}, {" more", 1ms}};
        for (const auto& [w, wait] : plan) {
            clock.advance(wait);
            text += w;
            if (sink(w) == cascade::StreamControl::stop) break;
        }
        return text;  // "good so far": would pass the verifier, must not be taken
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", stalled_model, good).with_stall_limit(50ms),
                       cascade::tier("big", Streamer{toks({"big ", "answer"}), clock})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "big");
    CHECK(r.value() == "big answer");
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::timed_out);
    CHECK(contains(a.error, "stream stalled"));
    CHECK(contains(a.error, "80.000 ms after token 2"));
    CHECK(contains(a.error, "the limit is 50.000 ms"));
    CHECK(a.stream.tokens == 2);
    REQUIRE(a.stream.stopped_at_token.has_value());
    CHECK(*a.stream.stopped_at_token == 2);
    CHECK(a.stream.stopped_after == 95ms);
    CHECK(shown(rec.events) == "big answer");
    CHECK(rec.events[2].kind == StreamEventKind::discard);
    CHECK(rec.events[2].discarded == 2);
    CHECK(c.stats().tiers[0].timeouts == 1);
}

TEST_CASE("stall: a model that polls stop_requested() sees the stall without a chunk", "[streaming][stall]") {
    cascade::ManualClock clock;
    auto poller = [clock](const std::string&, cascade::TokenSink& sink) {
        sink("good");
        clock.advance(100ms);  // waiting for the next chunk
        const bool stop = sink.stop_requested();
        return std::string(stop ? "good (cut)" : "good all");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", poller, good).with_stall_limit(20ms),
                       cascade::tier("big", Streamer{toks({"big"}), clock})};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r.tier() == "big");
    CHECK(r.trace()[0].status == AttemptStatus::timed_out);
    CHECK(contains(r.trace()[0].error, "stream stalled"));
}

TEST_CASE("stall: the wait for the first chunk is not a stall", "[streaming][stall]") {
    cascade::ManualClock clock;
    auto slow_start = [clock](const std::string&, cascade::TokenSink& sink) {
        clock.advance(500ms);
        sink("good ");
        clock.advance(5ms);
        sink("start");
        return std::string("good start");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", slow_start, good).with_stall_limit(20ms),
                       cascade::tier("big", Streamer{toks({"big"}), clock})};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r.tier() == "mini");
}

TEST_CASE("deadline: a tier's time limit passing mid-stream stops it", "[streaming][deadline]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"good ", "but ", "slow ", "answer"}), clock, 40ms};
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good).with_time_limit(100ms),
                       cascade::tier("big", Streamer{toks({"big"}), clock, 1ms})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "big");
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::timed_out);
    CHECK(contains(a.error, "stream passed its deadline after 2 tokens"));  // its own reason, kept
    CHECK(a.stream.tokens == 2);
    REQUIRE(a.stream.stopped_at_token.has_value());
    CHECK(*a.stream.stopped_at_token == 2);
    CHECK(a.stream.stopped_after == 120ms);
    CHECK(mini.probe->chunks_sent == 3);
    CHECK(shown(rec.events) == "big");
}

TEST_CASE("deadline: a chunk at exactly the time limit is on time, as an answer at exactly it is", "[streaming][deadline]") {
    // with_time_limit: "calls that take longer than `limit` count as failures". A non-streaming
    // call that takes exactly the limit is accepted; a stream whose last chunk comes at exactly
    // the limit has not taken longer either.
    cascade::ManualClock clock;
    auto plain = [clock](const std::string&) {
        clock.advance(100ms);
        return std::string("good plain");
    };
    Streamer streaming{toks({"good ", "stream"}), clock, 50ms};
    cascade::Cascade plain_c{options_on(clock), cascade::tier("mini", plain, good).with_time_limit(100ms),
                             cascade::tier("big", Streamer{toks({"big"}), clock})};
    cascade::Cascade stream_c{options_on(clock), cascade::tier("mini", streaming, good).with_time_limit(100ms),
                              cascade::tier("big", Streamer{toks({"big"}), clock})};
    auto r1 = plain_c.run(std::string("q"));
    CHECK(r1.tier() == "mini");
    auto r2 = stream_c.run(std::string("q"));
    INFO(r2.trace()[0].describe());
    CHECK(r2.tier() == "mini");
}

TEST_CASE("deadline: the query's timeout passing mid-stream stops it; the next tier is skipped", "[streaming][deadline]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"good ", "but ", "slow"}), clock, 40ms};
    cascade::Limits limits;
    limits.timeout = 60ms;
    auto opts = options_on(clock);
    opts.limits = limits;
    cascade::Cascade c{opts, cascade::tier("mini", mini, good), cascade::tier("big", Streamer{toks({"big"}), clock})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    CHECK_FALSE(r.has_value());
    CHECK(r.trace()[0].status == AttemptStatus::timed_out);
    CHECK(r.trace()[1].status == AttemptStatus::deadline_passed);
    CHECK(shown(rec.events).empty());
    CHECK(rec.discards() == 1);
}

// ---------------------------------------------------------------------------------------------
// Fallbacks

TEST_CASE("fallback accept_last: buffered shows only the held answer's tokens", "[streaming][fallback]") {
    cascade::ManualClock clock;
    cascade::Cascade c{options_on(clock, cascade::NoPassPolicy::accept_last),
                       cascade::tier("mini", Streamer{toks({"m1 ", "m2"}), clock}, good),
                       cascade::tier("big", Streamer{toks({"b1 ", "b2 ", "b3"}), clock}, good)};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec);
    REQUIRE(r.has_value());
    CHECK(r.resolution() == cascade::Resolution::fallback);
    CHECK(r.value() == "b1 b2 b3");
    REQUIRE(rec.events.size() == 3);
    for (const auto& e : rec.events) CHECK(e.tier == "big");
    CHECK(shown(rec.events) == "b1 b2 b3");
}

TEST_CASE("fallback most_confident: pass-through ends with the held answer's tokens", "[streaming][fallback]") {
    cascade::ManualClock clock;
    auto conf = [](const std::string& s) { return s[0] == 'm' ? 0.4 : 0.2; };
    cascade::Cascade c{options_on(clock, cascade::NoPassPolicy::most_confident),
                       cascade::tier("mini", Streamer{toks({"m1 ", "m2"}), clock}, conf, 0.9),
                       cascade::tier("big", Streamer{toks({"b1 ", "b2 ", "b3"}), clock}, conf, 0.9)};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.resolution() == cascade::Resolution::fallback);
    CHECK(r.tier() == "mini");
    CHECK(r.value() == "m1 m2");
    CHECK(shown(rec.events) == "m1 m2");
    // The last events are mini's two tokens, after big's take-back.
    REQUIRE(rec.events.size() >= 2);
    CHECK(rec.events[rec.events.size() - 1].tier == "mini");
    CHECK(rec.events[rec.events.size() - 2].tier == "mini");
    CHECK(rec.events[rec.events.size() - 1].logprob.has_value());
}

TEST_CASE("fallback: a stopped stream is never the held answer", "[streaming][fallback]") {
    cascade::ManualClock clock;
    cascade::Cascade c{options_on(clock, cascade::NoPassPolicy::accept_last),
                       cascade::tier("mini", Streamer{toks({"m1 ", "m2"}), clock}, good),
                       cascade::tier("big", Streamer{toks({"b1 ", "b2 ", "b3"}), clock}, good).with_early_exit(StopAt{2})};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.resolution() == cascade::Resolution::fallback);
    CHECK(r.tier() == "mini");
    CHECK(shown(rec.events) == "m1 m2");
}

// ---------------------------------------------------------------------------------------------
// The caller's sink, stats and events

TEST_CASE("a sink that throws is counted as a hook error; the query is still answered", "[streaming]") {
    cascade::ManualClock clock;
    int heard = 0;
    auto sink = [&heard](const cascade::StreamEvent&) {
        ++heard;
        if (heard == 2) throw std::runtime_error("client went away");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", Streamer{toks({"a ", "good ", "answer ", "here"}), clock}, good)};
    auto r = c.stream(std::string("q"), sink, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "a good answer here");
    CHECK(heard == 2);
    CHECK(c.stats().hook_errors == 1);
    // Buffered: the same.
    heard = 0;
    auto r2 = c.stream(std::string("q"), sink);
    REQUIRE(r2.has_value());
    CHECK(heard == 2);
    CHECK(c.stats().hook_errors == 2);
}

TEST_CASE("stats: streamed, stopped early, tokens and first tokens per tier and per query", "[streaming][stats]") {
    cascade::ManualClock clock;
    // mini accepts a "good" query and rejects a "bad" one after 4 tokens; a "stop" query is
    // stopped early at its 2nd token.
    auto mini = [clock](const std::string& q, cascade::TokenSink& sink) {
        std::string text;
        clock.advance(7ms);  // to the first token
        const std::vector<std::string> words = {q == "bad" ? "bad" : "good", " x", " y", " z"};
        for (std::size_t i = 0; i < words.size(); ++i) {
            if (i > 0) clock.advance(1ms);
            text += words[i];
            if (sink(words[i]) == cascade::StreamControl::stop) break;
        }
        return text;
    };
    // A "stop" query streams a marker that the rule watches for.
    auto mini2 = [mini, clock](const std::string& q, cascade::TokenSink& sink) mutable {
        if (q != "stop") return mini(q, sink);
        clock.advance(7ms);
        std::string text;
        for (const char* w : {"um", "STOP", "never"}) {
            text += w;
            if (sink(w) == cascade::StreamControl::stop) break;
            clock.advance(1ms);
        }
        return text;
    };
    auto marker = [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.last_text() == "STOP") return std::string("marker seen");
        return std::nullopt;
    };
    auto big = [clock](const std::string&, cascade::TokenSink& sink) {
        clock.advance(20ms);
        sink("big");
        return std::string("big");
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini2, good).with_early_exit(marker),
                       cascade::tier("big", big)};
    Recorder rec;
    c.stream(std::string("good"), rec, StreamMode::pass_through);   // mini accepts: first token at 7 ms
    c.stream(std::string("bad"), rec, StreamMode::pass_through);    // mini rejects, big: first token at 7 ms
    c.stream(std::string("stop"), rec, StreamMode::pass_through);   // stopped at token 1, big: 7 ms
    c.stream(std::string("good"), rec, StreamMode::buffered);       // first token when mini ends: 10 ms
    c.run(std::string("bad"));                                      // not streamed: no query first token

    const auto s = c.stats();
    CHECK(s.queries == 5);
    CHECK(s.accepted == 5);
    CHECK(s.tiers[0].calls == 5);
    CHECK(s.tiers[0].streamed == 5);
    CHECK(s.tiers[0].stopped_early == 1);
    CHECK(s.tiers[0].accepted == 2);
    CHECK(s.tiers[0].rejected == 2);
    CHECK(s.tiers[0].tokens == 4 + 4 + 2 + 4 + 4);
    CHECK(s.tiers[0].first_tokens == 5);
    CHECK(s.tiers[0].first_token_total == 5 * 7ms);
    CHECK(s.tiers[1].calls == 3);
    CHECK(s.tiers[1].streamed == 3);
    CHECK(s.tiers[1].tokens == 3);
    CHECK(s.tiers[1].first_tokens == 3);
    CHECK(s.tiers[1].first_token_total == 3 * 20ms);
    CHECK(s.escalations == 3);
    CHECK(s.errors == 0);
    CHECK(s.first_tokens == 4);
    CHECK(s.first_token_total == 7ms + 7ms + 7ms + 10ms);
    CHECK(s.first_token_p50 > 0ns);
    CHECK(s.first_token_p99 >= s.first_token_p50);
}

TEST_CASE("run(): a cascade of streaming tiers works unstreamed; the rules still apply", "[streaming]") {
    cascade::ManualClock clock;
    Streamer mini{toks({"a", "b", "c"}), clock, 1ms};
    Streamer big{toks({"good ", "big"}), clock, 1ms};
    cascade::Cascade c{options_on(clock), cascade::tier("mini", mini, good).with_early_exit(StopAt{2}),
                       cascade::tier("big", big)};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r.value() == "good big");
    CHECK_FALSE(r.first_token_latency().has_value());
    CHECK(r.trace()[0].status == AttemptStatus::stopped);
    CHECK(r.trace()[0].stream.streamed);
    CHECK(r.trace()[1].stream.tokens == 2);
    CHECK(big.probe->stops_heard == 0);
    CHECK(c.stats().first_tokens == 0);
}

// ---------------------------------------------------------------------------------------------
// Router and DynamicCascade

TEST_CASE("Router::stream streams its route, with the route's early-exit rule", "[streaming][router]") {
    cascade::ManualClock clock;
    auto easy = cascade::Cascade{cascade::tier("mini", Streamer{toks({"x", "y", "z"}), clock}, good).with_early_exit(StopAt{1}),
                                 cascade::tier("big", Streamer{toks({"good ", "easy"}), clock})};
    auto hard = cascade::Cascade{cascade::tier("huge", Streamer{toks({"good ", "hard"}), clock})};
    cascade::Router router{[](const std::string& q) { return q == "hard" ? 0.9 : 0.1; }, {0.5}, std::move(easy),
                           std::move(hard)};
    Recorder rec;
    auto r = router.stream(std::string("easy"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good easy");
    CHECK(r.trace()[0].status == AttemptStatus::stopped);
    CHECK(shown(rec.events) == "good easy");
    CHECK(rec.discards() == 0);  // the stopping token was the first: nothing was shown
    CHECK(r.first_token_latency().has_value());
    Recorder rec2;
    auto r2 = router.stream(std::string("hard"), rec2);
    REQUIRE(r2.has_value());
    CHECK(shown(rec2.events) == "good hard");
    for (const auto& e : rec2.events) CHECK(e.tier == "huge");
}

TEST_CASE("DynamicCascade::stream: a registered streaming tier keeps its early-exit rule and stall limit", "[streaming][dynamic]") {
    cascade::ManualClock clock;
    cascade::TierRegistry<std::string, std::string> registry;
    StopAt rule{2};
    registry.add(cascade::tier("mini", Streamer{toks({"a", "b", "c"}), clock, 1ms}, good).with_early_exit(rule));
    auto stalling = [clock](const std::string&, cascade::TokenSink& sink) {
        sink("good ");
        clock.advance(1s);
        sink("late");
        return std::string("good late");
    };
    registry.add(cascade::tier("mid", stalling, good).with_stall_limit(100ms));
    registry.add(cascade::tier("big", Streamer{toks({"good ", "big"}), clock, 1ms}));
    cascade::DynamicCascade<std::string, std::string> d(registry, {"mini", "mid", "big"}, {0.5, 0.5}, options_on(clock));
    Recorder rec;
    auto r = d.stream(std::string("q"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good big");
    CHECK(r.trace()[0].status == AttemptStatus::stopped);
    CHECK(*rule.asked == 2);
    CHECK(r.trace()[1].status == AttemptStatus::timed_out);
    CHECK(contains(r.trace()[1].error, "stalled"));
    CHECK(shown(rec.events) == "good big");
}

// ---------------------------------------------------------------------------------------------
// Hedging (real threads: models record into atomics, the test's thread asserts)

namespace {

using cascade_test::eventually;

struct HedgeFlags {
    std::atomic<bool> backup_started{false};
    std::atomic<bool> backup_streamed{false};
    std::atomic<bool> waited_too_long{false};
    std::atomic<bool> primary_streamed{false};
    std::atomic<int> primary_stops{0};
    std::atomic<int> backup_stops{0};
};

// A primary that streams a token, waits for the backup to start, then streams until stopped.
auto slow_primary(std::shared_ptr<HedgeFlags> f) {
    return [f](const std::string&, cascade::TokenSink& sink) {
        std::string text = "m0";
        sink("m0");
        f->primary_streamed = true;
        if (!eventually([&] { return f->backup_started.load(); })) f->waited_too_long = true;
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            text += "m";
            if (sink("m") == cascade::StreamControl::stop) {
                ++f->primary_stops;
                break;
            }
            std::this_thread::sleep_for(200us);
        }
        return text;
    };
}

}  // namespace

TEST_CASE("hedging, pass-through: the primary's tokens, their take-back, then the backup's", "[streaming][hedge]") {
    auto f = std::make_shared<HedgeFlags>();
    auto backup = [f](const std::string&, cascade::TokenSink& sink) {
        f->backup_started = true;
        // mini streams first, however late its thread runs on a busy machine
        if (!eventually([&] { return f->primary_streamed.load(); })) f->waited_too_long = true;
        sink("good ");
        sink("backup");
        return std::string("good backup");
    };
    std::mutex events_mutex;
    std::vector<cascade::EventKind> kinds;
    cascade::CascadeOptions opts;
    opts.on_event = [&](const cascade::Event& e) {
        std::lock_guard<std::mutex> lock(events_mutex);
        kinds.push_back(e.kind);
    };
    cascade::Cascade c{opts, cascade::with_hedge_after(cascade::tier("mini", slow_primary(f), good), 1ms),
                       cascade::tier("big", backup)};
    Recorder rec;
    auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
    CHECK_FALSE(f->waited_too_long.load());
    REQUIRE(r.has_value());
    CHECK(r.tier() == "big");
    CHECK(r.value() == "good backup");
    CHECK(f->primary_stops.load() == 1);
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::cancelled);
    CHECK(contains(a.note, "lost the race to big"));
    // The caller saw mini's tokens (mini streamed first), one take-back of all of them, then big's.
    REQUIRE(rec.discards() == 1);
    std::size_t i = 0;
    while (i < rec.events.size() && rec.events[i].kind == StreamEventKind::token) {
        CHECK(rec.events[i].tier == "mini");
        ++i;
    }
    REQUIRE(i < rec.events.size());
    CHECK(rec.events[i].discarded == i);
    CHECK(rec.events[i].tier == "mini");
    for (++i; i < rec.events.size(); ++i) CHECK(rec.events[i].tier == "big");
    CHECK(shown(rec.events) == "good backup");
    // Every chunk mini's trace counts was shown, and taken back (the chunk that heard of the
    // lost race is not among them).
    CHECK(a.stream.tokens == rec.events[rec.events.size() - 3].discarded);
    const auto s = c.stats();
    CHECK(s.hedges == 1);
    CHECK(s.tiers[0].cancelled == 1);
    CHECK(s.tiers[0].streamed == 1);
    CHECK(s.tiers[1].streamed == 1);
    std::lock_guard<std::mutex> lock(events_mutex);
    std::size_t discarded_events = 0;
    for (auto k : kinds) discarded_events += k == cascade::EventKind::stream_discarded ? 1 : 0;
    CHECK(discarded_events == 1);
}

TEST_CASE("hedging: a loser stopped by its lost race is not reported as a model error", "[streaming][hedge]") {
    // The primary did nothing wrong: its stream was stopped because the backup won. The note
    // should not call that a model error (a non-streaming loser's note says what it did).
    auto f = std::make_shared<HedgeFlags>();
    auto backup = [f](const std::string&, cascade::TokenSink& sink) {
        f->backup_started = true;
        sink("good");
        return std::string("good");
    };
    cascade::Cascade c{cascade::with_hedge_after(cascade::tier("mini", slow_primary(f), good), 1ms),
                       cascade::tier("big", backup)};
    auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    const auto& a = r.trace()[0];
    CHECK(a.status == AttemptStatus::cancelled);
    INFO(a.describe());
    CHECK_FALSE(contains(a.note, "model error"));
}

TEST_CASE("hedging: a streamed loser that answered counts as an answered call for the baseline", "[streaming][hedge]") {
    // big's cost is computed per answer ($0.005 a call), so the baseline (every query on big)
    // is big's cost per answered call times the queries. A backup stopped by its lost race
    // returned (a partial answer) and was charged: it must count as answered, as a loser that
    // answered without streaming does, or the baseline divides its cost by too few calls.
    auto f = std::make_shared<HedgeFlags>();
    auto primary = [f](const std::string& q, cascade::TokenSink& sink) {
        if (q == "race" && !eventually([&] { return f->backup_streamed.load(); })) f->waited_too_long = true;
        sink(q == "race" ? "good" : "bad");
        return std::string(q == "race" ? "good" : "bad");
    };
    // In the race, big streams until it is told to stop; otherwise it answers at once.
    auto backup = [f](const std::string& q, cascade::TokenSink& sink) {
        if (q != "race") {
            sink("bbb");
            return std::string("bbb");
        }
        std::string text;
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            text += "b";
            const auto control = sink("b");
            f->backup_streamed = true;
            if (control == cascade::StreamControl::stop) break;
            std::this_thread::sleep_for(200us);
        }
        return text;
    };
    auto flat = cascade::cost_from([](const std::string&) { return 0.005; });
    cascade::Cascade c{cascade::with_hedge_after(cascade::tier("mini", primary, good), 50ms),
                       cascade::tier("big", backup, flat)};
    auto r1 = c.run(std::string("race"));
    CHECK_FALSE(f->waited_too_long.load());
    REQUIRE(r1.tier() == "mini");
    REQUIRE(r1.trace()[1].status == AttemptStatus::cancelled);
    CHECK(r1.trace()[1].cost == Approx(0.005));
    auto r2 = c.run(std::string("calm"));
    REQUIRE(r2.tier() == "big");
    const auto s = c.stats();
    CHECK(s.tiers[1].cost == Approx(0.010));
    REQUIRE(s.baseline_cost.has_value());
    CHECK(*s.baseline_cost == Approx(0.010));  // $0.005 a call, 2 queries
}

TEST_CASE("hedging, pass-through: the backup streams first, the primary wins", "[streaming][hedge]") {
    auto f = std::make_shared<HedgeFlags>();
    // The primary waits until the backup has streamed (and so holds the caller's output), then
    // answers well; the backup streams until told to stop.
    auto primary = [f](const std::string&, cascade::TokenSink& sink) {
        if (!eventually([&] { return f->backup_streamed.load(); })) f->waited_too_long = true;
        sink("good ");
        sink("primary");
        return std::string("good primary");
    };
    auto backup = [f](const std::string&, cascade::TokenSink& sink) {
        std::string text;
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            text += "b";
            const auto control = sink("b");
            f->backup_streamed = true;
            if (control == cascade::StreamControl::stop) {
                ++f->backup_stops;
                break;
            }
            std::this_thread::sleep_for(200us);
        }
        return text;
    };
    cascade::Cascade c{cascade::with_hedge_after(cascade::tier("mini", primary, good), 1ms), cascade::tier("big", backup)};
    for (const auto mode : {StreamMode::pass_through, StreamMode::buffered}) {
        f->backup_streamed = false;
        Recorder rec;
        auto r = c.stream(std::string("q"), rec, mode);
        CHECK_FALSE(f->waited_too_long.load());
        REQUIRE(r.has_value());
        CHECK(r.tier() == "mini");
        CHECK(shown(rec.events) == "good primary");
        CHECK(r.trace()[1].status == AttemptStatus::cancelled);
        if (mode == StreamMode::buffered) {
            CHECK(rec.discards() == 0);
            CHECK(rec.tokens() == 2);
        } else {
            REQUIRE(rec.discards() == 1);
            CHECK(rec.events.front().tier == "big");
            CHECK(rec.events[rec.events.size() - 1].tier == "mini");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime wrappers around a streaming model

TEST_CASE("with_retry: a failure before the first chunk is retried; after one it is not", "[streaming][retry]") {
    cascade::RetryPolicy policy;
    policy.attempts = 3;
    policy.base_delay = 0ns;
    policy.max_delay = 0ns;
    policy.jitter = 0.0;
    SECTION("before the first chunk") {
        auto calls = std::make_shared<int>(0);
        auto flaky = [calls](const std::string&, cascade::TokenSink& sink) {
            if (++*calls == 1) throw std::runtime_error("connect failed");
            sink("good ");
            sink("retry");
            return std::string("good retry");
        };
        cascade::Cascade c{cascade::tier("mini", cascade::with_retry(flaky, policy), good),
                           cascade::tier("big", Streamer{toks({"big"}), cascade::ManualClock{}})};
        Recorder rec;
        auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
        REQUIRE(r.has_value());
        CHECK(r.tier() == "mini");
        CHECK(*calls == 2);
        CHECK(r.trace()[0].stream.tokens == 2);
        CHECK(rec.tokens() == 2);
        CHECK(shown(rec.events) == "good retry");
    }
    SECTION("after a chunk") {
        auto calls = std::make_shared<int>(0);
        auto flaky = [calls](const std::string&, cascade::TokenSink& sink) -> std::string {
            ++*calls;
            sink("good ");
            throw std::runtime_error("connection reset mid-stream");
        };
        cascade::Cascade c{cascade::tier("mini", cascade::with_retry(flaky, policy), good).with_cost_estimate(0.002),
                           cascade::tier("big", Streamer{toks({"big"}), cascade::ManualClock{}})};
        Recorder rec;
        auto r = c.stream(std::string("q"), rec, StreamMode::pass_through);
        REQUIRE(r.has_value());
        CHECK(r.tier() == "big");
        CHECK(*calls == 1);
        const auto& a = r.trace()[0];
        CHECK(a.status == AttemptStatus::model_error);
        CHECK(contains(a.error, "connection reset mid-stream"));
        CHECK(a.cost == Approx(0.002));
        CHECK(contains(a.note, "after 1 token"));
        CHECK(shown(rec.events) == "big");
        CHECK(rec.discards() == 1);
    }
}

TEST_CASE("with_budget, with_concurrency_limit, with_cache around a streaming model", "[streaming][wrappers]") {
    cascade::ManualClock clock;
    Streamer inner{toks({"good ", "cached ", "answer"}), clock, 1ms};
    auto probe = inner.probe;
    cascade::Budget budget(1.0);
    cascade::LruCache<std::string, std::string> cache(16);
    auto wrapped = cascade::with_cache(
        cascade::with_budget(cascade::with_concurrency_limit(inner, 2), budget, 0.01,
                             [](const std::string& s) { return 0.001 * static_cast<double>(s.size()); }),
        cache, [](const std::string& q) { return q; });
    cascade::Cascade c{options_on(clock), cascade::tier("mini", std::move(wrapped), good)};

    Recorder first;
    auto r1 = c.stream(std::string("q"), first, StreamMode::pass_through);
    REQUIRE(r1.has_value());
    CHECK(r1.value() == "good cached answer");
    CHECK(first.tokens() == 3);
    CHECK(r1.trace()[0].stream.tokens == 3);
    CHECK(budget.spent() == Approx(0.018));

    Recorder second;
    auto r2 = c.stream(std::string("q"), second, StreamMode::pass_through);
    REQUIRE(r2.has_value());
    CHECK(r2.value() == "good cached answer");
    CHECK(probe->calls == 1);  // a hit
    CHECK(r2.trace()[0].stream.tokens == 0);
    REQUIRE(second.events.size() == 1);
    CHECK(second.events[0].text == "good cached answer");
    CHECK(budget.spent() == Approx(0.018));
}

TEST_CASE("with_cache: a stopped stream's partial answer is not cached", "[streaming][wrappers]") {
    // The early-exit rule stops mini after 2 tokens; the model returns what it had ("good " +
    // "gue"), which is never an answer. A cache around the model must not keep it: the next
    // query with the same key would get that partial answer, without a token for the rule to
    // see, and mini's verifier would accept it.
    cascade::ManualClock clock;
    Streamer inner{toks({"good ", "gue", "ss ", "wrong"}), clock, 1ms};
    auto probe = inner.probe;
    cascade::LruCache<std::string, std::string> cache(16);
    auto wrapped = cascade::with_cache(inner, cache, [](const std::string& q) { return q; });
    cascade::Cascade c{options_on(clock), cascade::tier("mini", std::move(wrapped), good).with_early_exit(StopAt{2}),
                       cascade::tier("big", Streamer{toks({"big ", "answer"}), clock})};
    auto r1 = c.run(std::string("q"));
    REQUIRE(r1.has_value());
    CHECK(r1.tier() == "big");
    CHECK(r1.trace()[0].status == AttemptStatus::stopped);

    auto r2 = c.run(std::string("q"));
    REQUIRE(r2.has_value());
    CHECK(r2.value() != "good gue");
    CHECK(r2.tier() == "big");
    CHECK(probe->calls == 2);
}

TEST_CASE("a streaming model that takes a CallContext", "[streaming][context]") {
    cascade::ManualClock clock;
    auto seen = std::make_shared<std::vector<std::string>>();
    auto model = [seen, clock](const std::string& q, cascade::TokenSink& sink, const cascade::CallContext& context) {
        seen->push_back(std::string(context.tier) + "#" + std::to_string(context.tier_index) + " " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(context.remaining()).count()));
        clock.advance(10ms);
        sink("good ");
        sink(q);
        return "good " + q;
    };
    cascade::Cascade c{options_on(clock), cascade::tier("mini", Streamer{toks({"x"}), clock}, good),
                       cascade::tier("ctx", model).with_time_limit(250ms)};
    Recorder rec;
    auto r = c.stream(std::string("hello"), rec, StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.value() == "good hello");
    CHECK(shown(rec.events) == "good hello");
    REQUIRE(seen->size() == 1);
    CHECK((*seen)[0] == "ctx#1 250");
    CHECK(r.trace()[1].stream.streamed);
    CHECK(r.trace()[1].stream.tokens == 2);
}

// ---------------------------------------------------------------------------------------------
// Allocations

#if CASCADE_TEST_COUNTS_ALLOCATIONS
TEST_CASE("pass-through allocates nothing per token beyond amortized growth", "[streaming][allocations]") {
    struct Many {
        std::size_t n = 0;
        std::string operator()(const std::string&, cascade::TokenSink& sink) const {
            for (std::size_t i = 0; i < n; ++i) {
                if (sink("tok ", -0.01) == cascade::StreamControl::stop) break;
            }
            return "good";  // fits in the small-string buffer
        }
    };
    auto count_for = [](std::size_t n) {
        cascade::Cascade c{cascade::tier("mini", Many{n}, good)
                               .with_early_exit(cascade::verify::stop_when_mean_prob_below(0.5, 4))
                               .with_stall_limit(10s)};
        std::size_t heard = 0;
        auto sink = [&heard](const cascade::StreamEvent& e) { heard += e.chunk.text.size(); };
        c.stream(std::string("q"), sink, StreamMode::pass_through);  // warm-up: per-thread counters
        const auto before = cascade_test::allocations.load();
        auto r = c.stream(std::string("q"), sink, StreamMode::pass_through);
        const auto after = cascade_test::allocations.load();
        CHECK(r.has_value());
        CHECK(r.trace()[0].stream.tokens == n);
        return after - before;
    };
    const auto small = count_for(2000);
    const auto large = count_for(4000);
    INFO("allocations for 2000 tokens: " << small << ", for 4000: " << large);
    CHECK(large >= small);
    CHECK(large - small <= 4);
}
#endif

TEST_CASE("with_budget: a stream that throws after its first tokens is charged the estimate", "[streaming][wrappers]") {
    // A client that ends a stopped (or cut) stream by throwing: the call produced tokens, so it
    // was paid for; what it cost is unknown, and the budget charges the estimate, as the cascade
    // does, instead of releasing the reservation.
    cascade::ManualClock clock;
    Streamer inner{toks({"good ", "but ", "wrong"}), clock, 1ms};
    inner.throw_after_stop = true;
    cascade::Budget budget(1.0);
    auto priced = cascade::with_budget(inner, budget, 0.25);
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", std::move(priced), good, 0.5, cascade::price_per_call(0.25))
                           .with_early_exit(StopAt{2}),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    auto r = c.run(std::string("q"));
    REQUIRE(r.tier() == "big");
    CHECK(r.trace()[0].status == AttemptStatus::stopped);
    CHECK(r.trace()[0].cost == Approx(0.25));
    CHECK(budget.spent() == Approx(0.25));
    CHECK(budget.stats().reserved == Approx(0.0));

    // A stream that failed before its first token cost nothing: its reservation goes back.
    auto refused = [](const std::string&, cascade::TokenSink&) -> std::string {
        throw std::runtime_error("429 before the stream");
    };
    cascade::Budget untouched(1.0);
    auto wrapped = cascade::with_budget(refused, untouched, 0.25);
    cascade::Cascade d{cascade::tier("mini", std::move(wrapped), good),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    (void)d.run(std::string("q"));
    CHECK(untouched.spent() == Approx(0.0));
    CHECK(untouched.stats().reserved == Approx(0.0));
}

TEST_CASE("with_cache: a stream whose last token came long before it returned is no stall, and is cached",
          "[streaming][wrappers]") {
    // The cache asks the sink nothing the model did not: a quiet time after the last token (the
    // usage and [DONE] coming late) is not taken for a stall.
    cascade::ManualClock clock;
    auto probe = std::make_shared<int>(0);
    auto slow_to_end = [clock, probe](const std::string&, cascade::TokenSink& sink) mutable {
        ++*probe;
        sink("good ");
        sink("answer");
        clock.advance(200ms);  // over the stall limit, after the last token
        return std::string("good answer");
    };
    cascade::LruCache<std::string, std::string> cache(4);
    auto cached = cascade::with_cache(slow_to_end, cache, [](const std::string& q) { return q; });
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", std::move(cached), good).with_stall_limit(100ms),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    auto r = c.run(std::string("q"));
    CHECK(r.tier() == "mini");
    CHECK(r.trace()[0].status == AttemptStatus::accepted);
    auto again = c.run(std::string("q"));
    CHECK(again.tier() == "mini");
    CHECK(*probe == 1);  // served from the cache
}

TEST_CASE("deadline: a stream stopped by its rule stays stopped when the model is slow to return",
          "[streaming][deadline]") {
    // The rule fires within the time limit; the model takes long to close its connection. The
    // call is a stopped stream, not a timeout: the time limit takes away answers, and a stopped
    // stream gave none.
    cascade::ManualClock clock;
    auto slow_close = [clock](const std::string&, cascade::TokenSink& sink) mutable {
        std::string text;
        for (const char* t : {"good ", "but ", "wrong"}) {
            clock.advance(10ms);
            text += t;
            if (sink(t, -0.1) == cascade::StreamControl::stop) break;
        }
        clock.advance(300ms);  // closing the connection
        return text;
    };
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", slow_close, good).with_early_exit(StopAt{2}).with_time_limit(100ms),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    auto r = c.run(std::string("q"));
    CHECK(r.tier() == "big");
    const auto& mini = r.trace()[0];
    CHECK(mini.status == AttemptStatus::stopped);
    CHECK(contains(mini.note, "enough after 2 tokens"));
    const auto s = c.stats();
    CHECK(s.tiers[0].stopped_early == 1);
    CHECK(s.tiers[0].timeouts == 0);
}

TEST_CASE("a model that can answer whole and stream is called whole, wrapped or not", "[streaming][wrappers]") {
    struct Both {
        std::string operator()(const std::string&) const { return "good whole"; }
        std::string operator()(const std::string&, cascade::TokenSink& sink) const {
            sink("good streamed");
            return "good streamed";
        }
    };
    cascade::RetryPolicy policy;
    policy.attempts = 2;
    cascade::Cascade plain{cascade::tier("mini", Both{}, good)};
    cascade::Cascade wrapped{cascade::tier("mini", cascade::with_retry(Both{}, policy), good)};
    auto a = plain.run(std::string("q"));
    auto b = wrapped.run(std::string("q"));
    CHECK(a.value() == "good whole");
    CHECK(b.value() == "good whole");
    CHECK_FALSE(a.trace()[0].stream.streamed);
    CHECK_FALSE(b.trace()[0].stream.streamed);
}

TEST_CASE("early exit: a rule that can only be moved is accepted, and shared by the tier's copies",
          "[streaming][early-exit]") {
    struct MoveOnlyRule {
        std::unique_ptr<std::size_t> limit = std::make_unique<std::size_t>(2);
        std::optional<std::string> operator()(const cascade::StreamState& s) const {
            if (s.tokens() >= *limit) return std::string("move-only rule");
            return std::nullopt;
        }
    };
    cascade::ManualClock clock;
    auto mini = cascade::tier("mini", Streamer{toks({"good ", "but ", "wrong"}), clock, 1ms}, good)
                    .with_early_exit(MoveOnlyRule{});
    cascade::Cascade c{options_on(clock), std::move(mini),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    auto r = c.run(std::string("q"));
    CHECK(r.tier() == "big");
    CHECK(r.trace()[0].note == "move-only rule");
}

TEST_CASE("TokenSink::to calls a streaming model outside a cascade", "[streaming]") {
    cascade::ManualClock clock;
    Streamer model{toks({"good ", "to ", "test"}), clock};
    std::vector<std::string> seen;
    auto collect = [&seen](const cascade::TokenChunk& c) { seen.emplace_back(c.text); };
    auto sink = cascade::TokenSink::to(collect);
    CHECK_FALSE(sink.stop_requested());
    CHECK(model(std::string("q"), sink) == "good to test");
    CHECK(seen == std::vector<std::string>{"good ", "to ", "test"});

    // One that answers stop after two chunks ends the model there.
    std::size_t taken = 0;
    auto two = [&taken](const cascade::TokenChunk&) {
        return ++taken == 2 ? cascade::StreamControl::stop : cascade::StreamControl::go_on;
    };
    auto stopping = cascade::TokenSink::to(two);
    CHECK(model(std::string("q"), stopping) == "good to ");
    CHECK(taken == 2);
}

TEST_CASE("with_breaker: a stream that stalls counts as the server's failure; one stopped by its rule does not",
          "[streaming][wrappers]") {
    // The model returns what it had once stopped, as a client should; only the cause of the stop
    // tells a stall (the server's fault) from an early exit (no one's).
    cascade::ManualClock clock;
    auto model = [clock](const std::string& q, cascade::TokenSink& sink) mutable {
        std::string text;
        for (const char* t : {"good ", "but ", "slow"}) {
            clock.advance(q == "stall" && text == "good " ? 500ms : 1ms);
            text += t;
            if (sink(t, -0.1) == cascade::StreamControl::stop) break;
        }
        CHECK(sink.stop_cause() != cascade::StopCause::none);  // both queries are stopped
        return text;
    };
    auto breaker = cascade::with_breaker(model, cascade::BreakerPolicy{2, std::chrono::seconds(30), 1});
    auto watched = breaker.breaker();
    auto stop_at_slow = [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.text().find("slow") != std::string_view::npos) return std::string("slow");
        return std::nullopt;
    };
    cascade::Cascade c{options_on(clock),
                       cascade::tier("mini", std::move(breaker), good).with_stall_limit(100ms).with_early_exit(stop_at_slow),
                       cascade::tier("big", [](const std::string&) { return std::string("good big"); })};
    for (int i = 0; i < 3; ++i) {
        auto r = c.run(std::string("rule"));
        CHECK(r.trace()[0].status == AttemptStatus::stopped);
    }
    CHECK(watched->state() == cascade::BreakerState::closed);
    CHECK(watched->stats().failures == 0);
    for (int i = 0; i < 2; ++i) {
        auto r = c.run(std::string("stall"));
        CHECK(r.trace()[0].status == AttemptStatus::timed_out);
    }
    CHECK(watched->stats().failures == 2);
    CHECK(watched->state() == cascade::BreakerState::open);
}

TEST_CASE("Router stats: streamed queries' time to first token, scoring included", "[streaming][router][stats]") {
    cascade::ManualClock clock;
    // The easy route's first token comes 3 ms into the query (pass-through), its answer at 4 ms;
    // a "bad" answer is rejected, so a buffered caller gets no token. The hard route answers at
    // 10 ms.
    auto mini = [clock](const std::string& q, cascade::TokenSink& sink) {
        clock.advance(3ms);
        const std::string first = q == "bad" ? "bad" : "good";
        sink(first);
        clock.advance(1ms);
        sink(" easy");
        return first + " easy";
    };
    auto huge = [clock](const std::string&, cascade::TokenSink& sink) {
        clock.advance(5ms);
        sink("good ");
        clock.advance(5ms);
        sink("hard");
        return std::string("good hard");
    };
    // Scoring reads the steady clock, not the routes' manual one: the sleep makes it take time
    // that the router's figures must include and its routes' must not.
    auto scorer = [](const std::string& q) {
        std::this_thread::sleep_for(1ms);
        return q == "hard" ? 0.9 : 0.1;
    };
    cascade::Router router{scorer, {0.5}, cascade::Cascade{options_on(clock), cascade::tier("mini", mini, good)},
                           cascade::Cascade{options_on(clock), cascade::tier("huge", huge)}};
    Recorder rec;
    auto easy = router.stream(std::string("easy"), rec, StreamMode::pass_through);
    auto hard = router.stream(std::string("hard"), rec, StreamMode::buffered);
    auto bad = router.stream(std::string("bad"), rec, StreamMode::buffered);  // unanswered: no token
    (void)router.run(std::string("easy"));                                    // not streamed
    REQUIRE(easy.first_token_latency().has_value());
    REQUIRE(hard.first_token_latency().has_value());
    CHECK_FALSE(bad.first_token_latency().has_value());
    CHECK(*easy.first_token_latency() == 3ms + easy.scorer_latency());
    CHECK(*hard.first_token_latency() == 10ms + hard.scorer_latency());

    const auto s = router.stats();
    CHECK(s.queries == 4);
    CHECK(s.first_tokens == 2);
    CHECK(s.first_token_total == *easy.first_token_latency() + *hard.first_token_latency());
    CHECK(s.first_token_total >= 13ms + 2ms);  // both scorers slept 1 ms
    CHECK(s.first_token_p50 > 0ns);
    CHECK(s.first_token_p99 >= s.first_token_p50);
    CHECK(s.first_token_p99 > 8ms);  // the hard query's, at least 10 ms, within 12.5%
    // The routes count their own first tokens without the scoring.
    CHECK(router.route<0>().stats().first_token_total == 3ms);
    CHECK(router.route<1>().stats().first_token_total == 10ms);

    router.reset_stats();
    const auto cleared = router.stats();
    CHECK(cleared.first_tokens == 0);
    CHECK(cleared.first_token_total == 0ns);
    CHECK(cleared.first_token_p99 == 0ns);
}
