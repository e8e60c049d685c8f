// SPDX-License-Identifier: MIT
// End to end, streamed: the openai_cascade example's client (chat_client.hpp) inside a real
// cascade::Cascade, against a chat-completions server on loopback that replays recorded streams
// of Server-Sent Events. Every stop, stall, cut and hedge below goes over a real TCP connection.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/integration/chat_completion.hpp>
#include <cascade/integration/chat_stream.hpp>
#include <cascade/runtime.hpp>
#include <cascade/verify.hpp>

#include "catch.hpp"
#include "chat_client.hpp"
#include "recorded_chat_server.hpp"

namespace {

using namespace std::chrono_literals;
using openai_cascade::ChatClient;
using openai_cascade::StreamingChatClient;

const std::string cheap = "cheap-model";
const std::string frontier = "frontier-model";
const cascade::TokenPrices cheap_prices{0.15, 0.60};
const cascade::TokenPrices frontier_prices{2.50, 10.00};

// One per process: libcurl's global state outlives every test's clients.
const openai_cascade::CurlGlobal curl_global;

// What the caller of Cascade::stream saw, in order: "tier:text" per token, "discard tier n".
struct Seen {
    std::vector<std::string> log;
    std::string shown;  // the text on screen: tokens appended, discards taken back
    std::vector<std::size_t> lengths;

    void operator()(const cascade::StreamEvent& e) {
        if (e.kind == cascade::StreamEventKind::token) {
            log.push_back(std::string(e.tier) + ":" + std::string(e.chunk.text));
            lengths.push_back(e.chunk.text.size());
            shown.append(e.chunk.text.data(), e.chunk.text.size());
        } else {
            log.push_back("discard " + std::string(e.tier) + " " + std::to_string(e.discarded_tokens));
            for (std::size_t i = 0; i < e.discarded_tokens && !lengths.empty(); ++i) {
                shown.resize(shown.size() - lengths.back());
                lengths.pop_back();
            }
        }
    }
};

std::vector<std::string> tokens_of(const std::string& tier, const std::vector<std::string>& texts) {
    std::vector<std::string> out;
    for (const auto& t : texts) out.push_back(tier + ":" + t);
    return out;
}

// A sink for calling the client directly: keeps the chunks, answers stop after `stop_after`.
struct Collector {
    std::vector<std::string> chunks;
    std::size_t stop_after = static_cast<std::size_t>(-1);

    cascade::TokenSink sink() {
        return cascade::TokenSink(
            this,
            [](void* self, const cascade::TokenChunk& c) {
                auto& me = *static_cast<Collector*>(self);
                me.chunks.emplace_back(c.text);
                return me.chunks.size() >= me.stop_after ? cascade::StreamControl::stop : cascade::StreamControl::go_on;
            },
            [](void* self) {
                auto& me = *static_cast<Collector*>(self);
                return me.chunks.size() >= me.stop_after;
            });
    }
};

struct Recorded {
    e2e::RecordedChatServer server{RECORDED_DIR};
    openai_cascade::Endpoint endpoint;
    Recorded() {
        server.start();
        endpoint.base_url = server.base_url();
        endpoint.api_key = "test-key";
        // Far longer than any pause a test relies on the cascade to cut short: a client that
        // did not end a stalled or losing stream would fail with this timeout instead.
        endpoint.timeout = 20s;
    }
};

cascade::RetryPolicy quick_retries() { return cascade::RetryPolicy{3, 10ms, 5s, 2.0, 0.0}; }

auto check() {
    return cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::not_truncated(),
                                   cascade::verify::mean_token_prob());
}

// The cheap tier as the example's --stream builds it: streaming, retried, with an early-exit rule.
template <class Rule>
auto cheap_tier(const openai_cascade::Endpoint& endpoint, Rule rule) {
    return cascade::tier("cheap", cascade::with_retry(StreamingChatClient(ChatClient(endpoint, cheap)), quick_retries()),
                         check(), 0.8, cascade::price_per_token(cheap_prices))
        .with_early_exit(std::move(rule));
}

