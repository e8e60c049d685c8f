// Calibration on real logged outcomes, and the speed of the threshold search.
//
//   bench_calibration <folder with outcomes.csv> [--seeds N] [--reference MODEL] [--max-tiers K]
//   bench_calibration --synthetic [--queries N] [--models M] [--max-tiers K]
//
// Real data: the log is split in halves by query (N seeds); calibrate() chooses on one half, the
// setting is replayed on the other. Reported per target and mode: the test quality relative to
// the reference on the test half, the saving against the reference there, how often the target
// was missed, and the ceiling: the best saving any threshold cascade reaches on the test half
// itself (the same search, naive, on the test half).
//
// Synthetic: a log of M models x N queries (default 10 x 100,000 = 1M records) is made in
// memory; the search over every chain of up to K tiers is timed against one replay of one
// chain over the same log (the unit a search that re-simulated each setting would pay per
// setting).
#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// Processor time of this process: on a machine shared with other jobs, wall time overstates.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

struct Tally {
    std::vector<double> relative;
    std::vector<double> saving;
    std::vector<double> ceiling;
    int misses = 0;
};

double mean(const std::vector<double>& v) {
    double s = 0;
    for (const double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}
double minimum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }

int real_data(const std::string& folder, int seeds, const std::string& reference, std::size_t max_tiers) {
    const std::string path = folder + "/outcomes.csv";
    if (!std::ifstream(path)) {
        std::fprintf(stderr, "bench_calibration: %s not found; pass the dataset folder (e.g. ../shared/datasets/llm-cascades-9models)\n",
                     path.c_str());
        return 2;
    }
    const auto start = Clock::now();
    const cascade::OutcomeTable table(cascade::read_outcomes(path));
    std::printf("%s: %zu queries x %zu models, read in %.2f s\n", path.c_str(), table.query_count(), table.model_count(),
                seconds_since(start));
    const std::size_t ref = table.model_index(reference);
    std::printf("reference %s: quality %.4f, cost $%.6f per query\n\n", reference.c_str(), table.mean_quality(ref),
                table.mean_cost(ref));

    const double targets[] = {0.95, 0.99};
    const cascade::CalibrationMode modes[] = {cascade::CalibrationMode::guarded, cascade::CalibrationMode::naive};
    Tally tally[2][2];
    double search_seconds = 0;
    int searches = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
        const auto [train, test] = cascade::split_by_query(table, 0.5, static_cast<std::uint64_t>(seed));
        const double test_ref_quality = test.mean_quality(test.model_index(reference));
        const double test_ref_cost = test.mean_cost(test.model_index(reference));
        for (std::size_t t = 0; t < 2; ++t) {
            cascade::CalibrateOptions ceiling_options;
            ceiling_options.reference = reference;
            ceiling_options.target = targets[t];
            ceiling_options.max_tiers = max_tiers;
            ceiling_options.mode = cascade::CalibrationMode::naive;
            const double ceiling = cascade::calibrate(test, ceiling_options).saving;
            for (std::size_t m = 0; m < 2; ++m) {
                cascade::CalibrateOptions o = ceiling_options;
                o.mode = modes[m];
                const auto t0 = Clock::now();
                const auto c = cascade::calibrate(train, o);
                search_seconds += seconds_since(t0);
                ++searches;
                const auto r = cascade::replay_cascade(test, c.chain, c.thresholds);
                Tally& y = tally[t][m];
                y.relative.push_back(r.quality / test_ref_quality);
                y.saving.push_back(1.0 - r.cost / test_ref_cost);
                y.ceiling.push_back(ceiling);
                y.misses += r.quality < targets[t] * test_ref_quality ? 1 : 0;
                std::string chain;
                for (std::size_t i = 0; i < c.chain.size(); ++i) {
                    chain += (i ? ">" : "") + c.chain[i];
                    if (i < c.thresholds.size()) chain += "@" + cascade::detail::format_number(c.thresholds[i]);
                }
                std::printf("seed %2d target %.2f %-7s train q/ref %.4f saving %5.1f%% | test q/ref %.4f saving %5.1f%% %s| %s\n",
                            seed, targets[t], m == 0 ? "guarded" : "naive", c.train.quality / c.reference_quality,
                            100 * c.saving, r.quality / test_ref_quality, 100 * (1.0 - r.cost / test_ref_cost),
                            r.quality < targets[t] * test_ref_quality ? "MISS " : "     ", chain.c_str());
            }
        }
    }
    std::printf("\n| target | mode | test quality / %s (mean, min) | test saving (mean) | ceiling saving (mean) | missed |\n",
                reference.c_str());
    std::printf("|---|---|---|---|---|---|\n");
    for (std::size_t t = 0; t < 2; ++t) {
        for (std::size_t m = 0; m < 2; ++m) {
            const Tally& y = tally[t][m];
            std::printf("| %.2f | %s | %.4f, %.4f | %.1f%% | %.1f%% | %d / %d |\n", targets[t], m == 0 ? "guarded" : "naive",
                        mean(y.relative), minimum(y.relative), 100 * mean(y.saving), 100 * mean(y.ceiling), y.misses, seeds);
        }
    }
    std::printf("\nmean search time on a half (chains of up to %zu tiers): %.3f s\n", max_tiers,
                search_seconds / searches);
    return 0;
}

