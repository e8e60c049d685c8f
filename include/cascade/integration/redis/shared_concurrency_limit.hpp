// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SHARED_CONCURRENCY_LIMIT_HPP
#define CASCADE_INTEGRATION_REDIS_SHARED_CONCURRENCY_LIMIT_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../../core/call_context.hpp"
#include "../../core/detail/exception_text.hpp"
#include "../../core/event.hpp"
#include "../../runtime/concurrency_limit.hpp"
#include "../../runtime/detail/model_wrapper.hpp"
#include "../../runtime/detail/runtime_common.hpp"
#include "client.hpp"
#include "detail/concurrency_limit_scripts.hpp"
#include "detail/deadline.hpp"
#include "detail/keys.hpp"
#include "detail/shared_component.hpp"
#include "redis_error.hpp"
#include "script.hpp"
#include "server_options.hpp"

namespace cascade::redis {

/// How a SharedConcurrencyLimit shares its slots.
///
///     cascade::redis::SharedConcurrencyLimitOptions options;
///     options.max_in_flight = 32;                       // across every replica
///     options.lease = std::chrono::seconds(10);         // a dead replica's slot comes back after this
struct SharedConcurrencyLimitOptions {
    /// Calls that may run at once across every process that uses the limit's name; >= 1 (and
    /// below 2^53, as Lua counts in doubles).
    std::size_t max_in_flight = 1;
    /// How long a slot stays taken without renewal. A running call's slot is renewed every
    /// lease / 3 by a thread of the limit, so the lease bounds only how long the slot of a process
    /// that died (or lost Redis) stays taken. >= 30 ms; keep it several times
    /// ServerOptions::command_timeout, or a renewal that is slow can come too late.
    std::chrono::milliseconds lease{std::chrono::seconds(10)};
    /// What a call does when Redis cannot be reached in time.
    WhenUnavailable when_unavailable = WhenUnavailable::fail_closed;
    /// Under WhenUnavailable::use_local: the slots of the local limit, per process, that stands in
    /// while Redis is unreachable. The fleet's total is then not enforced: N processes may run
    /// N * local_max_in_flight calls. >= 1 under use_local; unused otherwise.
    std::size_t local_max_in_flight = 0;
};

/// Throws std::invalid_argument naming the field to fix when `options` cannot work.
inline void validate(const SharedConcurrencyLimitOptions& options) {
    const std::string where = "cascade::redis::SharedConcurrencyLimitOptions: ";
    if (options.max_in_flight == 0) throw std::invalid_argument(where + "max_in_flight must be at least 1");
    if (options.max_in_flight >= (std::size_t{1} << 53)) {
        throw std::invalid_argument(where + "max_in_flight must be below 2^53 (Lua counts in doubles), got " +
                                    std::to_string(options.max_in_flight));
    }
    if (options.lease < std::chrono::milliseconds(30)) {
        throw std::invalid_argument(where + "lease must be at least 30 ms (it is renewed every lease / 3), got " +
                                    std::to_string(options.lease.count()) + " ms");
    }
    if (options.lease > std::chrono::hours(24 * 7)) {
        // Only a dead process's slot waits out its lease: a week is already far longer than useful.
        throw std::invalid_argument(where + "lease must be at most 7 days, got " + std::to_string(options.lease.count()) +
                                    " ms");
    }
    if (options.when_unavailable == WhenUnavailable::use_local && options.local_max_in_flight == 0) {
        throw std::invalid_argument(where +
                                    "local_max_in_flight must be at least 1 under WhenUnavailable::use_local (the "
                                    "slots of each process while Redis is unreachable)");
    }
}

/// A snapshot of a SharedConcurrencyLimit's counters. The counters are this process's.
struct SharedConcurrencyLimitStats {
    /// Slots taken across the fleet now, as the server counts them (expired leases left out);
    /// empty when the server could not be asked.
    std::optional<std::size_t> in_flight;
    std::uint64_t acquired = 0;          ///< slots this process took on the server
    std::uint64_t refused = 0;           ///< calls refused with ConcurrencyLimitReached (no slot in time)
    std::uint64_t reclaimed = 0;         ///< expired leases (of dead or cut-off holders) this process took back
    std::uint64_t unavailable = 0;       ///< calls that found Redis unreachable or too slow
    std::uint64_t local_fallbacks = 0;   ///< of those, calls that took a slot of the local limit instead
    std::uint64_t leases_lost = 0;       ///< slots whose lease ran out while their call still ran
    std::uint64_t release_failures = 0;  ///< slots left to expire because their release did not reach Redis
};

/// The slots of a concurrency limit shared by every process that uses its name, e.g. a provider's
/// quota of concurrent requests split among the replicas of a service; the fleet-wide twin of
/// cascade::with_concurrency_limit. Use it through with_shared_concurrency_limit.
///
///     cascade::redis::Client redis{cascade::redis::ServerOptions{}};
///     cascade::redis::SharedConcurrencyLimitOptions options;
///     options.max_in_flight = 32;
///     cascade::redis::SharedConcurrencyLimit slots{redis, "openai", options};
///     auto big = cascade::redis::with_shared_concurrency_limit(call_big, slots, std::chrono::seconds(2));
///
/// A slot is a lease: an entry of the sorted set `cascade:{concurrency:NAME}:leases`, its member a
/// holder id unique to the call (a random nonce of the limit and a counter), its score the time
/// the lease ends on the server's clock (ms). Taking a slot first drops the expired leases, so a
/// process killed mid-call frees its slot once its lease ends; a thread of the limit renews the
/// leases of running calls every lease / 3, so a long call keeps its slot. A call that finds every
/// slot taken polls (1 ms, doubling to 20 ms) until one frees, up to its wait and never past its
/// deadline (CallContext), then throws cascade::ConcurrencyLimitReached and reports
/// EventKind::concurrency_limited. The key expires a minute after the last lease written to it
/// would end, so that a name no longer used leaves nothing behind.
///
/// When Redis cannot be reached in time, the call reports EventKind::shared_state_unavailable and
/// either throws the RedisError (WhenUnavailable::fail_closed, the default) or takes a slot of a
/// local limit of local_max_in_flight slots (use_local; the fleet's total is then not enforced).
/// A slot is released however its call ends, with one round trip (command_timeout at most, after
/// the deadline too); a release or an acquisition whose reply is lost leaves the slot taken until
/// its lease ends.
///
/// Make it after fork(): the renewal thread and the nonce belong to the process that made it.
///
/// Lifetime: the limit neither moves nor copies, and keeps a reference to its Client. The Client
/// must outlive the limit, and the limit every call through it: its Slots and the models
/// with_shared_concurrency_limit made from it (as a cascade::Budget outlives with_budget's).
///
/// Thread-safety: every member may be called from any thread.
class SharedConcurrencyLimit {
public:
    /// A slot, held until destroyed. Move-only; must not outlive its limit.
    class Slot {
    public:
        Slot(Slot&& other) noexcept
            : limit_(std::exchange(other.limit_, nullptr)),
              id_(std::move(other.id_)),
              local_(other.local_) {}
        Slot& operator=(Slot&&) = delete;
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        ~Slot() {
            if (limit_ != nullptr) limit_->release(id_, local_);
        }
        /// True when the slot is one of the local limit's (Redis was unreachable).
        [[nodiscard]] bool local() const noexcept { return local_; }

