// Runtime wrappers: batch throughput against the latency-bound ideal, and the per-call overhead
// of the cache, retry, breaker and budget wrappers on their success path against the bare model.
//
//     bench_runtime --benchmark_counters_tabular=true
//
// Figures and the command that produced them: benchmarks/README.md, "Runtime wrappers".

#include <benchmark/benchmark.h>

#include <cascade/runtime/batch.hpp>
#include <cascade/runtime/breaker.hpp>
#include <cascade/runtime/budget.hpp>
#include <cascade/runtime/cache.hpp>
#include <cascade/cascade.hpp>
#include <cascade/runtime/retry.hpp>

#include <chrono>
#include <cstdint>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

constexpr auto model_latency = std::chrono::milliseconds(50);

// run_batch over a cascade whose one model takes 50 ms: with N in flight, the best possible rate
// is N / 50 ms. Each iteration is ten full waves, thread start-up and joins included.
void batch_throughput(benchmark::State& state) {
    const auto concurrency = static_cast<std::size_t>(state.range(0));
    cascade::Cascade c{cascade::tier("remote", [](int x) {
        std::this_thread::sleep_for(model_latency);
        return x;
    })};
    std::vector<int> requests(concurrency * 10);
    for (std::size_t i = 0; i < requests.size(); ++i) requests[i] = static_cast<int>(i);
    double seconds = 0.0;
    std::int64_t done = 0;
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        auto outcomes = cascade::run_batch(c, requests, {concurrency, {}, {}});
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        done += static_cast<std::int64_t>(outcomes.size());
        benchmark::DoNotOptimize(outcomes.data());
    }
    const double ideal = static_cast<double>(concurrency) / std::chrono::duration<double>(model_latency).count();
    const double achieved = static_cast<double>(done) / seconds;
    state.counters["queries_per_s"] = achieved;
    state.counters["ideal_per_s"] = ideal;
    state.counters["of_ideal"] = achieved / ideal;
}
BENCHMARK(batch_throughput)->Arg(64)->Arg(256)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

// The baseline on the same machine at the same moment: N bare threads, each sleeping ten times
// 50 ms. run_batch's rate over this one is its own overhead, whatever the machine's load.
void threads_baseline(benchmark::State& state) {
    const auto concurrency = static_cast<std::size_t>(state.range(0));
    double seconds = 0.0;
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        threads.reserve(concurrency);
        for (std::size_t t = 0; t < concurrency; ++t) {
            threads.emplace_back([] {
                for (int wave = 0; wave < 10; ++wave) std::this_thread::sleep_for(model_latency);
            });
        }
        for (auto& t : threads) t.join();
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double ideal = static_cast<double>(concurrency) / std::chrono::duration<double>(model_latency).count();
    const double achieved = static_cast<double>(concurrency) * 10.0 * static_cast<double>(state.iterations()) / seconds;
    state.counters["queries_per_s"] = achieved;
    state.counters["ideal_per_s"] = ideal;
    state.counters["of_ideal"] = achieved / ideal;
}
BENCHMARK(threads_baseline)->Arg(64)->Arg(256)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

struct Echo {
    int operator()(int x) const noexcept { return x + 1; }
};

void bare_model(benchmark::State& state) {
    Echo model;
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = model(x));
}
BENCHMARK(bare_model);

void retry_success(benchmark::State& state) {
    auto model = cascade::with_retry(Echo{}, cascade::RetryPolicy{});
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = model(x));
}
BENCHMARK(retry_success);

void breaker_success(benchmark::State& state) {
    auto model = cascade::with_breaker(Echo{}, cascade::BreakerPolicy{});
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = model(x));
}
BENCHMARK(breaker_success);

void retry_in_breaker_success(benchmark::State& state) {
    auto model = cascade::with_breaker(cascade::with_retry(Echo{}, cascade::RetryPolicy{}), cascade::BreakerPolicy{});
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = model(x));
}
BENCHMARK(retry_in_breaker_success);

void budget_success(benchmark::State& state) {
    cascade::Budget budget{1e9};
    auto model = cascade::with_budget(Echo{}, budget, 1e-6);
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = model(x));
}
BENCHMARK(budget_success);

void cache_hit(benchmark::State& state) {
    cascade::LruCache<int, int> cache{1024};
    auto model = cascade::with_cache(Echo{}, cache, [](int x) { return x; });
    for (int k = 0; k < 1024; ++k) (void)model(k);
    int k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(model(k));
        k = (k + 1) & 1023;
    }
}
BENCHMARK(cache_hit);

// Every lookup misses: the model is called and its answer stored, evicting the oldest entry.
void cache_miss(benchmark::State& state) {
    cascade::LruCache<int, int> cache{1024};
    auto model = cascade::with_cache(Echo{}, cache, [](int x) { return x; });
    int k = 0;
    for (auto _ : state) benchmark::DoNotOptimize(model(k++));
}
BENCHMARK(cache_miss);

// The same on a whole query: a one-tier cascade, bare and with retry + breaker around its model.
void cascade_bare(benchmark::State& state) {
    cascade::Cascade c{cascade::tier("echo", Echo{})};
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = c.run(x).value());
}
BENCHMARK(cascade_bare);

void cascade_retry_breaker(benchmark::State& state) {
    cascade::Cascade c{cascade::tier(
        "echo", cascade::with_breaker(cascade::with_retry(Echo{}, cascade::RetryPolicy{}), cascade::BreakerPolicy{}))};
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = c.run(x).value());
}
BENCHMARK(cascade_retry_breaker);

// Hedging that is configured but not needed: the first tier answers at once, long before its
// delay. The hedged cascade starts and joins a helper thread per query; the same two tiers
// without the hedge are the baseline. Wall time: the helper's start-up is what is paid.
auto echo_two_tiers() {
    return std::make_tuple(cascade::tier("first", Echo{}, [](int) { return true; }), cascade::tier("second", Echo{}));
}
void cascade_two_tiers(benchmark::State& state) {
    auto [first, second] = echo_two_tiers();
    cascade::Cascade c{std::move(first), std::move(second)};
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = c.run(x).value());
}
BENCHMARK(cascade_two_tiers)->UseRealTime();

// The same two tiers with an event hook that does nothing: what reporting each event costs once
// a hook is installed (without one, cascade_two_tiers, each event is a branch not taken).
void cascade_two_tiers_noop_hook(benchmark::State& state) {
    auto [first, second] = echo_two_tiers();
    cascade::CascadeOptions options;
    options.on_event = [](const cascade::Event& e) { benchmark::DoNotOptimize(e.kind); };
    cascade::Cascade c{options, std::move(first), std::move(second)};
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = c.run(x).value());
}
BENCHMARK(cascade_two_tiers_noop_hook)->UseRealTime();

void cascade_hedged_unused(benchmark::State& state) {
    auto [first, second] = echo_two_tiers();
    cascade::Cascade c{cascade::with_hedge_after(std::move(first), std::chrono::hours(1)), std::move(second)};
    int x = 0;
    for (auto _ : state) benchmark::DoNotOptimize(x = c.run(x).value());
}
BENCHMARK(cascade_hedged_unused)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