int synthetic(std::size_t queries, std::size_t models, std::size_t max_tiers) {
    // Models of rising skill and cost; each answer's confidence is informative but noisy.
    std::uint64_t state = 42;
    auto uniform = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    };
    auto t0 = Clock::now();
    cascade::OutcomeLog log;
    log.source = "synthetic";
    log.rows.reserve(queries * models);
    for (std::size_t q = 0; q < queries; ++q) {
        const double difficulty = uniform();
        const std::string id = "q" + std::to_string(q);
        for (std::size_t m = 0; m < models; ++m) {
            const double skill = 0.2 + 0.7 * static_cast<double>(m) / static_cast<double>(models - 1);
            const double p = std::min(1.0, std::max(0.0, skill + 0.5 - difficulty));
            const double right = uniform() < p ? 1.0 : 0.0;
            cascade::Outcome o;
            o.query_id = id;
            o.model = "m" + std::to_string(m);
            o.quality = right;
            o.cost = 0.0001 * std::pow(2.0, static_cast<double>(m)) * (0.5 + uniform());
            o.confidence = std::log(std::max(1e-6, 0.45 * right + 0.25 * p + 0.3 * uniform()));
            log.rows.push_back(std::move(o));
        }
    }
    const double make_s = seconds_since(t0);
    double cpu0 = cpu_seconds();
    const cascade::OutcomeTable table(log);
    const double table_s = cpu_seconds() - cpu0;
    std::printf("synthetic log: %zu queries x %zu models = %zu records (made in %.2f s, table built in %.2f s)\n", queries,
                models, log.rows.size(), make_s, table_s);
    {
        // What reading the same log from CSV costs (the file format users hand to cascade-eval).
        std::stringstream csv;
        cascade::write_outcomes_csv(csv, log.rows);
        const std::size_t bytes = csv.str().size();
        cpu0 = cpu_seconds();
        const cascade::OutcomeLog back = cascade::read_outcomes_csv(csv, "synthetic.csv");
        std::printf("reading it as CSV (%.0f MB): %.2f s of processor time, %zu rows\n", static_cast<double>(bytes) / 1e6,
                    cpu_seconds() - cpu0, back.rows.size());
    }

    // Baseline: one replay of one two-tier chain over every query.
    const int replays = 20;
    cpu0 = cpu_seconds();
    double sink = 0;
    for (int i = 0; i < replays; ++i) {
        sink += cascade::replay_cascade(table, {"m0", "m" + std::to_string(models - 1)}, {-0.5 - 0.01 * i}).quality;
    }
    const double replay_s = (cpu_seconds() - cpu0) / replays;

    cascade::CalibrateOptions o;
    o.reference = "m" + std::to_string(models - 1);
    o.target = 0.95;
    o.max_tiers = max_tiers;
    for (const auto mode : {cascade::CalibrationMode::guarded, cascade::CalibrationMode::naive}) {
        o.mode = mode;
        t0 = Clock::now();
        cpu0 = cpu_seconds();
        const auto c = cascade::calibrate(table, o);
        const double search_s = cpu_seconds() - cpu0;
        std::printf("%s search: %zu chains, %zu settings in %.2f s of processor time (%.2f s wall) = %.0f single "
                    "replays (%.4f s each); replaying every setting would take ~%.0f s. Chose %zu tiers, saving %.1f%%\n",
                    mode == cascade::CalibrationMode::guarded ? "guarded" : "naive", c.chains, c.settings, search_s,
                    seconds_since(t0), search_s / replay_s, replay_s, replay_s * static_cast<double>(c.settings),
                    c.chain.size(), 100 * c.saving);
    }
    return sink > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string folder;
    std::string reference = "gpt-4o";
    int seeds = 10;
    std::size_t queries = 100000;
    std::size_t models = 10;
    std::size_t max_tiers = 0;
    bool synth = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_calibration: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--seeds") {
            seeds = std::atoi(value().c_str());
        } else if (a == "--reference") {
            reference = value();
        } else if (a == "--max-tiers") {
            max_tiers = static_cast<std::size_t>(std::atoi(value().c_str()));
        } else if (a == "--synthetic") {
            synth = true;
        } else if (a == "--queries") {
            queries = static_cast<std::size_t>(std::atol(value().c_str()));
        } else if (a == "--models") {
            models = static_cast<std::size_t>(std::atoi(value().c_str()));
        } else if (!a.empty() && a[0] != '-' && folder.empty()) {
            folder = a;
        } else {
            std::fprintf(stderr, "bench_calibration: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    try {
        if (synth) return synthetic(queries, std::max<std::size_t>(models, 2), max_tiers ? max_tiers : 4);
        if (folder.empty()) {
            std::fprintf(stderr,
                         "usage: bench_calibration <dataset folder> [--seeds N] [--reference MODEL] [--max-tiers K]\n"
                         "       bench_calibration --synthetic [--queries N] [--models M] [--max-tiers K]\n");
            return 2;
        }
        return real_data(folder, std::max(seeds, 1), reference, max_tiers ? max_tiers : 3);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_calibration: %s\n", e.what());
        return 1;
    }
}
