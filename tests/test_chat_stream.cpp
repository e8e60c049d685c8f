// SPDX-License-Identifier: MIT
// This file counts allocations (support/count_allocations.hpp; not under ThreadSanitizer).
#include <cascade/integration/chat_completion.hpp>
#include <cascade/integration/chat_stream.hpp>

#include <cascade/core/token_sink.hpp>
#include <cascade/runtime/retry_hints.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "count_allocations.hpp"

namespace {

struct Token {
    std::string text;
    std::optional<double> logprob;
    bool operator==(const Token& o) const { return text == o.text && logprob == o.logprob; }
};

// What a stream gave: the tokens handed on, then the completion or the error's type and message.
struct Outcome {
    std::vector<Token> tokens;
    std::optional<cascade::ChatCompletion> completion;
    std::string error_type;
    std::string error;
    bool stopped = false;
};

// Records every chunk; answers stop at the `stop_at`-th (1-based; 0: never).
struct Recorder {
    std::vector<Token> tokens;
    std::size_t stop_at = 0;
    cascade::StreamControl operator()(const cascade::TokenChunk& chunk) {
        tokens.push_back(Token{std::string(chunk.text), chunk.logprob});
        return tokens.size() == stop_at ? cascade::StreamControl::stop : cascade::StreamControl::go_on;
    }
};

// Feeds `stream` in the pieces that end at `cuts` (ascending offsets), then finishes.
Outcome read_stream(std::string_view stream, const std::vector<std::size_t>& cuts,
                    cascade::ChatStreamOptions options = {}, std::size_t stop_at = 0) {
    Outcome out;
    Recorder recorder;
    recorder.stop_at = stop_at;
    try {
        cascade::ChatStreamParser parser(options);
        std::size_t from = 0;
        for (std::size_t k = 0; k <= cuts.size(); ++k) {
            const std::size_t to = k < cuts.size() ? cuts[k] : stream.size();
            if (parser.feed(stream.substr(from, to - from), recorder) == cascade::StreamControl::stop) {
                out.stopped = true;
            }
            from = to;
        }
        out.completion = parser.finish();
    } catch (const std::exception& e) {
        out.error_type = typeid(e).name();
        out.error = e.what();
    }
    out.tokens = recorder.tokens;
    return out;
}

Outcome read_whole(std::string_view stream, cascade::ChatStreamOptions options = {}) {
    return read_stream(stream, {}, options);
}

void check_same(const Outcome& a, const Outcome& b) {
    CHECK(a.tokens == b.tokens);
    CHECK(a.error_type == b.error_type);
    CHECK(a.error == b.error);
    CHECK(a.stopped == b.stopped);
    REQUIRE(a.completion.has_value() == b.completion.has_value());
    if (!a.completion) return;
    const auto& x = *a.completion;
    const auto& y = *b.completion;
    CHECK(x.id == y.id);
    CHECK(x.model == y.model);
    REQUIRE(x.choices.size() == y.choices.size());
    CHECK(x.choices[0].text == y.choices[0].text);
    CHECK(x.choices[0].token_logprobs == y.choices[0].token_logprobs);
    CHECK(x.choices[0].finish_reason == y.choices[0].finish_reason);
    REQUIRE(x.usage.has_value() == y.usage.has_value());
    if (x.usage) {
        CHECK(x.usage->prompt_tokens == y.usage->prompt_tokens);
        CHECK(x.usage->completion_tokens == y.usage->completion_tokens);
    }
}

std::string event(const std::string& data) { return "data: " + data + "\n\n"; }

std::string chunk(const std::string& choice) {
    return R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1764633600,"model":"mini-2026","choices":[)" +
           choice + "]}";
}

// A stream as OpenAI sends it with `logprobs: true` and `stream_options.include_usage`: a first
// chunk with only the role, three tokens in two chunks (one of them two bytes of UTF-8 and an
// escaped quote), the finish reason, the usage with empty choices, then [DONE]; and what other
// servers add: a keep-alive comment, an event name and id, a chunk on two data lines.
std::string logprob_stream() {
    return event(
               chunk(R"({"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null})")) +
           ": keep-alive\n\n" + "event: message\nid: 2\n" +
           "data: {\"id\":\"chatcmpl-7\",\"model\":\"mini-2026\",\"choices\":[{\"index\":0,\n" +
           event(
               R"("delta":{"content":"Par"},"logprobs":{"content":[{"token":"Par","logprob":-0.01,"bytes":[80,97,114],"top_logprobs":[]}]},"finish_reason":null}]})") +
           event(chunk(
               R"({"index":0,"delta":{"content":"is \"é\""},"logprobs":{"content":[{"token":"is","logprob":-0.25,"bytes":[105,115],"top_logprobs":[]},{"token":" \"é\"","logprob":-1.5,"bytes":[32,34,195,169,34],"top_logprobs":[]}]},"finish_reason":null})")) +
           event(chunk(R"({"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"})")) +
           event(
               R"({"id":"chatcmpl-7","object":"chat.completion.chunk","created":1764633600,"model":"mini-2026","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})") +
           event("[DONE]");
}

