// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_RETRY_HPP
#define CASCADE_RUNTIME_RETRY_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/call_context.hpp"
#include "clock.hpp"
#include "../core/detail/callable_traits.hpp"
#include "../core/detail/exception_text.hpp"
#include "../detail/random.hpp"
#include "detail/model_wrapper.hpp"
#include "detail/runtime_common.hpp"
#include "detail/stream_watch.hpp"
#include "../core/event.hpp"
#include "../core/token_sink.hpp"
#include "retry_hints.hpp"

namespace cascade {

/// How cascade::with_retry retries a failing model call.
///
/// The wait before retry n (n = 1, 2, ...) is base_delay * multiplier^(n-1), at most max_delay,
/// less a random fraction of up to `jitter` of it (so that clients that failed together do not
/// retry together). A cascade::RetryAfter hint raises the wait to the hint; a hint above max_delay
/// ends the retries at once (waiting less would fail again; waiting more would stall the query
/// that the next tier could answer now).
///
///     cascade::RetryPolicy{3, std::chrono::milliseconds(200), std::chrono::seconds(5), 2.0, 0.2}
struct RetryPolicy {
    int attempts = 3;                                                ///< calls in all, the first included; >= 1
    std::chrono::nanoseconds base_delay = std::chrono::milliseconds(200);  ///< the first wait; >= 0
    std::chrono::nanoseconds max_delay = std::chrono::seconds(10);        ///< the longest wait; >= base_delay
    double multiplier = 2.0;  ///< growth of the wait per retry; finite, >= 1
    double jitter = 0.2;      ///< the largest fraction taken off a wait at random, in [0, 1]
    std::uint64_t seed = 0x9E3779B97F4A7C15ULL;  ///< the jitter's random stream; the same seed, the same waits
};

/// Throws std::invalid_argument naming the field to fix when `policy` cannot work.
inline void validate(const RetryPolicy& policy) {
    const std::string where = "cascade::RetryPolicy: ";
    if (policy.attempts < 1) {
        throw std::invalid_argument(where + "attempts must be >= 1 (the first call counts), got " +
                                    std::to_string(policy.attempts));
    }
    if (policy.base_delay < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument(where + "base_delay must be >= 0, got " + detail::describe_duration(policy.base_delay));
    }
    if (policy.max_delay < policy.base_delay) {
        throw std::invalid_argument(where + "max_delay (" + detail::describe_duration(policy.max_delay) +
                                    ") must be >= base_delay (" + detail::describe_duration(policy.base_delay) + ")");
    }
    if (!(policy.multiplier >= 1.0) || !std::isfinite(policy.multiplier)) {
        throw std::invalid_argument(where + "multiplier must be a finite number >= 1, got " +
                                    detail::describe_number(policy.multiplier));
    }
    if (!(policy.jitter >= 0.0 && policy.jitter <= 1.0)) {
        throw std::invalid_argument(where + "jitter must be in [0, 1] (a fraction of each wait), got " +
                                    detail::describe_number(policy.jitter));
    }
}

/// A snapshot of a retry wrapper's counters. Exact once the calls have finished; while they run
/// each counter is a true total of its own.
struct RetryStats {
    std::uint64_t calls = 0;        ///< calls to the wrapped model, retries included
    std::uint64_t retries = 0;      ///< calls made after a failed one
    std::uint64_t successes = 0;    ///< requests the model answered (at some attempt)
    std::uint64_t give_ups = 0;     ///< requests that failed on every attempt, or whose hint was too long
    std::uint64_t not_retried = 0;  ///< requests that failed with an error the predicate does not retry
    std::chrono::nanoseconds waited{0};  ///< total time slept between attempts
};

/// The default retry predicate: every std::exception except cascade::NotRetryable (and what
/// derives from it). Exceptions outside std::exception are not retried.
struct RetryAnyError {
    bool operator()(const std::exception& e) const noexcept { return dynamic_cast<const NotRetryable*>(&e) == nullptr; }
};
inline constexpr RetryAnyError retry_any_error{};

/// A retry predicate that retries only the listed exception types (and types derived from them):
///
///     cascade::with_retry(call_mini, policy, cascade::retry_on<RateLimited, ServerError>);
template <class... Errors>
struct RetryOn {
    static_assert(sizeof...(Errors) > 0, "cascade::retry_on: name at least one exception type");
    bool operator()(const std::exception_ptr& e) const noexcept { return (detail::thrown_is<Errors>(e) || ...); }
};
template <class... Errors>
inline constexpr RetryOn<Errors...> retry_on{};

/// Shared counters of a retry wrapper; outlive the wrapper when held (see Retrying::counters()).
/// Thread-safety: every member may be called from any thread.
class RetryCounters {
public:
    [[nodiscard]] RetryStats stats() const noexcept {
        RetryStats s;
        s.calls = calls_.load(std::memory_order_relaxed);
        s.retries = retries_.load(std::memory_order_relaxed);
        s.successes = successes_.load(std::memory_order_relaxed);
        s.give_ups = give_ups_.load(std::memory_order_relaxed);
        s.not_retried = not_retried_.load(std::memory_order_relaxed);
        s.waited = std::chrono::nanoseconds(waited_ns_.load(std::memory_order_relaxed));
        return s;
    }

private:
    template <class, class, class>
    friend class Retrying;
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> retries_{0};
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> give_ups_{0};
    std::atomic<std::uint64_t> not_retried_{0};
    std::atomic<std::int64_t> waited_ns_{0};
};

namespace detail {

template <class P>
inline constexpr bool retry_predicate_on_exception_v = std::is_invocable_r_v<bool, P&, const std::exception&>;
template <class P>
inline constexpr bool retry_predicate_on_pointer_v = std::is_invocable_r_v<bool, P&, const std::exception_ptr&>;

struct RetryState {
    explicit RetryState(std::uint64_t seed) : random(seed) {}
    RetryCounters counters;
    SharedRandom random;
    EventHook hook;  // set before the wrapper is shared, never after
    std::string source;
};

}  // namespace detail

/// A model callable that retries its model; made by cascade::with_retry.
///
/// A call calls the model until it answers, the predicate refuses its error, or the attempts run
/// out; then it rethrows the last error, so that a cascade records it and escalates. Called with
/// a CallContext (as a cascade does), no wait goes past the call's deadline (the retries stop
/// instead, so the query can escalate in time), a call that lost a hedge race is not retried, and
/// a model that takes the context gets it.
///
/// Thread-safety: operator() may be called from many threads at once when the wrapped model,
/// the predicate and the clock may be; copies share their counters.
template <class Model, class Predicate, class Clock>
class Retrying : public detail::ModelWrapper<Retrying<Model, Predicate, Clock>, Model> {
public:
    Retrying(Model model_fn, RetryPolicy retry_policy, Predicate retry_predicate, Clock retry_clock)
        : model_(std::move(model_fn)),
          predicate_(std::move(retry_predicate)),
          clock_(std::move(retry_clock)),
          policy_((validate(retry_policy), retry_policy)),
          state_(std::make_shared<detail::RetryState>(retry_policy.seed)) {}

