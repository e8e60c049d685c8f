// SPDX-License-Identifier: MIT
//
// What a chain configured at run time (DynamicCascade over a TierRegistry) costs next to the
// static Cascade of the same two tiers: a query the first tier accepts, and one it escalates. The
// models are trivial on purpose, so that what is left is the library's own cost. After the runs,
// the program prints each dynamic case's CPU time per query as a ratio to its static twin of the
// same run (the medians, with repetitions).
//
// Figures, the machine and the command are in benchmarks/README.md.

#include <benchmark/benchmark.h>

#include <cascade/cascade.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "overhead_workload.hpp"

namespace {

using namespace overhead_workload;  // Query, Answer, the callables, easy, hard, the prices

auto cheap_tier() {
    return cascade::tier("cheap", cheap_model(), confidence(), threshold, cascade::price_per_call(cheap_price));
}
auto big_tier() { return cascade::tier("big", big_model(), cascade::price_per_call(big_price)); }

auto& static_cascade() {
    static cascade::Cascade c{cheap_tier(), big_tier()};
    return c;
}

auto& dynamic_cascade() {
    static cascade::DynamicCascade<Query, Answer> c = [] {
        cascade::TierRegistry<Query, Answer> registry;
        registry.add(cheap_tier());
        registry.add(big_tier());
        return cascade::DynamicCascade<Query, Answer>(registry, {"cheap", "big"}, {threshold});
    }();
    return c;
}

template <class C>
void run_queries(benchmark::State& state, C& c, double confidence) {
    std::uint64_t id = 0;
    for (auto _ : state) {
        Query q{++id, confidence};
        benchmark::DoNotOptimize(q);
        auto r = c.run(q);
        benchmark::DoNotOptimize(r);
    }
}

void static_accepted(benchmark::State& s) { run_queries(s, static_cascade(), easy); }
void dynamic_accepted(benchmark::State& s) { run_queries(s, dynamic_cascade(), easy); }
void static_escalated(benchmark::State& s) { run_queries(s, static_cascade(), hard); }
void dynamic_escalated(benchmark::State& s) { run_queries(s, dynamic_cascade(), hard); }

BENCHMARK(static_accepted);
BENCHMARK(dynamic_accepted);
BENCHMARK(static_escalated);
BENCHMARK(dynamic_escalated);

// The console's report, then "dynamic / static" for each case from the CPU times of this run
// (the median when repeated, else the one run).
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            const std::string name = r.run_name.function_name;
            if (r.run_type == Run::RT_Aggregate ? r.aggregate_name == "median" : r.repetitions <= 1) {
                cpu_ns_[name] = r.GetAdjustedCPUTime();
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        for (const char* c : {"accepted", "escalated"}) {
            const auto s = cpu_ns_.find(std::string("static_") + c);
            const auto d = cpu_ns_.find(std::string("dynamic_") + c);
            if (s == cpu_ns_.end() || d == cpu_ns_.end() || s->second <= 0.0) continue;
            std::printf("ratio %-10s dynamic/static = %.2f  (%.1f ns vs %.1f ns, +%.1f ns)\n", c, d->second / s->second,
                        d->second, s->second, d->second - s->second);
        }
    }

private:
    std::map<std::string, double> cpu_ns_;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
