// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SHARED_BUDGET_HPP
#define CASCADE_INTEGRATION_REDIS_SHARED_BUDGET_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../core/call_context.hpp"
#include "../../core/cost.hpp"
#include "../../core/event.hpp"
#include "../../detail/counters.hpp"
#include "../../runtime/budget.hpp"
#include "client.hpp"
#include "detail/budget_scripts.hpp"
#include "detail/keys.hpp"
#include "detail/shared_component.hpp"
#include "redis_error.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "server_options.hpp"

namespace cascade::redis {

/// How a SharedBudget behaves; every field has a default.
///
///     cascade::Budget fallback{5.0};                    // this replica's share while Redis is away
///     cascade::redis::SharedBudgetOptions options;
///     options.when_unavailable = cascade::redis::WhenUnavailable::use_local;
///     options.local = &fallback;
struct SharedBudgetOptions {
    /// How long a reservation holds its money when nobody renews it. Reservations still open in
    /// this process are renewed every lease/3, so only a process that died (or lost Redis for a
    /// whole lease) lets its leases run out; the money then goes back to the budget. At least 10 ms.
    std::chrono::milliseconds lease{30000};
    /// What reserve() does when Redis cannot be reached in time: refuse the call (throw the
    /// RedisError) or reserve from `local` instead. Both report EventKind::shared_state_unavailable.
    WhenUnavailable when_unavailable = WhenUnavailable::fail_closed;
    /// The in-process twin for WhenUnavailable::use_local (required then); shared, not owned: it
    /// must outlive the SharedBudget and the reservations taken from it.
    Budget* local = nullptr;
    /// When the server already holds another limit for this budget: false (the default) refuses
    /// with std::invalid_argument naming both; true writes this one over it.
    bool replace_limit = false;
    /// The most expired leases one reserve (or stats()) gives back before it checks: bounds the
    /// work of a call after many processes died at once. 1..1000.
    std::size_t reclaim_per_call = 32;
    /// The most settles one round trip delivers. 1..4096.
    std::size_t settle_batch = 256;
    /// How long the background thread, woken by a settle, waits for more to send with it: fewer
    /// round trips (and less load on Redis and on this process) for a spend that is recorded that
    /// much later, meanwhile held at the call's estimate. 0..1 s, and at most lease/10: a settled
    /// reservation is no longer renewed, so its settle must reach the server well before its
    /// lease (renewed last at most lease/3 before) runs out. Empty (the default): 5 ms, or lease/10
    /// when that is less. 8 processes reserve and settle about 56 000 times a second with 5 ms on
    /// a 2-core machine, 47 000 with 1 ms (benchmarks/README.md).
    std::optional<std::chrono::microseconds> settle_delay;
    /// How long the ids of reclaimed reservations are kept, so that a settle arriving after its
    /// lease ran out is charged as a late settle. One delayed longer than this (its process cut
    /// off from Redis that long) is charged all the same, as an unknown settle. At least `lease`.
    std::chrono::milliseconds reclaimed_retention{std::chrono::hours(24)};
    /// How long the ids of delivered batches of settles are kept, so that a batch sent again
    /// after its answer was lost is known for a duplicate and not charged twice. A retry that
    /// comes later than this (its process cut off from Redis that long after the first one
    /// landed) is charged again, as unknown settles. The server keeps one id a batch (up to
    /// settle_batch settles), about 100 bytes, for this long. At least `lease`.
    std::chrono::milliseconds settled_retention{std::chrono::minutes(10)};
    /// How long the destructor waits for queued settles to reach Redis; the rest are counted
    /// (SharedBudgetStats::undelivered_settles) and reported to `on_event`.
    std::chrono::milliseconds flush_on_destroy{2000};
    /// Hears EventKind::shared_state_unavailable besides the query's own hook (CallContext): when
    /// a reserve could not reach Redis, when settles could not be delivered (once an outage: they
    /// are kept and retried) and when settles had to be dropped. Called from the reserving thread
    /// or the budget's background thread; must be thread-safe and quick.
    EventHook on_event;
};

/// A snapshot of a SharedBudget: the budget's totals as the server holds them (every process's
/// calls), and this process's own counters. Being a cascade::BudgetStats, it goes wherever one
/// does (e.g. PrometheusText::add).
struct SharedBudgetStats : BudgetStats {
    std::uint64_t leases = 0;            ///< reservations open on the server now, in every process
    std::uint64_t late_settles = 0;      ///< settles of reservations whose lease had run out: charged anyway
    /// settles whose reservation the server did not know (it lost the grant: a crash before the
    /// write reached the disk, a replica promoted before it had it; or the id of a reclaimed
    /// reservation or of a delivered batch was no longer kept): charged anyway, since the money
    /// was spent
    std::uint64_t unknown_settles = 0;
    std::uint64_t leases_reclaimed = 0;  ///< leases that ran out and whose money went back to the budget
    // This process's counters:
    std::uint64_t unavailable = 0;      ///< reserves that could not reach Redis in time
    std::uint64_t local_fallbacks = 0;  ///< of those, the ones served by the local twin (use_local)
    std::uint64_t settles_queued = 0;   ///< settles and releases handed to the background thread
    std::uint64_t settles_pending = 0;  ///< of those, the ones not yet delivered
    /// deliveries tried again because Redis did not take them: no answer, or an error (a server
    /// turned read-only by a failover, out of memory, ...)
    std::uint64_t settle_retries = 0;
    /// settles that reached Redis once more after a lost answer, and were not charged twice
    std::uint64_t duplicate_settles = 0;
    /// releases of reservations the server did not hold: mostly the release queued for a reserve
    /// that failed after it was sent (it may have been granted; this one was not), else a release
    /// sent again after a lost answer. Nothing is charged for them.
    std::uint64_t unmatched_releases = 0;
    /// settles never delivered: left when the budget was shut down, or refused by a server that
    /// had lost the budget's state (see RedisErrorKind::lost_state). Never dropped silently.
    std::uint64_t undelivered_settles = 0;
};

/// One budget for many processes: cascade::Budget's twin, with the money kept in Redis. Every
/// replica that makes a SharedBudget of the same name on the same server spends from the same
/// limit, and no reservation is granted that would let the sum of reservations and spend pass it.
///
///     cascade::redis::Client redis{cascade::redis::ServerOptions{}};
///     cascade::redis::SharedBudget budget{redis, "prod", 25.0};       // $25 for the whole fleet
///     auto big = cascade::with_budget(call_big, budget, 0.02, [](const Reply& r) { return r.tokens * 15e-6; });
///
/// It is a drop-in for cascade::Budget in cascade::with_budget, and may be used by hand as one:
///
///     if (auto r = budget.reserve(0.01)) {           // one round trip, before the call
///         auto reply = call_big(q);
///         budget.settle(std::move(*r), reply.cost);  // queued: no round trip on the call's path
///     }
///
/// **Guarantees.** reserve() is one Lua script, one round trip: it grants the estimate only when
/// spent + reserved + estimate <= limit, so across any number of processes the spend stays within
/// the limit as long as each call's actual cost is at most its estimate. Before it would refuse
/// (and once per min(lease/4, 1 s) besides) it first gives back expired leases, at most
/// SharedBudgetOptions::reclaim_per_call of them. A cost above it is charged and counted as
/// an overrun, as in-process. Amounts are whole nano-dollars, estimates and costs rounded up and
/// the limit down, as cascade::Budget does; the totals are exact.
///
/// **Leases.** Each reservation is a member of a sorted set scored by its expiry in the server's
/// clock. While it is open here, a background thread renews it every lease/3, so a long call keeps
/// its money; a process that dies stops renewing, and the next reserve after the lease gives the
/// money back. A settle of a reservation whose lease ran out is still charged (the money was
/// spent) and counted in SharedBudgetStats::late_settles: like an overrun, it may take the spend
/// past the limit by its amount.
///
/// **Settles** (and releases) are queued and sent by the background thread, many per round trip,
/// retried until delivered while Redis is away or refuses them (read-only after a failover, out of
/// memory, ...); only a server that lost the budget's state makes them dropped, counted and
/// reported. Until one is delivered (within
/// SharedBudgetOptions::settle_delay while Redis answers), its reservation still holds the
/// estimate, so a reserve made meanwhile sees that much less left. Each is idempotent: a batch
/// sent again after a lost answer (the same settles under the same id) finds its id among the
/// delivered batches and is not charged twice. A settle whose
/// reservation the server does not know at all is charged (SharedBudgetStats::unknown_settles):
/// the money was spent, and a server that lost the grant (see docs/redis.md on persistence) must
/// not lose the spend too. flush() waits until the queue is delivered; the destructor waits at most
/// SharedBudgetOptions::flush_on_destroy and counts (and reports) what it could not deliver.
///
/// **When Redis is unavailable** (unreachable, or no answer within the command timeout or the
/// call's deadline), reserve() follows SharedBudgetOptions::when_unavailable: fail_closed throws
/// the RedisError; use_local reserves from the local cascade::Budget given in the options. Both
/// report EventKind::shared_state_unavailable. State missing on the server (a restart without
/// persistence, a deleted key) is never taken for a fresh budget: reserve() throws RedisError
/// with kind lost_state naming the key; making the SharedBudget again writes the limit anew.
///
/// **Keys**, all under one Redis Cluster hash tag, for name "prod":
///   - `cascade:{budget:prod}:state`, a hash: limit, spent, reserved (nano-dollars), and the
///     counters reservations, refusals, overruns, overrun, cost_errors, late_settles,
///     unknown_settles, reclaimed, saturated;
///   - `cascade:{budget:prod}:leases`, a sorted set: one member `<id>:<nano-dollars>` per open
///     reservation, scored by its expiry (milliseconds, server time);
///   - `cascade:{budget:prod}:reclaimed`, a sorted set: the members whose lease ran out, scored by
///     when, kept for SharedBudgetOptions::reclaimed_retention;
///   - `cascade:{budget:prod}:settled`, a sorted set: the ids of the batches of settles
///     delivered, scored by when, kept for SharedBudgetOptions::settled_retention.
///
/// **Limits.** Lua counts in doubles, exact below 2^53: the limit is at most 2^53 - 1
/// nano-dollars (about $9.007e6), and every counter stops there (BudgetStats::saturated).
///
/// Thread-safety: every member may be called from any thread at once, but the destructor. A
/// SharedBudget neither moves nor copies; the Client must outlive it, and it must outlive its
/// reservations. It starts one thread; do not carry it across fork().
class SharedBudget {
public:
    using clock = std::chrono::steady_clock;