    private:
        friend class SharedConcurrencyLimit;
        Slot(SharedConcurrencyLimit* limit, std::string id, bool local)
            : limit_(limit),
              id_(std::move(id)),
              local_(local) {}
        SharedConcurrencyLimit* limit_;
        std::string id_;
        bool local_;
    };

    /// Throws std::invalid_argument for a name that cannot be a key (see the keys
    /// above) or options that cannot work (see validate(SharedConcurrencyLimitOptions)). Does not
    /// connect; starts the renewal thread. `client` is kept by reference: it must outlive the limit.
    SharedConcurrencyLimit(Client& client, std::string name, SharedConcurrencyLimitOptions options)
        : client_(&client),
          name_(std::move(name)),
          key_(detail::key_prefix("concurrency", name_, "cascade::redis::SharedConcurrencyLimit") + ":leases"),
          options_((validate(options), options)),
          lease_ms_(std::to_string(options_.lease.count())),
          limit_text_(std::to_string(options_.max_in_flight)),
          nonce_(detail::random_nonce(this)) {
        local_free_ = options_.local_max_in_flight;
        watchdog_ = std::thread([this] { renew_leases(); });
    }

    SharedConcurrencyLimit(const SharedConcurrencyLimit&) = delete;
    SharedConcurrencyLimit& operator=(const SharedConcurrencyLimit&) = delete;

