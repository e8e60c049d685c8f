// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SHARED_BREAKER_HPP
#define CASCADE_INTEGRATION_REDIS_SHARED_BREAKER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/call_context.hpp"
#include "../../core/event.hpp"
#include "../../runtime/breaker.hpp"
#include "../../runtime/detail/model_wrapper.hpp"
#include "../../runtime/detail/runtime_common.hpp"
#include "client.hpp"
#include "detail/breaker_scripts.hpp"
#include "detail/keys.hpp"
#include "detail/shared_component.hpp"
#include "redis_error.hpp"
#include "script.hpp"
#include "server_options.hpp"

namespace cascade::redis {

/// How a SharedBreaker opens, recovers and keeps in step with the fleet.
///
///     cascade::redis::SharedBreakerOptions options;
///     options.policy = cascade::BreakerPolicy{5, std::chrono::seconds(30), 1};
///     options.sync_interval = std::chrono::milliseconds(200);
struct SharedBreakerOptions {
    /// As for cascade::CircuitBreaker, counted across the fleet: `failure_threshold` consecutive
    /// failures of any replicas open it for all. `half_open_probes` must be 1: one probe goes out
    /// fleet-wide. The cool-down is kept in whole milliseconds (rounded up).
    BreakerPolicy policy;
    /// How long a replica trusts the state it last read from Redis before it asks again. A closed
    /// breaker costs no round trip per call within it, but a replica may still call for up to this
    /// long after another opened the breaker. 0 asks Redis on every call. >= 0.
    std::chrono::milliseconds sync_interval{200};
    /// How long the probe, once taken, keeps other replicas from probing: if the probing replica
    /// dies, another probes after this. Make it longer than a call takes. >= 1 ms.
    std::chrono::milliseconds probe_lease{std::chrono::seconds(30)};
    /// What a call does when Redis cannot be reached in time.
    WhenUnavailable when_unavailable = WhenUnavailable::fail_closed;
};

/// Throws std::invalid_argument naming the field to fix when `options` cannot work.
inline void validate(const SharedBreakerOptions& options) {
    validate(options.policy);
    const std::string where = "cascade::redis::SharedBreakerOptions: ";
    if (options.policy.half_open_probes != 1) {
        throw std::invalid_argument(where + "policy.half_open_probes must be 1 (one probe goes out fleet-wide), got " +
                                    std::to_string(options.policy.half_open_probes));
    }
    if (options.sync_interval < std::chrono::milliseconds::zero()) {
        throw std::invalid_argument(where + "sync_interval must be >= 0, got " +
                                    std::to_string(options.sync_interval.count()) + " ms");
    }
    if (options.probe_lease < std::chrono::milliseconds(1)) {
        throw std::invalid_argument(where + "probe_lease must be at least 1 ms, got " +
                                    std::to_string(options.probe_lease.count()) + " ms");
    }
}

/// A snapshot of a SharedBreaker's counters: this replica's calls, and `state` as this replica
/// last saw it (SharedBreaker::state() asks the server).
struct SharedBreakerStats : BreakerStats {
    std::uint64_t syncs = 0;            ///< round trips that read or wrote the shared state
    std::uint64_t unavailable = 0;      ///< round trips that found Redis unreachable or too slow
    std::uint64_t local_fallbacks = 0;  ///< of those, the ones the local twin answered instead
    std::uint64_t record_errors = 0;    ///< outcomes Redis refused to record (e.g. a key of the wrong type)
};

/// A circuit breaker whose state every replica of a service shares through Redis: the failures of
/// one replica open it for all, and after the cool-down one probe, not one per replica, tests the
/// service. The fleet-wide twin of cascade::CircuitBreaker; wrap a model with with_shared_breaker.
///
///     cascade::redis::Client redis{cascade::redis::ServerOptions{}};
///     cascade::redis::SharedBreaker breaker{redis, "openai", cascade::redis::SharedBreakerOptions{}};
///     auto big = cascade::redis::with_shared_breaker(call_big, breaker);
///
/// Keys: the hash `cascade:{breaker:NAME}:state` (fields `failures`, the consecutive failures
/// while closed, and `open_until`, the end of the cool-down on the server's clock in ms, 0 or
/// absent while closed) and the string `cascade:{breaker:NAME}:probe` (the id of the call that
/// probes, set with NX and the expiry probe_lease). The server's clock decides every time.
///
/// The healthy path is cheap: a replica keeps the state it last read for sync_interval and lets
/// calls through a closed breaker without a round trip. Failures are reported with one round trip
/// each; a success only when this replica last saw failures counted (to reset the count), or when
/// it was the probe. So after one replica opens the breaker, another may call for up to
/// sync_interval more (and the calls already running finish). An open breaker refuses calls until
/// the end of the shared cool-down with cascade::BreakerOpen, whose retry hint is the rest of it;
/// then one call in the fleet takes the probe: its success closes the breaker for all, its failure
/// opens it for another cool-down, and if its process dies the probe is free again after
/// probe_lease. EventKind::breaker_opened is reported once per opening, by the replica whose
/// failure opened it.
///
/// When Redis cannot be reached in time: under WhenUnavailable::fail_closed (the default) a call
/// that needs a round trip to be let through throws the RedisError; under use_local a local
/// cascade::CircuitBreaker with the same policy decides for this replica alone. Both report
/// EventKind::shared_state_unavailable. An outcome that cannot be recorded is lost (and
/// reported); the call's own answer or error stands. Recording an outcome takes one round trip,
/// bounded by command_timeout, even after the call's deadline: skipping it would lose failures
/// just when a slow service makes calls run out of time.
///
/// Lifetime: the breaker neither moves nor copies, and keeps a reference to its Client. The Client
/// must outlive the breaker, and the breaker every call through it: every admit() and its record_*,
/// and the models with_shared_breaker made from it (as a cascade::Budget outlives with_budget's).
///
/// Thread-safety: every member may be called from any thread, but set_event_hook.
class SharedBreaker {
public:
    /// A permission to call, from admit(); hand it back to record_success, record_failure or
    /// record_neutral.
    struct Ticket {
        bool probe = false;  ///< this call is the fleet's probe
        bool local = false;  ///< the local twin let it through (Redis was unreachable)
        CircuitBreaker<>::Ticket local_ticket;
        std::string token;  ///< the probe's id, for a probe
    };

