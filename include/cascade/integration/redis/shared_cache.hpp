// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_SHARED_CACHE_HPP
#define CASCADE_INTEGRATION_REDIS_SHARED_CACHE_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/call_context.hpp"
#include "../../core/event.hpp"
#include "../../core/result.hpp"
#include "../../runtime/cache.hpp"
#include "client.hpp"
#include "detail/cache_scripts.hpp"
#include "detail/deadline.hpp"
#include "detail/keys.hpp"
#include "detail/shared_component.hpp"
#include "redis_error.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "server_options.hpp"

namespace cascade::redis {

/// How a SharedCache is set up. `max_entries` and `ttl` must be the same in every replica that
/// shares the cache (as must its name, given to SharedCache's constructor).
template <class Value>
struct SharedCacheOptions {
    /// The most entries the cache holds; a store beyond it evicts the least recently used ones.
    /// Required: 1 .. 2^53 - 1.
    std::size_t max_entries = 0;
    /// How long an entry lives after it was stored (a lookup does not extend it), measured by the
    /// server's clock; at most 2^53 - 1 ms, or no_expiry.
    std::chrono::milliseconds ttl = std::chrono::milliseconds::max();
    /// What a lookup or a store does when Redis cannot be reached in time (see SharedCache).
    WhenUnavailable when_unavailable = WhenUnavailable::use_local;
    /// With use_local: the in-process cache that serves lookups and takes stores while Redis cannot
    /// be reached; not owned, it must outlive the SharedCache. Null: a lookup is a miss and a store
    /// is skipped.
    LruCache<std::string, Value>* local = nullptr;
    /// The longest one lookup or store may wait for Redis, connecting and every round trip
    /// included; 0 leaves only the Client's limits (ServerOptions::connect_timeout and
    /// command_timeout per round trip). A call's deadline (CallContext) cuts it shorter.
    std::chrono::milliseconds timeout{0};
    /// Hears an EventKind::shared_state_unavailable event each time Redis cannot be reached, whose
    /// detail says what was done: "used the local twin: ...", "used the local twin for a store: ...",
    /// "missed (no local twin): ...", "skipped the store (no local twin): ...", "refused (fail
    /// closed): ..." or "skipped the store (fail closed): ...", then the error. Called from the
    /// threads that call the cache: it must be thread-safe.
    EventHook on_event;
    /// The events' source; empty: the tier of the call, when there is one.
    std::string source;
};

/// A snapshot of a SharedCache's counters, for this object only (each replica counts its own).
struct SharedCacheStats {
    std::uint64_t hits = 0;           ///< lookups answered, by Redis or by the local twin
    std::uint64_t misses = 0;         ///< lookups that found nothing (or nothing that decoded)
    std::uint64_t stores = 0;         ///< values stored, in Redis or in the local twin
    std::uint64_t evictions = 0;      ///< entries this object's stores dropped to keep to max_entries
    std::uint64_t expirations = 0;    ///< entries past their time to live this object's stores cleared away
    std::uint64_t decode_errors = 0;  ///< stored values the codec could not decode: counted as misses, deleted
    std::uint64_t unavailable = 0;    ///< lookups and stores that could not reach Redis in time
    std::uint64_t local_fallbacks = 0;  ///< of those, the ones the local twin served

