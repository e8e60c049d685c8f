// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_BREAKER_HPP
#define CASCADE_RUNTIME_BREAKER_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../core/call_context.hpp"
#include "clock.hpp"
#include "../core/detail/callable_traits.hpp"
#include "detail/model_wrapper.hpp"
#include "detail/runtime_common.hpp"
#include "../core/event.hpp"
#include "retry_hints.hpp"

namespace cascade {

/// When a circuit breaker opens and how it recovers.
///
///     cascade::BreakerPolicy{5, std::chrono::seconds(30), 1}
struct BreakerPolicy {
    int failure_threshold = 5;  ///< consecutive failures that open the breaker; >= 1
    std::chrono::nanoseconds cool_down = std::chrono::seconds(30);  ///< how long it stays open; > 0
    int half_open_probes = 1;  ///< calls let through at once after the cool-down; >= 1
};

/// Throws std::invalid_argument naming the field to fix when `policy` cannot work.
inline void validate(const BreakerPolicy& policy) {
    const std::string where = "cascade::BreakerPolicy: ";
    if (policy.failure_threshold < 1) {
        throw std::invalid_argument(where + "failure_threshold must be >= 1 (consecutive failures that open it), got " +
                                    std::to_string(policy.failure_threshold));
    }
    if (policy.cool_down <= std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument(where + "cool_down must be > 0, got " + detail::describe_duration(policy.cool_down));
    }
    if (policy.half_open_probes < 1) {
        throw std::invalid_argument(where + "half_open_probes must be >= 1 (calls let through to test recovery), got " +
                                    std::to_string(policy.half_open_probes));
    }
}

enum class BreakerState {
    closed,     ///< calls go through; consecutive failures are counted
    open,       ///< calls fail fast with cascade::BreakerOpen until the cool-down ends
    half_open,  ///< a few probe calls go through: a success closes it, a failure opens it again
};

constexpr std::string_view to_string(BreakerState s) noexcept {
    switch (s) {
        case BreakerState::closed: return "closed";
        case BreakerState::open: return "open";
        case BreakerState::half_open: return "half-open";
    }
    return "unknown";
}

/// Thrown instead of calling the model while the breaker is open (or its probes are all out).
/// It is a RetryAfter whose hint is the rest of the cool-down, so a cascade records the tier as
/// failed and escalates, and a retry wrapper outside the breaker waits or gives up.
class BreakerOpen : public RetryAfter {
public:
    using RetryAfter::RetryAfter;
};

/// A snapshot of a breaker's counters (exact once the calls have finished).
struct BreakerStats {
    BreakerState state = BreakerState::closed;
    std::uint64_t calls = 0;      ///< calls let through to the model
    std::uint64_t successes = 0;  ///< calls that answered
    std::uint64_t failures = 0;   ///< calls that threw an error counted against the service
    std::uint64_t rejected = 0;   ///< calls refused with BreakerOpen
    std::uint64_t opened = 0;     ///< times the breaker opened
};

/// The state machine of a circuit breaker, shared by every wrapper (and thread) that calls one
/// service. Most users get one from cascade::with_breaker; make one yourself to share it between
/// several tiers that call the same endpoint.
///
/// Thread-safety: every member may be called from any thread. A closed breaker admits and records
/// calls with atomics only; the transitions take a mutex.
template <class Clock = SteadyClock>
class CircuitBreaker {
    static_assert(detail::is_clock_v<Clock>,
                  "cascade::CircuitBreaker: the clock needs `std::chrono::steady_clock::time_point now() const` and "
                  "`void sleep_for(std::chrono::nanoseconds) const` (cascade::SteadyClock, cascade::ManualClock)");

public:
    /// A permission to call, from admit(); hand it back to record_success or record_failure.
    struct Ticket {
        bool probe = false;
    };

    /// Throws std::invalid_argument for a policy that cannot work (see validate(BreakerPolicy)).
    /// `name`, when given, is said in BreakerOpen's message and is the source of its events.
    explicit CircuitBreaker(BreakerPolicy policy, Clock clock = {}, std::string name = {})
        : policy_((validate(policy), policy)), clock_(std::move(clock)), name_(std::move(name)) {}

    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    /// Lets a call through, or throws BreakerOpen.
    Ticket admit() {
        if (state_.load(std::memory_order_acquire) == BreakerState::closed) return admitted(false);
        std::lock_guard<std::mutex> lock(mutex_);
        const std::chrono::steady_clock::time_point now = clock_.now();
        BreakerState s = state_.load(std::memory_order_relaxed);
        if (s == BreakerState::open && now - opened_at_ >= policy_.cool_down) {
            s = BreakerState::half_open;
            probes_out_ = 0;
            state_.store(s, std::memory_order_release);
        }
        switch (s) {
            case BreakerState::closed: return admitted(false);
            case BreakerState::half_open:
                if (probes_out_ < policy_.half_open_probes) {
                    ++probes_out_;
                    return admitted(true);
                }
                // The probes will settle it; ask callers to come back after a cool-down at most.
                reject(policy_.cool_down, "its probe calls are still out");
                break;
            case BreakerState::open: reject(policy_.cool_down - (now - opened_at_), "it is open"); break;
        }
        return Ticket{};
    }

