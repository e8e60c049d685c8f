// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_RESULT_HPP
#define CASCADE_CORE_RESULT_HPP

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "../detail/fixed_vector.hpp"

namespace cascade {

/// What happened at one tier for one query.
enum class AttemptStatus {
    skipped,         ///< not called: an earlier tier's answer was accepted
    accepted,        ///< answered and passed its verifier (or has none)
    rejected,        ///< answered, but the verifier's confidence was below the threshold
    model_error,     ///< the model threw; the query escalated
    verifier_error,  ///< the verifier threw or returned NaN or a value outside [0, 1]
    timed_out,       ///< answered after the tier's time limit: the answer was dropped, the query escalated
    deadline_passed, ///< not called: the query's deadline had passed
    over_budget,     ///< not called: its cost estimate would take the query past its cost cap
    /// called, but lost a hedge race: still running when the other call's answer was accepted.
    /// Its answer (if any) is dropped, its cost counts; `note` says what it did ("lost the race
    /// to big: rejected"), `error` and `exception` keep what it threw. Not an error.
    cancelled,
    /// called, but its stream was stopped mid-answer by the tier's early-exit rule
    /// (Tier::with_early_exit): the partial answer is dropped, the query escalates, and the
    /// tokens it produced are charged. `note` says why, `stream` where: token index and time.
    stopped,
};

/// How a query's answer was settled.
enum class Resolution {
    accepted,    ///< a tier's answer passed its check
    fallback,    ///< no tier passed; the cascade's NoPassPolicy picked an answer anyway
    unanswered,  ///< there is no answer; the trace says why for each tier
};

constexpr std::string_view to_string(AttemptStatus s) noexcept {
    switch (s) {
        case AttemptStatus::skipped: return "skipped";
        case AttemptStatus::accepted: return "accepted";
        case AttemptStatus::rejected: return "rejected";
        case AttemptStatus::model_error: return "model error";
        case AttemptStatus::verifier_error: return "verifier error";
        case AttemptStatus::timed_out: return "timed out";
        case AttemptStatus::deadline_passed: return "not called: deadline passed";
        case AttemptStatus::over_budget: return "not called: over budget";
        case AttemptStatus::cancelled: return "cancelled";
        case AttemptStatus::stopped: return "stopped early";
    }
    return "unknown";
}

constexpr std::string_view to_string(Resolution r) noexcept {
    switch (r) {
        case Resolution::accepted: return "accepted";
        case Resolution::fallback: return "fallback";
        case Resolution::unanswered: return "unanswered";
    }
    return "unknown";
}

/// What a streamed call produced (Attempt::stream); zeros and empties for a call that did not
/// stream. Times are from the start of the tier's call.
struct StreamRecord {
    bool streamed = false;  ///< the tier's model streams and was called with a sink
    std::size_t tokens = 0;  ///< chunks it handed on up to its end or its stop
    std::optional<std::chrono::nanoseconds> first_token;  ///< when its first chunk came; empty without one
    /// Where a stop cut the stream, and when: the 0-based index of the chunk that made the
    /// early-exit rule fire (counted in `tokens`, never shown to the caller), or, for a stall or
    /// the deadline, of the chunk that did not come in time. Empty when the stream ran to its end.
    std::optional<std::size_t> stopped_at_token;
    std::chrono::nanoseconds stopped_after{0};
};

/// One tier's entry in a result's trace.
///
/// `tier` views the name held by the cascade: read it while the cascade lives (copy it into a
/// std::string to keep it longer).
struct Attempt {
    // Every member is set by its initializer or its type's constructor: a trace default-
    // initializes its entries, without zeroing them first.
    std::string_view tier;
    AttemptStatus status = AttemptStatus::skipped;
    std::optional<double> confidence;      ///< the verifier's score, when it gave a valid one
    double threshold = 0.0;                ///< the tier's acceptance threshold
    double cost = 0.0;                     ///< dollars: the call plus what its verifier spent
    std::chrono::nanoseconds latency{0};   ///< the model and its verifier, end to end
    std::string error;                     ///< why the model or the verifier failed
    std::string note;                      ///< a verifier's note, a cost function's failure, a hedge's fate
    std::exception_ptr exception;          ///< what the model or the verifier threw, if anything
    StreamRecord stream;                   ///< for a streaming tier: tokens, first token, where it stopped

    [[nodiscard]] bool called() const noexcept {
        return status != AttemptStatus::skipped && status != AttemptStatus::deadline_passed &&
               status != AttemptStatus::over_budget;
    }

    /// One line for logs: `mini: rejected (confidence 0.420 < 0.800), $0.000200, 1.234 ms`.
    [[nodiscard]] std::string describe() const {
        std::string out(tier);
        out += ": ";
        out += to_string(status);
        char buf[96];
        if (status == AttemptStatus::rejected || status == AttemptStatus::accepted) {
            if (confidence) {
                std::snprintf(buf, sizeof buf, " (confidence %.3f %s %.3f)", *confidence,
                              status == AttemptStatus::accepted ? ">=" : "<", threshold);
                out += buf;
            }
        }
        if (stream.stopped_at_token) {
            // Counted from 1 in text, as the rules' reasons count: "at token 3" is the third.
            std::snprintf(buf, sizeof buf, " at token %zu after %.3f ms", *stream.stopped_at_token + 1,
                          std::chrono::duration<double, std::milli>(stream.stopped_after).count());
            out += buf;
        }
        if (!error.empty()) out += " (" + error + ")";
        if (called()) {
            std::snprintf(buf, sizeof buf, ", $%.6f, %.3f ms", cost,
                          std::chrono::duration<double, std::milli>(latency).count());
            out += buf;
        }
        if (!note.empty()) out += "; " + note;
        return out;
    }
};

/// The per-tier record of one query, in tier order, every tier present (skipped ones too).
using Trace = detail::FixedVector<Attempt, CASCADE_MAX_TIERS>;

/// Thrown by Result::value() when there is no answer. what() gives each tier's reason;
/// attempts() the full trace.
class CascadeError : public std::runtime_error {
public:
    explicit CascadeError(const Trace& trace) : std::runtime_error(message(trace)), held_(hold(trace)) {}

