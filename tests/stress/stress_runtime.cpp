// Stress of the runtime wrappers: 8 threads run many queries through a three-tier cascade whose
// models throw, rate-limit, hang, return NaN confidences and fail in bursts, wrapped in retry,
// circuit breaker, shared budget and cache, via run_batch. Exits 1 with a message on the first
// violation: a query not accounted for, stats that do not add up, a budget overspent.
//
//     stress_runtime [queries]     (default 100000; fewer under sanitizers)

#include <cascade/runtime/batch.hpp>
#include <cascade/runtime/breaker.hpp>
#include <cascade/runtime/budget.hpp>
#include <cascade/runtime/cache.hpp>
#include <cascade/cascade.hpp>
#include <cascade/runtime/retry.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif
#ifndef STRESS_SANITIZED
#define STRESS_SANITIZED 0
#endif

using namespace std::chrono_literals;

namespace {

struct Query {
    int id;
};

struct Reply {
    int id;
    double confidence;
    double cost;
};

struct ServerError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

int violations = 0;

// Whether the run exercised a failure mode; a short run may not reach them all, so only a full
// one (10000 queries or more) counts a miss as a violation.
bool full_run = true;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool built_with_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(undefined_behavior_sanitizer)
constexpr bool built_with_sanitizer = true;
#else
constexpr bool built_with_sanitizer = false;
#endif
#else
constexpr bool built_with_sanitizer = false;
#endif
void expect_exercised(bool ok, const std::string& what) {
    if (ok) return;
    if (full_run) {
        ++violations;
        std::fprintf(stderr, "stress_runtime: VIOLATION: %s\n", what.c_str());
    } else {
        std::fprintf(stderr, "stress_runtime: note (short run): %s\n", what.c_str());
    }
}

void expect(bool ok, const std::string& what) {
    if (!ok) {
        ++violations;
        std::fprintf(stderr, "stress_runtime: VIOLATION: %s\n", what.c_str());
    }
}

template <class T>
void expect_equal(T got, T want, const std::string& what) {
    expect(got == want, what + ": got " + std::to_string(got) + ", expected " + std::to_string(want));
}

std::int64_t nano(double dollars) { return dollars > 0.0 ? std::llround(dollars * 1e9) : 0; }

// What the results say, recomputed independently of the cascade's counters.
struct TierTotals {
    std::uint64_t calls = 0, accepted = 0, rejected = 0, model_errors = 0, verifier_errors = 0, timeouts = 0,
                  cost_errors = 0, skipped_deadline = 0, skipped_budget = 0, cancelled = 0, stopped = 0;
    std::int64_t cost_nano = 0;
    std::int64_t latency_ns = 0;
};

}  // namespace