    [[nodiscard]] double hit_rate() const noexcept {
        const auto lookups = hits + misses;
        return lookups ? static_cast<double>(hits) / static_cast<double>(lookups) : 0.0;
    }
};

namespace detail {

template <class Codec, class Value, class = void>
struct is_cache_codec : std::false_type {};
template <class Codec, class Value>
struct is_cache_codec<
    Codec, Value,
    std::enable_if_t<std::is_convertible_v<decltype(std::declval<const Codec&>().encode(std::declval<const Value&>())),
                                           std::string> &&
                     std::is_convertible_v<decltype(std::declval<const Codec&>().decode(std::declval<std::string_view>())),
                                           std::optional<Value>>>> : std::true_type {};

}  // namespace detail

/// A least-recently-used result cache with a time to live, shared by every replica through Redis:
/// the fleet-wide twin of cascade::LruCache, and a drop-in for it in cascade::with_cache and
/// cascade::with_result_cache.
///
///     struct AnswerCodec {
///         std::string encode(const Answer& a) const { return a.text; }
///         std::optional<Answer> decode(std::string_view bytes) const { return Answer{std::string(bytes)}; }
///     };
///     cascade::redis::Client redis{server};
///     cascade::LruCache<std::string, Answer> twin{1'000, std::chrono::minutes(10)};
///     cascade::redis::SharedCacheOptions<Answer> options;
///     options.max_entries = 100'000;
///     options.ttl = std::chrono::minutes(10);
///     options.local = &twin;   // serves while Redis is down
///     cascade::redis::SharedCache<Answer, AnswerCodec> answers{redis, "answers", options};
///     auto mini = cascade::with_cache(call_mini, answers, [](const Question& q) { return q.text; });
///
/// The name is the same in every replica that shares the cache. Keys (all in one Redis Cluster hash
/// slot): "cascade:{cache:NAME}:lru", a sorted set of the user's keys scored by their last use
/// (microseconds of the server's clock, kept strictly increasing), and "cascade:{cache:NAME}:v:KEY"
/// for each entry, a string holding the encoded value with the time to live (PX). Keys are
/// arbitrary bytes. A store evicts the least recently used entries beyond max_entries and clears
/// expired ones from the sorted set, in the same script, so neither the sorted set nor the value
/// keys outnumber max_entries (while every replica gives the same max_entries). A lookup does not
/// extend an entry's time to live (as LruCache).
///
/// The codec: `std::string encode(const Value&) const` and
/// `std::optional<Value> decode(std::string_view) const`, both called from many threads at once.
/// A value that does not decode (decode gives nothing, or throws) is a miss, counted in
/// SharedCacheStats::decode_errors, and is deleted (unless another store replaced it meanwhile):
/// a replica with an older or newer format never crashes nor serves a wrong answer. What encode
/// throws is thrown by put().
///
/// When Redis cannot be reached in time (RedisError::unavailable()): the lookup or store is
/// counted in `unavailable` and reported as EventKind::shared_state_unavailable to the options'
/// hook and to the call's (when with_cache passes a CallContext). With WhenUnavailable::use_local
/// (the default) a lookup is served by the local twin (SharedCacheOptions::local) and a store goes
/// to it; without a twin a lookup is a miss and a store is skipped: the model is called, as if the
/// cache were cold. With fail_closed a lookup throws the RedisError, so the call fails; that is
/// rarely what one wants of a cache, whose outage should cost money, not answers. A store is never
/// refused: it is skipped (or goes to the twin), since the answer is already paid for. The twin is
/// not kept in step with Redis: it holds what was stored while Redis was unreachable.
/// Other errors (a key of the wrong type, which the message names; a refused password) are thrown
/// whatever the policy: they are faults to fix.
///
/// Each lookup and store is one script (two round trips when the server does not have it yet),
/// each waiting at most ServerOptions::command_timeout, and all together at most
/// SharedCacheOptions::timeout and the call's deadline.
///
/// Lifetime: the cache neither moves nor copies, and keeps a reference to its Client (and a pointer
/// to its local twin). The Client and the twin must outlive the cache, and the cache every call through it: the models
/// with_cache and with_result_cache made from it (as a cascade::Budget outlives with_budget's).
///
/// Thread-safety: every member may be called from any thread; the Client is shared.
template <class Value, class Codec>
class SharedCache {
    static_assert(detail::is_cache_codec<Codec, Value>::value,
                  "cascade::redis::SharedCache: the codec needs `std::string encode(const Value&) const` and "
                  "`std::optional<Value> decode(std::string_view) const`");

public:
    using key_type = std::string;
    using mapped_type = Value;
    using codec_type = Codec;
    using clock = std::chrono::steady_clock;

    /// Entries live until evicted.
    static constexpr std::chrono::milliseconds no_expiry = std::chrono::milliseconds::max();