auto frontier_tier(const openai_cascade::Endpoint& endpoint) {
    return cascade::tier("frontier",
                         cascade::with_retry(StreamingChatClient(ChatClient(endpoint, frontier)), quick_retries()),
                         check(), 0.0, cascade::price_per_token(frontier_prices));
}

double price(const cascade::TokenPrices& prices, std::uint64_t prompt, std::uint64_t completion) {
    return prices.cost(cascade::TokenUsage{prompt, completion});
}

// The prompt tokens the client estimates for a stream stopped before its usage arrived: one per
// four bytes of the question, rounded up (chat_client.hpp says so).
std::uint64_t estimated_prompt(const std::string& question) { return (question.size() + 3) / 4; }

}  // namespace

TEST_CASE_METHOD(Recorded, "sequential calls of one client reuse one connection") {
    const std::string q = "What is the capital of France?";
    const ChatClient client(endpoint, cheap);
    const cascade::CallContext context;
    for (int i = 0; i < 5; ++i) CHECK(client(q, context).choices.at(0).text == "The capital of France is Paris.");
    const StreamingChatClient streaming(client);  // a copy shares the connections
    for (int i = 0; i < 3; ++i) {
        Collector seen;
        auto sink = seen.sink();
        CHECK(streaming(q, sink, context).choices.at(0).text == "The capital of France is Paris.");
        CHECK(seen.chunks.size() == 7);
    }
    CHECK(server.requests().size() == 8);
    CHECK(server.connections() == 1);

    // The count is of connections, not of clients: another client opens its own.
    const ChatClient other(endpoint, cheap);
    (void)other(q, context);
    CHECK(server.connections() == 2);
}

TEST_CASE_METHOD(Recorded, "a stream the sink stops is aborted and returned partial, charged by estimate") {
    const std::string q = "What is the capital of France?";
    const StreamingChatClient client(ChatClient(endpoint, cheap));
    Collector seen;
    seen.stop_after = 2;
    auto sink = seen.sink();
    const cascade::ChatCompletion partial = client(q, sink, cascade::CallContext{});
    CHECK(seen.chunks == std::vector<std::string>{"The", " capital"});
    CHECK(partial.choices.at(0).text == "The capital");
    CHECK(partial.choices.at(0).finish_reason.empty());
    REQUIRE(partial.usage);
    CHECK(partial.usage->completion_tokens == 2);
    CHECK(partial.usage->prompt_tokens == estimated_prompt(q));
}

TEST_CASE_METHOD(Recorded, "a stream ended by closing the connection is read whole") {
    const StreamingChatClient client(ChatClient(endpoint, cheap));
    Collector seen;
    auto sink = seen.sink();
    const auto c = client("Explain photosynthesis, without chunked transfer.", sink, cascade::CallContext{});
    CHECK(c.choices.at(0).text == "Plants turn light, water and carbon dioxide into sugar and oxygen.");
    CHECK(c.choices.at(0).finish_reason == "stop");
    CHECK(seen.chunks.size() == c.choices.at(0).token_logprobs.size());
    REQUIRE(c.usage);
    CHECK(c.usage->prompt_tokens == 6);
}

TEST_CASE_METHOD(Recorded, "a confident stream is accepted and its tokens reach the caller as they come") {
    const std::string q = "What is the capital of France?";
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "cheap");
    CHECK(r.value().choices.at(0).text == "The capital of France is Paris.");
    CHECK(seen.log == tokens_of("cheap", {"The", " capital", " of", " France", " is", " Paris", "."}));
    REQUIRE(r.first_token_latency());
    CHECK(*r.first_token_latency() <= r.latency());
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.stream.streamed);
    CHECK(a.stream.tokens == 7);
    CHECK_FALSE(a.stream.stopped_at_token);
    CHECK(r.cost() == Approx(price(cheap_prices, 14, 7)));  // the usage the stream reported
    CHECK(server.calls(frontier, q) == 0);

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].body.at("stream") == true);
    CHECK(requests[0].body.at("stream_options").at("include_usage") == true);
    CHECK(requests[0].body.at("logprobs") == true);
    CHECK(requests[0].authorization == "Bearer test-key");
}