int main(int argc, char** argv) {
    int queries = STRESS_SANITIZED ? 10000 : 100000;
    if (argc > 1) {
        char* end = nullptr;
        const long n = std::strtol(argv[1], &end, 10);
        if (*end != '\0' || n < 1 || n > 100000000) {
            std::fprintf(stderr, "usage: stress_runtime [queries]  (a whole number >= 1, got \"%s\")\n", argv[1]);
            return 2;
        }
        queries = static_cast<int>(n);
    }
    // Under a sanitizer everything runs many times slower, so whether a timing-driven failure mode
    // (a breaker's cool-down, the budget running out) is reached is not a finding; the accounting
    // checks stay violations there too.
    full_run = queries >= 10000 && !built_with_sanitizer;
    const int distinct = std::max(1, queries / 5);  // each question comes about five times: cache hits

    cascade::ManualClock clock;

    // mini: bursts of failures, rate limits with a hint, hangs, NaN confidences, non-std throws.
    std::atomic<std::uint64_t> mini_model_calls{0};
    auto raw_mini = [&](const Query& q) {
        const std::uint64_t n = mini_model_calls.fetch_add(1, std::memory_order_relaxed);
        clock.advance(2ms);  // the simulated call takes time, so cool-downs and TTLs pass
        if ((clock.elapsed() / 1s) % 10 == 0) throw ServerError("mini: 503 (outage: 1 s in every 10 s)");
        if (q.id % 17 == 0 && n % 2 == 0) throw cascade::RetryAfter("mini: 429", 50ms);
        if (q.id % 29 == 0) {
            clock.advance(30s);  // hangs, then answers past the tier's time limit
            return Reply{q.id, 1.0, 0.0002};
        }
        if (q.id % 41 == 0) throw 41;  // not a std::exception
        const double confidence = q.id % 13 == 0 ? std::numeric_limits<double>::quiet_NaN() : (q.id % 10) / 10.0;
        return Reply{q.id, confidence, 0.0002};
    };
    auto mini = cascade::with_breaker(cascade::with_retry(raw_mini, cascade::RetryPolicy{3, 10ms, 1s, 2.0, 0.5, 7},
                                                          cascade::retry_any_error, clock),
                                      cascade::BreakerPolicy{20, 2s, 2}, clock);
    auto mini_breaker = mini.breaker();
    auto mini_retry = mini.model().counters();

    // mid: cached; sometimes fails, sometimes slow for real, sometimes a cost it cannot price.
    std::atomic<std::uint64_t> mid_model_calls{0};
    cascade::LruCache<int, Reply, cascade::ManualClock> mid_cache{static_cast<std::size_t>(distinct * 3 / 4 + 1), 2h, clock};
    auto raw_mid = [&](const Query& q) {
        mid_model_calls.fetch_add(1, std::memory_order_relaxed);
        clock.advance(5ms);
        if (q.id % 23 == 0) throw ServerError("mid: 500");
        if (q.id % 997 == 0) std::this_thread::sleep_for(200us);
        const double cost = q.id % 31 == 0 ? std::numeric_limits<double>::quiet_NaN() : 0.001 + (q.id % 7) * 1e-4;
        return Reply{q.id, ((q.id * 7) % 10) / 10.0, cost};
    };
    auto mid = cascade::with_cache(raw_mid, mid_cache, [](const Query& q) { return q.id; });

    // big: spends from a shared budget that runs out part of the way through.
    constexpr double big_estimate = 0.01;
    cascade::Budget budget{0.004 * queries * 0.02};
    std::atomic<std::uint64_t> big_model_calls{0};
    auto raw_big = [&](const Query& q) {
        const std::uint64_t n = big_model_calls.fetch_add(1, std::memory_order_relaxed);
        clock.advance(20ms);
        if (q.id % 19 == 0 || (n / 300) % 10 == 0) throw ServerError("big: 500 (and bursts of 300 calls)");
        return Reply{q.id, 1.0, 0.002 + (q.id % 5) * 1e-3};  // at most 0.006: within the estimate
    };
    auto big = cascade::with_breaker(
        cascade::with_retry(cascade::with_budget(raw_big, budget, big_estimate, [](const Reply& r) { return r.cost; }),
                            cascade::RetryPolicy{2, 5ms, 500ms, 2.0, 0.3, 11}, cascade::retry_any_error, clock),
        cascade::BreakerPolicy{50, 1s, 1}, clock);
    auto big_breaker = big.breaker();

    const auto confidence = [](const Reply& r) { return r.confidence; };
    const auto priced = cascade::cost_from([](const Reply& r) { return r.cost; });
    // The cascade reads the same manual clock: a hung mini call passes its time limit, and the
    // shared clock's jumps push some queries past their deadline.
    cascade::CascadeOptions cascade_options;
    cascade_options.when_none_pass = cascade::NoPassPolicy::most_confident;
    cascade_options.limits.timeout = 90s;
    cascade_options.now = [clock] { return clock.now(); };
    std::atomic<std::uint64_t> finished_events{0};
    std::atomic<std::uint64_t> tier_finished_events{0};
    cascade_options.on_event = [&](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::query_finished) finished_events.fetch_add(1, std::memory_order_relaxed);
        if (e.kind == cascade::EventKind::tier_finished) tier_finished_events.fetch_add(1, std::memory_order_relaxed);
    };
    cascade::Cascade c{std::move(cascade_options),
                       cascade::tier("mini", std::move(mini), confidence, 0.6, cascade::price_per_call(0.0002))
                           .with_time_limit(10s),
                       cascade::tier("mid", std::move(mid), confidence, 0.5, priced),
                       cascade::tier("big", std::move(big), priced)};

    std::vector<Query> requests;
    requests.reserve(static_cast<std::size_t>(queries));
    for (int i = 0; i < queries; ++i) {
        // Scattered repeats, so that an LRU cache smaller than the set of questions still hits.
        const std::uint64_t golden = 0x9E3779B97F4A7C15U;
        std::uint64_t h = golden * static_cast<std::uint64_t>(i);
        h ^= h >> 29U;
        requests.push_back(Query{static_cast<int>(h % static_cast<std::uint64_t>(distinct))});
    }

    std::size_t last_done = 0;
    bool progress_in_order = true;
    cascade::BatchOptions options;
    options.max_concurrency = 8;
    options.on_progress = [&](std::size_t done, std::size_t) {
        progress_in_order = progress_in_order && done == last_done + 1;
        last_done = done;
    };

    const auto start = std::chrono::steady_clock::now();
    const auto outcomes = cascade::run_batch(c, requests, options);
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Every query accounted for.
    expect_equal(outcomes.size(), requests.size(), "results for the inputs");
    expect(progress_in_order, "progress reported out of order");
    expect_equal(last_done, requests.size(), "progress reached the total");

    TierTotals tiers[3];
    std::uint64_t tier_calls = 0;
    std::uint64_t accepted = 0, fallbacks = 0, unanswered = 0, escalations = 0, escaped = 0, wrong_answers = 0;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (!outcomes[i].has_result()) {
            ++escaped;
            continue;
        }
        const auto& r = outcomes[i].result();
        switch (r.resolution()) {
            case cascade::Resolution::accepted: ++accepted; break;
            case cascade::Resolution::fallback: ++fallbacks; break;
            case cascade::Resolution::unanswered: ++unanswered; break;
        }
        if (r.has_value() && r.value().id != requests[i].id) ++wrong_answers;
        std::uint64_t called = 0;
        for (std::size_t t = 0; t < r.trace().size(); ++t) {
            const cascade::Attempt& a = r.trace()[t];
            TierTotals& tt = tiers[t];
            if (a.status == cascade::AttemptStatus::deadline_passed) ++tt.skipped_deadline;
            if (a.status == cascade::AttemptStatus::over_budget) ++tt.skipped_budget;
            if (!a.called()) continue;
            ++called;
            if (t > 0) ++escalations;
            ++tt.calls;
            switch (a.status) {
                case cascade::AttemptStatus::accepted: ++tt.accepted; break;
                case cascade::AttemptStatus::rejected: ++tt.rejected; break;
                case cascade::AttemptStatus::model_error: ++tt.model_errors; break;
                case cascade::AttemptStatus::verifier_error: ++tt.verifier_errors; break;
                case cascade::AttemptStatus::timed_out: ++tt.timeouts; break;
                case cascade::AttemptStatus::cancelled: ++tt.cancelled; break;
                case cascade::AttemptStatus::stopped: ++tt.stopped; break;
                case cascade::AttemptStatus::skipped:
                case cascade::AttemptStatus::deadline_passed:
                case cascade::AttemptStatus::over_budget: break;
            }
            if (a.note.find("cost function") != std::string::npos) ++tt.cost_errors;
            tt.cost_nano += nano(a.cost);
            tt.latency_ns += a.latency.count();
        }
        tier_calls += called;
    }
    expect_equal(escaped, std::uint64_t{0}, "queries whose run threw");
    expect_equal(wrong_answers, std::uint64_t{0}, "answers given to the wrong question");

    // The stats add up exactly to what the results say.
    const cascade::Stats s = c.stats();
    const auto q = static_cast<std::uint64_t>(queries);
    expect_equal(s.queries, q, "Stats::queries");
    expect_equal(s.accepted, accepted, "Stats::accepted");
    expect_equal(s.fallbacks, fallbacks, "Stats::fallbacks");
    expect_equal(s.unanswered, unanswered, "Stats::unanswered");
    expect_equal(s.accepted + s.fallbacks + s.unanswered, q, "accepted + fallbacks + unanswered");
    expect_equal(s.escalations, escalations, "Stats::escalations");
    std::uint64_t errors = 0;
    std::int64_t cost_nano = 0;
    for (std::size_t t = 0; t < 3; ++t) {
        const cascade::TierStats& ts = s.tiers[t];
        const TierTotals& tt = tiers[t];
        const std::string at = "tier " + ts.name + ": ";
        expect_equal(ts.calls, tt.calls, at + "calls");
        expect_equal(ts.accepted, tt.accepted, at + "accepted");
        expect_equal(ts.rejected, tt.rejected, at + "rejected");
        expect_equal(ts.model_errors, tt.model_errors, at + "model errors");
        expect_equal(ts.verifier_errors, tt.verifier_errors, at + "verifier errors");
        expect_equal(ts.timeouts, tt.timeouts, at + "timeouts");
        expect_equal(ts.cancelled, tt.cancelled, at + "cancelled");
        expect_equal(ts.stopped_early, tt.stopped, at + "stopped_early");
        expect_equal(ts.skipped_deadline, tt.skipped_deadline, at + "skipped for the deadline");
        expect_equal(ts.skipped_budget, tt.skipped_budget, at + "skipped for the cost cap");
        expect_equal(ts.cost_errors, tt.cost_errors, at + "cost errors");
        expect_equal(nano(ts.cost), tt.cost_nano, at + "cost in nano-dollars");
        expect_equal(static_cast<std::int64_t>(ts.latency.count()), tt.latency_ns, at + "latency in ns");
        errors += tt.model_errors + tt.verifier_errors + tt.timeouts;
        cost_nano += tt.cost_nano;
    }
    expect_equal(s.errors, errors, "Stats::errors");
    expect_equal(nano(s.cost), cost_nano, "Stats::cost in nano-dollars");
    expect_equal(s.hook_errors, std::uint64_t{0}, "Stats::hook_errors");
    expect_equal(finished_events.load(), q, "query_finished events");
    expect_equal(tier_finished_events.load(), tier_calls, "tier_finished events = tier calls");
    expect_exercised(tiers[0].timeouts > 0, "mini never timed out: the hang was not exercised");

    // The wrappers' counters agree with the tiers and the models.
    const auto mb = mini_breaker->stats();
    const auto mr = mini_retry->stats();
    expect_equal(mb.calls + mb.rejected, tiers[0].calls, "mini: breaker admissions + refusals = tier calls");
    expect_equal(mr.successes + mr.give_ups + mr.not_retried, mb.calls, "mini: retry outcomes = breaker calls");
    expect_equal(mr.calls, mini_model_calls.load(), "mini: retry calls = model calls");
    expect_equal(mb.successes, mr.successes, "mini: breaker successes = retry successes");
    const auto cs = mid_cache.stats();
    expect_equal(cs.hits + cs.misses, tiers[1].calls, "mid: cache lookups = tier calls");
    expect_equal(cs.misses, mid_model_calls.load(), "mid: cache misses = model calls");
    expect_exercised(cs.hits > 0, "mid: the cache never hit");

    // The shared budget is never overspent, and it is what the big tier recorded.
    const auto bs = budget.stats();
    expect(bs.spent <= bs.limit, "budget overspent: $" + std::to_string(bs.spent) + " of $" + std::to_string(bs.limit));
    expect_equal(bs.overruns, std::uint64_t{0}, "budget overruns");
    expect_equal(nano(bs.reserved), std::int64_t{0}, "budget still reserved after the batch");
    expect_equal(nano(bs.spent), tiers[2].cost_nano, "budget spent = big tier's recorded cost");
    expect_exercised(bs.refusals > 0, "the budget never ran out: the test did not reach its limit");

    std::printf("stress_runtime: %d queries on 8 threads in %.2f s: %llu accepted, %llu fallbacks, %llu unanswered\n",
                queries, seconds, static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(fallbacks),
                static_cast<unsigned long long>(unanswered));
    std::printf("  mini breaker opened %llu times, refused %llu calls; retries %llu, give-ups %llu\n",
                static_cast<unsigned long long>(mb.opened), static_cast<unsigned long long>(mb.rejected),
                static_cast<unsigned long long>(mr.retries), static_cast<unsigned long long>(mr.give_ups));
    std::printf("  mid cache: %llu hits, %llu misses; budget: $%.4f of $%.4f spent, %llu refusals; big breaker opened %llu\n",
                static_cast<unsigned long long>(cs.hits), static_cast<unsigned long long>(cs.misses), bs.spent, bs.limit,
                static_cast<unsigned long long>(bs.refusals),
                static_cast<unsigned long long>(big_breaker->stats().opened));
    if (violations > 0) {
        std::fprintf(stderr, "stress_runtime: FAILED with %d violation(s)\n", violations);
        return 1;
    }
    std::printf("stress_runtime: OK\n");
    return 0;
}