    /// `name` is the cache's, the same in every replica: its keys are "cascade:{cache:NAME}:...".
    /// Throws std::invalid_argument naming the field for an empty or unusable name, max_entries 0
    /// (or 2^53 and more), a time to live <= 0 (or 2^53 ms and more but not no_expiry), or a
    /// negative timeout. Does not connect. `client` is kept by reference: it must outlive the cache.
    SharedCache(Client& client, std::string name, SharedCacheOptions<Value> options, Codec codec = Codec{})
        : client_(&client), name_(std::move(name)), options_(std::move(options)), codec_(std::move(codec)) {
        const std::string who = "cascade::redis::SharedCache";
        prefix_ = redis::detail::key_prefix("cache", name_, who);
        constexpr std::uint64_t lua_max = (std::uint64_t{1} << 53) - 1;
        if (options_.max_entries == 0 || static_cast<std::uint64_t>(options_.max_entries) > lua_max) {
            throw std::invalid_argument(who + " \"" + name_ + "\": max_entries must be in 1 .. 2^53 - 1, got " +
                                        std::to_string(options_.max_entries));
        }
        if (options_.ttl <= std::chrono::milliseconds::zero() ||
            (options_.ttl != no_expiry && static_cast<std::uint64_t>(options_.ttl.count()) > lua_max)) {
            throw std::invalid_argument(who + " \"" + name_ + "\": ttl must be > 0 and < 2^53 ms, got " +
                                        std::to_string(options_.ttl.count()) +
                                        " ms; leave it out (SharedCache::no_expiry) for entries that never expire");
        }
        if (options_.timeout < std::chrono::milliseconds::zero()) {
            throw std::invalid_argument(who + " \"" + name_ + "\": timeout must be >= 0 (0: the client's), got " +
                                        std::to_string(options_.timeout.count()) + " ms");
        }
        set_key_ = prefix_ + ":lru";
        value_prefix_ = prefix_ + ":v:";
        ttl_arg_ = options_.ttl == no_expiry ? "0" : std::to_string(options_.ttl.count());
        max_arg_ = std::to_string(options_.max_entries);
    }

    SharedCache(const SharedCache&) = delete;
    SharedCache& operator=(const SharedCache&) = delete;

    /// The value for `key`, or null; counts a hit or a miss. With a context, waits no longer than
    /// its deadline and reports to its hook too. Throws RedisError for a key of the wrong type, and
    /// when Redis is unreachable under fail_closed.
    [[nodiscard]] std::shared_ptr<const Value> find(const std::string& key, const CallContext* context = nullptr) {
        const std::string value_key = value_prefix_ + key;
        std::optional<std::string> bytes;
        try {
            const Reply reply = client_->run(detail::cache_lookup_script(), {set_key_, value_key}, {key}, deadline(context));
            if (!reply.is_nil()) bytes.emplace(reply.string());
        } catch (const RedisError& e) {
            if (!e.unavailable()) throw;
            return find_unavailable(key, e, context);
        }
        if (!bytes) {
            misses_.fetch_add(1, std::memory_order_relaxed);
            return nullptr;
        }
        std::optional<Value> decoded;
        try {
            decoded = codec_.decode(*bytes);
        } catch (...) {
            decoded.reset();  // a codec that throws on bad input: a value that does not decode
        }
        if (!decoded) {
            decode_errors_.fetch_add(1, std::memory_order_relaxed);
            misses_.fetch_add(1, std::memory_order_relaxed);
            try {
                client_->run(detail::cache_erase_script(), {set_key_, value_key}, {key, *bytes}, deadline(context));
            } catch (const RedisError&) {
                // Left for its time to live or eviction; the next lookup tries again.
            }
            return nullptr;
        }
        hits_.fetch_add(1, std::memory_order_relaxed);
        return std::make_shared<const Value>(std::move(*decoded));
    }

    /// A copy of the value for `key`, or nothing; as find().
    [[nodiscard]] std::optional<Value> get(const std::string& key, const CallContext* context = nullptr) {
        if (auto found = find(key, context)) return std::optional<Value>(*found);
        return std::nullopt;
    }

