// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_STREAM_OUTPUT_HPP
#define CASCADE_CORE_STREAM_OUTPUT_HPP

#include <cstddef>
#include <string_view>

#include "token_sink.hpp"

namespace cascade {

/// How a streamed query's tokens reach its caller (Cascade::stream, Router::stream).
enum class StreamMode {
    /// A tier's tokens reach the caller only once its answer is accepted: nothing shown is ever
    /// taken back, and the first token comes when the answering tier's stream has ended.
    buffered,
    /// Tokens reach the caller as they come; when the tier streaming them does not answer after
    /// all (stopped early, rejected, failed), a StreamEventKind::discard tells the caller to take
    /// back what it showed, and the next tier's tokens follow.
    pass_through,
};

enum class StreamEventKind {
    token,    ///< one chunk of the answer: `chunk`
    discard,  ///< take back the `discarded_tokens` chunks of `tier` shown so far
};

/// What a streamed query hands its caller. Views are valid only during the call: copy what you keep.
struct StreamEvent {
    StreamEventKind kind = StreamEventKind::token;
    std::string_view tier;       ///< the tier whose tokens these are
    std::size_t tier_index = 0;  ///< its position, 0 = cheapest
    TokenChunk chunk;            ///< for a token
    std::size_t discarded_tokens = 0;  ///< for a discard
};

}  // namespace cascade

#endif  // CASCADE_CORE_STREAM_OUTPUT_HPP
