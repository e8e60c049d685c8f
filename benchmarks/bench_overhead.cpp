// SPDX-License-Identifier: MIT
//
// What Cascade::run and Router::run add to a query, measured against calling the same callables
// by hand. The models are trivial on purpose: a real model call takes milliseconds, so what is
// left here is the library's own cost. Each case also reports the heap allocations made per
// query (counter "allocs/query"); the library should add none.
//
// Figures, the machine and the command are in benchmarks/README.md.

#include <benchmark/benchmark.h>

#include <cascade/cascade.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

// Every heap allocation of the program is counted (tests/support/count_allocations.hpp).
#include "count_allocations.hpp"
#include "overhead_workload.hpp"

#if !CASCADE_TEST_COUNTS_ALLOCATIONS
#error "this benchmark counts allocations, which a ThreadSanitizer build cannot"
#endif
using cascade_test::thread_allocations;

namespace {

// ---------------------------------------------------------------------------------------------
using namespace overhead_workload;  // Query, Answer, the callables, easy, hard, the prices

// A clock that only counts, each read 50 ns after the previous one (about what the real latencies
// are here, so the latency statistics do the same work): the difference it makes is what reading
// the real clock costs a query.
std::chrono::steady_clock::time_point counting_clock() {
    thread_local std::chrono::nanoseconds now{0};
    now += std::chrono::nanoseconds(50);
    return std::chrono::steady_clock::time_point(now);
}

// Default options but for those named: stats on, latencies measured, the default clock.
auto make_cascade(bool collect_stats, cascade::NowFn now = cascade::CascadeOptions{}.now,
                  bool measure_latency = true) {
    cascade::CascadeOptions options;
    options.collect_stats = collect_stats;
    options.measure_latency = measure_latency;
    options.now = now;
    return cascade::Cascade{options,
                            cascade::tier("cheap", cheap_model(), confidence(), threshold,
                                          cascade::price_per_call(cheap_price)),
                            cascade::tier("big", big_model(), cascade::price_per_call(big_price))};
}

// The 2-tier cascade's first tier followed by `sizeof...(Is)` tiers like its second, default
// options: for queries the first tier accepts, what each tier not called costs.
template <std::size_t... Is>
auto make_long_cascade(std::index_sequence<Is...>) {
    return cascade::Cascade{
        cascade::tier("cheap", cheap_model(), confidence(), threshold, cascade::price_per_call(cheap_price)),
        cascade::tier("big " + std::to_string(Is), big_model(), cascade::price_per_call(big_price))...};
}

auto make_router() {
    return cascade::Router{difficulty(), {threshold}, make_cascade(true),
                           cascade::tier("big", big_model(), cascade::price_per_call(big_price))};
}

// Sets the counter "allocs/query": the heap allocations this thread made per iteration since
// `before`.
void report_allocations(benchmark::State& state, std::uint64_t before) {
    const auto allocations = static_cast<double>(thread_allocations - before);
    state.counters["allocs/query"] =
        benchmark::Counter(allocations / static_cast<double>(state.iterations()), benchmark::Counter::kAvgThreads);
}

// Runs `query_fn` once per iteration on a fresh query (a new id, hidden from the optimiser).
template <class QueryFn>
void run_queries(benchmark::State& state, double query_confidence, QueryFn&& query_fn) {
    std::uint64_t id = static_cast<std::uint64_t>(state.thread_index()) << 40U;
    const std::uint64_t allocations_before = thread_allocations;
    for (auto _ : state) {
        Query q{id++, query_confidence};
        benchmark::DoNotOptimize(q);
        query_fn(q);
    }
    report_allocations(state, allocations_before);
}

// ---------------------------------------------------------------------------------------------
// Baselines: what a user writes without the library (call, check, add up the price).

void direct_tier0(benchmark::State& state) {
    auto cheap = cheap_model();
    auto verify = confidence();
    double spent = 0.0;
    run_queries(state, easy, [&](const Query& q) {
        Answer a = cheap(q);
        const bool ok = verify(q, a) >= threshold;
        spent += cheap_price;
        benchmark::DoNotOptimize(a);
        benchmark::DoNotOptimize(ok);
    });
    benchmark::DoNotOptimize(spent);
}

void direct_tier1(benchmark::State& state) {
    auto cheap = cheap_model();
    auto big = big_model();
    auto verify = confidence();
    double spent = 0.0;
    run_queries(state, hard, [&](const Query& q) {
        Answer a = cheap(q);
        spent += cheap_price;
        if (verify(q, a) < threshold) {
            a = big(q);
            spent += big_price;
        }
        benchmark::DoNotOptimize(a);
    });
    benchmark::DoNotOptimize(spent);
}

// Score, then the easy route's cheap-first pair or the big model.
void direct_route(benchmark::State& state, double query_confidence) {
    auto score = difficulty();
    auto cheap = cheap_model();
    auto big = big_model();
    auto verify = confidence();
    double spent = 0.0;
    run_queries(state, query_confidence, [&](const Query& q) {
        Answer a{};
        if (score(q) < threshold) {
            a = cheap(q);
            spent += cheap_price;
            if (verify(q, a) < threshold) {
                a = big(q);
                spent += big_price;
            }
        } else {
            a = big(q);
            spent += big_price;
        }
        benchmark::DoNotOptimize(a);
    });
    benchmark::DoNotOptimize(spent);
}

// ---------------------------------------------------------------------------------------------
// The library. One cascade or router per configuration, shared by the threads of a case as in a
// server, built once outside the timed loop.

// The library spreads its counters over stripes, one per thread as threads first use them
// (cascade::detail::this_thread_stripe). Two threads that land on the same stripe contend; in the
// two-thread cases the counter "shared_stripe" says whether that happened.
std::array<std::atomic<std::size_t>, 2> thread_stripes{};

void note_stripe(benchmark::State& state) {
    if (state.threads() != 2) return;
    thread_stripes[static_cast<std::size_t>(state.thread_index())] = cascade::detail::this_thread_stripe();
}
// Called after the timed loop, which every thread leaves through a barrier.
void report_shared_stripe(benchmark::State& state) {
    if (state.threads() != 2 || state.thread_index() != 0) return;
    state.counters["shared_stripe"] = thread_stripes[0] == thread_stripes[1] ? 1.0 : 0.0;
}

template <class Runner>
void run_through(benchmark::State& state, Runner& runner, double query_confidence) {
    note_stripe(state);
    run_queries(state, query_confidence, [&](const Query& q) {
        auto r = runner.run(q);
        benchmark::DoNotOptimize(r);
    });
    report_shared_stripe(state);
}

void cascade_run(benchmark::State& state, double query_confidence, bool collect_stats) {
    static auto with_stats = make_cascade(true);
    static auto without_stats = make_cascade(false);
    run_through(state, collect_stats ? with_stats : without_stats, query_confidence);
}

void cascade_run_counting_clock(benchmark::State& state, double query_confidence) {
    static auto c = make_cascade(true, &counting_clock);
    run_through(state, c, query_confidence);
}

// The stats-on cascade timed on steady_clock instead of the tick clock, as every query with a
// deadline is: a clock of the user's that reads steady_clock (called through std::function, about
// 2 ns more than a direct read).
void cascade_run_steady_clock(benchmark::State& state, double query_confidence) {
    static auto c = make_cascade(true, [] { return std::chrono::steady_clock::now(); });
    run_through(state, c, query_confidence);
}

// No clock read at all (CascadeOptions::measure_latency = false): the library's own work.
void cascade_run_latency_off(benchmark::State& state, double query_confidence) {
    static auto c = make_cascade(true, cascade::CascadeOptions{}.now, false);
    run_through(state, c, query_confidence);
}

// Tiers in all; only the first is called. Compare with each other: (6 - 2) tiers not called.
template <std::size_t Tiers>
void cascade_first_of(benchmark::State& state) {
    static auto c = make_long_cascade(std::make_index_sequence<Tiers - 1>{});
    run_through(state, c, easy);
}

void router_run(benchmark::State& state, double query_confidence) {
    static auto router = make_router();
    run_through(state, router, query_confidence);
}

// ---------------------------------------------------------------------------------------------
// Parts, to see where the added time goes: one read of the clock (the tick clock a query without
// a deadline is timed on, and steady_clock), which a cascade makes once per query plus once per
// tier called, and a router once more (and the cascades above again, on steady_clock, on a clock
// that only counts, called through CascadeOptions::now, and without the clock); one counter
// addition as the library makes it (a load and a store on this thread's own stripe); and, as a
// control, an atomic addition to one counter shared by all threads, which is what a locked
// instruction and contention look like.

template <class Clock>
void read_clock(benchmark::State& state) {
    const std::uint64_t allocations_before = thread_allocations;
    for (auto _ : state) {
        auto t = Clock::now();
        benchmark::DoNotOptimize(t);
    }
    report_allocations(state, allocations_before);
}

void part_tick_clock_now(benchmark::State& state) {
    read_clock<cascade::detail::TickClock>(state);
    state.counters["counts_ticks"] = cascade::detail::TickClock::counts_ticks() ? 1.0 : 0.0;
}

void part_steady_clock_now(benchmark::State& state) { read_clock<std::chrono::steady_clock>(state); }

void part_striped_counter_add(benchmark::State& state) {
    static cascade::detail::StripedCounters<4> counters;
    note_stripe(state);
    const std::uint64_t allocations_before = thread_allocations;
    for (auto _ : state) counters.add(0, 1);
    report_allocations(state, allocations_before);
    report_shared_stripe(state);
    benchmark::DoNotOptimize(counters.total(0));
}

void part_shared_counter_add(benchmark::State& state) {
    static std::atomic<std::uint64_t> counter{0};
    const std::uint64_t allocations_before = thread_allocations;
    for (auto _ : state) counter.fetch_add(1, std::memory_order_relaxed);
    report_allocations(state, allocations_before);
    benchmark::DoNotOptimize(counter.load(std::memory_order_relaxed));
}

}  // namespace