    /// Throws std::invalid_argument for a name that cannot be a key or options that
    /// cannot work (see validate(SharedBreakerOptions)). Does not connect. `client` is kept by
    /// reference: it must outlive the breaker.
    SharedBreaker(Client& client, std::string name, SharedBreakerOptions options)
        : client_(&client),
          name_(std::move(name)),
          state_key_(detail::key_prefix("breaker", name_, "cascade::redis::SharedBreaker") + ":state"),
          probe_key_(detail::key_prefix("breaker", name_, "cascade::redis::SharedBreaker") + ":probe"),
          options_((validate(options), options)),
          threshold_(std::to_string(options_.policy.failure_threshold)),
          cool_down_ms_(std::to_string(detail::ceil_ms(options_.policy.cool_down))),
          probe_lease_ms_(std::to_string(options_.probe_lease.count())),
          nonce_(detail::random_nonce(this)),
          local_(options_.policy, SteadyClock{}, name_) {}

    SharedBreaker(const SharedBreaker&) = delete;
    SharedBreaker& operator=(const SharedBreaker&) = delete;

    /// Lets a call through, or throws BreakerOpen; asks Redis when this replica's view is older
    /// than sync_interval or the cool-down it knew of is over, within the deadline of `context`.
    /// Throws RedisError when Redis is unreachable under fail_closed or a key holds another type.
    Ticket admit(const CallContext* context = nullptr) {
        const clock::time_point now = clock::now();
        const View seen = load_view();
        if (now < seen.until) {
            switch (seen.state) {
                case View::closed:
                    return admitted(Ticket{});
                case View::open:
                    reject(seen.until - now, "it is open");
                case View::probing:
                    reject(options_.policy.cool_down, "its probe call is out");
            }
        }
        Ticket ticket;
        ticket.token = nonce_ + "-" + std::to_string(next_token_.fetch_add(1, std::memory_order_relaxed));
        long long code = 0;
        long long wait_ms = 0;
        try {
            const Reply reply = client_->run(detail::breaker_admit_script(), {state_key_, probe_key_},
                                             {ticket.token, probe_lease_ms_, "1"}, detail::call_deadline(context));
            syncs_.fetch_add(1, std::memory_order_relaxed);
            code = reply[0].integer();
            failures_seen_.store(reply[1].integer(), std::memory_order_relaxed);
            wait_ms = reply[2].integer();
        } catch (const RedisError& e) {
            if (!e.unavailable()) throw;
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            if (options_.when_unavailable == WhenUnavailable::fail_closed) {
                detail::report_unavailable(name_, &hook_, context, "refused (fail closed)", e.what());
                throw;
            }
            local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
            detail::report_unavailable(name_, &hook_, context, "used the local twin", e.what());
            Ticket local;
            local.local = true;
            try {
                local.local_ticket = local_.admit();
            } catch (const BreakerOpen&) {
                rejected_.fetch_add(1, std::memory_order_relaxed);
                throw;
            }
            return admitted(std::move(local));
        }
        const clock::time_point after = clock::now();
        switch (code) {
            case 0:
                store_view(View::closed, detail::later(after, options_.sync_interval));
                return admitted(Ticket{});
            case 1:
                store_view(View::open, after + std::chrono::milliseconds(wait_ms));
                reject(std::chrono::milliseconds(wait_ms), "it is open");
            case 2:
                ticket.probe = true;
                store_view(View::probing, detail::later(after, options_.sync_interval));
                return admitted(std::move(ticket));
            default:
                store_view(View::probing, after + std::min<std::chrono::milliseconds>(
                                                      options_.sync_interval, std::chrono::milliseconds(wait_ms)));
                reject(options_.policy.cool_down, "its probe call is out");
        }
    }

