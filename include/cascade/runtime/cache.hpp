// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_CACHE_HPP
#define CASCADE_RUNTIME_CACHE_HPP

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "../core/call_context.hpp"
#include "clock.hpp"
#include "../core/detail/callable_traits.hpp"
#include "detail/model_wrapper.hpp"
#include "detail/runtime_common.hpp"
#include "detail/stream_watch.hpp"
#include "../core/event.hpp"
#include "../core/result.hpp"

namespace cascade {

/// A snapshot of a cache's counters (exact once the calls have finished).
struct CacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;       ///< lookups that found nothing, or an expired entry
    std::uint64_t evictions = 0;    ///< entries dropped to make room (least recently used first)
    std::uint64_t expirations = 0;  ///< entries found past their time to live and dropped
    std::size_t size = 0;           ///< entries held now
    std::size_t capacity = 0;

    [[nodiscard]] double hit_rate() const noexcept {
        const auto lookups = hits + misses;
        return lookups ? static_cast<double>(hits) / static_cast<double>(lookups) : 0.0;
    }
};

/// A least-recently-used cache with an optional time to live, for model answers or whole results.
///
///     cascade::LruCache<std::string, Answer> answers{10'000, std::chrono::minutes(10)};
///
/// Values are kept behind shared pointers, so a lookup copies the value outside the lock and a
/// hit costs one hash lookup, one list splice and one reference count under one mutex.
///
/// Thread-safety: every member may be called from any thread.
template <class Key, class Value, class Clock = SteadyClock, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
class LruCache {
    static_assert(detail::is_clock_v<Clock>,
                  "cascade::LruCache: the clock needs `std::chrono::steady_clock::time_point now() const` and "
                  "`void sleep_for(std::chrono::nanoseconds) const` (cascade::SteadyClock, cascade::ManualClock)");

public:
    using key_type = Key;
    using mapped_type = Value;
    using clock_type = Clock;

    /// Entries never expire; only the capacity bounds them.
    static constexpr std::chrono::nanoseconds no_expiry = std::chrono::nanoseconds::max();

    /// Throws std::invalid_argument for a capacity of 0 or a time to live <= 0.
    explicit LruCache(std::size_t capacity, std::chrono::nanoseconds ttl = no_expiry, Clock clock = {})
        : capacity_(capacity), ttl_(ttl), clock_(std::move(clock)) {
        if (capacity_ == 0) {
            throw std::invalid_argument("cascade::LruCache: the capacity must be >= 1 entry, got 0");
        }
        if (ttl_ <= std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::LruCache: the time to live must be > 0, got " +
                                        detail::describe_duration(ttl_) +
                                        "; leave it out (LruCache::no_expiry) for entries that never expire");
        }
        index_.reserve(capacity_);
    }

    LruCache(const LruCache&) = delete;
    LruCache& operator=(const LruCache&) = delete;

    /// The value for `key`, shared, or null; counts a hit or a miss.
    [[nodiscard]] std::shared_ptr<const Value> find(const Key& key) {
        std::shared_ptr<const Value> found;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto it = index_.find(key);
            if (it != index_.end()) {
                if (expired(it->second->expires)) {
                    lru_.erase(it->second);
                    index_.erase(it);
                    expirations_.fetch_add(1, std::memory_order_relaxed);
                } else {
                    lru_.splice(lru_.begin(), lru_, it->second);
                    found = it->second->value;
                }
            }
        }
        (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
        return found;
    }

    /// A copy of the value for `key`, or nothing; counts a hit or a miss.
    [[nodiscard]] std::optional<Value> get(const Key& key) {
        if (auto found = find(key)) return std::optional<Value>(*found);
        return std::nullopt;
    }

    /// Stores `value` for `key` (replacing what was there) as the most recently used entry, and
    /// evicts the least recently used one when full.
    void put(Key key, Value value) {
        auto shared = std::make_shared<const Value>(std::move(value));
        const auto expires = ttl_ == no_expiry ? std::chrono::steady_clock::time_point::max() : deadline();
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = index_.find(key);
        if (it != index_.end()) {
            it->second->value = std::move(shared);
            it->second->expires = expires;
            lru_.splice(lru_.begin(), lru_, it->second);
            return;
        }
        if (index_.size() >= capacity_) {
            index_.erase(lru_.back().key);
            lru_.pop_back();
            evictions_.fetch_add(1, std::memory_order_relaxed);
        }
        lru_.push_front(Node{key, std::move(shared), expires});
        try {
            index_.emplace(std::move(key), lru_.begin());
        } catch (...) {
            lru_.pop_front();
            throw;
        }
    }

    /// Drops the entry for `key`; true when there was one.
    bool erase(const Key& key) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = index_.find(key);
        if (it == index_.end()) return false;
        lru_.erase(it->second);
        index_.erase(it);
        return true;
    }

    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        index_.clear();
        lru_.clear();
    }

    [[nodiscard]] std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return index_.size();
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::chrono::nanoseconds ttl() const noexcept { return ttl_; }

    [[nodiscard]] CacheStats stats() const {
        CacheStats s;
        s.hits = hits_.load(std::memory_order_relaxed);
        s.misses = misses_.load(std::memory_order_relaxed);
        s.evictions = evictions_.load(std::memory_order_relaxed);
        s.expirations = expirations_.load(std::memory_order_relaxed);
        s.size = size();
        s.capacity = capacity_;
        return s;
    }

