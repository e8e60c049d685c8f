// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_TOKEN_SINK_HPP
#define CASCADE_CORE_TOKEN_SINK_HPP

#include <optional>
#include <string_view>
#include <type_traits>

namespace cascade {

/// One piece of a streamed answer, usually one token: its text and, where the server gave it,
/// the natural log of its probability.
struct TokenChunk {
    std::string_view text;
    std::optional<double> logprob;
};

/// What a sink answers a streaming model after each chunk.
enum class StreamControl {
    go_on,  ///< keep streaming
    stop,   ///< stop now: end the stream (close the connection) and return, or throw
};

/// Why a sink asked its model to stop (TokenSink::stop_cause()).
enum class StopCause {
    none,        ///< it has not (or it is a sink of the caller's own, TokenSink::to)
    early_exit,  ///< the tier's early-exit rule fired: the answer was going wrong
    stalled,     ///< no chunk within the stall limit: the server's fault, which a circuit breaker counts
    deadline,    ///< the call's time ran out
    lost_race,   ///< the call lost a hedge race
};

/// Where a streaming model puts its tokens. A model that streams takes one as its second
/// parameter, `Response(const Request&, cascade::TokenSink&)` or
/// `Response(const Request&, cascade::TokenSink&, const cascade::CallContext&)`, hands it every
/// chunk as it arrives, and returns the whole answer at the end:
///
///     auto stream_mini = [&](const std::string& q, cascade::TokenSink& sink) {
///         std::string text;
///         for (auto& token : client.stream(q)) {           // your client's token stream
///             text += token.text;
///             if (sink({token.text, token.logprob}) == cascade::StreamControl::stop) break;
///         }
///         return text;
///     };
///
/// When the sink answers stop (an early-exit rule stopped the stream, it stalled, its deadline
/// passed, or it lost a hedge race), the model should end the stream and return or throw; what
/// it returns then is never taken as an answer. Chunks handed in after a stop are ignored.
/// stop_requested() says the same without a chunk, for a client to poll while it waits for the
/// next one (e.g. in libcurl's progress callback), so that a stalled stream ends on time.
///
/// A sink is a view: cheap to copy, valid only during the call it was given to. No allocation.
/// To call a streaming model yourself (in a test, or outside a cascade), make one with
/// TokenSink::to(f).
class TokenSink {
public:
    using ChunkFn = StreamControl (*)(void* owner, const TokenChunk& chunk);
    using PollFn = bool (*)(void* owner);
    using CauseFn = StopCause (*)(const void* owner);

    /// A sink that calls `on_chunk(owner, chunk)` for each chunk, `poll(owner)` for
    /// stop_requested() and `cause(owner)` for stop_cause(); a null `poll` never asks for a stop,
    /// a null `cause` gives StopCause::none.
    TokenSink(void* owner, ChunkFn on_chunk, PollFn poll = nullptr, CauseFn cause = nullptr) noexcept
        : owner_(owner), on_chunk_(on_chunk), poll_(poll), cause_(cause) {}

    /// A sink that hands each chunk to `on_chunk`, a callable `StreamControl(const TokenChunk&)`
    /// or `void(const TokenChunk&)` (then always go on), held by reference: it must outlive the
    /// sink. It never asks for a stop otherwise.
    ///
    ///     std::vector<std::string> seen;
    ///     auto collect = [&](const cascade::TokenChunk& c) { seen.emplace_back(c.text); };
    ///     auto sink = cascade::TokenSink::to(collect);
    ///     auto reply = stream_mini(question, sink);
    template <class OnChunk>
    static TokenSink to(OnChunk& on_chunk) noexcept {
        static_assert(std::is_invocable_v<OnChunk&, const TokenChunk&>,
                      "cascade::TokenSink::to: the callable must take a const cascade::TokenChunk& and return a "
                      "cascade::StreamControl, or nothing");
        return TokenSink(const_cast<void*>(static_cast<const void*>(&on_chunk)), [](void* f, const TokenChunk& chunk) {
            auto& fn = *static_cast<OnChunk*>(f);
            if constexpr (std::is_same_v<std::invoke_result_t<OnChunk&, const TokenChunk&>, StreamControl>) {
                return fn(chunk);
            } else {
                fn(chunk);
                return StreamControl::go_on;
            }
        });
    }

    /// Hands one chunk on; the answer says whether to go on.
    StreamControl operator()(const TokenChunk& chunk) const { return on_chunk_(owner_, chunk); }
    StreamControl operator()(std::string_view text, std::optional<double> logprob = std::nullopt) const {
        return on_chunk_(owner_, TokenChunk{text, logprob});
    }

    /// True once the stream should end (see above); a model may poll it between chunks.
    [[nodiscard]] bool stop_requested() const { return poll_ != nullptr && poll_(owner_); }

    /// Why the sink asked for a stop, once it has: a wrapper around the model reads it after the
    /// call (a circuit breaker counts a stall as the server's failure). Asks nothing new: no poll.
    [[nodiscard]] StopCause stop_cause() const noexcept {
        return cause_ != nullptr ? cause_(owner_) : StopCause::none;
    }

private:
    void* owner_;
    ChunkFn on_chunk_;
    PollFn poll_;
    CauseFn cause_;
};

}  // namespace cascade

#endif  // CASCADE_CORE_TOKEN_SINK_HPP