    /// Stops the renewal thread. Every Slot must be gone by now.
    ~SharedConcurrencyLimit() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        watchdog_.join();
    }

    /// Takes a slot, waiting up to `max_wait` (no limit when empty) and never past the deadline of
    /// `context` (none when null). Throws cascade::ConcurrencyLimitReached when no slot came free
    /// in time, RedisError when Redis is unreachable under fail_closed, or wrong_type when the key
    /// holds something else than a sorted set.
    Slot acquire(std::optional<std::chrono::nanoseconds> max_wait, const CallContext* context = nullptr) {
        using clock = std::chrono::steady_clock;
        if (max_wait && *max_wait < std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument(who() + ": max_wait must be >= 0, got " +
                                        cascade::detail::describe_duration(*max_wait));
        }
        const clock::time_point start = clock::now();
        const clock::time_point deadline = detail::call_deadline(context);
        std::optional<std::chrono::nanoseconds> wait = max_wait;
        if (deadline != clock::time_point::max()) {
            const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - start);
            wait = wait ? std::min(*wait, left) : left;
        }
        if (context != nullptr && context->remaining() == std::chrono::nanoseconds::zero()) {
            refuse(context, std::nullopt, std::chrono::nanoseconds::zero());
        }
        // A wait of nanoseconds::max() ("as long as it takes") must not wrap into the past.
        const clock::time_point wait_until = wait ? detail::later(start, *wait) : clock::time_point::max();
        const std::string id = nonce_ + "-" + std::to_string(next_id_.fetch_add(1, std::memory_order_relaxed));
        std::chrono::nanoseconds backoff = std::chrono::milliseconds(1);
        std::optional<std::size_t> busy;  // slots taken at the last poll
        for (;;) {
            long long held = 0;
            try {
                const Reply reply = client_->run(detail::concurrency_limit_acquire_script(), {key_},
                                                 {id, limit_text_, lease_ms_}, deadline);
                const long long reclaimed_now = reply[2].integer();
                if (reclaimed_now > 0)
                    reclaimed_.fetch_add(static_cast<std::uint64_t>(reclaimed_now), std::memory_order_relaxed);
                held = reply[1].integer();
                if (reply[0].integer() == 1) {
                    {
                        std::lock_guard<std::mutex> lock(mutex_);
                        held_.insert(id);
                    }
                    acquired_.fetch_add(1, std::memory_order_relaxed);
                    return Slot(this, id, false);
                }
            } catch (const RedisError& e) {
                if (!e.unavailable()) throw;
                // A poll that the end of the wait cut short: the slots stayed busy, Redis is fine.
                if (busy && e.kind() == RedisErrorKind::timed_out && clock::now() >= wait_until)
                    refuse(context, busy, *wait);
                return unavailable(e, context, wait_until);
            }
            busy = static_cast<std::size_t>(held);
            const clock::time_point now = clock::now();
            if (now >= wait_until) refuse(context, busy, *wait);
            std::this_thread::sleep_for(
                std::min(backoff, std::chrono::duration_cast<std::chrono::nanoseconds>(wait_until - now)));
            backoff = std::min<std::chrono::nanoseconds>(backoff * 2, std::chrono::milliseconds(20));
            if (clock::now() >= wait_until) refuse(context, busy, *wait);
        }
    }

    /// Slots taken across the fleet now (one round trip; expired leases are dropped first).
    /// Throws RedisError when the server cannot be asked.
    [[nodiscard]] std::size_t in_flight(
        std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
        const Reply reply = client_->run(detail::concurrency_limit_count_script(), {key_}, {}, deadline);
        const long long reclaimed_now = reply[1].integer();
        if (reclaimed_now > 0)
            reclaimed_.fetch_add(static_cast<std::uint64_t>(reclaimed_now), std::memory_order_relaxed);
        return static_cast<std::size_t>(reply[0].integer());
    }

    /// The counters, and the slots taken now (one round trip; left empty when it fails).
    [[nodiscard]] SharedConcurrencyLimitStats stats() {
        SharedConcurrencyLimitStats s;
        try {
            s.in_flight = in_flight();
        } catch (const RedisError&) {
            // Left empty: says the server could not be asked.
        }
        s.acquired = acquired_.load(std::memory_order_relaxed);
        s.refused = refused_.load(std::memory_order_relaxed);
        s.reclaimed = reclaimed_.load(std::memory_order_relaxed);
        s.unavailable = unavailable_.load(std::memory_order_relaxed);
        s.local_fallbacks = local_fallbacks_.load(std::memory_order_relaxed);
        s.leases_lost = leases_lost_.load(std::memory_order_relaxed);
        s.release_failures = release_failures_.load(std::memory_order_relaxed);
        return s;
    }

    /// Reports this limit's events (concurrency_limited, shared_state_unavailable) to `hook` too,
    /// from the limit's name. Not thread-safe: set it before the limit is used.
    void set_event_hook(EventHook hook) { hook_ = std::move(hook); }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// The sorted set of the leases: "cascade:{concurrency:NAME}:leases".
    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    [[nodiscard]] const SharedConcurrencyLimitOptions& options() const noexcept { return options_; }