private:
    struct Node {
        Key key;
        std::shared_ptr<const Value> value;
        std::chrono::steady_clock::time_point expires;
    };
    using List = std::list<Node>;

    [[nodiscard]] bool expired(std::chrono::steady_clock::time_point expires) const {
        return expires != std::chrono::steady_clock::time_point::max() && clock_.now() >= expires;
    }
    [[nodiscard]] std::chrono::steady_clock::time_point deadline() const {
        const std::chrono::steady_clock::time_point now = clock_.now();
        // A time to live past the end of the clock's range never expires.
        if (ttl_ > std::chrono::steady_clock::time_point::max() - now) return std::chrono::steady_clock::time_point::max();
        return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(ttl_);
    }

    std::size_t capacity_;
    std::chrono::nanoseconds ttl_;
    Clock clock_;
    mutable std::mutex mutex_;
    List lru_;  // most recently used first
    std::unordered_map<Key, typename List::iterator, Hash, KeyEqual> index_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> evictions_{0};
    std::atomic<std::uint64_t> expirations_{0};
};

namespace detail {
// What with_cache and with_result_cache need of a cache, as LruCache has it: key_type,
// mapped_type, find(key) giving a pointer-like value (null for a miss), put(key, value).
template <class C, class = void>
struct is_cache : std::false_type {};
template <class C>
struct is_cache<C, std::void_t<typename C::key_type, typename C::mapped_type,
                               decltype(static_cast<bool>(std::declval<C&>().find(std::declval<const typename C::key_type&>()))),
                               decltype(*std::declval<C&>().find(std::declval<const typename C::key_type&>())),
                               decltype(std::declval<C&>().put(std::declval<typename C::key_type>(),
                                                               std::declval<typename C::mapped_type>()))>>
    : std::true_type {};

// A cache whose find and put also take the call's context (a cache in another process, which
// honours the call's deadline and reports through the call's hook): find(key, const CallContext*)
// and put(key, value, const CallContext*).
template <class C, class = void>
struct cache_takes_context : std::false_type {};
template <class C>
struct cache_takes_context<
    C, std::void_t<decltype(std::declval<C&>().find(std::declval<const typename C::key_type&>(),
                                                    std::declval<const CallContext*>())),
                   decltype(std::declval<C&>().put(std::declval<typename C::key_type>(),
                                                   std::declval<typename C::mapped_type>(),
                                                   std::declval<const CallContext*>()))>> : std::true_type {};
}  // namespace detail

/// A model callable that answers repeated requests from a cache; made by cascade::with_cache.
///
/// A hit does not call the model. The tier still charges its cost spec for the call (the core
/// prices each tier call); to record cached answers at $0, cache whole results with
/// cascade::with_result_cache instead.
/// Called with a CallContext (as a cascade does), a miss passes the context on to a model that
/// takes one.
/// Thread-safety: operator() may be called from many threads at once when the model and the key
/// function may be. Two threads that miss the same key at once both call the model.
template <class Model, class Cache, class KeyFn>
class CachedModel : public detail::ModelWrapper<CachedModel<Model, Cache, KeyFn>, Model> {
public:
    CachedModel(Model model_fn, Cache& shared_cache, KeyFn key_function)
        : model_(std::move(model_fn)), cache_(&shared_cache), key_fn_(std::move(key_function)) {}

