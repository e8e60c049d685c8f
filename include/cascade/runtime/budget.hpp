// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_BUDGET_HPP
#define CASCADE_RUNTIME_BUDGET_HPP

#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/call_context.hpp"
#include "../core/cost.hpp"
#include "../core/detail/callable_traits.hpp"
#include "../core/event.hpp"
#include "../detail/counters.hpp"
#include "detail/model_wrapper.hpp"
#include "detail/runtime_common.hpp"
#include "detail/stream_watch.hpp"
#include "retry_hints.hpp"

namespace cascade {

/// Thrown instead of calling a model when the budget cannot cover the call's estimate. It is a
/// NotRetryable: retrying does not add money, and a breaker does not count it as an outage.
class BudgetExhausted : public NotRetryable {
public:
    BudgetExhausted(const std::string& what, double estimate, double remaining)
        : NotRetryable(what), estimate_(estimate), remaining_(remaining) {}
    /// What the refused call was expected to cost.
    [[nodiscard]] double estimate() const noexcept { return estimate_; }
    /// What was left in the budget (not yet spent nor reserved) when it was refused.
    [[nodiscard]] double remaining() const noexcept { return remaining_; }

private:
    double estimate_;
    double remaining_;
};

/// A snapshot of a budget (exact once the calls have finished).
struct BudgetStats {
    double limit = 0.0;
    double spent = 0.0;     ///< settled calls' actual costs
    double reserved = 0.0;  ///< estimates of calls still in flight
    std::uint64_t reservations = 0;  ///< reservations granted
    std::uint64_t refusals = 0;      ///< reservations refused (the budget could not cover them)
    std::uint64_t overruns = 0;      ///< calls settled above their estimate
    double overrun = 0.0;            ///< dollars spent above those estimates, in all
    /// calls settled with an actual cost that is NaN, infinite, negative or above
    /// cascade::max_dollars, or whose cost function threw (with_budget): charged the estimate
    std::uint64_t cost_errors = 0;
    /// `spent` reached the most its counter holds and stopped there (only overruns of absurd size,
    /// above cascade::max_dollars in all, can do it)
    bool saturated = false;

    [[nodiscard]] double remaining() const noexcept {
        const double left = limit - spent - reserved;
        return left > 0.0 ? left : 0.0;
    }
};

/// Money shared by many threads' model calls, which are never allowed to commit more than it
/// holds.
///
///     cascade::Budget budget{25.0};                     // dollars
///     if (auto r = budget.reserve(0.01)) {              // before the call: its most it can cost
///         auto reply = call_big(q);
///         budget.settle(std::move(*r), reply.cost);     // after: what it did cost
///     }
///
/// A reservation is granted only when spent + reserved + estimate <= limit, in one atomic
/// compare-and-swap, so the sum of granted estimates never passes the limit under any number of
/// threads. Settling replaces the estimate with the actual cost. **The actual cost must not exceed
/// the estimate**: that is what keeps the spend within the budget. If it does, the excess is
/// still recorded (the money is gone; stats().overruns counts it) and the spend may pass the
/// limit by at most that excess; further reservations are refused. Amounts are kept in whole
/// nano-dollars, each rounded up, so the totals are exact and a reservation never holds less than
/// its estimate (a $4e-10 estimate reserves, and a $4e-10 cost spends, $1e-9); the budget itself
/// is rounded down, so that what it grants never passes it. Every amount, the budget too, is at
/// most cascade::max_dollars ($1e10).
///
/// Thread-safety: every member may be called from any thread; none takes a lock. A Budget neither
/// moves nor copies: share it by reference, and keep it alive while reservations are out.
class Budget {
public:
    /// A claim on part of a budget; settle it, or let it go (destroying it releases its amount).
    class Reservation {
    public:
        Reservation(Reservation&& other) noexcept
            : budget_(std::exchange(other.budget_, nullptr)), nano_(other.nano_) {}
        Reservation& operator=(Reservation&& other) noexcept {
            if (this != &other) {
                release();
                budget_ = std::exchange(other.budget_, nullptr);
                nano_ = other.nano_;
            }
            return *this;
        }
        Reservation(const Reservation&) = delete;
        Reservation& operator=(const Reservation&) = delete;
        ~Reservation() { release(); }