// Each library case follows its baseline; compare the two in the same run.
BENCHMARK(direct_tier0)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(cascade_run, tier0_stats_on, easy, true)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(cascade_run, tier0_stats_off, easy, false)->ThreadRange(1, 2);
BENCHMARK(direct_tier1)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(cascade_run, tier1_stats_on, hard, true)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(cascade_run, tier1_stats_off, hard, false)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(direct_route, easy, easy)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(router_run, easy_cascade_tier0, easy)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(direct_route, hard, hard)->ThreadRange(1, 2);
BENCHMARK_CAPTURE(router_run, hard_big_tier, hard)->ThreadRange(1, 2);
BENCHMARK(part_tick_clock_now);
BENCHMARK(part_steady_clock_now);
BENCHMARK_CAPTURE(cascade_run_steady_clock, tier0_stats_on, easy);
BENCHMARK_CAPTURE(cascade_run_steady_clock, tier1_stats_on, hard);
BENCHMARK_CAPTURE(cascade_run_counting_clock, tier0_stats_on, easy);
BENCHMARK_CAPTURE(cascade_run_counting_clock, tier1_stats_on, hard);
BENCHMARK_CAPTURE(cascade_run_latency_off, tier0_stats_on, easy);
BENCHMARK_CAPTURE(cascade_run_latency_off, tier1_stats_on, hard);
BENCHMARK_TEMPLATE(cascade_first_of, 2);
BENCHMARK_TEMPLATE(cascade_first_of, 6);
BENCHMARK(part_striped_counter_add)->ThreadRange(1, 2);
BENCHMARK(part_shared_counter_add)->ThreadRange(1, 2);

BENCHMARK_MAIN();