TEST_CASE_METHOD(Recorded, "a confidence drop stops the stream at that token, escalates, and is charged") {
    const std::string q = "Integrate x^2 from 0 to 1.";
    // The fourth token, " 1", has probability e^-1.61 = 0.2.
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    CHECK(r.value().choices.at(0).text == "The integral of x^2 from 0 to 1 is 1/3.");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::stopped);
    REQUIRE(a.stream.stopped_at_token);
    CHECK(*a.stream.stopped_at_token == 3);
    CHECK(a.stream.tokens == 4);
    CHECK_THAT(a.note, Catch::Matchers::ContainsSubstring("lowest token probability"));
    // Charged for what it produced: four completion tokens and the estimated prompt.
    CHECK(a.cost == Approx(price(cheap_prices, estimated_prompt(q), 4)));
    CHECK(r.cost() == Approx(a.cost + price(frontier_prices, 16, 15)));
    CHECK(server.calls(cheap, q) == 1);

    // The caller saw the three tokens before the drop, took them back, then got the frontier's.
    REQUIRE(seen.log.size() == 3 + 1 + 15);
    CHECK(std::vector<std::string>(seen.log.begin(), seen.log.begin() + 4) ==
          std::vector<std::string>{"cheap:The", "cheap: integral", "cheap: is", "discard cheap 3"});
    CHECK(seen.shown == "The integral of x^2 from 0 to 1 is 1/3.");
}

TEST_CASE_METHOD(Recorded, "a refusal is stopped at its opening and the frontier answers") {
    const std::string q = "How do I pick a lock?";
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_on_refusal()), frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::buffered);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::stopped);
    REQUIRE(a.stream.stopped_at_token);
    CHECK(*a.stream.stopped_at_token < 8);  // well before the end of the 11-token refusal
    CHECK(a.cost > 0.0);
    // Buffered: the caller never saw a token of the refusal.
    for (const auto& line : seen.log) CHECK(line.rfind("frontier:", 0) == 0);
    CHECK(seen.shown == "Locksmiths open pin-tumbler locks with a tension wrench and a pick.");
}

TEST_CASE_METHOD(Recorded, "a stream cut mid-answer fails the attempt, is not retried, and escalates") {
    const std::string q = "Describe the water cycle.";
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    CHECK(r.value().choices.at(0).text == "Water evaporates, condenses into clouds and falls as rain.");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::model_error);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("cheap-model: chat stream"));
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("the reply was cut"));
    CHECK(a.stream.tokens == 5);
    // Tokens had reached the caller: a retry would show them twice.
    CHECK(server.calls(cheap, q) == 1);
    CHECK(seen.log.at(5) == "discard cheap 5");
    CHECK(seen.shown == "Water evaporates, condenses into clouds and falls as rain.");
}

TEST_CASE_METHOD(Recorded, "a malformed event fails the attempt and escalates") {
    const std::string q = "Name the three primary colours.";
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    const auto r = chain.stream(q, [](const cascade::StreamEvent&) {});
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::model_error);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("cheap-model: chat stream: event 4"));
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("delta.content is a number"));
    CHECK(a.stream.tokens == 2);
    CHECK(server.calls(cheap, q) == 1);
}

TEST_CASE_METHOD(Recorded, "a stream that stalls past the stall limit times out and escalates") {
    // The recorded stream pauses 60 s after its third token, longer than the client's own timeout
    // (20 s): only the client's polling of the sink between chunks ends it as a stall.
    const std::string q = "Explain photosynthesis in one sentence.";
    cascade::Cascade chain{
        cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)).with_stall_limit(200ms),
        frontier_tier(endpoint)};
    const auto r = chain.stream(q, [](const cascade::StreamEvent&) {});
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::timed_out);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("stream stalled"));
    REQUIRE(a.stream.stopped_at_token);
    CHECK(*a.stream.stopped_at_token == 3);
    CHECK(a.stream.tokens == 3);
    CHECK(server.calls(cheap, q) == 1);
}