    void record_success(Ticket ticket) noexcept {
        successes_.fetch_add(1, std::memory_order_relaxed);
        if (ticket.probe) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (state_.load(std::memory_order_relaxed) == BreakerState::half_open) {
                consecutive_.store(0, std::memory_order_relaxed);
                state_.store(BreakerState::closed, std::memory_order_release);
            }
            --probes_out_;
        } else if (consecutive_.load(std::memory_order_relaxed) != 0) {
            // Only write when needed: the cache line stays shared while the service is healthy.
            consecutive_.store(0, std::memory_order_relaxed);
        }
    }

    /// True when this failure opened the breaker.
    bool record_failure(Ticket ticket) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        bool opened = false;
        if (ticket.probe) {
            std::lock_guard<std::mutex> lock(mutex_);
            --probes_out_;
            if (state_.load(std::memory_order_relaxed) == BreakerState::half_open) opened = open_now();
        } else if (consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >=
                   static_cast<std::uint64_t>(policy_.failure_threshold)) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (state_.load(std::memory_order_relaxed) == BreakerState::closed &&
                consecutive_.load(std::memory_order_relaxed) >= static_cast<std::uint64_t>(policy_.failure_threshold)) {
                opened = open_now();
            }
        }
        if (opened && hook_) notify();  // outside the lock: the hook may read the breaker
        return opened;
    }

    /// Reports each opening to `hook` as an EventKind::breaker_opened event from `source`, which
    /// also becomes the breaker's name. Not thread-safe: set it before the breaker is used.
    void set_event_hook(EventHook hook, std::string source) {
        hook_ = std::move(hook);
        name_ = std::move(source);
    }

    /// Hands back a ticket whose call ended with an error that says nothing of the service's
    /// health (see cascade::NotRetryable).
    void record_neutral(Ticket ticket) noexcept {
        if (ticket.probe) {
            std::lock_guard<std::mutex> lock(mutex_);
            --probes_out_;
        }
    }

    /// The state now; an open breaker whose cool-down is over reads as half-open.
    [[nodiscard]] BreakerState state() const {
        const BreakerState s = state_.load(std::memory_order_acquire);
        if (s != BreakerState::open) return s;
        std::lock_guard<std::mutex> lock(mutex_);
        return clock_.now() - opened_at_ >= policy_.cool_down ? BreakerState::half_open : BreakerState::open;
    }

    [[nodiscard]] BreakerStats stats() const {
        BreakerStats s;
        s.state = state();
        s.calls = calls_.load(std::memory_order_relaxed);
        s.successes = successes_.load(std::memory_order_relaxed);
        s.failures = failures_.load(std::memory_order_relaxed);
        s.rejected = rejected_.load(std::memory_order_relaxed);
        s.opened = opened_.load(std::memory_order_relaxed);
        return s;
    }

    [[nodiscard]] const BreakerPolicy& policy() const noexcept { return policy_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    Ticket admitted(bool probe) noexcept {
        calls_.fetch_add(1, std::memory_order_relaxed);
        return Ticket{probe};
    }

    [[noreturn]] void reject(std::chrono::nanoseconds wait, const char* why) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        const std::string breaker = name_.empty() ? "circuit breaker" : "circuit breaker \"" + name_ + "\"";
        throw BreakerOpen("cascade: " + breaker + " refused the call: " + why + " (retry in " +
                              detail::describe_duration(wait) + ")",
                          wait);
    }

    bool open_now() {  // with mutex_ held
        opened_at_ = clock_.now();
        state_.store(BreakerState::open, std::memory_order_release);
        opened_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    void notify() noexcept { detail::report_wrapper_event(detail::wrapper_event(EventKind::breaker_opened, name_, nullptr), &hook_, nullptr); }

    BreakerPolicy policy_;
    Clock clock_;
    std::string name_;
    std::atomic<BreakerState> state_{BreakerState::closed};
    std::atomic<std::uint64_t> consecutive_{0};
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> opened_{0};
    mutable std::mutex mutex_;
    std::chrono::steady_clock::time_point opened_at_{};
    int probes_out_ = 0;
    EventHook hook_;
};