    /// The most nano-dollars a limit or a counter may hold: 2^53 - 1, the largest whole number
    /// below which every whole number is a double (Lua's only number type).
    static constexpr std::uint64_t max_nano_dollars = (std::uint64_t{1} << 53) - 1;

    /// A claim on part of the budget; settle it, or let it go (destroying it releases its
    /// amount). Move-only; it refers to its SharedBudget, which must outlive it.
    class Reservation {
    public:
        Reservation(Reservation&& other) noexcept
            : budget_(std::exchange(other.budget_, nullptr)),
              id_(other.id_),
              nano_(other.nano_),
              local_(std::move(other.local_)) {}
        Reservation& operator=(Reservation&& other) noexcept {
            if (this != &other) {
                release();
                budget_ = std::exchange(other.budget_, nullptr);
                id_ = other.id_;
                nano_ = other.nano_;
                local_ = std::move(other.local_);
            }
            return *this;
        }
        Reservation(const Reservation&) = delete;
        Reservation& operator=(const Reservation&) = delete;
        ~Reservation() { release(); }

        /// The dollars held.
        [[nodiscard]] double amount() const noexcept {
            return local_ ? local_->amount() : cascade::detail::from_nano_dollars(nano_);
        }
        /// False once settled or released.
        [[nodiscard]] bool active() const noexcept { return budget_ != nullptr; }
        /// True when it was taken from the local twin (WhenUnavailable::use_local) because Redis
        /// could not be reached; it is then settled there.
        [[nodiscard]] bool local() const noexcept { return local_.has_value(); }
        /// Gives the amount back without spending any of it (queued, as a settle is).
        void release() noexcept {
            if (budget_ != nullptr) std::exchange(budget_, nullptr)->give_back(*this);
        }