    /// Hands back the ticket of a call that answered. Never throws: an outcome Redis cannot take
    /// is counted and, when Redis is unreachable, reported.
    void record_success(const Ticket& ticket, const CallContext* context = nullptr) noexcept {
        successes_.fetch_add(1, std::memory_order_relaxed);
        if (ticket.local) {
            local_.record_success(ticket.local_ticket);
            return;
        }
        // Only write when there is something to reset: a healthy service costs no round trip.
        if (!ticket.probe && failures_seen_.load(std::memory_order_relaxed) == 0) return;
        record(detail::breaker_success_script(), {ticket.probe ? "1" : "0", ticket.token}, context,
               [this] { local_.record_success(CircuitBreaker<>::Ticket{}); });
    }

    /// Hands back the ticket of a call that failed. True when this failure opened the breaker (it
    /// is then reported as EventKind::breaker_opened). Never throws, as record_success.
    bool record_failure(const Ticket& ticket, const CallContext* context = nullptr) noexcept {
        failures_.fetch_add(1, std::memory_order_relaxed);
        bool opened = false;
        if (ticket.local) {
            try {
                opened = local_.record_failure(ticket.local_ticket);
            } catch (...) {
                // CircuitBreaker::record_failure throws nothing of its own.
            }
        } else {
            opened = record(detail::breaker_failure_script(),
                            {threshold_, cool_down_ms_, ticket.probe ? "1" : "0", ticket.token}, context,
                            [this] { local_.record_failure(CircuitBreaker<>::Ticket{}); });
        }
        if (opened) {
            opened_.fetch_add(1, std::memory_order_relaxed);
            cascade::detail::report_wrapper_event(
                cascade::detail::wrapper_event(EventKind::breaker_opened, name_, context), &hook_, context);
        }
        return opened;
    }

    /// Hands back the ticket of a call that ended with an error that says nothing of the service's
    /// health (see cascade::NotRetryable). A probe's is given up at once, so another call may probe.
    void record_neutral(const Ticket& ticket, const CallContext* context = nullptr) noexcept {
        if (ticket.local) {
            local_.record_neutral(ticket.local_ticket);
            return;
        }
        if (!ticket.probe) return;
        record(detail::breaker_release_script(), {ticket.token}, context, [] {});
    }

    /// The state on the server now (one round trip; takes no probe). Throws RedisError when it
    /// cannot be read.
    [[nodiscard]] BreakerState state(
        std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
        const Reply reply = client_->run(detail::breaker_admit_script(), {state_key_, probe_key_},
                                         {"", probe_lease_ms_, "0"}, deadline);
        syncs_.fetch_add(1, std::memory_order_relaxed);
        switch (reply[0].integer()) {
            case 0:
                return BreakerState::closed;
            case 1:
                return BreakerState::open;
            default:
                return BreakerState::half_open;
        }
    }

