// SPDX-License-Identifier: MIT
// What a streamed query costs in the process, per token and in heap allocations: a streaming
// model that hands N tokens to its sink, called directly with a sink that only counts (the
// baseline), against the same model as a tier of a Cascade run by run() (the stream goes through
// the tier's StreamSession: timing, stall and deadline checks, the running statistics, the
// early-exit rule) and by stream() in both modes (and the caller's channel: buffers, ownership,
// the caller's callback). The model's answer is a ChatReply whose text and log-probabilities
// are reserved up front, so that the only allocations counted beside the library's are none.
//
//     bench_streaming --benchmark_repetitions=5 --benchmark_display_aggregates_only=true
//
// Counters: "ns/token" (CPU time per token), "allocs/query" (heap allocations per query, all
// threads of the program counted: tests/support/count_allocations.hpp).

#include <benchmark/benchmark.h>

#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "count_allocations.hpp"

#if defined(__SANITIZE_THREAD__)
#error "this benchmark counts allocations, which a ThreadSanitizer build cannot"
#endif

using cascade_test::thread_allocations;

namespace {

// N tokens of a confident answer, prepared once: the model only hands them on.
struct Tokens {
    std::vector<std::string> text;
    std::vector<double> logprob;
};

const Tokens& tokens_of(std::size_t n) {
    static std::vector<Tokens> made(4097);
    Tokens& t = made.at(n);
    if (t.text.empty()) {
        for (std::size_t i = 0; i < n; ++i) {
            t.text.push_back(" w" + std::to_string(i % 100));
            t.logprob.push_back(std::log(0.9 + 0.09 * static_cast<double>(i % 10) / 10.0));
        }
    }
    return t;
}

struct StreamingModel {
    std::size_t n;
    cascade::ChatReply operator()(const int&, cascade::TokenSink& sink) const {
        const Tokens& t = tokens_of(n);
        cascade::ChatReply reply;
        for (std::size_t i = 0; i < n; ++i) {
            if (sink(t.text[i], t.logprob[i]) == cascade::StreamControl::stop) break;
        }
        return reply;  // empty: what a reply holds is the model's, not the stream's, cost
    }
};

auto make_cascade(std::size_t n) {
    auto big = [](const int&) { return cascade::ChatReply{"big", {}, "stop"}; };
    return cascade::Cascade{
        cascade::tier("mini", StreamingModel{n}, [](const cascade::ChatReply&) { return 1.0; }, 0.5,
                      cascade::price_per_call(1e-4))
            .with_early_exit(cascade::verify::stop_when_any(cascade::verify::stop_when_mean_prob_below(0.5, 8),
                                                            cascade::verify::stop_when_min_prob_below(0.01)))
            .with_stall_limit(std::chrono::seconds(5)),
        cascade::tier("big", big, cascade::price_per_call(1e-2))};
}

void report(benchmark::State& state, std::uint64_t allocations_before, std::size_t n) {
    state.counters["allocs/query"] =
        benchmark::Counter(static_cast<double>(thread_allocations - allocations_before) /
                           static_cast<double>(state.iterations()));
    state.counters["ns/token"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(n),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// A sink that only counts: the least a caller can do with a token.
struct Counted {
    std::size_t tokens = 0;
    static cascade::StreamControl on_chunk(void* self, const cascade::TokenChunk&) {
        ++static_cast<Counted*>(self)->tokens;
        return cascade::StreamControl::go_on;
    }
    static bool poll(void*) { return false; }
};

void direct(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    StreamingModel model{n};
    (void)tokens_of(n);
    const std::uint64_t before = thread_allocations;
    for (auto _ : state) {
        Counted counted;
        cascade::TokenSink sink(&counted, &Counted::on_chunk, &Counted::poll);
        auto reply = model(0, sink);
        benchmark::DoNotOptimize(reply);
        benchmark::DoNotOptimize(counted.tokens);
    }
    report(state, before, n);
}

void cascade_run(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto c = make_cascade(n);
    (void)tokens_of(n);
    (void)c.run(0);
    const std::uint64_t before = thread_allocations;
    for (auto _ : state) {
        auto r = c.run(0);
        benchmark::DoNotOptimize(r);
    }
    report(state, before, n);
}

void cascade_stream(benchmark::State& state, cascade::StreamMode mode) {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto c = make_cascade(n);
    (void)tokens_of(n);
    std::size_t heard = 0;
    auto on_stream = [&heard](const cascade::StreamEvent&) { ++heard; };
    (void)c.stream(0, on_stream, mode);
    const std::uint64_t before = thread_allocations;
    for (auto _ : state) {
        auto r = c.stream(0, on_stream, mode);
        benchmark::DoNotOptimize(r);
    }
    benchmark::DoNotOptimize(heard);
    report(state, before, n);
}

void cascade_stream_buffered(benchmark::State& state) { cascade_stream(state, cascade::StreamMode::buffered); }
void cascade_stream_pass_through(benchmark::State& state) { cascade_stream(state, cascade::StreamMode::pass_through); }

}  // namespace

BENCHMARK(direct)->Arg(16)->Arg(256)->Arg(4096);
BENCHMARK(cascade_run)->Arg(16)->Arg(256)->Arg(4096);
BENCHMARK(cascade_stream_buffered)->Arg(16)->Arg(256)->Arg(4096);
BENCHMARK(cascade_stream_pass_through)->Arg(16)->Arg(256)->Arg(4096);

BENCHMARK_MAIN();
