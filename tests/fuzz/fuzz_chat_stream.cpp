// SPDX-License-Identifier: MIT
// cascade::ChatStreamParser (cascade/integration/chat_stream.hpp): any bytes, fed whole or in
// pieces of any size (empty ones too), give the same tokens and the same completion, or the same
// error word for word; only the documented errors are thrown; a completion has one choice with
// its finish reason and as many log-probabilities as tokens handed on with one.
//
// The first byte of the input seeds the sizes of the pieces; the second chooses the options and
// when the sink answers stop: bits 0-2 the chunk it stops at (0: never), bit 3 require_done =
// false, bit 4 max_event_bytes = 200. The rest is the stream.
#include <cascade/integration/chat_completion.hpp>
#include <cascade/integration/chat_stream.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "fuzz_target.hpp"

namespace {

struct Outcome {
    std::vector<std::string> texts;
    std::vector<std::optional<double>> logprobs;
    std::optional<cascade::ChatCompletion> completion;
    std::string error;  // the type's name, then the message
    bool stopped = false;
    bool malformed_stream = false;
    std::size_t error_event = 0;
    std::uint64_t error_offset = 0;
    std::size_t events = 0;
};

// Feeds `stream` whole (seed < 0) or in pieces of 0 to 16 bytes drawn from `seed`.
Outcome read(std::string_view stream, int seed, cascade::ChatStreamOptions options, std::size_t stop_at) {
    Outcome out;
    cascade::ChatStreamParser parser(options);
    const auto sink = [&out, stop_at](const cascade::TokenChunk& chunk) {
        out.texts.emplace_back(chunk.text);
        out.logprobs.push_back(chunk.logprob);
        return out.texts.size() == stop_at ? cascade::StreamControl::stop : cascade::StreamControl::go_on;
    };
    try {
        if (seed < 0) {
            out.stopped = parser.feed(stream, sink) == cascade::StreamControl::stop;
        } else {
            auto state = static_cast<std::uint32_t>(seed) * 2654435761u + 1u;
            std::size_t from = 0;
            while (from < stream.size()) {
                state = state * 1664525u + 1013904223u;
                const std::size_t size = (state >> 24) % 17;
                const std::string_view piece = stream.substr(from, size);
                from += piece.size();
                if (parser.feed(piece, sink) == cascade::StreamControl::stop) out.stopped = true;
            }
        }
        out.events = parser.events();
        out.completion = parser.finish();
    } catch (const cascade::MalformedStream& e) {
        out.error = std::string(typeid(e).name()) + ": " + e.what();
        out.malformed_stream = true;
        out.error_event = e.event();
        out.error_offset = e.offset();
    } catch (const cascade::StreamStopped& e) {
        out.error = std::string(typeid(e).name()) + ": " + e.what();
    } catch (const cascade::HttpError& e) {
        out.error = std::string(typeid(e).name()) + ": " + e.what();
    } catch (const cascade::HttpRejected& e) {
        out.error = std::string(typeid(e).name()) + ": " + e.what();
    } catch (const std::exception& e) {
        cascade_fuzz::broken(__FILE__, __LINE__, "only the documented errors are thrown",
                             std::string(typeid(e).name()) + ": " + e.what() + "\n" + std::string(stream));
    }
    return out;
}

std::string describe(const Outcome& o) {
    std::string s = o.error.empty() ? std::string("completed") : o.error;
    s += "; tokens:";
    for (const std::string& t : o.texts) s += " [" + t + "]";
    if (o.completion) s += "; text [" + o.completion->choices.front().text + "]";
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const int seed = data[0];
    const std::uint8_t flags = data[1];
    const std::string_view stream = cascade_fuzz::as_text(data + 2, size - 2);
    cascade::ChatStreamOptions options;
    options.require_done = (flags & 0x08) == 0;
    if (flags & 0x10) options.max_event_bytes = 200;
    const auto stop_at = static_cast<std::size_t>(flags & 0x07);

    const Outcome whole = read(stream, -1, options, stop_at);
    const Outcome pieces = read(stream, seed, options, stop_at);
    const std::string both = describe(whole) + "\n" + describe(pieces) + "\n" + std::string(stream);
    CASCADE_FUZZ_EXPECT(whole.error == pieces.error, both);
    CASCADE_FUZZ_EXPECT(whole.texts == pieces.texts, both);
    CASCADE_FUZZ_EXPECT(whole.logprobs.size() == pieces.logprobs.size(), both);
    for (std::size_t i = 0; i < whole.logprobs.size(); ++i) {
        // NaN cannot come out of JSON, so == compares every value.
        CASCADE_FUZZ_EXPECT(whole.logprobs[i] == pieces.logprobs[i], both);
    }
    CASCADE_FUZZ_EXPECT(whole.stopped == pieces.stopped, both);
    CASCADE_FUZZ_EXPECT(whole.completion.has_value() == pieces.completion.has_value(), both);
    CASCADE_FUZZ_EXPECT(!whole.stopped || !whole.completion, both);
    CASCADE_FUZZ_EXPECT(stop_at == 0 || whole.texts.size() <= stop_at, both);

    if (whole.malformed_stream) {
        CASCADE_FUZZ_EXPECT(whole.error_offset <= stream.size(), both);
        CASCADE_FUZZ_EXPECT(whole.error.find("chat stream: ") != std::string::npos, both);
    }
    if (whole.completion) {
        const cascade::ChatCompletion& a = *whole.completion;
        const cascade::ChatCompletion& b = *pieces.completion;
        CASCADE_FUZZ_EXPECT(a.choices.size() == 1 && b.choices.size() == 1, both);
        const cascade::ChatReply& r = a.choices.front();
        CASCADE_FUZZ_EXPECT(!r.finish_reason.empty(), both);
        CASCADE_FUZZ_EXPECT(a.id == b.id && a.model == b.model, both);
        CASCADE_FUZZ_EXPECT(r.text == b.choices.front().text, both);
        CASCADE_FUZZ_EXPECT(r.finish_reason == b.choices.front().finish_reason, both);
        CASCADE_FUZZ_EXPECT(r.token_logprobs.size() == b.choices.front().token_logprobs.size(), both);
        CASCADE_FUZZ_EXPECT(a.usage.has_value() == b.usage.has_value(), both);
        // Each log-probability kept was handed on with its token; without any, the tokens handed
        // on are the text.
        std::size_t with_logprob = 0;
        std::string joined;
        for (std::size_t i = 0; i < whole.texts.size(); ++i) {
            if (whole.logprobs[i]) ++with_logprob;
            joined += whole.texts[i];
        }
        CASCADE_FUZZ_EXPECT(with_logprob == r.token_logprobs.size(), both);
        CASCADE_FUZZ_EXPECT(with_logprob > 0 || joined == r.text, both);
    }
    return 0;
}