    /// This replica's counters; `state` is the state as this replica last saw it.
    [[nodiscard]] SharedBreakerStats stats() const {
        SharedBreakerStats s;
        const View seen = load_view();
        s.state = seen.state == View::closed                              ? BreakerState::closed
                  : seen.state == View::open && clock::now() < seen.until ? BreakerState::open
                                                                          : BreakerState::half_open;
        s.calls = calls_.load(std::memory_order_relaxed);
        s.successes = successes_.load(std::memory_order_relaxed);
        s.failures = failures_.load(std::memory_order_relaxed);
        s.rejected = rejected_.load(std::memory_order_relaxed);
        s.opened = opened_.load(std::memory_order_relaxed);
        s.syncs = syncs_.load(std::memory_order_relaxed);
        s.unavailable = unavailable_.load(std::memory_order_relaxed);
        s.local_fallbacks = local_fallbacks_.load(std::memory_order_relaxed);
        s.record_errors = record_errors_.load(std::memory_order_relaxed);
        return s;
    }

    /// Reports this breaker's events (breaker_opened, shared_state_unavailable) to `hook` too, from
    /// the breaker's name. Not thread-safe: set it before the breaker is used.
    void set_event_hook(EventHook hook) { hook_ = std::move(hook); }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const std::string& state_key() const noexcept { return state_key_; }
    [[nodiscard]] const std::string& probe_key() const noexcept { return probe_key_; }
    [[nodiscard]] const SharedBreakerOptions& options() const noexcept { return options_; }
    /// The local twin that decides under WhenUnavailable::use_local while Redis is unreachable.
    [[nodiscard]] const CircuitBreaker<>& local() const noexcept { return local_; }

private:
    using clock = std::chrono::steady_clock;

    // What this replica last learnt of the shared state, and until when it trusts it: one atomic
    // word (the time in ns, shifted, and the state in the two low bits), so that a call reads a
    // consistent view without a lock.
    struct View {
        enum State : std::uint64_t { closed = 0, open = 1, probing = 2 };
        State state = closed;
        clock::time_point until{};
    };

    [[nodiscard]] View load_view() const noexcept {
        const std::uint64_t word = view_.load(std::memory_order_acquire);
        View v;
        v.state = static_cast<View::State>(word & 3U);
        v.until = clock::time_point(
            std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(static_cast<long long>(word >> 2))));
        return v;
    }

    void store_view(View::State state, clock::time_point until) noexcept {
        const long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count();
        const std::uint64_t t =
            ns < 0 ? 0 : std::min<std::uint64_t>(static_cast<std::uint64_t>(ns), std::uint64_t{1} << 61);
        view_.store((t << 2) | state, std::memory_order_release);
    }

    Ticket admitted(Ticket ticket) noexcept {
        calls_.fetch_add(1, std::memory_order_relaxed);
        return ticket;
    }