        /// The dollars held.
        [[nodiscard]] double amount() const noexcept { return detail::from_nano_dollars(nano_); }
        /// False once settled or released.
        [[nodiscard]] bool active() const noexcept { return budget_ != nullptr; }
        /// Gives the amount back without spending any of it.
        void release() noexcept {
            if (budget_) std::exchange(budget_, nullptr)->give_back(nano_);
        }

    private:
        friend class Budget;
        Reservation(Budget* budget, std::uint64_t nano) noexcept : budget_(budget), nano_(nano) {}
        Budget* budget_;
        std::uint64_t nano_;
    };

    /// Throws std::invalid_argument for a NaN, infinite or negative amount, or one above
    /// cascade::max_dollars (a budget that large could not be counted).
    explicit Budget(double dollars)
        : limit_(detail::to_nano_dollars_down(checked(dollars, "cascade::Budget", "the budget"))) {}

    Budget(const Budget&) = delete;
    Budget& operator=(const Budget&) = delete;

    /// Claims `estimate` dollars for a call, or returns nothing when the budget cannot cover it.
    /// Throws std::invalid_argument for a NaN, infinite or negative estimate, or one above
    /// cascade::max_dollars.
    [[nodiscard]] std::optional<Reservation> reserve(double estimate) {
        const std::uint64_t want = detail::to_nano_dollars_up(checked(estimate, "cascade::Budget::reserve", "the estimate"));
        std::uint64_t now = committed_.load(std::memory_order_relaxed);
        do {
            if (now > limit_ || want > limit_ - now) {
                refusals_.fetch_add(1, std::memory_order_relaxed);
                return std::nullopt;
            }
        } while (!committed_.compare_exchange_weak(now, now + want, std::memory_order_acq_rel, std::memory_order_relaxed));
        reservations_.fetch_add(1, std::memory_order_relaxed);
        return Reservation(this, want);
    }

    /// Turns a reservation into spend: `actual` dollars replace the estimate. An `actual` that is
    /// NaN, infinite, negative or above cascade::max_dollars is charged as the estimate (the call
    /// did happen; its price is unknown) and counted in stats().cost_errors. Settling a
    /// reservation that is no longer active does nothing.
    void settle(Reservation&& reservation, double actual) noexcept {
        if (!reservation.active()) return;
        const std::uint64_t held = reservation.nano_;
        const bool valid = actual >= 0.0 && actual <= max_dollars;
        if (!valid) cost_errors_.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t cost = valid ? detail::to_nano_dollars_up(actual) : held;
        reservation.budget_ = nullptr;
        add_saturating(spent_, cost);
        if (cost <= held) {
            committed_.fetch_sub(held - cost, std::memory_order_acq_rel);
        } else {
            // Each amount is at most max_dollars, 1e19 nano-dollars, so the committed total stays
            // below 2^64 unless overruns of that size pile up; it then holds at the maximum (and
            // refuses every reservation) instead of wrapping.
            add_saturating(committed_, cost - held);
            overruns_.fetch_add(1, std::memory_order_relaxed);
            add_saturating(overrun_nano_, cost - held);
        }
    }

    [[nodiscard]] double limit() const noexcept { return detail::from_nano_dollars(limit_); }
    [[nodiscard]] double spent() const noexcept { return detail::from_nano_dollars(spent_.load(std::memory_order_relaxed)); }
    /// Dollars neither spent nor reserved.
    [[nodiscard]] double remaining() const noexcept {
        const std::uint64_t c = committed_.load(std::memory_order_relaxed);
        return c >= limit_ ? 0.0 : detail::from_nano_dollars(limit_ - c);
    }

    [[nodiscard]] BudgetStats stats() const noexcept {
        BudgetStats s;
        const std::uint64_t committed = committed_.load(std::memory_order_acquire);
        const std::uint64_t spent = spent_.load(std::memory_order_relaxed);
        s.limit = limit();
        s.spent = detail::from_nano_dollars(spent);
        s.reserved = committed > spent ? detail::from_nano_dollars(committed - spent) : 0.0;
        s.reservations = reservations_.load(std::memory_order_relaxed);
        s.refusals = refusals_.load(std::memory_order_relaxed);
        s.overruns = overruns_.load(std::memory_order_relaxed);
        s.overrun = detail::from_nano_dollars(overrun_nano_.load(std::memory_order_relaxed));
        s.cost_errors = cost_errors_.load(std::memory_order_relaxed);
        s.saturated = spent == detail::max_count;
        return s;
    }

private:
    static double checked(double dollars, const char* where, const char* what) {
        if (!(dollars >= 0.0) || !std::isfinite(dollars)) {
            throw std::invalid_argument(std::string(where) + ": " + what + " must be a finite number of dollars >= 0, got " +
                                        detail::describe_number(dollars));
        }
        if (dollars > max_dollars) {
            throw std::invalid_argument(std::string(where) + ": " + what + " must be at most $" +
                                        detail::describe_number(max_dollars) +
                                        " (cascade::max_dollars, what the budget can count in nano-dollars), got $" +
                                        detail::describe_number(dollars));
        }
        return dollars;
    }