std::string with_line_ends(const std::string& stream, const std::string& eol) {
    std::string out;
    for (const char ch : stream) {
        if (ch == '\n') {
            out += eol;
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

template <class Exception>
Exception thrown_by(std::string_view stream, cascade::ChatStreamOptions options = {}) {
    cascade::ChatStreamParser parser(options);
    try {
        parser.feed(stream);
        (void)parser.finish();
    } catch (const Exception& e) {
        return e;
    }
    FAIL("the expected exception was not thrown for: " << stream);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a streamed reply with log-probabilities gives the tokens and the completion a non-streamed call returns") {
    const Outcome out = read_whole(logprob_stream());
    REQUIRE(out.error.empty());
    REQUIRE(out.completion.has_value());
    const cascade::ChatCompletion& c = *out.completion;
    CHECK(c.id == "chatcmpl-7");
    CHECK(c.model == "mini-2026");
    REQUIRE(c.choices.size() == 1);
    CHECK(c.choices[0].text == "Paris \"\xC3\xA9\"");
    CHECK(c.choices[0].token_logprobs == std::vector<double>{-0.01, -0.25, -1.5});
    CHECK(c.choices[0].finish_reason == "stop");
    REQUIRE(c.usage.has_value());
    CHECK(c.usage->prompt_tokens == 12);
    CHECK(c.usage->completion_tokens == 3);
    // One chunk per logprobs entry, with the entry's token; none for the role-only first chunk.
    const std::vector<Token> expected{{"Par", -0.01}, {"is", -0.25}, {" \"\xC3\xA9\"", -1.5}};
    CHECK(out.tokens == expected);
    CHECK_FALSE(out.stopped);
    CHECK(cascade::response_text(c) == "Paris \"\xC3\xA9\"");
}

TEST_CASE("a stream gives the same tokens and completion however its bytes are split") {
    for (const std::string eol : {"\n", "\r\n", "\r"}) {
        INFO("line end of " << eol.size() << " bytes, first byte " << int(eol[0]));
        const std::string stream = with_line_ends(logprob_stream(), eol);
        const Outcome whole = read_whole(stream);
        REQUIRE(whole.completion.has_value());
        REQUIRE(whole.tokens.size() == 3);

        std::vector<std::size_t> every_byte;
        for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
        check_same(whole, read_stream(stream, every_byte));

        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            INFO("cut at byte " << cut);
            check_same(whole, read_stream(stream, {cut}));
        }

        std::mt19937 random(20261202);
        for (int trial = 0; trial < 200; ++trial) {
            std::uniform_int_distribution<std::size_t> count(1, 12);
            std::uniform_int_distribution<std::size_t> at(0, stream.size());
            std::vector<std::size_t> cuts(count(random));
            for (auto& c : cuts) c = at(random);
            std::sort(cuts.begin(), cuts.end());
            check_same(whole, read_stream(stream, cuts));
        }
    }
}

TEST_CASE("a stream's errors are the same however its bytes are split") {
    const std::string broken = event(chunk(R"({"index":0,"delta":{"content":"Hi"},"finish_reason":null})")) +
                               event(chunk(R"({"index":0,"delta":{"content":"!"},"finish_reason":null})")) +
                               "data: {\"choices\": [tru]}\r\n\r\n" + event("[DONE]");
    const Outcome whole = read_whole(broken);
    REQUIRE_FALSE(whole.error.empty());
    for (std::size_t cut = 0; cut <= broken.size(); ++cut) {
        INFO("cut at byte " << cut);
        check_same(whole, read_stream(broken, {cut}));
    }
}

TEST_CASE("comments, multi-line data, a byte order mark and the other fields are read as Server-Sent Events") {
    const std::string stream =
        std::string("\xEF\xBB\xBF") + ": keep-alive\n\n" + "retry: 3000\n" + "id: 41\n" + "event: message\n" +
        "data:{\"model\":\"m\",\"choices\":[{\"index\":0,\n" + "data: \"delta\":{\"content\":\"two\\nlines\"}}]}\n" +
        ": comment inside an event\n" + "\n" + ": ping\n\n" + "id: 42\nfield-without-colon\nunknown: x\n" +
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n" + "data:[DONE]\n\n";
    cascade::ChatStreamParser parser;
    Recorder recorder;
    CHECK(parser.feed(stream, recorder) == cascade::StreamControl::go_on);
    CHECK(parser.done());
    CHECK(parser.events() == 3);
    CHECK(parser.last_event_id() == "42");
    CHECK(parser.retry_ms() == std::optional<std::uint64_t>(3000));
    const cascade::ChatCompletion c = parser.finish();
    CHECK(c.model == "m");
    CHECK(c.choices[0].text == "two\nlines");
    CHECK(c.choices[0].finish_reason == "length");
    CHECK(c.choices[0].token_logprobs.empty());
    CHECK_FALSE(c.usage.has_value());
    // Without log-probabilities, each delta's text is one chunk without one.
    REQUIRE(recorder.tokens.size() == 1);
    CHECK(recorder.tokens[0] == Token{"two\nlines", std::nullopt});
}

TEST_CASE("events with another name than message are skipped; only the first choice is read") {
    const std::string stream =
        "event: ping\ndata: {\"choices\": \"not even a chunk\"}\n\n" +
        event(chunk(R"({"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"first"}})")) +
        event(
            chunk(R"({"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"length"})")) +
        event("[DONE]");
    const Outcome out = read_whole(stream);
    REQUIRE(out.completion.has_value());
    CHECK(out.completion->choices[0].text == "first");
    CHECK(out.completion->choices[0].finish_reason == "stop");
    REQUIRE(out.tokens.size() == 1);
    CHECK(out.tokens[0].text == "first");
}

TEST_CASE("a stream is complete only with its finish reason and [DONE], unless told to accept one without [DONE]") {
    const std::string answer = event(chunk(R"({"index":0,"delta":{"content":"Paris"},"finish_reason":null})"));
    const std::string finish = event(chunk(R"({"index":0,"delta":{},"finish_reason":"stop"})"));

    // Both: complete. A last [DONE] without the blank line after it is complete too.
    CHECK(read_whole(answer + finish + event("[DONE]")).completion.has_value());
    CHECK(read_whole(answer + finish + "data: [DONE]\n").completion.has_value());
    CHECK(read_whole(answer + finish + "data: [DONE]").completion.has_value());

    // The finish reason but no [DONE]: the transport may have cut after the last chunk.
    const auto no_done = thrown_by<cascade::StreamCut>(answer + finish);
    CHECK_THAT(std::string(no_done.what()), Catch::Matchers::ContainsSubstring("without data: [DONE]"));
    CHECK_THAT(std::string(no_done.what()), Catch::Matchers::ContainsSubstring("require_done = false"));
    cascade::ChatStreamOptions lenient;
    lenient.require_done = false;
    const Outcome accepted = read_whole(answer + finish, lenient);
    REQUIRE(accepted.completion.has_value());
    CHECK(accepted.completion->choices[0].text == "Paris");

    // [DONE] but no finish reason, or neither: cut, even when lenient.
    const auto no_reason = thrown_by<cascade::StreamCut>(answer + event("[DONE]"), lenient);
    CHECK_THAT(std::string(no_reason.what()), Catch::Matchers::ContainsSubstring("without a finish reason"));
    const auto neither = thrown_by<cascade::StreamCut>(answer);
    CHECK_THAT(std::string(neither.what()),
               Catch::Matchers::ContainsSubstring("ended after 1 events (" + std::to_string(answer.size()) +
                                                  " bytes, 5 bytes of text) without a finish reason or [DONE]"));
    CHECK(neither.event() == 1);
    CHECK(neither.offset() == answer.size());
    (void)thrown_by<cascade::StreamCut>("");
}

TEST_CASE("a stream cut inside an event is a StreamCut, which is retried") {
    const std::string head = event(chunk(R"({"index":0,"delta":{"content":"Par"},"finish_reason":null})"));
    const std::string stream = head + event(chunk(R"({"index":0,"delta":{"content":"is"},"finish_reason":"stop"})"));
    for (const std::size_t cut : {head.size() + 10, stream.size() - 1, stream.size() - 2}) {
        INFO("cut at " << cut);
        const auto e = thrown_by<cascade::StreamCut>(std::string_view(stream).substr(0, cut));
        CHECK_THAT(std::string(e.what()),
                   Catch::Matchers::ContainsSubstring("event 2 (at byte " + std::to_string(head.size()) +
                                                      "): the stream ended inside this event"));
        CHECK(e.event() == 2);
        CHECK(e.offset() == head.size());
        // A MalformedResponse, not a NotRetryable: another attempt may get the whole reply.
        const std::exception* as_base = &e;
        CHECK(dynamic_cast<const cascade::MalformedResponse*>(as_base) != nullptr);
        CHECK(dynamic_cast<const cascade::NotRetryable*>(as_base) == nullptr);
    }
}

TEST_CASE("a malformed event names its number, its byte and what is wrong, and leaves the parser failed") {
    const std::string good = event(chunk(R"({"index":0,"delta":{"content":"Hi"}})"));
    const std::string bad = "data: {\"choices\": [}\n\n";
    cascade::ChatStreamParser parser;
    parser.feed(good + good);
    try {
        parser.feed(bad);
        FAIL("bad JSON was accepted");
    } catch (const cascade::MalformedStream& e) {
        CHECK(e.event() == 3);
        CHECK(e.offset() == 2 * good.size());
        CHECK_THAT(std::string(e.what()), Catch::Matchers::ContainsSubstring(
                                              "chat stream: event 3 (at byte " + std::to_string(2 * good.size()) +
                                              "): its data is not JSON: expected a value, got '}' at byte 13"));
    }
    // Later calls throw the same error again.
    CHECK_THROWS_WITH(parser.feed(event("[DONE]")), Catch::Matchers::ContainsSubstring("event 3"));
    CHECK_THROWS_AS(parser.finish(), cascade::MalformedStream);

    const std::pair<std::string, std::string> wrong[] = {
        {"[1, 2]", "its data is an array, expected a chat.completion.chunk object"},
        {R"({"choices": {}})", "choices is an object, expected an array or null"},
        {R"({"choices": [3]})", "choices[0] is a number, expected an object"},
        {R"({"choices": [{"delta": {"content": 7}}]})", "choices[0].delta.content is a number, expected a string"},
        {R"({"choices": [{"delta": {}, "logprobs": {"content": [{"token": "a", "logprob": "-1"}]}}]})",
         "choices[0].logprobs.content[0].logprob is a string, expected a number"},
        {R"({"choices": [{"delta": {}, "logprobs": {"content": [{"token": "a"}]}}]})",
         "choices[0].logprobs.content[0].logprob is missing"},
        {R"({"choices": [{"delta": {}, "logprobs": {"content": [null]}}]})",
         "choices[0].logprobs.content[0] is null, expected an object"},
        {R"({"choices": [{"finish_reason": 1}]})", "choices[0].finish_reason is a number, expected a string"},
        {R"({"choices": [], "usage": {"prompt_tokens": -1}})", "usage.prompt_tokens is not a token count: -1"},
        {R"({"choices": [], "usage": {"completion_tokens": 1.5}})", "usage.completion_tokens is not a token count"},
        {R"({"id": 5})", "id is a number, expected a string"},
    };
    for (const auto& [data, message] : wrong) {
        INFO(data);
        const auto e = thrown_by<cascade::MalformedStream>(good + event(data) + event("[DONE]"));
        CHECK_THAT(std::string(e.what()), Catch::Matchers::ContainsSubstring(
                                              "event 2 (at byte " + std::to_string(good.size()) + "): " + message));
    }
}

TEST_CASE("a malformed event hands on none of its tokens") {
    const std::string stream = event(chunk(
        R"({"index":0,"delta":{"content":"ab"},"logprobs":{"content":[{"token":"a","logprob":-0.1},{"token":"b","logprob":null}]}})"));
    const Outcome out = read_whole(stream);
    CHECK(out.tokens.empty());
    CHECK_THAT(out.error, Catch::Matchers::ContainsSubstring("choices[0].logprobs.content[1].logprob is missing"));
}

TEST_CASE("an error the server sends mid-stream is thrown as its HTTP status says, else as a MalformedStream") {
    const std::string head = event(chunk(R"({"index":0,"delta":{"content":"Par"}})"));
    const auto overloaded = thrown_by<cascade::HttpError>(
        head + event(R"({"error":{"message":"The server is overloaded","type":"server_error","code":503}})"));
    CHECK(overloaded.status() == 503);
    CHECK_THAT(std::string(overloaded.what()),
               Catch::Matchers::ContainsSubstring("event 2 (at byte " + std::to_string(head.size()) +
                                                  "): the server sent an error: HTTP 503: The server is overloaded"));

    const auto too_long = thrown_by<cascade::HttpRejected>(
        head + event(R"({"error":{"object":"error","message":"too long","code":"400"}})"));
    CHECK(too_long.status() == 400);

    const auto no_status = thrown_by<cascade::MalformedStream>(
        head + event(R"({"error":{"message":"stream interrupted","code":"internal_error"}})"));
    CHECK_THAT(std::string(no_status.what()),
               Catch::Matchers::ContainsSubstring("the server sent an error: stream interrupted"));

    const auto named = thrown_by<cascade::MalformedStream>(head + "event: error\ndata: upstream closed\n\n");
    CHECK_THAT(std::string(named.what()), Catch::Matchers::ContainsSubstring("event 2"));
    CHECK_THAT(std::string(named.what()),
               Catch::Matchers::ContainsSubstring("the server sent an error: upstream closed"));
}

TEST_CASE("an event longer than max_event_bytes is refused before it is held, naming the limit") {
    cascade::ChatStreamOptions small;
    small.max_event_bytes = 64;
    cascade::ChatStreamParser parser(small);
    const std::string head = event(chunk(R"({"index":0,"delta":{"content":"ok"}})"));
    // The first event is longer than 64 bytes, but its own line is too: refused as well.
    CHECK_THROWS_WITH(parser.feed(head), Catch::Matchers::ContainsSubstring("event 1 (at byte 0): longer than "
                                                                            "max_event_bytes (64 bytes)"));

    // A server that never ends its line: refused as soon as the limit is passed, piece by piece.
    cascade::ChatStreamParser endless(small);
    endless.feed(": hi\n\n");
    std::size_t fed = 6;
    bool refused = false;
    while (fed < 1000 && !refused) {
        try {
            endless.feed("data: xxxxxxxxx");
            fed += 15;
        } catch (const cascade::MalformedStream& e) {
            refused = true;
            CHECK(e.event() == 1);
            CHECK(e.offset() == 6);
            CHECK_THAT(std::string(e.what()), Catch::Matchers::ContainsSubstring("max_event_bytes (64 bytes)"));
        }
    }
    CHECK(refused);
    CHECK(fed <= 6 + 64);

    // Many short data lines count together.
    cascade::ChatStreamParser lines(small);
    std::string many;
    for (int i = 0; i < 20; ++i) many += "data: 12345\n";
    CHECK_THROWS_AS(lines.feed(many), cascade::MalformedStream);

    CHECK_THROWS_AS(cascade::ChatStreamParser(cascade::ChatStreamOptions{0, true}), std::invalid_argument);
}

TEST_CASE("a sink's stop is reported by feed, ends the reading, and makes finish say the stream was stopped") {
    const std::string stream = logprob_stream();
    for (std::size_t cut = 0; cut <= stream.size(); cut += 7) {
        INFO("cut at " << cut);
        const Outcome out = read_stream(stream, {cut}, {}, 2);
        CHECK(out.stopped);
        // The sink saw two chunks, the second its last.
        REQUIRE(out.tokens.size() == 2);
        CHECK(out.tokens[1].text == "is");
        CHECK_FALSE(out.completion.has_value());
        CHECK_THAT(out.error, Catch::Matchers::ContainsSubstring("chat stream: stopped by its sink after 3 events"));
    }
    {
        cascade::ChatStreamParser parser;
        CHECK(parser.feed(stream, [](const cascade::TokenChunk&) { return cascade::StreamControl::stop; }) ==
              cascade::StreamControl::stop);
        CHECK(parser.stopped());
        CHECK(parser.feed("data: more\n\n") == cascade::StreamControl::stop);
    }

    // A cascade::TokenSink: its answer, and stop_requested() polled when bytes arrive.
    struct Owner {
        std::size_t chunks = 0;
        bool stop_now = false;
    } owner;
    const cascade::TokenSink sink(
        &owner,
        [](void* o, const cascade::TokenChunk&) {
            ++static_cast<Owner*>(o)->chunks;
            return cascade::StreamControl::go_on;
        },
        [](void* o) { return static_cast<Owner*>(o)->stop_now; });
    cascade::ChatStreamParser parser;
    const std::size_t half = stream.size() / 2;
    CHECK(parser.feed(std::string_view(stream).substr(0, half), sink) == cascade::StreamControl::go_on);
    const std::size_t seen = owner.chunks;
    CHECK(seen > 0);
    owner.stop_now = true;
    CHECK(parser.feed(std::string_view(stream).substr(half), sink) == cascade::StreamControl::stop);
    CHECK(owner.chunks == seen);
    CHECK_THROWS_AS(parser.finish(), cascade::StreamStopped);
    // Stopping is not the server's fault: not retried, not counted against a breaker.
    CHECK(std::is_base_of_v<cascade::NotRetryable, cascade::StreamStopped>);
}

TEST_CASE("a stopped stream's partial reply counts the tokens that came, to be charged") {
    const std::string stream = logprob_stream();
    cascade::ChatStreamParser parser;
    std::size_t heard = 0;
    CHECK(parser.feed(stream, [&heard](const cascade::TokenChunk&) {
        return ++heard == 2 ? cascade::StreamControl::stop : cascade::StreamControl::go_on;
    }) == cascade::StreamControl::stop);
    REQUIRE(parser.stopped());
    const cascade::ChatCompletion partial = parser.partial();
    REQUIRE(partial.choices.size() == 1);
    // The chunk that holds the second token holds the third too: the text has both.
    CHECK(partial.choices[0].text == "Paris \"\u00e9\"");
    REQUIRE(partial.usage.has_value());
    CHECK(partial.usage->completion_tokens == 2);  // the tokens the sink took
    CHECK(partial.usage->prompt_tokens == 0);      // reported only at a stream's end
    CHECK_THROWS_AS(parser.finish(), cascade::StreamStopped);
}

TEST_CASE("a sink is not polled once the answer is complete, so a late [DONE] is no stall") {
    const std::string stream = logprob_stream();
    const std::size_t finish_at = stream.find("\"finish_reason\":\"stop\"");
    REQUIRE(finish_at != std::string::npos);
    const std::size_t after_finish = stream.find("\n\n", finish_at) + 2;
    struct Owner {
        bool stop_now = false;
        std::size_t polls = 0;
    } owner;
    const cascade::TokenSink sink(
        &owner, [](void*, const cascade::TokenChunk&) { return cascade::StreamControl::go_on; },
        [](void* o) {
            auto* self = static_cast<Owner*>(o);
            ++self->polls;
            return self->stop_now;
        });
    cascade::ChatStreamParser parser;
    CHECK(parser.feed(std::string_view(stream).substr(0, after_finish), sink) == cascade::StreamControl::go_on);
    const std::size_t polls = owner.polls;
    CHECK(polls > 0);
    // The usage and [DONE] come late: the sink would call that a stall, but the answer is whole.
    owner.stop_now = true;
    CHECK(parser.feed(std::string_view(stream).substr(after_finish), sink) == cascade::StreamControl::go_on);
    CHECK(owner.polls == polls);
    CHECK_FALSE(parser.stopped());
    const cascade::ChatCompletion done = parser.finish();
    REQUIRE(done.usage.has_value());
    CHECK(done.usage->prompt_tokens == 12);
}

TEST_CASE("feed takes a callable that returns nothing, and finish is called once") {
    std::string text;
    cascade::ChatStreamParser parser;
    parser.feed(logprob_stream(), [&text](const cascade::TokenChunk& c) { text.append(c.text); });
    CHECK(text == "Paris \"\xC3\xA9\"");
    CHECK(parser.completion().choices[0].text == text);
    (void)parser.finish();
    CHECK_THROWS_AS(parser.finish(), std::logic_error);
    CHECK_THROWS_AS(parser.feed("data: [DONE]\n\n"), std::logic_error);
}

#if CASCADE_TEST_COUNTS_ALLOCATIONS
TEST_CASE("reading lines split across pieces reuses the parser's buffers instead of allocating") {
    // Lines longer than a short string holds, split into pieces: each is buffered whole before
    // it is read. Only the events' JSON allocates, so these events carry none.
    const std::string comment = ": " + std::string(200, 'k') + "\r\n\r\n";
    const std::string skipped = "event: ping\r\ndata: " + std::string(300, 'p') + "\r\ndata: more\r\n\r\n";
    std::size_t chunks = 0;
    const auto count = [&chunks](const cascade::TokenChunk&) { ++chunks; };
    const auto feed_in_pieces = [&count](cascade::ChatStreamParser& parser, std::string_view text) {
        for (std::size_t at = 0; at < text.size(); at += 7) parser.feed(text.substr(at, 7), count);
    };
    const std::string both = comment + skipped;
    cascade::ChatStreamParser parser;
    feed_in_pieces(parser, both);  // the buffers grow once
    const std::uint64_t before = cascade_test::thread_allocations;
    for (int i = 0; i < 50; ++i) feed_in_pieces(parser, both);
    feed_in_pieces(parser, "data: [DONE]\r\n\r\n");
    CHECK(cascade_test::thread_allocations - before == 0);
    CHECK(parser.done());
    CHECK(parser.events() == 52);
    CHECK(chunks == 0);
}
#endif