    /// Stores `value` for `key` (replacing what was there, with a new time to live) as the most
    /// recently used entry, evicting the least recently used ones beyond max_entries. When Redis
    /// cannot be reached, stores in the local twin or skips (whatever the policy). Throws what the
    /// codec's encode throws, and RedisError for a key of the wrong type.
    void put(std::string key, Value value, const CallContext* context = nullptr) {
        const std::string bytes = codec_.encode(value);
        const std::string value_key = value_prefix_ + key;
        try {
            const Reply reply = client_->run(detail::cache_store_script(), {set_key_, value_key},
                                             {key, bytes, ttl_arg_, max_arg_, value_prefix_}, deadline(context));
            evictions_.fetch_add(static_cast<std::uint64_t>(reply[0].integer()), std::memory_order_relaxed);
            expirations_.fetch_add(static_cast<std::uint64_t>(reply[1].integer()), std::memory_order_relaxed);
            stores_.fetch_add(1, std::memory_order_relaxed);
        } catch (const RedisError& e) {
            if (!e.unavailable()) throw;
            unavailable_.fetch_add(1, std::memory_order_relaxed);
            if (options_.when_unavailable == WhenUnavailable::use_local && options_.local != nullptr) {
                options_.local->put(std::move(key), std::move(value));
                local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
                stores_.fetch_add(1, std::memory_order_relaxed);
                report("used the local twin for a store", e, context);
            } else if (options_.when_unavailable == WhenUnavailable::fail_closed) {
                report("skipped the store (fail closed)", e, context);
            } else {
                report("skipped the store (no local twin)", e, context);
            }
        }
    }

    /// Drops the entry for `key` in Redis; true when there was one. Throws RedisError when Redis
    /// cannot be reached, whatever the policy (the local twin, if any, is left as it is).
    bool erase(const std::string& key, const CallContext* context = nullptr) {
        const Reply reply =
            client_->run(detail::cache_erase_script(), {set_key_, value_prefix_ + key}, {key}, deadline(context));
        return reply.integer() > 0;
    }

    /// The entries held in Redis now (one round trip: the sorted set's size, after clearing away
    /// expired entries). Throws RedisError when Redis cannot be reached.
    [[nodiscard]] std::size_t entries() {
        const Reply reply =
            client_->run(detail::cache_entries_script(), {set_key_}, {ttl_arg_, value_prefix_}, deadline(nullptr));
        return static_cast<std::size_t>(reply.integer());
    }

