// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_STREAM_CHANNEL_HPP
#define CASCADE_CORE_DETAIL_STREAM_CHANNEL_HPP

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../call_context.hpp"
#include "../config.hpp"
#include "../stream_output.hpp"
#include "../token_sink.hpp"

namespace cascade::detail {

// The caller's side of one streamed query: where its tiers' tokens go, and which tier's tokens
// the caller sees. Each tier's tokens are kept (text and log-probabilities, grown by doubling) so
// that an accepted answer can be handed over whole in buffered mode, a hedge's winner after its
// loser, and a fallback answer at the end. In pass-through mode the first tier to stream owns the
// output and its tokens go straight to the caller; others wait in their buffers.
//
// Threads: token() is called by the thread running a tier's model (two at once in a hedge race,
// each for its own tier, so each buffer has one writer); settle() by the query's thread once no
// call of the query is running. The caller's sink is thus called by one thread at a time.
class StreamChannel {
public:
    using Deliver = void (*)(void* caller, const StreamEvent& event);
    using TimePoint = std::chrono::steady_clock::time_point;

    StreamChannel(void* caller, Deliver deliver, StreamMode mode) noexcept
        : caller_(caller), deliver_(deliver), mode_(mode) {}

    // The query's start, on the clock of the cascade that runs it (`now`; steady_clock when null),
    // that first_token() counts from.
    void start_at(const NowFn* now, TimePoint start) noexcept {
        now_ = now;
        start_ = start;
    }

    // A chunk that tier `tier` (named `name`) took.
    void token(std::size_t tier, std::string_view name, const TokenChunk& chunk) {
        Buffer& b = buffers_[tier];
        b.text.append(chunk.text.data(), chunk.text.size());
        b.marks.push_back(Mark{b.text.size(), chunk.logprob.value_or(0.0), chunk.logprob.has_value()});
        if (mode_ != StreamMode::pass_through) return;
        int owner = owner_.load(std::memory_order_acquire);
        if (owner == no_owner &&
            owner_.compare_exchange_strong(owner, static_cast<int>(tier), std::memory_order_acq_rel)) {
            owner = static_cast<int>(tier);
        }
        if (owner != static_cast<int>(tier)) return;
        b.shown = b.marks.size();
        send_token(tier, name, chunk);
    }

    // What settle() took back from the caller, for the query's event hook.
    struct Discarded {
        std::size_t tier = 0;
        std::size_t tokens = 0;
    };

    // Tier `tier`'s call ended: its answer is accepted (or taken as the fallback), or not. An
    // answer hands the caller its tokens not yet shown, after taking back another tier's; a
    // call that streamed none hands over `whole_text` as one chunk, when the answer has a text.
    std::optional<Discarded> settle(std::size_t tier, std::string_view name, bool answered,
                                     std::string_view whole_text = {}, std::string_view owner_name = {}) {
        std::optional<Discarded> taken_back;
        const int owner = owner_.load(std::memory_order_acquire);
        Buffer& b = buffers_[tier];
        if (!answered) {
            if (owner == static_cast<int>(tier)) {
                taken_back = take_back(tier, name);
                owner_.store(no_owner, std::memory_order_release);
            }
            return heard(taken_back);
        }
        if (owner != no_owner && owner != static_cast<int>(tier)) {
            taken_back = take_back(static_cast<std::size_t>(owner), owner_name);
        }
        owner_.store(static_cast<int>(tier), std::memory_order_release);
        if (b.marks.empty()) {
            if (!whole_text.empty()) send_token(tier, name, TokenChunk{whole_text, std::nullopt});
            return heard(taken_back);
        }
        std::size_t begin = b.shown == 0 ? 0 : b.marks[b.shown - 1].end;
        for (std::size_t i = b.shown; i < b.marks.size(); ++i) {
            const Mark& m = b.marks[i];
            std::optional<double> logprob;
            if (m.has_logprob) logprob = m.logprob;
            send_token(tier, name, TokenChunk{std::string_view(b.text).substr(begin, m.end - begin), logprob});
            begin = m.end;
        }
        b.shown = b.marks.size();
        return heard(taken_back);
    }

    // The tier whose tokens the caller holds, if any (for its name in a discard).
    [[nodiscard]] std::optional<std::size_t> owner() const noexcept {
        const int owner = owner_.load(std::memory_order_acquire);
        if (owner == no_owner) return std::nullopt;
        return static_cast<std::size_t>(owner);
    }

    // When the caller got its first token, from the query's start.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> first_token() const noexcept { return first_token_; }
    // Whether the caller's sink threw (it then hears nothing more of this query).
    [[nodiscard]] bool sink_failed() const noexcept { return sink_failed_.load(std::memory_order_relaxed); }

private:
    static constexpr int no_owner = -1;

    struct Mark {
        std::size_t end = 0;  // where the chunk ends in the text
        double logprob = 0.0;
        bool has_logprob = false;
    };
    struct Buffer {
        std::string text;
        std::vector<Mark> marks;
        std::size_t shown = 0;  // chunks the caller holds
    };

    TimePoint now() const { return now_ != nullptr && *now_ ? (*now_)() : std::chrono::steady_clock::now(); }

    // A take-back the caller heard: none once its sink has failed.
    std::optional<Discarded> heard(std::optional<Discarded> taken_back) const noexcept {
        if (sink_failed()) return std::nullopt;
        return taken_back;
    }

    Discarded take_back(std::size_t tier, std::string_view name) {
        Buffer& b = buffers_[tier];
        Discarded d{tier, b.shown};
        StreamEvent e;
        e.kind = StreamEventKind::discard;
        e.tier = name;
        e.tier_index = tier;
        e.discarded_tokens = b.shown;
        b.shown = 0;
        send(e);
        return d;
    }

    void send_token(std::size_t tier, std::string_view name, const TokenChunk& chunk) {
        if (!first_token_) first_token_ = now() - start_;
        StreamEvent e;
        e.kind = StreamEventKind::token;
        e.tier = name;
        e.tier_index = tier;
        e.chunk = chunk;
        send(e);
    }

    // A sink that throws is the caller's own failure: it hears nothing more of this query, whose
    // answer is still in its result; the cascade counts it as a hook error.
    void send(const StreamEvent& e) noexcept {
        if (sink_failed_.load(std::memory_order_relaxed)) return;
        try {
            deliver_(caller_, e);
        } catch (...) {
            sink_failed_.store(true, std::memory_order_relaxed);
        }
    }

    void* caller_;
    Deliver deliver_;
    StreamMode mode_;
    const NowFn* now_ = nullptr;
    TimePoint start_{};
    std::atomic<int> owner_{no_owner};
    std::atomic<bool> sink_failed_{false};
    std::optional<std::chrono::nanoseconds> first_token_;
    std::array<Buffer, CASCADE_MAX_TIERS> buffers_;
};

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_STREAM_CHANNEL_HPP