    Cache& cache() noexcept { return *cache_; }
    Model& model() noexcept { return model_; }

    /// Reports each hit to `hook` as an EventKind::cache_hit event from `source`. A cascade's own
    /// hook (CascadeOptions::on_event) hears the hits in its queries without this.
    CachedModel&& with_event_hook(EventHook hook, std::string source) && {
        hook_ = std::move(hook);
        source_ = std::move(source);
        return std::move(*this);
    }

private:
    friend class detail::ModelWrapper<CachedModel, Model>;

    template <class Request>
    detail::model_response_t<Model, Request> call(const Request& request, const CallContext* context, TokenSink* sink) {
        using Response = detail::model_response_t<Model, Request>;
        static_assert(std::is_invocable_v<KeyFn&, const Request&>,
                      "cascade::with_cache: the key function must be callable as Key(const Request&)");
        static_assert(std::is_same_v<typename Cache::mapped_type, Response>,
                      "cascade::with_cache: the cache's value type must be the model's response type");
        auto key = static_cast<typename Cache::key_type>(key_fn_(request));
        if (auto hit = look_up(key, context)) {
            if (hook_ || (context != nullptr && context->reports_events())) {
                detail::report_wrapper_event(detail::wrapper_event(EventKind::cache_hit, source_, context), &hook_,
                                             context);
            }
            return *hit;
        }
        detail::StreamWatch watch(sink);
        Response answer = detail::call_model(model_, request, context, watch.sink());
        // A stream cut short (stopped by its rule, stalled, past its deadline) returned a partial
        // answer, which the cascade never takes: it must not be served later as a whole one.
        if (watch.stopped()) return answer;
        if constexpr (detail::cache_takes_context<Cache>::value) {
            cache_->put(std::move(key), answer, context);
        } else {
            cache_->put(std::move(key), answer);
        }
        return answer;
    }

    auto look_up(const typename Cache::key_type& key, const CallContext* context) {
        if constexpr (detail::cache_takes_context<Cache>::value) {
            return cache_->find(key, context);
        } else {
            return cache_->find(key);
        }
    }

    Model model_;
    Cache* cache_;
    KeyFn key_fn_;
    EventHook hook_;
    std::string source_;
};

/// Wraps a model so that a request whose key is cached is answered without calling it:
///
///     cascade::LruCache<std::string, Answer> answers{10'000, std::chrono::minutes(10)};
///     auto mini = cascade::with_cache(call_mini, answers, [](const Question& q) { return q.text; });
///
/// The cache is shared, not owned: it must outlive the wrapper. What the model throws is not
/// cached. Any type with LruCache's key_type, mapped_type, find(key) and put(key, value) will do
/// as the cache; one whose find and put also take a `const CallContext*` is given the call's
/// context (its deadline and its hook).
template <class Model, class Cache, class KeyFn>
auto with_cache(Model&& model, Cache& cache, KeyFn&& key_fn) {
    static_assert(detail::is_cache<Cache>::value,
                  "cascade::with_cache: the cache must be a cascade::LruCache or have what it has: key_type, "
                  "mapped_type, find(key) giving a shared pointer (null for a miss) and put(key, value)");
    static_assert(std::is_copy_constructible_v<typename Cache::mapped_type>,
                  "cascade::with_cache: cached answers are handed out as copies; the response type must be copyable");
    return CachedModel<std::decay_t<Model>, Cache, std::decay_t<KeyFn>>(std::forward<Model>(model), cache,
                                                                         std::forward<KeyFn>(key_fn));
}

/// The note a result served from a result cache carries on every tier it called.
inline constexpr std::string_view cache_hit_note = "served from cache";

/// Whether `result` came from a result cache (cascade::with_result_cache) rather than a run.
template <class Response>
[[nodiscard]] bool served_from_cache(const Result<Response>& result) noexcept {
    const auto i = result.tier_index();
    if (!i) return false;
    const std::string& note = result.trace()[*i].note;
    return note.size() >= cache_hit_note.size() &&
           std::string_view(note).substr(note.size() - cache_hit_note.size()) == cache_hit_note;
}

