// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_CONCURRENCY_LIMIT_HPP
#define CASCADE_RUNTIME_CONCURRENCY_LIMIT_HPP

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/call_context.hpp"
#include "../core/detail/callable_traits.hpp"
#include "../core/detail/exception_text.hpp"
#include "../core/event.hpp"
#include "detail/model_wrapper.hpp"
#include "detail/runtime_common.hpp"

namespace cascade {

/// Thrown by a concurrency-limited model when no slot came free in time; the cascade records it
/// as the tier's failure and escalates.
class ConcurrencyLimitReached : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A model that lets at most `max_in_flight` calls run at once, e.g. to stay under a provider's
/// concurrency quota or a local server's capacity. A call that finds every slot taken waits, up
/// to `max_wait` and never past the call's deadline (CallContext), then throws
/// ConcurrencyLimitReached. Copies share the slots. A call refused so is reported to the query's
/// hook (CascadeOptions::on_event) as EventKind::concurrency_limited.
///
///     auto mini = cascade::tier("mini", cascade::with_concurrency_limit(call_mini, 8), ...);
///
/// Called without a CallContext (directly rather than by a cascade), a call waits for a slot no
/// longer than `max_wait`.
///
/// Thread-safety: may be called from any number of threads at once (that is its purpose); the
/// wrapped model is then called by at most `max_in_flight` of them at a time.
template <class Model>
class ConcurrencyLimited : public detail::ModelWrapper<ConcurrencyLimited<Model>, Model> {
public:
    ConcurrencyLimited(Model model_fn, std::size_t max_in_flight, std::optional<std::chrono::nanoseconds> max_wait)
        : model_(std::move(model_fn)), slots_(std::make_shared<Slots>()), max_wait_(max_wait) {
        if (max_in_flight == 0) {
            throw std::invalid_argument("cascade::with_concurrency_limit: max_in_flight must be at least 1");
        }
        if (max_wait_ && *max_wait_ < std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::with_concurrency_limit: max_wait must be >= 0, got " +
                                        detail::describe_duration(*max_wait_));
        }
        slots_->free = max_in_flight;
    }

    /// Calls running right now.
    [[nodiscard]] std::size_t in_flight() const {
        std::lock_guard<std::mutex> lock(slots_->mutex);
        return slots_->taken;
    }

private:
    friend class detail::ModelWrapper<ConcurrencyLimited, Model>;

    template <class Request>
    detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context, TokenSink* sink) {
        Slot slot(*slots_, context ? wait_budget(*context) : max_wait_, context);
        return detail::call_model(model_, request, context, sink);
    }

    struct Slots {
        std::mutex mutex;
        std::condition_variable freed;
        std::size_t free = 0;
        std::size_t taken = 0;
    };

    // Holds one slot for the length of a call, released however the call ends.
    class Slot {
    public:
        Slot(Slots& slots, std::optional<std::chrono::nanoseconds> wait, const CallContext* context) : slots_(slots) {
            std::unique_lock<std::mutex> lock(slots_.mutex);
            const auto has_free = [this] { return slots_.free > 0; };
            if (!wait) {
                slots_.freed.wait(lock, has_free);
            } else if (!slots_.freed.wait_for(lock, *wait, has_free)) {
                const std::size_t busy = slots_.taken;
                lock.unlock();
                if (context != nullptr) {
                    context->report(detail::wrapper_event(EventKind::concurrency_limited, {}, context));
                }
                throw ConcurrencyLimitReached("cascade::with_concurrency_limit: " +
                                              (busy == 1 ? std::string("the only slot") : "all " + detail::count_of(busy, "slot")) +
                                              " stayed busy for " + detail::describe_duration(*wait));
            }
            --slots_.free;
            ++slots_.taken;
        }
        ~Slot() {
            {
                std::lock_guard<std::mutex> lock(slots_.mutex);
                ++slots_.free;
                --slots_.taken;
            }
            slots_.freed.notify_one();
        }
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;

    private:
        Slots& slots_;
    };

    // How long a call may wait for a slot: the configured wait, cut short by the call's deadline.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> wait_budget(const CallContext& context) const {
        const auto remaining = context.remaining();
        if (remaining == std::chrono::nanoseconds::max()) return max_wait_;
        return max_wait_ ? std::min(*max_wait_, remaining) : remaining;
    }

    Model model_;
    std::shared_ptr<Slots> slots_;
    std::optional<std::chrono::nanoseconds> max_wait_;
};

/// Wraps `model` so that at most `max_in_flight` calls run at once; see ConcurrencyLimited.
/// Without `max_wait` a call waits for a slot as long as its deadline allows (forever without one).
template <class Model>
auto with_concurrency_limit(Model&& model, std::size_t max_in_flight,
                            std::optional<std::chrono::nanoseconds> max_wait = std::nullopt) {
    return ConcurrencyLimited<std::decay_t<Model>>(std::forward<Model>(model), max_in_flight, max_wait);
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_CONCURRENCY_LIMIT_HPP