    [[nodiscard]] RetryStats stats() const noexcept { return state_->counters.stats(); }
    /// The counters, shared: keep this to read them after the wrapper has moved into a tier.
    [[nodiscard]] std::shared_ptr<const RetryCounters> counters() const noexcept {
        return std::shared_ptr<const RetryCounters>(state_, &state_->counters);
    }
    [[nodiscard]] const RetryPolicy& policy() const noexcept { return policy_; }
    Model& model() noexcept { return model_; }

    /// Reports each retry to `hook` as an EventKind::retried event from `source`, with the error
    /// being retried as its detail. A cascade's own hook (CascadeOptions::on_event) hears the
    /// retries without this; use it for a hook of the wrapper's own.
    Retrying&& with_event_hook(EventHook hook, std::string source) && {
        state_->hook = std::move(hook);
        state_->source = std::move(source);
        return std::move(*this);
    }

private:
    friend class detail::ModelWrapper<Retrying, Model>;

    template <class Request>
    detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context, TokenSink* sink) {
        RetryCounters& c = state_->counters;
        // A stream that failed after its first chunk is not retried: the caller may have shown
        // those tokens, and a retry would show an answer twice. It escalates instead.
        detail::StreamWatch watch(sink);
        double wait_ns = static_cast<double>(policy_.base_delay.count());
        const double max_ns = static_cast<double>(policy_.max_delay.count());
        for (int attempt = 1;; ++attempt) {
            c.calls_.fetch_add(1, std::memory_order_relaxed);
            if (attempt > 1) c.retries_.fetch_add(1, std::memory_order_relaxed);
            std::exception_ptr error;
            try {
                auto answer = detail::call_model(model_, request, context, watch.sink());
                c.successes_.fetch_add(1, std::memory_order_relaxed);
                return answer;
            } catch (...) {
                error = std::current_exception();
            }
            if (!retryable(error) || watch.chunks() != 0) {
                c.not_retried_.fetch_add(1, std::memory_order_relaxed);
                std::rethrow_exception(error);
            }
            if (attempt >= policy_.attempts) {
                c.give_ups_.fetch_add(1, std::memory_order_relaxed);
                std::rethrow_exception(error);
            }
            auto wait = jittered(wait_ns);
            if (const auto hint = hint_of(error)) {
                if (*hint > policy_.max_delay) {
                    c.give_ups_.fetch_add(1, std::memory_order_relaxed);
                    std::rethrow_exception(error);
                }
                wait = std::max(wait, *hint);
            }
            // No wait past the deadline, and no retry for a call whose hedge race is lost.
            if (context && (context->remaining() <= wait || context->cancel_requested())) {
                c.give_ups_.fetch_add(1, std::memory_order_relaxed);
                std::rethrow_exception(error);
            }
            if (state_->hook || (context != nullptr && context->reports_events())) notify(error, context);
            c.waited_ns_.fetch_add(pause(wait, context).count(), std::memory_order_relaxed);
            if (context && context->cancel_requested()) {
                c.give_ups_.fetch_add(1, std::memory_order_relaxed);
                std::rethrow_exception(error);
            }
            wait_ns = std::min(wait_ns * policy_.multiplier, max_ns);
        }
    }