    private:
        friend class SharedBudget;
        Reservation(SharedBudget* budget, std::uint64_t id, std::uint64_t nano) noexcept
            : budget_(budget), id_(id), nano_(nano) {}
        Reservation(SharedBudget* budget, Budget::Reservation&& local) noexcept
            : budget_(budget), local_(std::move(local)) {}

        SharedBudget* budget_ = nullptr;
        std::uint64_t id_ = 0;
        std::uint64_t nano_ = 0;
        std::optional<Budget::Reservation> local_;
    };

    /// Connects the budget `name` on `client`'s server, writing `dollars` as its limit when the
    /// server holds none. Throws std::invalid_argument for a bad name, a limit that is NaN,
    /// negative or above max_nano_dollars, options that cannot work, or a limit other than the
    /// one the server holds (unless SharedBudgetOptions::replace_limit); RedisError when the
    /// server cannot be reached, or a key holds another type (kind wrong_type, naming the key).
    SharedBudget(Client& client, std::string_view name, double dollars, SharedBudgetOptions options = {})
        : client_(client),
          options_(checked(std::move(options))),
          name_(name),
          state_key_(detail::key_prefix("budget", name, "cascade::redis::SharedBudget") + ":state"),
          leases_key_(detail::key_prefix("budget", name, "cascade::redis::SharedBudget") + ":leases"),
          reclaimed_key_(detail::key_prefix("budget", name, "cascade::redis::SharedBudget") + ":reclaimed"),
          settled_key_(detail::key_prefix("budget", name, "cascade::redis::SharedBudget") + ":settled"),
          keys_{state_key_, leases_key_, reclaimed_key_, settled_key_},
          lease_ms_(std::to_string(options_.lease.count())),
          reclaim_n_(std::to_string(options_.reclaim_per_call)),
          retention_ms_(std::to_string(options_.reclaimed_retention.count())),
          settled_ms_(std::to_string(options_.settled_retention.count())),
          scan_ms_(std::to_string(std::min<long long>(options_.lease.count() / 4, 1000))),
          nonce_(detail::random_nonce_value(this)),
          renew_every_(std::max<clock::duration>(options_.lease / 3, std::chrono::milliseconds(1))) {
        const std::uint64_t limit = checked_limit(dollars);
        initialise(limit);
        worker_ = std::thread([this] { work(); });
    }

    SharedBudget(const SharedBudget&) = delete;
    SharedBudget& operator=(const SharedBudget&) = delete;

    /// Waits up to SharedBudgetOptions::flush_on_destroy for the queued settles (see shutdown()).
    ~SharedBudget() { shutdown(options_.flush_on_destroy); }

    /// Claims `estimate` dollars for a call, or returns nothing when the budget cannot cover it.
    /// One round trip, which waits no longer than `deadline`. When Redis cannot be reached in time,
    /// throws the RedisError (fail_closed) or reserves from the local twin (use_local). Throws
    /// std::invalid_argument for an estimate that is NaN, infinite, negative or above
    /// cascade::max_dollars, and RedisError for a lost state (lost_state) or a key of the wrong
    /// type (wrong_type), whatever the policy.
    [[nodiscard]] std::optional<Reservation> reserve(double estimate, clock::time_point deadline = clock::time_point::max()) {
        return reserve_from(estimate, deadline, nullptr);
    }