    [[nodiscard]] SharedCacheStats stats() const noexcept {
        SharedCacheStats s;
        s.hits = hits_.load(std::memory_order_relaxed);
        s.misses = misses_.load(std::memory_order_relaxed);
        s.stores = stores_.load(std::memory_order_relaxed);
        s.evictions = evictions_.load(std::memory_order_relaxed);
        s.expirations = expirations_.load(std::memory_order_relaxed);
        s.decode_errors = decode_errors_.load(std::memory_order_relaxed);
        s.unavailable = unavailable_.load(std::memory_order_relaxed);
        s.local_fallbacks = local_fallbacks_.load(std::memory_order_relaxed);
        return s;
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return options_.max_entries; }
    [[nodiscard]] std::chrono::milliseconds ttl() const noexcept { return options_.ttl; }
    [[nodiscard]] WhenUnavailable when_unavailable() const noexcept { return options_.when_unavailable; }
    /// "cascade:{cache:NAME}:lru", the sorted set of keys by last use.
    [[nodiscard]] const std::string& set_key() const noexcept { return set_key_; }
    /// "cascade:{cache:NAME}:v:KEY", where the value for `key` is.
    [[nodiscard]] std::string value_key(std::string_view key) const { return value_prefix_ + std::string(key); }
    [[nodiscard]] const Codec& codec() const noexcept { return codec_; }

private:
    std::shared_ptr<const Value> find_unavailable(const std::string& key, const RedisError& e, const CallContext* context) {
        unavailable_.fetch_add(1, std::memory_order_relaxed);
        if (options_.when_unavailable == WhenUnavailable::fail_closed) {
            report("refused (fail closed)", e, context);
            throw e;
        }
        std::shared_ptr<const Value> found;
        if (options_.local != nullptr) {
            found = options_.local->find(key);
            local_fallbacks_.fetch_add(1, std::memory_order_relaxed);
            report("used the local twin", e, context);
        } else {
            report("missed (no local twin)", e, context);
        }
        (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
        return found;
    }

    void report(std::string_view done, const RedisError& e, const CallContext* context) const noexcept {
        redis::detail::report_unavailable(options_.source, &options_.on_event, context, done, e.what());
    }

    // The earliest of the options' timeout and the call's deadline, on steady_clock (a cascade may
    // run on another clock: its remaining() is measured on that one).
    [[nodiscard]] clock::time_point deadline(const CallContext* context) const {
        const clock::time_point until = redis::detail::call_deadline(context);
        if (options_.timeout <= std::chrono::milliseconds::zero()) return until;
        return std::min(until, redis::detail::later(clock::now(), options_.timeout));
    }

    Client* client_;
    std::string name_;
    SharedCacheOptions<Value> options_;
    Codec codec_;
    std::string prefix_;
    std::string set_key_;
    std::string value_prefix_;
    std::string ttl_arg_;
    std::string max_arg_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> stores_{0};
    std::atomic<std::uint64_t> evictions_{0};
    std::atomic<std::uint64_t> expirations_{0};
    std::atomic<std::uint64_t> decode_errors_{0};
    std::atomic<std::uint64_t> unavailable_{0};
    std::atomic<std::uint64_t> local_fallbacks_{0};
};

/// The codec for whole results of one cascade::Cascade, for cascade::with_result_cache on a
/// SharedCache: the answer goes through `values` (a codec of the response as SharedCache takes),
/// with the answering tier, the resolution and each tier's record (status, confidence, threshold,
/// cost, latency, error, note; not the exception, which cannot cross processes).
///
///     cascade::redis::ResultCodec<AnswerCodec> codec{my_cascade};
///     cascade::redis::SharedCache<cascade::Result<Answer>, cascade::redis::ResultCodec<AnswerCodec>>
///         results{redis, "results", options, codec};
///     auto cached = cascade::with_result_cache(my_cascade, results, [](const Question& q) { return q.text; });
///
/// A decoded result's tier names view the cascade's, as the results the cascade returns do: the
/// cascade must outlive the codec. A stored result whose tiers are not the cascade's (a replica
/// that renamed, added or removed a tier) does not decode: a miss, never another tier's answer.
template <class ValueCodec>
class ResultCodec {
public:
    using response_type =
        typename decltype(std::declval<const ValueCodec&>().decode(std::declval<std::string_view>()))::value_type;
    using value_type = Result<response_type>;

    static_assert(detail::is_cache_codec<ValueCodec, response_type>::value,
                  "cascade::redis::ResultCodec: the value codec needs `std::string encode(const Response&) const` "
                  "and `std::optional<Response> decode(std::string_view) const`");

    /// `cascade`: the cascade::Cascade whose results are cached (anything with tier_count and
    /// tier_name(i)).
    template <class Runner>
    explicit ResultCodec(const Runner& cascade, ValueCodec values = ValueCodec{}) : values_(std::move(values)) {
        names_.reserve(Runner::tier_count);
        for (std::size_t i = 0; i < Runner::tier_count; ++i) names_.push_back(cascade.tier_name(i));
    }

    [[nodiscard]] std::string encode(const value_type& result) const {
        std::string out(magic);
        put(out, static_cast<std::uint64_t>(result.resolution()));
        put(out, result.tier_index() ? static_cast<std::uint64_t>(*result.tier_index()) + 1 : 0);
        put(out, result.cost());
        put(out, static_cast<std::uint64_t>(result.latency().count()));
        put(out, static_cast<std::uint64_t>(result.trace().size()));
        for (const Attempt& a : result.trace()) {
            put(out, a.tier);
            put(out, static_cast<std::uint64_t>(a.status));
            put(out, static_cast<std::uint64_t>(a.confidence ? 1 : 0));
            put(out, a.confidence.value_or(0.0));
            put(out, a.threshold);
            put(out, a.cost);
            put(out, static_cast<std::uint64_t>(a.latency.count()));
            put(out, a.error);
            put(out, a.note);
        }
        put(out, static_cast<std::uint64_t>(result.has_value() ? 1 : 0));
        if (result.has_value()) put(out, std::string_view(values_.encode(*result)));
        return out;
    }