private:
    [[nodiscard]] std::string who() const { return "cascade::redis::SharedConcurrencyLimit \"" + name_ + "\""; }

    [[noreturn]] void refuse(const CallContext* context, std::optional<std::size_t> busy,
                             std::chrono::nanoseconds waited) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        cascade::detail::report_wrapper_event(
            cascade::detail::wrapper_event(EventKind::concurrency_limited, name_, context), &hook_, context);
        if (!busy)
            throw ConcurrencyLimitReached(who() + ": the call's deadline had passed before a slot was asked for");
        const std::size_t n = std::max<std::size_t>(*busy, options_.max_in_flight);
        throw ConcurrencyLimitReached(
            who() + ": " + (n == 1 ? std::string("the only slot") : "all " + cascade::detail::count_of(n, "slot")) +
            " stayed busy for " + cascade::detail::describe_duration(waited));
    }

    Slot unavailable(const RedisError& error, const CallContext* context,
                     std::chrono::steady_clock::time_point wait_until) {
        unavailable_.fetch_add(1, std::memory_order_relaxed);
        if (options_.when_unavailable == WhenUnavailable::fail_closed) {
            detail::report_unavailable(name_, &hook_, context, "refused (fail closed)", error.what());
            throw error;
        }
        local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
        detail::report_unavailable(name_, &hook_, context, "used the local twin", error.what());
        const auto start = std::chrono::steady_clock::now();
        std::unique_lock<std::mutex> lock(mutex_);
        const auto has_free = [this] { return local_free_ > 0; };
        if (wait_until == std::chrono::steady_clock::time_point::max()) {
            local_freed_.wait(lock, has_free);
        } else if (!local_freed_.wait_until(lock, wait_until, has_free)) {
            lock.unlock();
            refuse(context, options_.local_max_in_flight, std::chrono::steady_clock::now() - start);
        }
        --local_free_;
        return Slot(this, std::string(), true);
    }

    void release(const std::string& id, bool local) noexcept {
        if (local) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                ++local_free_;
            }
            local_freed_.notify_one();
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            held_.erase(id);
        }
        try {
            // No deadline but command_timeout: the call's may have passed, and a slot given back
            // late is still better than one held for a whole lease.
            client_->command({"ZREM", key_, id});
        } catch (...) {
            release_failures_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void renew_leases() {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto period = options_.lease / 3;
        while (!stopping_) {
            wake_.wait_for(lock, period, [this] { return stopping_; });
            if (stopping_ || held_.empty()) continue;
            std::vector<std::string> args;
            args.reserve(held_.size() + 1);
            args.push_back(lease_ms_);
            args.insert(args.end(), held_.begin(), held_.end());
            lock.unlock();
            std::vector<std::string> lost;
            try {
                const std::vector<std::string_view> views(args.begin(), args.end());
                const Reply reply = client_->run(detail::concurrency_limit_renew_script(), {key_}, views);
                for (std::size_t i = 0; i < reply.size(); ++i) lost.emplace_back(reply[i].string());
            } catch (...) {
                // Redis is unreachable or slow: the next period tries again, and a lease that
                // runs out meanwhile is counted when the renewal finds it gone.
            }
            lock.lock();
            for (const std::string& id : lost) {
                // A slot released since the ids were copied is gone, not lost.
                if (held_.erase(id) != 0) leases_lost_.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }

    Client* client_;
    std::string name_;
    std::string key_;
    SharedConcurrencyLimitOptions options_;
    std::string lease_ms_;
    std::string limit_text_;
    std::string nonce_;
    EventHook hook_;
    std::atomic<std::uint64_t> next_id_{0};
    std::atomic<std::uint64_t> acquired_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::atomic<std::uint64_t> reclaimed_{0};
    std::atomic<std::uint64_t> unavailable_{0};
    std::atomic<std::uint64_t> local_fallbacks_{0};
    std::atomic<std::uint64_t> leases_lost_{0};
    std::atomic<std::uint64_t> release_failures_{0};
    std::mutex mutex_;  // guards held_, local_free_, stopping_
    std::condition_variable wake_;
    std::condition_variable local_freed_;
    std::unordered_set<std::string> held_;
    std::size_t local_free_ = 0;
    bool stopping_ = false;
    std::thread watchdog_;  // last: started once everything above is ready
};

/// A model that lets at most SharedConcurrencyLimitOptions::max_in_flight calls run at once across
/// every process sharing the limit's name; made by with_shared_concurrency_limit. It refers to its
/// limit, which it does not own: copies share the limit, which must outlive them. Called with a
/// CallContext (as a cascade does), it waits no longer than the call's deadline and passes the
/// context on to a model that takes one.
///
/// Thread-safety: may be called from any number of threads at once.
template <class Model>
class SharedConcurrencyLimited : public cascade::detail::ModelWrapper<SharedConcurrencyLimited<Model>, Model> {
public:
    SharedConcurrencyLimited(Model model_fn, SharedConcurrencyLimit& limit,
                             std::optional<std::chrono::nanoseconds> max_wait)
        : model_(std::move(model_fn)),
          limit_(&limit),
          max_wait_(max_wait) {
        if (max_wait_ && *max_wait_ < std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::redis::with_shared_concurrency_limit: max_wait must be >= 0, got " +
                                        cascade::detail::describe_duration(*max_wait_));
        }
    }

    /// The limit, shared, not owned: read its stats after the wrapper has moved into a tier.
    [[nodiscard]] SharedConcurrencyLimit& limit() const noexcept { return *limit_; }

private:
    friend class cascade::detail::ModelWrapper<SharedConcurrencyLimited, Model>;

    template <class Request>
    cascade::detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context,
                                                           TokenSink* sink) {
        const SharedConcurrencyLimit::Slot slot = limit_->acquire(max_wait_, context);
        return cascade::detail::call_model(model_, request, context, sink);
    }

    Model model_;
    SharedConcurrencyLimit* limit_;
    std::optional<std::chrono::nanoseconds> max_wait_;
};

/// Wraps `model` so that at most the limit's max_in_flight calls run at once across the fleet; see
/// SharedConcurrencyLimit. Without `max_wait` a call waits for a slot as long as its deadline
/// allows (forever without one). The limit is shared, not owned, as with_budget's budget: it must
/// outlive the model returned and its copies. Throws std::invalid_argument for a negative max_wait.
template <class Model>
auto with_shared_concurrency_limit(Model&& model, SharedConcurrencyLimit& limit,
                                   std::optional<std::chrono::nanoseconds> max_wait = std::nullopt) {
    return SharedConcurrencyLimited<std::decay_t<Model>>(std::forward<Model>(model), limit, max_wait);
}

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SHARED_CONCURRENCY_LIMIT_HPP