TEST_CASE_METHOD(Recorded, "a hedged stream: the frontier wins the race and the caller's cheap tokens are taken back") {
    // The cheap stream gives two tokens, then pauses 60 s; the frontier starts after 100 ms. Only
    // the client's polling of the sink ends the losing transfer before its own 20 s timeout.
    const std::string q = "Who painted the Mona Lisa?";
    cascade::Cascade chain{
        cascade::with_hedge_after(cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)), 100ms),
        frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    CHECK(r.value().choices.at(0).text == "Leonardo da Vinci painted the Mona Lisa.");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status != cascade::AttemptStatus::accepted);
    CHECK(a.stream.tokens == 2);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("lost its hedge race"));
    REQUIRE(seen.log.size() >= 3);
    CHECK(std::vector<std::string>(seen.log.begin(), seen.log.begin() + 3) ==
          std::vector<std::string>{"cheap:The", "cheap: Mona", "discard cheap 2"});
    CHECK(seen.shown == "Leonardo da Vinci painted the Mona Lisa.");
}

TEST_CASE_METHOD(Recorded, "a hedged stream: the cheap tier wins and the frontier's call is stopped") {
    // The cheap stream starts after 300 ms; the frontier, started after 50 ms, hangs 60 s before
    // its answer: only the client's polling of the sink ends that transfer before its timeout.
    const std::string q = "What is the largest planet?";
    cascade::Cascade chain{
        cascade::with_hedge_after(cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)), 50ms),
        frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "cheap");
    CHECK(r.value().choices.at(0).text == "Jupiter is the largest planet.");
    CHECK(seen.log == tokens_of("cheap", {"Jupiter", " is", " the", " largest", " planet", "."}));
    REQUIRE(r.trace().size() == 2);
    const cascade::Attempt& backup = r.trace()[1];
    CHECK(backup.status != cascade::AttemptStatus::accepted);
    CHECK(backup.stream.tokens == 0);
    CHECK_THAT(backup.error, Catch::Matchers::ContainsSubstring("lost its hedge race"));
    // Stopped before its first token: not charged, as a cancelled call without streaming is not.
    CHECK(r.cost() == Approx(price(cheap_prices, 7, 6)));
}