    /// As above, within the call's deadline (CallContext::remaining()); the event of a Redis that
    /// could not be reached also goes to the query's hook. cascade::with_budget calls this one.
    [[nodiscard]] std::optional<Reservation> reserve(double estimate, const CallContext& context) {
        return reserve_from(estimate, detail::call_deadline(&context), &context);
    }

    /// Turns a reservation into spend: `actual` dollars replace the estimate. Queued: the
    /// background thread delivers it, and a cost that is NaN, infinite, negative or above
    /// cascade::max_dollars is charged as the estimate and counted in cost_errors, as
    /// cascade::Budget does. Settling a reservation that is no longer active does nothing.
    void settle(Reservation&& reservation, double actual) noexcept {
        if (!reservation.active()) return;
        SharedBudget* owner = std::exchange(reservation.budget_, nullptr);
        if (reservation.local_) {
            owner->options_.local->settle(std::move(*reservation.local_), actual);
            return;
        }
        const bool valid = actual >= 0.0 && actual <= max_dollars;
        const std::uint64_t cost = valid ? std::min(cascade::detail::to_nano_dollars_up(actual), max_nano_dollars + 1)
                                         : reservation.nano_;
        owner->forget(reservation.id_);
        owner->enqueue(Item{reservation.id_, reservation.nano_, cost, valid ? 's' : 'e'});
    }

    /// Waits up to `timeout` until every settle queued before the call has been delivered (or
    /// counted as undelivered). Returns false when some are still waiting (Redis away).
    bool flush(std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> lock(mutex_);
        const std::uint64_t target = queued_;
        hurry_ = true;
        wake_.notify_one();
        return drained_.wait_for(lock, timeout, [&] { return handled_ >= target; });
    }

    /// Stops the background thread after waiting up to `timeout` for the queued settles; the
    /// ones left are counted in undelivered_settles and reported to SharedBudgetOptions::on_event,
    /// and so are settles made afterwards. reserve() then throws std::logic_error. Returns the
    /// number of settles it dropped. The destructor calls it; calling it again does nothing more.
    std::uint64_t shutdown(std::chrono::milliseconds timeout) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!stop_) {
                stop_ = true;
                stopped_.store(true, std::memory_order_relaxed);
                stop_by_ = clock::now() + timeout;
            }
        }
        wake_.notify_all();
        std::lock_guard<std::mutex> join_lock(join_mutex_);
        if (worker_.joinable()) worker_.join();
        return undelivered_.load(std::memory_order_relaxed);
    }

    /// The limit, as the server said when this budget was made or at the last stats().
    [[nodiscard]] double limit() const noexcept {
        return cascade::detail::from_nano_dollars(limit_nano_.load(std::memory_order_relaxed));
    }
    /// Dollars neither spent nor reserved, as the server said at the last reserve (no round trip;
    /// stats() asks the server).
    [[nodiscard]] double remaining() const noexcept {
        return cascade::detail::from_nano_dollars(left_nano_.load(std::memory_order_relaxed));
    }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// The hash holding the limit and totals (see the keys above).
    [[nodiscard]] const std::string& state_key() const noexcept { return state_key_; }
    /// The sorted set of open reservations' leases.
    [[nodiscard]] const std::string& leases_key() const noexcept { return leases_key_; }
    /// The sorted set of reclaimed reservations, kept for late settles.
    [[nodiscard]] const std::string& reclaimed_key() const noexcept { return reclaimed_key_; }
    /// The sorted set of delivered batches of settles, kept to know a batch sent again.
    [[nodiscard]] const std::string& settled_key() const noexcept { return settled_key_; }

    /// The server's totals and this process's counters: one round trip, which also gives back
    /// expired leases as a reserve does. Throws RedisError when the server cannot be reached, the
    /// state is lost (lost_state) or a key holds another type (wrong_type).
    [[nodiscard]] SharedBudgetStats stats(clock::time_point deadline = clock::time_point::max()) {
        const Reply reply = run(detail::budget_stats_script(), {reclaim_n_, retention_ms_}, deadline);
        if (reply[0].integer() < 0) throw lost_state();
        SharedBudgetStats s;
        const auto nano = [&](std::size_t i) { return static_cast<std::uint64_t>(reply[i].integer()); };
        s.limit = cascade::detail::from_nano_dollars(nano(1));
        s.spent = cascade::detail::from_nano_dollars(nano(2));
        s.reserved = cascade::detail::from_nano_dollars(nano(3));
        s.reservations = nano(4);
        s.refusals = nano(5);
        s.overruns = nano(6);
        s.overrun = cascade::detail::from_nano_dollars(nano(7));
        s.cost_errors = nano(8);
        s.late_settles = nano(9);
        s.leases_reclaimed = nano(10);
        s.saturated = nano(11) != 0;
        s.leases = nano(12);
        s.unknown_settles = nano(13);
        limit_nano_.store(nano(1), std::memory_order_relaxed);
        left_nano_.store(nano(1) > nano(2) + nano(3) ? nano(1) - nano(2) - nano(3) : 0, std::memory_order_relaxed);
        add_local(s);
        return s;
    }

    /// This process's counters alone (the server's totals left at zero): no round trip, so it
    /// answers while Redis is away or has lost the state.
    [[nodiscard]] SharedBudgetStats local_stats() const {
        SharedBudgetStats s;
        add_local(s);
        return s;
    }