namespace detail {

// A result as a cache hit hands it out: nothing spent, no time taken, each called tier marked.
template <class Response>
void mark_cache_hit(Result<Response>& r) {
    using Access = ResultAccess<Response>;
    Access::add_cost(r, -r.cost());
    Access::set_latency(r, std::chrono::nanoseconds{0});
    for (Attempt& a : Access::trace(r)) {
        if (!a.called()) continue;
        a.cost = 0.0;
        a.latency = std::chrono::nanoseconds{0};
        a.note = a.note.empty() ? std::string(cache_hit_note) : a.note + "; " + std::string(cache_hit_note);
    }
}

template <class Runner, class Request>
using run_result_t = std::decay_t<decltype(std::declval<Runner&>().run(std::declval<const Request&>()))>;

}  // namespace detail

/// A Cascade or Router whose answered results are cached by key; made by
/// cascade::with_result_cache. run() returns what the runner's run() returns.
///
/// A hit does not run the cascade (nor count in its stats): its result has the stored answer,
/// tier and trace, with cost() and latency() 0 and each called tier's note ending in
/// cascade::cache_hit_note (see served_from_cache). Unanswered results are not cached, so a query
/// that failed is tried again next time.
/// Thread-safety: run() as the runner's run(); the key function must be callable from many
/// threads at once.
template <class Runner, class Cache, class KeyFn>
class ResultCached {
public:
    ResultCached(Runner runner, Cache& cache, KeyFn key_fn)
        : runner_(std::forward<Runner>(runner)), cache_(&cache), key_fn_(std::move(key_fn)) {}

    template <class Request>
    detail::run_result_t<std::remove_reference_t<Runner>, Request> run(const Request& request) {
        using Out = detail::run_result_t<std::remove_reference_t<Runner>, Request>;
        static_assert(std::is_invocable_v<KeyFn&, const Request&>,
                      "cascade::with_result_cache: the key function must be callable as Key(const Request&)");
        static_assert(std::is_same_v<typename Cache::mapped_type, Out>,
                      "cascade::with_result_cache: the cache's value type must be what run() returns "
                      "(cascade::Result<Response> for a Cascade, cascade::Routed<Response> for a Router)");
        auto key = static_cast<typename Cache::key_type>(key_fn_(request));
        if (auto hit = cache_->find(key)) {
            if (hook_) detail::report_wrapper_event(detail::wrapper_event(EventKind::cache_hit, source_, nullptr), &hook_, nullptr);
            return *hit;
        }
        Out result = runner_.run(request);
        if (result.has_value()) {
            Out stored = result;
            detail::mark_cache_hit<typename Out::value_type>(stored);
            cache_->put(std::move(key), std::move(stored));
        }
        return result;
    }

    std::remove_reference_t<Runner>& runner() noexcept { return runner_; }
    Cache& cache() noexcept { return *cache_; }

    /// Reports each hit to `hook` as an EventKind::cache_hit event from `source`. A hit runs no
    /// query, so no cascade's hook hears it: this is the only hook that does.
    ResultCached&& with_event_hook(EventHook hook, std::string source) && {
        hook_ = std::move(hook);
        source_ = std::move(source);
        return std::move(*this);
    }

private:
    Runner runner_;
    Cache* cache_;
    KeyFn key_fn_;
    EventHook hook_;
    std::string source_;
};

/// Caches the answered results of a whole Cascade or Router by key:
///
///     cascade::LruCache<std::string, cascade::Result<Answer>> results{10'000, std::chrono::hours(1)};
///     auto cached = cascade::with_result_cache(my_cascade, results, [](const Question& q) { return q.text; });
///     auto r = cached.run(question);   // r.cost() == 0 on a hit
///
/// An lvalue runner is referenced (it must outlive the wrapper); an rvalue one is moved in. The
/// cache may be any type with LruCache's key_type, mapped_type, find(key) and put(key, value).
template <class Runner, class Cache, class KeyFn>
auto with_result_cache(Runner&& runner, Cache& cache, KeyFn&& key_fn) {
    static_assert(detail::is_cache<Cache>::value,
                  "cascade::with_result_cache: the cache must be a cascade::LruCache or have what it has: "
                  "key_type, mapped_type, find(key) giving a shared pointer (null for a miss) and put(key, value)");
    using Stored = std::conditional_t<std::is_lvalue_reference_v<Runner>, Runner, std::decay_t<Runner>>;
    return ResultCached<Stored, Cache, std::decay_t<KeyFn>>(std::forward<Runner>(runner), cache,
                                                            std::forward<KeyFn>(key_fn));
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_CACHE_HPP
