// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_STREAM_SESSION_HPP
#define CASCADE_CORE_DETAIL_STREAM_SESSION_HPP

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "../call_context.hpp"
#include "../result.hpp"
#include "../stream_state.hpp"
#include "../token_sink.hpp"
#include "exception_text.hpp"
#include "stream_channel.hpp"

namespace cascade::detail {

// What a tier does with a stream besides handing it on: the early-exit rule that may stop it, and
// the longest wait allowed between two chunks.
struct StreamSettings {
    std::function<std::optional<std::string>(const StreamState&)> early_exit;
    std::optional<std::chrono::nanoseconds> stall_limit;
};

// One streamed call: the sink its model writes to. Every chunk is timed, checked for a stall,
// added to the running state, shown to the early-exit rule, checked against the deadline and a
// lost hedge race, and handed on to the caller's channel. The first reason to stop is kept; from
// then on the sink answers stop and ignores chunks.
class StreamSession {
public:
    enum class Stop { none, rule, stalled, deadline, cancelled };
    using TimePoint = std::chrono::steady_clock::time_point;

    StreamSession(const StreamSettings& settings, const CallContext& context)
        : settings_(settings), context_(context), start_(now()) {}

    TokenSink sink() noexcept {
        return TokenSink(this, &StreamSession::on_chunk, &StreamSession::on_poll, &StreamSession::on_cause);
    }

    [[nodiscard]] Stop stop() const noexcept { return stop_; }
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    [[nodiscard]] const StreamState& state() const noexcept { return state_; }
    // A note for the trace when the rule threw (it is then not asked again for this call).
    [[nodiscard]] const std::string& rule_failure() const noexcept { return rule_failure_; }

    // Fills the attempt's stream record.
    void record(Attempt& a) const {
        a.stream.streamed = true;
        a.stream.tokens = state_.tokens();
        if (state_.tokens() > 0) a.stream.first_token = state_.first_token_after();
        if (stop_ != Stop::none && stop_ != Stop::cancelled) {
            a.stream.stopped_at_token = stopped_at_;
            a.stream.stopped_after = stopped_after_;
        }
    }

private:
    static StreamControl on_chunk(void* self, const TokenChunk& chunk) {
        return static_cast<StreamSession*>(self)->take(chunk);
    }
    static bool on_poll(void* self) { return static_cast<StreamSession*>(self)->poll(); }
    static StopCause on_cause(const void* self) noexcept {
        switch (static_cast<const StreamSession*>(self)->stop_) {
            case Stop::none: return StopCause::none;
            case Stop::rule: return StopCause::early_exit;
            case Stop::stalled: return StopCause::stalled;
            case Stop::deadline: return StopCause::deadline;
            case Stop::cancelled: return StopCause::lost_race;
        }
        return StopCause::none;
    }

    TimePoint now() const {
        return context_.now != nullptr && *context_.now ? (*context_.now)() : std::chrono::steady_clock::now();
    }

    StreamControl take(const TokenChunk& chunk) {
        if (stop_ != Stop::none) return StreamControl::stop;
        const TimePoint t = now();
        const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(t - start_);
        if (stalled(elapsed) || past_deadline(t, elapsed) || lost_race(elapsed)) return StreamControl::stop;
        state_.observe(chunk, elapsed);
        if (settings_.early_exit && rule_failure_.empty()) {
            try {
                if (auto why = settings_.early_exit(state_)) {
                    // The chunk that made the rule fire counts as produced; the caller never sees it.
                    stop_at(Stop::rule, state_.tokens() - 1, elapsed, std::move(*why));
                    return StreamControl::stop;
                }
            } catch (...) {
                rule_failure_ = "early-exit rule threw at token " + std::to_string(state_.tokens()) + ": " +
                                describe_exception(std::current_exception()) + " (not asked again for this call)";
            }
        }
        if (context_.stream_channel != nullptr) {
            context_.stream_channel->token(context_.tier_index, context_.tier, chunk);
        }
        return StreamControl::go_on;
    }

    bool poll() {
        if (stop_ != Stop::none) return true;
        const TimePoint t = now();
        const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(t - start_);
        return stalled(elapsed) || past_deadline(t, elapsed) || lost_race(elapsed);
    }

    // The stall limit counts from the previous chunk: the wait for the first one is the tier's
    // time limit's to bound (a long prompt takes a while to read).
    bool stalled(std::chrono::nanoseconds elapsed) {
        if (!settings_.stall_limit || state_.tokens() == 0) return false;
        const auto gap = elapsed - state_.elapsed();
        if (gap <= *settings_.stall_limit) return false;
        using ms = std::chrono::duration<double, std::milli>;
        char buf[160];
        std::snprintf(buf, sizeof buf, "stream stalled: no token for %.3f ms after token %zu (the limit is %.3f ms)",
                      ms(gap).count(), state_.tokens(), ms(*settings_.stall_limit).count());
        stop_at(Stop::stalled, state_.tokens(), elapsed, buf);
        return true;
    }

    bool past_deadline(TimePoint t, std::chrono::nanoseconds elapsed) {
        // A chunk at the deadline is on time, as an answer at the time limit is.
        if (context_.deadline == TimePoint::max() || t <= context_.deadline) return false;
        stop_at(Stop::deadline, state_.tokens(), elapsed,
                "stream passed its deadline after " + count_of(state_.tokens(), "token"));
        return true;
    }

    bool lost_race(std::chrono::nanoseconds elapsed) {
        if (!context_.cancel_requested()) return false;
        stop_at(Stop::cancelled, state_.tokens(), elapsed, "stream stopped: the call lost its hedge race");
        return true;
    }

    void stop_at(Stop why, std::size_t token, std::chrono::nanoseconds elapsed, std::string reason) {
        stop_ = why;
        stopped_at_ = token;
        stopped_after_ = elapsed;
        reason_ = std::move(reason);
    }

    const StreamSettings& settings_;
    const CallContext& context_;
    TimePoint start_;
    StreamState state_;
    Stop stop_ = Stop::none;
    std::size_t stopped_at_ = 0;
    std::chrono::nanoseconds stopped_after_{0};
    std::string reason_;
    std::string rule_failure_;
};

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_STREAM_SESSION_HPP