    /// The trace, with tier names of its own: valid however long the exception outlives the
    /// cascade that threw it.
    [[nodiscard]] const std::vector<Attempt>& attempts() const noexcept { return held_->attempts; }

private:
    // Shared, so that copies of the exception (which the runtime may make) view the same names.
    struct Held {
        std::vector<std::string> names;
        std::vector<Attempt> attempts;
    };

    static std::shared_ptr<const Held> hold(const Trace& trace) {
        auto held = std::make_shared<Held>();
        held->names.reserve(trace.size());
        for (const Attempt& a : trace) held->names.emplace_back(a.tier);
        held->attempts.assign(trace.begin(), trace.end());
        for (std::size_t i = 0; i < held->attempts.size(); ++i) held->attempts[i].tier = held->names[i];
        return held;
    }

    static std::string message(const Trace& trace) {
        std::string out = "cascade: no answer";
        for (const Attempt& a : trace) out += "\n  " + a.describe();
        return out;
    }

    std::shared_ptr<const Held> held_;
};

namespace detail {
template <class Response>
struct ResultAccess;
}

/// The outcome of one query: the answer (if any), which tier gave it, what it cost and took, and
/// why each tier accepted, escalated or failed.
///
/// A result is a plain value; it is not shared with the cascade, so it may be read from any
/// thread. Its trace's tier names view the cascade's names (see Attempt).
template <class Response>
class Result {
public:
    using value_type = Response;

    Result() = default;

    [[nodiscard]] bool has_value() const noexcept { return answer_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }

    /// The answer; throws CascadeError, which lists each tier's reason, when there is none.
    Response& value() & { return checked(); }
    const Response& value() const& { return const_cast<Result*>(this)->checked(); }
    Response&& value() && { return std::move(checked()); }

    Response* operator->() noexcept { return &*answer_; }
    const Response* operator->() const noexcept { return &*answer_; }
    Response& operator*() & noexcept { return *answer_; }
    const Response& operator*() const& noexcept { return *answer_; }

    /// The name of the tier whose answer this is; empty when unanswered.
    [[nodiscard]] std::string_view tier() const noexcept {
        return tier_index_ ? trace_[*tier_index_].tier : std::string_view{};
    }
    /// The position of the tier whose answer this is (0 = cheapest).
    [[nodiscard]] std::optional<std::size_t> tier_index() const noexcept { return tier_index_; }
    [[nodiscard]] Resolution resolution() const noexcept { return resolution_; }
    /// The confidence the answering tier's verifier gave; empty for a tier without verifier.
    [[nodiscard]] std::optional<double> confidence() const noexcept {
        return tier_index_ ? trace_[*tier_index_].confidence : std::nullopt;
    }
    /// Total dollars spent on this query, over every tier called.
    [[nodiscard]] double cost() const noexcept { return cost_; }
    /// Wall time of the whole query.
    [[nodiscard]] std::chrono::nanoseconds latency() const noexcept { return latency_; }
    /// For a streamed query (Cascade::stream): when the caller got its first token, from the
    /// query's start; empty when no token reached it, and for a query that was not streamed.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> first_token_latency() const noexcept {
        return first_token_;
    }
    /// How many tiers past the first were called.
    [[nodiscard]] std::size_t escalations() const noexcept {
        std::size_t called = 0;
        for (const Attempt& a : trace_) called += a.called() ? 1U : 0U;
        return called > 0 ? called - 1 : 0;
    }
    [[nodiscard]] const Trace& trace() const noexcept { return trace_; }

    /// Every tier's line (Attempt::describe), for logs.
    [[nodiscard]] std::string explain() const {
        std::string out(to_string(resolution_));
        if (tier_index_) {
            out += " by ";
            out += tier();
        }
        for (const Attempt& a : trace_) out += "\n  " + a.describe();
        return out;
    }

private:
    friend struct detail::ResultAccess<Response>;

    Response& checked() {
        if (!answer_) throw CascadeError(trace_);
        return *answer_;
    }

    std::optional<Response> answer_;
    std::optional<std::size_t> tier_index_;
    Resolution resolution_ = Resolution::unanswered;
    double cost_ = 0.0;
    std::chrono::nanoseconds latency_{0};
    std::optional<std::chrono::nanoseconds> first_token_;
    Trace trace_;
};

namespace detail {
// The cascade fills results through this, so the public type offers no setters.
template <class Response>
struct ResultAccess {
    static Trace& trace(Result<Response>& r) noexcept { return r.trace_; }
    static void add_cost(Result<Response>& r, double dollars) noexcept { r.cost_ += dollars; }
    static void set_latency(Result<Response>& r, std::chrono::nanoseconds t) noexcept { r.latency_ = t; }
    static void set_first_token(Result<Response>& r, std::optional<std::chrono::nanoseconds> t) noexcept {
        r.first_token_ = t;
    }
    static void settle(Result<Response>& r, std::optional<Response>&& answer, std::size_t tier,
                       Resolution how) {
        r.answer_ = std::move(answer);
        r.tier_index_ = tier;
        r.resolution_ = how;
    }
};
}  // namespace detail

}  // namespace cascade

#endif  // CASCADE_CORE_RESULT_HPP