    // An addition that holds at the maximum instead of wrapping; only absurd overruns reach it.
    static void add_saturating(std::atomic<std::uint64_t>& total, std::uint64_t delta) noexcept {
        std::uint64_t now = total.load(std::memory_order_relaxed);
        while (!total.compare_exchange_weak(now, now > detail::max_count - delta ? detail::max_count : now + delta,
                                            std::memory_order_acq_rel, std::memory_order_relaxed)) {
        }
    }

    void give_back(std::uint64_t nano) noexcept { committed_.fetch_sub(nano, std::memory_order_acq_rel); }

    std::uint64_t limit_;
    std::atomic<std::uint64_t> committed_{0};  // spent + reserved
    std::atomic<std::uint64_t> spent_{0};
    std::atomic<std::uint64_t> reservations_{0};
    std::atomic<std::uint64_t> refusals_{0};
    std::atomic<std::uint64_t> overruns_{0};
    std::atomic<std::uint64_t> overrun_nano_{0};
    std::atomic<std::uint64_t> cost_errors_{0};
};

/// Charges every call the same: the estimate (a model with a fixed price per call).
struct ChargeEstimate {};

namespace detail {
// What with_budget needs of a budget: cascade::Budget's reserve, settle, remaining and limit.
template <class B, class = void>
struct is_budget : std::false_type {};
template <class B>
struct is_budget<B, std::void_t<decltype(*std::declval<B&>().reserve(1.0)),
                                decltype(std::declval<B&>().settle(std::move(*std::declval<B&>().reserve(1.0)), 1.0)),
                                decltype(static_cast<double>(std::declval<B&>().remaining())),
                                decltype(static_cast<double>(std::declval<B&>().limit()))>> : std::true_type {};

// Whether a budget's reserve also takes the call's context, to wait no longer than its deadline
// (a budget kept elsewhere, such as cascade::redis::SharedBudget, does).
template <class B, class = void>
struct reserve_takes_context : std::false_type {};
template <class B>
struct reserve_takes_context<B, std::void_t<decltype(std::declval<B&>().reserve(1.0, std::declval<const CallContext&>()))>>
    : std::true_type {};
}  // namespace detail

/// A model callable that spends from a shared cascade::Budget (or another budget with its members,
/// such as cascade::redis::SharedBudget); made by cascade::with_budget.
/// A call reserves the estimate, calls the model and settles with the actual cost; it throws
/// cascade::BudgetExhausted without calling the model when the budget cannot cover it. Called with
/// a CallContext (as a cascade does), it passes the context on to a model that takes one, and to
/// the budget's reserve when that takes one.
/// Thread-safety: operator() may be called from many threads at once when the model and the cost
/// function may be.
template <class Model, class CostFn, class BudgetType = Budget>
class Budgeted : public detail::ModelWrapper<Budgeted<Model, CostFn, BudgetType>, Model> {
    static_assert(detail::is_budget<BudgetType>::value,
                  "cascade::with_budget: the budget must be a cascade::Budget, or have its members: reserve(double) "
                  "returning an optional reservation, settle(reservation&&, double), remaining() and limit()");

public:
    Budgeted(Model model_fn, BudgetType& shared_budget, double estimate_per_call, CostFn cost_function)
        : model_(std::move(model_fn)),
          budget_(&shared_budget),
          estimate_(estimate_per_call),
          cost_fn_(std::move(cost_function)) {
        if (!(estimate_ > 0.0 && estimate_ <= max_dollars)) {
            throw std::invalid_argument(
                "cascade::with_budget: estimate_per_call must be a finite number of dollars > 0 and at most $" +
                detail::describe_number(max_dollars) + " (cascade::max_dollars; the most one call can cost), got " +
                detail::describe_number(estimate_));
        }
    }