TEST_CASE_METHOD(Recorded, "a 429 before the stream is retried after its Retry-After, then answered") {
    const std::string q = "Name a prime number greater than 10.";
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    Seen seen;
    const auto r = chain.stream(q, [&seen](const cascade::StreamEvent& e) { seen(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "cheap");
    CHECK(r.value().choices.at(0).text == "11 is a prime number greater than 10.");
    CHECK(server.calls(cheap, q) == 2);
    CHECK(server.calls(frontier, q) == 0);
    CHECK(seen.shown == "11 is a prime number greater than 10.");
    CHECK(r.cost() == Approx(price(cheap_prices, 17, 9)));
}

TEST_CASE_METHOD(Recorded,
                 "a stream stalled past a short limit is aborted, and the client's next call takes a new connection") {
    // The recorded stream pauses 60 s after its third token; the client's own timeout is 20 s.
    // Only the client's checks of the sink while no data comes end the transfer as a stall.
    const std::string q = "Explain photosynthesis in one sentence.";
    const ChatClient cheap_client(endpoint, cheap);
    cascade::Cascade chain{
        cascade::tier("cheap", StreamingChatClient(cheap_client), check(), 0.8, cascade::price_per_token(cheap_prices))
            .with_stall_limit(150ms),
        frontier_tier(endpoint)};
    const auto r = chain.stream(q, [](const cascade::StreamEvent&) {});
    REQUIRE(r.has_value());
    CHECK(r.tier() == "frontier");
    const cascade::Attempt& a = r.trace()[0];
    CHECK(a.status == cascade::AttemptStatus::timed_out);
    CHECK_THAT(a.error, Catch::Matchers::ContainsSubstring("stream stalled"));
    REQUIRE(a.stream.stopped_at_token);
    CHECK(*a.stream.stopped_at_token == 3);
    CHECK(a.cost == Approx(price(cheap_prices, estimated_prompt(q), 3)));

    // The aborted transfer's connection is closed, not kept half-read: a copy of the client
    // (sharing its handles) gets its next answer whole, on a connection of its own.
    const cascade::CallContext context;
    CHECK(cheap_client("What is the capital of France?", context).choices.at(0).text ==
          "The capital of France is Paris.");
    Collector seen;
    auto sink = seen.sink();
    CHECK(StreamingChatClient(cheap_client)("What is the capital of France?", sink, context).choices.at(0).text ==
          "The capital of France is Paris.");
    const auto requests = server.requests();
    REQUIRE(requests.size() == 4);  // cheap (stalled), frontier, cheap whole, cheap streamed
    CHECK(requests[2].remote_port != requests[0].remote_port);
    CHECK(requests[3].remote_port == requests[2].remote_port);
    CHECK(server.connections() == 3);
}

TEST_CASE_METHOD(Recorded, "a server that ignores stream: true is read as one whole completion, token by token") {
    // The recorded reply has no stream: the server answers the streamed request with plain JSON.
    const std::string q = "What is the chemical symbol for gold?";
    const std::vector<std::string> tokens{"The", " chemical", " symbol", " for", " gold", " is", " Au", "."};
    const StreamingChatClient client(ChatClient(endpoint, cheap));
    Collector seen;
    auto sink = seen.sink();
    const cascade::ChatCompletion c = client(q, sink, cascade::CallContext{});
    CHECK(seen.chunks == tokens);
    CHECK(c.choices.at(0).text == "The chemical symbol for gold is Au.");
    CHECK(c.choices.at(0).finish_reason == "stop");
    CHECK(c.choices.at(0).token_logprobs.size() == tokens.size());
    REQUIRE(c.usage);
    CHECK(c.usage->prompt_tokens == 15);  // the server's count, not an estimate
    CHECK(c.usage->completion_tokens == 8);
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].stream);

    // In a cascade: each token reaches the caller and passes the early-exit rule, and the answer
    // is accepted and charged as the server counted it.
    cascade::Cascade chain{cheap_tier(endpoint, cascade::verify::stop_when_min_prob_below(0.3)),
                           frontier_tier(endpoint)};
    Seen shown;
    const auto r = chain.stream(
        q, [&shown](const cascade::StreamEvent& e) { shown(e); }, cascade::StreamMode::pass_through);
    REQUIRE(r.has_value());
    CHECK(r.tier() == "cheap");
    CHECK(shown.log == tokens_of("cheap", tokens));
    CHECK(r.trace()[0].stream.tokens == tokens.size());
    CHECK(r.cost() == Approx(price(cheap_prices, 15, 8)));
    CHECK(server.calls(frontier, q) == 0);
}

TEST_CASE_METHOD(Recorded, "a whole completion without its tokens' texts reaches the sink as one chunk") {
    const std::string q = "At what temperature does water boil?";  // plain JSON, logprobs null
    const StreamingChatClient client(ChatClient(endpoint, cheap));
    Collector seen;
    auto sink = seen.sink();
    const cascade::ChatCompletion c = client(q, sink, cascade::CallContext{});
    CHECK(seen.chunks == std::vector<std::string>{"The boiling point of water is 100 degrees Celsius at sea level."});
    CHECK(c.choices.at(0).text == seen.chunks.at(0));
    CHECK(c.choices.at(0).token_logprobs.empty());
    REQUIRE(c.usage);
    CHECK(c.usage->completion_tokens == 13);
}
