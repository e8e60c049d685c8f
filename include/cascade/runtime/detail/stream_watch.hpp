// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_DETAIL_STREAM_WATCH_HPP
#define CASCADE_RUNTIME_DETAIL_STREAM_WATCH_HPP

#include <cstddef>

#include "../../core/token_sink.hpp"

namespace cascade::detail {

// What a runtime wrapper needs to know of the stream its model wrote: how many chunks went
// through (a retry after the first would show an answer twice; a call that produced tokens is
// paid for) and whether the sink ever asked it to stop (a partial answer follows, not to be
// cached). It sits between the model and the sink it was given, forwarding both ways; it asks
// the sink nothing the model did not ask.
class StreamWatch {
public:
    explicit StreamWatch(TokenSink* sink) noexcept : sink_(sink) {}

    // The sink to hand the model: null when the wrapper was called without one.
    [[nodiscard]] TokenSink* sink() noexcept { return sink_ != nullptr ? &watched_ : nullptr; }

    [[nodiscard]] std::size_t chunks() const noexcept { return chunks_; }
    [[nodiscard]] bool stopped() const noexcept { return stopped_; }

    StreamWatch(const StreamWatch&) = delete;
    StreamWatch& operator=(const StreamWatch&) = delete;

private:
    static StreamControl forward(void* self, const TokenChunk& chunk) {
        auto* watch = static_cast<StreamWatch*>(self);
        ++watch->chunks_;
        const StreamControl answer = (*watch->sink_)(chunk);
        if (answer == StreamControl::stop) watch->stopped_ = true;
        return answer;
    }
    static StopCause cause(const void* self) noexcept {
        return static_cast<const StreamWatch*>(self)->sink_->stop_cause();
    }
    static bool poll(void* self) {
        auto* watch = static_cast<StreamWatch*>(self);
        const bool stop = watch->sink_->stop_requested();
        if (stop) watch->stopped_ = true;
        return stop;
    }

    TokenSink* sink_;
    TokenSink watched_{this, &StreamWatch::forward, &StreamWatch::poll, &StreamWatch::cause};
    std::size_t chunks_ = 0;
    bool stopped_ = false;
};

}  // namespace cascade::detail

#endif  // CASCADE_RUNTIME_DETAIL_STREAM_WATCH_HPP