    [[noreturn]] void reject(std::chrono::nanoseconds wait, const char* why) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        throw BreakerOpen("cascade::redis: shared circuit breaker \"" + name_ + "\" refused the call: " + why +
                              " (retry in " + cascade::detail::describe_duration(wait) + ")",
                          wait);
    }

    // Runs one of the outcome scripts, whose reply is {code, n}: code 0 closed (n: failures
    // counted), 1 opened by this call (n: cool-down ms), 2 open (n: ms left of the cool-down, 0
    // when it is over). Returns true when this call opened the breaker.
    template <class Local>
    bool record(const Script& script, const std::vector<std::string_view>& args, const CallContext* context,
                Local local) noexcept {
        try {
            // No deadline but command_timeout: see the class comment.
            const Reply reply = client_->run(script, {state_key_, probe_key_}, args);
            syncs_.fetch_add(1, std::memory_order_relaxed);
            const long long code = reply[0].integer();
            const long long n = reply[1].integer();
            const clock::time_point now = clock::now();
            if (code == 0) {
                failures_seen_.store(n, std::memory_order_relaxed);
                store_view(View::closed, detail::later(now, options_.sync_interval));
            } else {
                // A cool-down that is over makes the next call ask who probes.
                store_view(View::open, now + std::chrono::milliseconds(n));
            }
            return code == 1;
        } catch (const RedisError& e) {
            if (!e.unavailable()) {
                record_errors_.fetch_add(1, std::memory_order_relaxed);
                return false;
            }
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            if (options_.when_unavailable == WhenUnavailable::fail_closed) {
                detail::report_unavailable(name_, &hook_, context, "the outcome was not recorded (fail closed)",
                                           e.what());
                return false;
            }
            local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
            detail::report_unavailable(name_, &hook_, context, "used the local twin", e.what());
            try {
                local();
            } catch (...) {
                // The local twin throws nothing of its own.
            }
            return false;
        } catch (...) {
            record_errors_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
    }

    Client* client_;
    std::string name_;
    std::string state_key_;
    std::string probe_key_;
    SharedBreakerOptions options_;
    std::string threshold_;
    std::string cool_down_ms_;
    std::string probe_lease_ms_;
    std::string nonce_;
    CircuitBreaker<> local_;
    EventHook hook_;
    std::atomic<std::uint64_t> view_{0};  // closed, trusted until time 0: the first call asks
    std::atomic<long long> failures_seen_{0};
    std::atomic<std::uint64_t> next_token_{0};
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> opened_{0};
    std::atomic<std::uint64_t> syncs_{0};
    std::atomic<std::uint64_t> unavailable_{0};
    std::atomic<std::uint64_t> local_fallbacks_{0};
    std::atomic<std::uint64_t> record_errors_{0};
};

/// A model guarded by a SharedBreaker; made by with_shared_breaker. A call calls the model unless
/// the shared breaker is open, and throws cascade::BreakerOpen when it is. Every error but
/// cascade::NotRetryable (RedisError among them) counts as a failure, as with cascade::with_breaker.
/// It refers to its breaker, which it does not own: copies share the breaker, which must outlive
/// them.
///
/// Thread-safety: operator() may be called from many threads at once when the model may be.
template <class Model, class FailurePredicate = CountAnyFailure>
class SharedBreaking : public cascade::detail::ModelWrapper<SharedBreaking<Model, FailurePredicate>, Model> {
public:
    SharedBreaking(Model model_fn, SharedBreaker& breaker, FailurePredicate counts = {})
        : model_(std::move(model_fn)),
          breaker_(&breaker),
          counts_(std::move(counts)) {}

    [[nodiscard]] SharedBreakerStats stats() const { return breaker_->stats(); }
    /// The breaker, shared, not owned: watch its state after the wrapper has moved into a tier.
    [[nodiscard]] SharedBreaker& breaker() const noexcept { return *breaker_; }
    Model& model() noexcept { return model_; }

private:
    friend class cascade::detail::ModelWrapper<SharedBreaking, Model>;

    template <class Request>
    cascade::detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context,
                                                           TokenSink* sink) {
        const SharedBreaker::Ticket ticket = breaker_->admit(context);
        // A stream that stalled is the server's failure, as for the in-process breaker.
        const auto stalled = [sink] { return sink != nullptr && sink->stop_cause() == StopCause::stalled; };
        try {
            auto answer = cascade::detail::call_model(model_, request, context, sink);
            if (stalled()) {
                breaker_->record_failure(ticket, context);
            } else {
                breaker_->record_success(ticket, context);
            }
            return answer;
        } catch (...) {
            if (stalled() || counts_(std::current_exception())) {
                breaker_->record_failure(ticket, context);
            } else {
                breaker_->record_neutral(ticket, context);
            }
            throw;
        }
    }

    Model model_;
    SharedBreaker* breaker_;
    FailurePredicate counts_;
};

/// Wraps a model in a breaker shared by every replica that uses its name; see SharedBreaker. The
/// breaker is shared, not owned, as with_budget's budget: it must outlive the model returned and
/// its copies.
template <class Model>
auto with_shared_breaker(Model&& model, SharedBreaker& breaker) {
    return SharedBreaking<std::decay_t<Model>>(std::forward<Model>(model), breaker);
}

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SHARED_BREAKER_HPP