private:
    void add_local(SharedBudgetStats& s) const {
        s.unavailable = unavailable_.load(std::memory_order_relaxed);
        s.local_fallbacks = local_fallbacks_.load(std::memory_order_relaxed);
        s.settle_retries = settle_retries_.load(std::memory_order_relaxed);
        s.duplicate_settles = duplicates_.load(std::memory_order_relaxed);
        s.unmatched_releases = unmatched_releases_.load(std::memory_order_relaxed);
        s.undelivered_settles = undelivered_.load(std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(mutex_);
        s.settles_queued = queued_;
        s.settles_pending = queued_ - handled_;
    }

    // A settle ('s'), a settle whose cost was not a price ('e': charged the estimate), or a
    // release ('r'), waiting for the background thread.
    struct Item {
        std::uint64_t id;
        std::uint64_t held;
        std::uint64_t cost;
        char kind;
    };

    static SharedBudgetOptions checked(SharedBudgetOptions options) {
        const std::string where = "cascade::redis::SharedBudgetOptions: ";
        if (options.lease < std::chrono::milliseconds(10)) {
            throw std::invalid_argument(where + "lease must be at least 10 ms (it is renewed every lease/3), got " +
                                        std::to_string(options.lease.count()) + " ms");
        }
        if (options.reclaim_per_call < 1 || options.reclaim_per_call > 1000) {
            throw std::invalid_argument(where + "reclaim_per_call must be in 1..1000, got " +
                                        std::to_string(options.reclaim_per_call));
        }
        if (options.settle_batch < 1 || options.settle_batch > 4096) {
            throw std::invalid_argument(where + "settle_batch must be in 1..4096, got " + std::to_string(options.settle_batch));
        }
        if (!options.settle_delay) {
            options.settle_delay = std::min<std::chrono::microseconds>(
                std::chrono::milliseconds(5), std::chrono::duration_cast<std::chrono::microseconds>(options.lease) / 10);
        }
        const std::chrono::microseconds delay = *options.settle_delay;
        if (delay < std::chrono::microseconds::zero() || delay > std::chrono::seconds(1)) {
            throw std::invalid_argument(where + "settle_delay must be in 0..1 s, got " + std::to_string(delay.count()) +
                                        " us");
        }
        if (delay * 10 > options.lease) {
            throw std::invalid_argument(where + "settle_delay (" + std::to_string(delay.count()) +
                                        " us) must be at most a tenth of the lease (" +
                                        std::to_string(options.lease.count()) +
                                        " ms): a settled reservation is no longer renewed, and its settle must "
                                        "reach the server well before its lease runs out");
        }
        if (options.reclaimed_retention < options.lease) {
            throw std::invalid_argument(where + "reclaimed_retention must be at least the lease (" +
                                        std::to_string(options.lease.count()) + " ms), got " +
                                        std::to_string(options.reclaimed_retention.count()) + " ms");
        }
        if (options.settled_retention < options.lease) {
            throw std::invalid_argument(where + "settled_retention must be at least the lease (" +
                                        std::to_string(options.lease.count()) + " ms), got " +
                                        std::to_string(options.settled_retention.count()) + " ms");
        }
        if (options.flush_on_destroy < std::chrono::milliseconds::zero()) {
            throw std::invalid_argument(where + "flush_on_destroy must be >= 0, got " +
                                        std::to_string(options.flush_on_destroy.count()) + " ms");
        }
        if (options.when_unavailable == WhenUnavailable::use_local && options.local == nullptr) {
            throw std::invalid_argument(where + "local must point to a cascade::Budget when when_unavailable is use_local");
        }
        return options;
    }

    static std::uint64_t checked_limit(double dollars) {
        const std::string where = "cascade::redis::SharedBudget: the budget ";
        if (!(dollars >= 0.0) || !std::isfinite(dollars)) {
            throw std::invalid_argument(where + "must be a finite number of dollars >= 0, got " +
                                        cascade::detail::describe_number(dollars));
        }
        const std::uint64_t nano = dollars > max_dollars ? cascade::detail::max_count
                                                         : cascade::detail::to_nano_dollars_down(dollars);
        if (nano > max_nano_dollars) {
            throw std::invalid_argument(where + "must be at most $9007199.254740991 (2^53 - 1 nano-dollars: the server "
                                                "counts in Lua's doubles, exact only below 2^53), got $" +
                                        cascade::detail::describe_number(dollars));
        }
        return nano;
    }

    static double checked_estimate(double dollars) {
        if (!(dollars >= 0.0) || !std::isfinite(dollars) || dollars > max_dollars) {
            throw std::invalid_argument("cascade::redis::SharedBudget::reserve: the estimate must be a finite number of "
                                        "dollars >= 0 and at most $" +
                                        cascade::detail::describe_number(max_dollars) + " (cascade::max_dollars), got " +
                                        cascade::detail::describe_number(dollars));
        }
        return dollars;
    }

    // "<nonce>-<counter>:<nano-dollars>", in a buffer of the caller's.
    struct Member {
        char text[64];
        int size;
        [[nodiscard]] std::string_view view() const noexcept { return {text, static_cast<std::size_t>(size)}; }
    };
    // A batch of settles as the server keeps it once delivered: "<nonce>-b<number>".
    [[nodiscard]] Member batch_id(std::uint64_t number) const noexcept {
        Member m{};
        m.size = std::snprintf(m.text, sizeof m.text, "%016llx-b%llx", static_cast<unsigned long long>(nonce_),
                               static_cast<unsigned long long>(number));
        return m;
    }

    [[nodiscard]] Member member(std::uint64_t id, std::uint64_t nano) const noexcept {
        Member m{};
        m.size = std::snprintf(m.text, sizeof m.text, "%016llx-%llx:%llu", static_cast<unsigned long long>(nonce_),
                               static_cast<unsigned long long>(id), static_cast<unsigned long long>(nano));
        return m;
    }

    Reply run(const Script& script, const std::vector<std::string_view>& args, clock::time_point deadline) {
        try {
            return client_.run(script, keys_, args, deadline);
        } catch (const RedisError& e) {
            if (e.kind() == RedisErrorKind::wrong_type) throw wrong_type(e);
            throw;
        }
    }

    // The key of the wrong type, named: the script's error says only that one of them is.
    RedisError wrong_type(const RedisError& original) {
        static constexpr const char* expected[] = {"hash", "zset", "zset", "zset"};
        try {
            for (std::size_t i = 0; i < keys_.size(); ++i) {
                const Reply type = client_.command({"TYPE", keys_[i]});
                if (type.string() != "none" && type.string() != expected[i]) {
                    return wrong_type_error(keys_[i], type.string());
                }
            }
        } catch (const RedisError&) {
            // The server went away meanwhile: the original error still says what failed.
        }
        return original;
    }

    RedisError wrong_type_error(std::string_view key, std::string_view type) const {
        const bool state = key == state_key_;
        return RedisError(RedisErrorKind::wrong_type,
                          "cascade::redis::SharedBudget \"" + name_ + "\": key " + std::string(key) + " at " +
                              client_.address() + " holds a " + std::string(type) + ", where the budget keeps a " +
                              (state ? "hash (its state)" : "sorted set") +
                              "; another program uses this key: delete it, or give the budget another name");
    }

    RedisError lost_state() const {
        return RedisError(RedisErrorKind::lost_state,
                          "cascade::redis::SharedBudget \"" + name_ + "\": key " + state_key_ + " at " + client_.address() +
                              " is missing: the server lost the budget's state (restarted without persistence?) or "
                              "it was deleted. Not starting a fresh budget: check what was spent, then make the "
                              "SharedBudget again to write its limit");
    }

    void initialise(std::uint64_t limit) {
        const std::string text = std::to_string(limit);
        const Reply reply = run(detail::budget_init_script(), {text, options_.replace_limit ? "1" : "0"}, clock::time_point::max());
        const long long outcome = reply[0].integer();
        if (outcome == -2) throw wrong_type_error(reply[1].string(), reply[2].string());
        if (outcome == 3) {
            const double stored = cascade::detail::from_nano_dollars(static_cast<std::uint64_t>(reply[1].integer()));
            throw std::invalid_argument("cascade::redis::SharedBudget \"" + name_ + "\": the server " + client_.address() +
                                        " holds a limit of $" + cascade::detail::describe_number(stored) +
                                        " for this budget, not the $" +
                                        cascade::detail::describe_number(cascade::detail::from_nano_dollars(limit)) +
                                        " given; give every replica the same limit, or set "
                                        "SharedBudgetOptions::replace_limit to change it");
        }
        limit_nano_.store(limit, std::memory_order_relaxed);
        left_nano_.store(static_cast<std::uint64_t>(reply[2].integer()), std::memory_order_relaxed);
    }

    std::optional<Reservation> reserve_from(double estimate, clock::time_point deadline, const CallContext* context) {
        const std::uint64_t want =
            std::min(cascade::detail::to_nano_dollars_up(checked_estimate(estimate)), max_nano_dollars + 1);
        if (stopped_.load(std::memory_order_relaxed)) {
            throw std::logic_error("cascade::redis::SharedBudget \"" + name_ + "\": reserve after shutdown()");
        }
        const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
        const Member m = member(id, want);
        std::optional<Reply> reply;
        try {
            reply.emplace(run(detail::budget_reserve_script(), {m.view(), lease_ms_, reclaim_n_, retention_ms_, scan_ms_}, deadline));
        } catch (const RedisError& e) {
            if (!e.unavailable()) throw;
            // Whether the script ran is unknown: the answer may have been lost (timed out) or the
            // connection cut (unreachable) after the command went out, and the reservation granted
            // all the same. Give it back once Redis answers rather than hold it for a whole lease;
            // a release of one never granted charges nothing (unmatched_releases).
            enqueue(Item{id, want, 0, 'r'});
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            if (options_.when_unavailable == WhenUnavailable::fail_closed) {
                report_unavailable("refused (fail closed)", e, context);
                throw;
            }
            local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
            report_unavailable("used the local twin", e, context);
            auto local = options_.local->reserve(estimate);
            if (!local) return std::nullopt;
            return Reservation(this, std::move(*local));
        }
        if (!reply->is_integer()) throw lost_state();
        const long long left = reply->integer();
        left_nano_.store(static_cast<std::uint64_t>(left >= 0 ? left : -1 - left), std::memory_order_relaxed);
        if (left < 0) return std::nullopt;
        Reservation reservation(this, id, want);
        remember(id, want);
        return reservation;
    }

    void report_unavailable(std::string_view done, const RedisError& error, const CallContext* context) const noexcept {
        detail::report_unavailable({}, &options_.on_event, context, done, error.what());
    }

    // The reservations open in this process, whose leases the background thread renews.
    void remember(std::uint64_t id, std::uint64_t nano) {
        std::lock_guard<std::mutex> lock(live_mutex_);
        live_.emplace(id, nano);
    }
    void forget(std::uint64_t id) noexcept {
        std::lock_guard<std::mutex> lock(live_mutex_);
        live_.erase(id);
    }

    void give_back(Reservation& reservation) noexcept {
        if (reservation.local_) {
            reservation.local_->release();
            return;
        }
        forget(reservation.id_);
        enqueue(Item{reservation.id_, reservation.nano_, 0, 'r'});
    }

    void enqueue(const Item& item) noexcept {
        bool dropped = false;
        try {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_ && !worker_running_) {
                dropped = true;
            } else {
                if (queue_.empty()) first_queued_at_ = clock::now();
                queue_.push_back(item);
                ++queued_;
                if (idle_) wake_.notify_one();
            }
        } catch (...) {
            dropped = true;
        }
        if (dropped) drop(1, "it was settled after the budget was shut down");
    }

    void drop(std::uint64_t count, const std::string& why) noexcept {
        undelivered_.fetch_add(count, std::memory_order_relaxed);
        try {
            const std::string done = "dropped " + std::to_string(count) + " settle(s) of budget \"" + name_ + "\"";
            detail::report_unavailable({}, &options_.on_event, nullptr, done, why);
        } catch (...) {
            // Out of memory for the message: the count above still says it.
        }
    }

    enum class Delivery { done, retry, dropped };

    // Sends one batch. Only a server without the budget's state drops it (it has nowhere to
    // charge it); any other failure keeps it for another try, `why` saying what failed: an
    // error may be passing (a failover's read-only replica, out of memory, a cluster moving the
    // slot), and a settle given up is money spent that the budget would hand out again.
    Delivery deliver(const Item* items, std::size_t count, std::uint64_t batch_number, std::string& why) {
        try {
            std::vector<Member> members(count);
            std::vector<std::string> costs(count);
            std::vector<std::string_view> args;
            args.reserve(2 + 3 * count);
            args.push_back(settled_ms_);
            const Member batch = batch_id(batch_number);
            args.push_back(batch.view());
            static constexpr std::string_view kinds[] = {"s", "e", "r"};
            for (std::size_t i = 0; i < count; ++i) {
                members[i] = member(items[i].id, items[i].held);
                costs[i] = std::to_string(items[i].cost);
                args.push_back(members[i].view());
                args.push_back(costs[i]);
                args.push_back(kinds[items[i].kind == 's' ? 0 : items[i].kind == 'e' ? 1 : 2]);
            }
            const Reply reply = run(detail::budget_settle_script(), args, clock::time_point::max());
            if (reply[0].integer() < 0) {
                why = lost_state().what();
                return Delivery::dropped;
            }
            duplicates_.fetch_add(static_cast<std::uint64_t>(reply[2].integer()), std::memory_order_relaxed);
            unmatched_releases_.fetch_add(static_cast<std::uint64_t>(reply[4].integer()), std::memory_order_relaxed);
            return Delivery::done;
        } catch (const std::exception& e) {
            why = e.what();
            return Delivery::retry;
        }
    }

    void renew() {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> open;
        {
            std::lock_guard<std::mutex> lock(live_mutex_);
            open.assign(live_.begin(), live_.end());
        }
        constexpr std::size_t chunk = 256;
        std::vector<Member> members;
        std::vector<std::string_view> args;
        for (std::size_t at = 0; at < open.size(); at += chunk) {
            const std::size_t n = std::min(chunk, open.size() - at);
            members.resize(n);
            args.clear();
            args.push_back(lease_ms_);
            for (std::size_t i = 0; i < n; ++i) {
                members[i] = member(open[at + i].first, open[at + i].second);
                args.push_back(members[i].view());
            }
            try {
                (void)run(detail::budget_renew_script(), args, clock::time_point::max());
            } catch (const std::exception&) {
                return;  // Redis away: the next renewal tries again, and reserves report it
            }
        }
    }

    // The background thread: delivers queued settles in batches, retrying while Redis is away or
    // refuses them, and renews the leases of open reservations every lease/3.
    void work() {
        std::vector<Item> batch;
        std::size_t sent = 0;
        auto next_renewal = clock::now() + renew_every_;
        const auto first_pause = std::clamp<clock::duration>(client_.options().reconnect_backoff,
                                                             std::chrono::milliseconds(5), std::chrono::milliseconds(200));
        const auto longest_pause = std::max<clock::duration>(first_pause, std::chrono::seconds(1));
        auto retry_pause = first_pause;
        std::uint64_t batch_number = 1;
        bool failing = false;  // the last delivery failed: the outage was reported
        std::unique_lock<std::mutex> lock(mutex_);
        worker_running_ = true;
        for (;;) {
            // Renewals first: no wait below may hold them up (a settle waiting for its batch, a
            // delivery waiting to be tried again), or open reservations would lose their leases.
            if (!stop_ && clock::now() >= next_renewal) {
                lock.unlock();
                renew();
                lock.lock();
                next_renewal = clock::now() + renew_every_;
                continue;
            }
            if (sent == batch.size() && !queue_.empty()) {
                // The settles that follow closely go in the same round trip: none waits longer
                // than settle_delay for it, unless a flush or the batch size says go now.
                const auto due = first_queued_at_ + *options_.settle_delay;
                if (!hurry_ && !stop_ && queue_.size() < options_.settle_batch && clock::now() < due) {
                    wake_.wait_until(lock, std::min(due, next_renewal));
                    continue;
                }
                batch.clear();
                batch.swap(queue_);
                sent = 0;
            }
            const bool work_left = sent < batch.size();
            if (stop_ && (!work_left || clock::now() >= stop_by_)) {
                const std::uint64_t left = (batch.size() - sent) + queue_.size();
                worker_running_ = false;
                handled_ += left;
                drained_.notify_all();
                lock.unlock();
                if (left > 0) drop(left, "Redis did not take them before the budget was shut down");
                return;
            }
            if (!work_left) {
                hurry_ = false;
                idle_ = true;
                wake_.wait_until(lock, next_renewal);
                idle_ = false;
                continue;
            }
            const std::size_t n = std::min(options_.settle_batch, batch.size() - sent);
            lock.unlock();
            std::string why;
            // A batch tried again is the same batch, same settles and same number: the server
            // knows it for delivered when only its answer was lost.
            const Delivery outcome = deliver(batch.data() + sent, n, batch_number, why);
            if (outcome == Delivery::dropped) drop(n, why);
            if (outcome == Delivery::retry && !failing) {
                failing = true;  // reported once, until a delivery goes through
                try {
                    detail::report_unavailable({}, &options_.on_event, nullptr,
                                               "kept the settles of budget \"" + name_ + "\" to try again", why);
                } catch (...) {
                    // Out of memory for the message: settle_retries still counts the failures.
                }
            }
            lock.lock();
            if (outcome == Delivery::retry) {
                settle_retries_.fetch_add(1, std::memory_order_relaxed);
                auto until = std::min(clock::now() + retry_pause, next_renewal);
                if (stop_) until = std::min(until, stop_by_);
                retry_pause = std::min<clock::duration>(retry_pause * 2, longest_pause);
                wake_.wait_until(lock, until);
                continue;
            }
            failing = false;
            retry_pause = first_pause;
            ++batch_number;
            sent += n;
            handled_ += n;
            drained_.notify_all();
        }
    }

    Client& client_;
    SharedBudgetOptions options_;
    std::string name_;
    std::string state_key_;
    std::string leases_key_;
    std::string reclaimed_key_;
    std::string settled_key_;
    std::vector<std::string_view> keys_;
    std::string lease_ms_;
    std::string reclaim_n_;
    std::string retention_ms_;
    std::string settled_ms_;
    std::string scan_ms_;
    std::uint64_t nonce_;
    clock::duration renew_every_;

    std::atomic<std::uint64_t> next_id_{1};
    std::atomic<std::uint64_t> limit_nano_{0};
    std::atomic<std::uint64_t> left_nano_{0};
    std::atomic<std::uint64_t> unavailable_{0};
    std::atomic<std::uint64_t> local_fallbacks_{0};
    std::atomic<std::uint64_t> settle_retries_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> unmatched_releases_{0};
    std::atomic<std::uint64_t> undelivered_{0};
    std::atomic<bool> stopped_{false};  // stop_, read without the queue's lock

    std::mutex live_mutex_;
    std::unordered_map<std::uint64_t, std::uint64_t> live_;  // id -> nano-dollars held

    mutable std::mutex mutex_;  // the queue and the background thread's state
    std::condition_variable wake_;
    std::condition_variable drained_;
    std::vector<Item> queue_;
    std::uint64_t queued_ = 0;
    std::uint64_t handled_ = 0;  // delivered, or dropped and counted
    bool idle_ = false;
    bool hurry_ = false;  // flush() or shutdown() waits: no settle_delay
    bool stop_ = false;
    bool worker_running_ = false;
    clock::time_point stop_by_{};
    clock::time_point first_queued_at_{};  // when the oldest settle in queue_ was queued
    std::mutex join_mutex_;
    std::thread worker_;
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SHARED_BUDGET_HPP