    [[nodiscard]] std::optional<value_type> decode(std::string_view bytes) const {
        using Access = cascade::detail::ResultAccess<response_type>;
        if (bytes.substr(0, magic.size()) != magic) return std::nullopt;
        Reader in{bytes.substr(magic.size())};
        const std::uint64_t resolution = in.u64();
        const std::uint64_t tier = in.u64();
        const double cost = in.f64();
        const auto latency = static_cast<std::int64_t>(in.u64());
        const std::uint64_t n = in.u64();
        if (!in.ok || n != names_.size() || resolution > static_cast<std::uint64_t>(Resolution::unanswered) || tier > n) {
            return std::nullopt;
        }
        value_type result;
        Trace& trace = Access::trace(result);
        for (std::size_t i = 0; i < names_.size(); ++i) {
            if (in.str() != names_[i]) return std::nullopt;
            Attempt& a = trace.emplace_back();
            a.tier = names_[i];
            const std::uint64_t status = in.u64();
            if (status > static_cast<std::uint64_t>(AttemptStatus::stopped)) return std::nullopt;
            a.status = static_cast<AttemptStatus>(status);
            const bool has_confidence = in.u64() == 1;
            const double confidence = in.f64();
            if (has_confidence) a.confidence = confidence;
            a.threshold = in.f64();
            a.cost = in.f64();
            a.latency = std::chrono::nanoseconds(static_cast<std::int64_t>(in.u64()));
            a.error = std::string(in.str());
            a.note = std::string(in.str());
            if (!in.ok) return std::nullopt;
        }
        const bool answered = in.u64() == 1;
        Access::add_cost(result, cost);
        Access::set_latency(result, std::chrono::nanoseconds(latency));
        if (answered) {
            const std::string_view answer_bytes = in.str();
            if (!in.ok || tier == 0) return std::nullopt;
            std::optional<response_type> answer = values_.decode(answer_bytes);
            if (!answer) return std::nullopt;
            Access::settle(result, std::move(answer), static_cast<std::size_t>(tier - 1),
                           static_cast<Resolution>(resolution));
        }
        if (!in.ok || !in.rest.empty()) return std::nullopt;
        return result;
    }

private:
    static constexpr std::string_view magic = "cascade.result.1:";

    static void put(std::string& out, std::uint64_t v) {
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
    }
    static void put(std::string& out, double d) {
        std::uint64_t v = 0;
        std::memcpy(&v, &d, sizeof v);
        put(out, v);
    }
    static void put(std::string& out, std::string_view text) {
        put(out, static_cast<std::uint64_t>(text.size()));
        out.append(text);
    }

    // Reads what put wrote; ok turns false, for good, at the first read past the end.
    struct Reader {
        std::string_view rest;
        bool ok = true;

        std::uint64_t u64() {
            if (rest.size() < 8) {
                ok = false;
                return 0;
            }
            std::uint64_t v = 0;
            for (int i = 0; i < 8; ++i) {
                v |= static_cast<std::uint64_t>(static_cast<unsigned char>(rest[static_cast<std::size_t>(i)])) << (8 * i);
            }
            rest.remove_prefix(8);
            return v;
        }
        double f64() {
            const std::uint64_t v = u64();
            double d = 0.0;
            std::memcpy(&d, &v, sizeof d);
            return d;
        }
        std::string_view str() {
            const std::uint64_t size = u64();
            if (!ok || size > rest.size()) {
                ok = false;
                return {};
            }
            const std::string_view text = rest.substr(0, static_cast<std::size_t>(size));
            rest.remove_prefix(static_cast<std::size_t>(size));
            return text;
        }
    };

    ValueCodec values_;
    std::vector<std::string_view> names_;
};

}  // namespace cascade::redis

#endif  // CASCADE_INTEGRATION_REDIS_SHARED_CACHE_HPP