/// Which errors count against a service's health: every one but cascade::NotRetryable (a refused
/// budget, a bad request) and what derives from it.
struct CountAnyFailure {
    bool operator()(const std::exception_ptr& e) const noexcept { return !detail::thrown_is<NotRetryable>(e); }
};

/// A model callable guarded by a circuit breaker; made by cascade::with_breaker.
/// A call calls the model unless the breaker is open, and throws cascade::BreakerOpen when it is.
/// Called with a CallContext (as a cascade does), it passes the context on to a model that takes
/// one.
/// Thread-safety: operator() may be called from many threads at once when the model may be.
template <class Model, class Clock, class FailurePredicate = CountAnyFailure>
class Breaking : public detail::ModelWrapper<Breaking<Model, Clock, FailurePredicate>, Model> {
public:
    Breaking(Model model_fn, std::shared_ptr<CircuitBreaker<Clock>> shared_breaker, FailurePredicate counts = {})
        : model_(std::move(model_fn)), breaker_(std::move(shared_breaker)), counts_(std::move(counts)) {
        if (!breaker_) throw std::invalid_argument("cascade::with_breaker: the shared breaker must not be null");
    }

    [[nodiscard]] BreakerState state() const { return breaker_->state(); }
    [[nodiscard]] BreakerStats stats() const { return breaker_->stats(); }
    /// The breaker, shared: keep it to watch the state after the wrapper has moved into a tier.
    [[nodiscard]] const std::shared_ptr<CircuitBreaker<Clock>>& breaker() const noexcept { return breaker_; }
    Model& model() noexcept { return model_; }

    /// Reports each opening of the breaker to `hook` (EventKind::breaker_opened, from `source`).
    /// Call it before the wrapper is used; it sets the hook of the shared breaker. A cascade's own
    /// hook (CascadeOptions::on_event) hears the opening a call of its query caused without this.
    Breaking&& with_event_hook(EventHook hook, std::string source) && {
        breaker_->set_event_hook(std::move(hook), std::move(source));
        return std::move(*this);
    }

private:
    friend class detail::ModelWrapper<Breaking, Model>;

    template <class Request>
    detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context, TokenSink* sink) {
        const auto ticket = breaker_->admit();
        // A stream that stalled is the server's failure, whether its model then returned what it
        // had or threw that it was stopped (a stop is otherwise no one's fault).
        const auto stalled = [sink] { return sink != nullptr && sink->stop_cause() == StopCause::stalled; };
        try {
            auto answer = detail::call_model(model_, request, context, sink);
            if (stalled()) {
                if (breaker_->record_failure(ticket) && context != nullptr && context->reports_events()) {
                    context->report(detail::wrapper_event(EventKind::breaker_opened, breaker_->name(), context));
                }
            } else {
                breaker_->record_success(ticket);
            }
            return answer;
        } catch (...) {
            if (stalled() || counts_(std::current_exception())) {
                if (breaker_->record_failure(ticket) && context != nullptr && context->reports_events()) {
                    context->report(detail::wrapper_event(EventKind::breaker_opened, breaker_->name(), context));
                }
            } else {
                breaker_->record_neutral(ticket);
            }
            throw;
        }
    }

    Model model_;
    std::shared_ptr<CircuitBreaker<Clock>> breaker_;
    FailurePredicate counts_;
};

/// Wraps a model in a circuit breaker: after `failure_threshold` consecutive failures, calls fail
/// fast with cascade::BreakerOpen for `cool_down` (the cascade records the tier as failed and
/// escalates at once instead of waiting on a service that is down), then `half_open_probes` calls
/// test the service: a success closes the breaker, a failure opens it again.
///
///     auto mini = cascade::with_breaker(call_mini, cascade::BreakerPolicy{5, std::chrono::seconds(30), 1});
///
/// Every error but cascade::NotRetryable counts as a failure. Throws std::invalid_argument for a
/// policy that cannot work.
template <class Model, class Clock = SteadyClock>
auto with_breaker(Model&& model, BreakerPolicy policy, Clock clock = {}) {
    return Breaking<std::decay_t<Model>, Clock>(std::forward<Model>(model),
                                                std::make_shared<CircuitBreaker<Clock>>(policy, std::move(clock)));
}

/// Wraps a model in a breaker shared with other wrappers, e.g. every tier that calls one endpoint.
template <class Model, class Clock>
auto with_breaker(Model&& model, std::shared_ptr<CircuitBreaker<Clock>> breaker) {
    return Breaking<std::decay_t<Model>, Clock>(std::forward<Model>(model), std::move(breaker));
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_BREAKER_HPP