    // Sleeps `wait` and returns how long it slept. A call in a hedge race sleeps in short slices,
    // so that losing the race ends the wait instead of a retry after it.
    std::chrono::nanoseconds pause(std::chrono::nanoseconds wait, const CallContext* context) {
        if (context == nullptr || context->cancel_flag == nullptr) {
            clock_.sleep_for(wait);
            return wait;
        }
        constexpr std::chrono::nanoseconds slice = std::chrono::milliseconds(10);
        std::chrono::nanoseconds slept{0};
        while (slept < wait && !context->cancel_requested()) {
            const auto step = std::min(slice, wait - slept);
            clock_.sleep_for(step);
            slept += step;
        }
        return slept;
    }

    void notify(const std::exception_ptr& error, const CallContext* context) noexcept {
        try {
            const std::string what = detail::describe_exception(error);
            Event e = detail::wrapper_event(EventKind::retried, state_->source, context);
            e.detail = what;
            detail::report_wrapper_event(e, &state_->hook, context);
        } catch (...) {
            // The error's text could not be made (out of memory): the retry goes on unreported
            // rather than fail.
        }
    }

    bool retryable(const std::exception_ptr& error) {
        if constexpr (detail::retry_predicate_on_pointer_v<Predicate>) {
            return static_cast<bool>(predicate_(error));
        } else {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                return static_cast<bool>(predicate_(e));
            } catch (...) {
                return false;
            }
        }
    }

    static std::optional<std::chrono::nanoseconds> hint_of(const std::exception_ptr& error) {
        try {
            std::rethrow_exception(error);
        } catch (const RetryAfter& r) {
            return r.retry_after();
        } catch (...) {
            return std::nullopt;
        }
    }

    std::chrono::nanoseconds jittered(double wait_ns) {
        const double keep = 1.0 - policy_.jitter * state_->random.next_unit();
        return std::chrono::nanoseconds(static_cast<std::int64_t>(wait_ns * keep));
    }

    Model model_;
    Predicate predicate_;
    Clock clock_;
    RetryPolicy policy_;
    std::shared_ptr<detail::RetryState> state_;
};

/// Wraps a model so that a failed call is retried with exponential backoff and jitter:
///
///     auto mini = cascade::with_retry(call_mini, cascade::RetryPolicy{3, 200ms, 5s, 2.0, 0.2});
///     cascade::Cascade c{cascade::tier("mini", std::move(mini), confidence, 0.8), big};
///
/// `predicate` says which errors to retry: `bool(const std::exception&)` (only std::exception
/// types reach it) or `bool(const std::exception_ptr&)`; the default retries every std::exception
/// but cascade::NotRetryable. `clock` is cascade::SteadyClock, or cascade::ManualClock in tests.
/// Throws std::invalid_argument for a policy that cannot work (see validate(RetryPolicy)).
template <class Model, class Predicate = RetryAnyError, class Clock = SteadyClock>
auto with_retry(Model&& model, RetryPolicy policy, Predicate&& predicate = {}, Clock clock = {}) {
    using P = std::decay_t<Predicate>;
    static_assert(detail::retry_predicate_on_exception_v<P> || detail::retry_predicate_on_pointer_v<P>,
                  "cascade::with_retry: the predicate must be callable as bool(const std::exception&) or "
                  "bool(const std::exception_ptr&)");
    static_assert(detail::is_clock_v<Clock>,
                  "cascade::with_retry: the clock needs `std::chrono::steady_clock::time_point now() const` and "
                  "`void sleep_for(std::chrono::nanoseconds) const` (cascade::SteadyClock, cascade::ManualClock)");
    return Retrying<std::decay_t<Model>, P, Clock>(std::forward<Model>(model), policy,
                                                    std::forward<Predicate>(predicate), std::move(clock));
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_RETRY_HPP