    [[nodiscard]] BudgetType& budget() const noexcept { return *budget_; }
    [[nodiscard]] double estimate() const noexcept { return estimate_; }
    Model& model() noexcept { return model_; }

private:
    friend class detail::ModelWrapper<Budgeted, Model>;

    template <class Request>
    detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context, TokenSink* sink) {
        using Response = detail::model_response_t<Model, Request>;
        auto reservation = reserve(context);
        if (!reservation) {
            if (context != nullptr) context->report(detail::wrapper_event(EventKind::budget_refused, {}, context));
            const double left = budget_->remaining();
            throw BudgetExhausted("cascade: budget exhausted: a call estimated at $" + detail::describe_number(estimate_) +
                                      " does not fit in the $" + detail::describe_number(left) + " left of $" +
                                      detail::describe_number(budget_->limit()),
                                  estimate_, left);
        }
        // A call that throws is not charged: its reservation is released when it unwinds. But a
        // stream that produced tokens before it threw (cut, or stopped and ended by throwing) was
        // paid for, and what it cost is unknown: it is charged the estimate.
        detail::StreamWatch watch(sink);
        try {
            Response answer = detail::call_model(model_, request, context, watch.sink());
            budget_->settle(std::move(*reservation), actual_cost(request, answer));
            return answer;
        } catch (...) {
            if (watch.chunks() != 0) budget_->settle(std::move(*reservation), estimate_);
            throw;
        }
    }

    auto reserve(const CallContext* context) {
        if constexpr (detail::reserve_takes_context<BudgetType>::value) {
            if (context != nullptr) return budget_->reserve(estimate_, *context);
        }
        return budget_->reserve(estimate_);
    }

    template <class Request, class Response>
    double actual_cost(const Request& request, const Response& answer) noexcept {
        if constexpr (std::is_same_v<CostFn, ChargeEstimate>) {
            return estimate_;
        } else {
            static_assert(detail::cost_callable_v<CostFn, Request, Response>,
                          "cascade::with_budget: the cost function must be callable as double(const Response&) or "
                          "double(const Request&, const Response&), in dollars");
            try {
                if constexpr (detail::cost_two_args_v<CostFn, Request, Response>) {
                    return static_cast<double>(cost_fn_(request, answer));
                } else {
                    return static_cast<double>(cost_fn_(answer));
                }
            } catch (...) {
                // Not a price: settle() charges the estimate (the call happened; the most it
                // could cost) and counts a cost error, as for a cost that is NaN.
                return std::numeric_limits<double>::quiet_NaN();
            }
        }
    }

    Model model_;
    BudgetType* budget_;
    double estimate_;
    CostFn cost_fn_;
};

/// Wraps a model so that each call spends from `budget`: it reserves `estimate_per_call` dollars
/// first and throws cascade::BudgetExhausted when the budget cannot cover it (the cascade records
/// the tier as failed and escalates, or the query ends unanswered), then settles with
/// `cost_fn(response)` or `cost_fn(request, response)`. Without cost_fn every call costs the
/// estimate.
///
///     cascade::Budget budget{25.0};
///     auto big = cascade::with_budget(call_big, budget, 0.02, [](const Reply& r) { return r.tokens * 15e-6; });
///
/// The estimate must bound the actual cost (see Budget). A cost function that throws, or returns
/// NaN, infinity, a negative value or one above cascade::max_dollars, charges the estimate and is
/// counted in BudgetStats::cost_errors (the rule a Cascade applies to a tier's cost function). A
/// call that throws is not charged; a call that answers is, however long it took (a cascade that
/// drops it for its tier's time limit still paid for it). A refused call is reported to the
/// query's hook (CascadeOptions::on_event) as EventKind::budget_refused.
/// The budget is shared, not owned. Throws std::invalid_argument for an estimate that is not a
/// finite number > 0, or is above cascade::max_dollars.
///
/// `budget` may also be another type with Budget's members, such as cascade::redis::SharedBudget
/// (one budget for many processes); a reserve that takes the call's CallContext is given it.
template <class Model, class BudgetType, class CostFn = ChargeEstimate>
auto with_budget(Model&& model, BudgetType& budget, double estimate_per_call, CostFn&& cost_fn = {}) {
    return Budgeted<std::decay_t<Model>, std::decay_t<CostFn>, BudgetType>(std::forward<Model>(model), budget,
                                                                           estimate_per_call, std::forward<CostFn>(cost_fn));
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_BUDGET_HPP
