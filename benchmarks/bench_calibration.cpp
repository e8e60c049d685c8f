// Calibration on real logged outcomes, and the speed of the threshold search.
//
//   bench_calibration <folder with outcomes.csv> [--seeds N] [--reference MODEL] [--max-tiers K]
//   bench_calibration <folder with outcomes.csv> --population [--draws N] [--sizes 100,300,1000] [--selection F] [--methods S]
//   bench_calibration --synthetic [--queries N] [--models M] [--max-tiers K]
//
// Population study (--population): each benchmark's queries are the population; n labelled
// queries are drawn from it i.i.d. with replacement (N draws per cell), calibrate() chooses on
// the draw, and the choice is judged exactly on the whole population: its true quality against
// the reference's (a miss when below the target), its true saving, and the ceiling (the best
// threshold cascade on the population itself that meets the target).
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
#include <map>
#include <optional>
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
    const cascade::CalibrationMode modes[] = {cascade::CalibrationMode::family_wise, cascade::CalibrationMode::naive};
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
                            seed, targets[t], cascade::calibration_mode_name(modes[m]), c.train.quality / c.reference_quality,
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
            std::printf("| %.2f | %s | %.4f, %.4f | %.1f%% | %.1f%% | %d / %d |\n", targets[t], cascade::calibration_mode_name(modes[m]),
                        mean(y.relative), minimum(y.relative), 100 * mean(y.saving), 100 * mean(y.ceiling), y.misses, seeds);
        }
    }
    std::printf("\nmean search time on a half (chains of up to %zu tiers): %.3f s\n", max_tiers,
                search_seconds / searches);
    return 0;
}

// One way of calibrating in the population study.
struct Method {
    const char* name;
    cascade::CalibrationMode mode;
    cascade::RiskBound bound;
};

int population_study(const std::string& folder, int draws, const std::vector<std::size_t>& sizes, const std::string& reference,
                     std::size_t max_tiers, std::optional<double> selection_fraction, const std::string& only) {
    const std::string path = folder + "/outcomes.csv";
    if (!std::ifstream(path)) {
        std::fprintf(stderr, "bench_calibration: %s not found; pass the dataset folder (e.g. ../shared/datasets/llm-cascades-9models)\n",
                     path.c_str());
        return 2;
    }
    const cascade::OutcomeLog log = cascade::read_outcomes(path);
    // Rows by benchmark, then by query, in the log's order.
    std::vector<std::string> benchmarks;
    std::vector<std::vector<std::vector<const cascade::Outcome*>>> rows;  // [benchmark][query][row]
    {
        std::map<std::string, std::size_t> bench_index;
        std::map<std::string, std::pair<std::size_t, std::size_t>> query_index;
        for (const cascade::Outcome& o : log.rows) {
            auto b = bench_index.emplace(o.benchmark, benchmarks.size());
            if (b.second) {
                benchmarks.push_back(o.benchmark);
                rows.emplace_back();
            }
            auto q = query_index.emplace(o.query_id, std::make_pair(b.first->second, rows[b.first->second].size()));
            if (q.second) rows[b.first->second].emplace_back();
            rows[q.first->second.first][q.first->second.second].push_back(&o);
        }
    }
    const Method methods[] = {
        {"family_wise betting", cascade::CalibrationMode::family_wise, cascade::RiskBound::betting},
        {"family_wise kl", cascade::CalibrationMode::family_wise, cascade::RiskBound::kl},
        {"per_setting kl (old)", cascade::CalibrationMode::per_setting, cascade::RiskBound::kl},
    };
    const double targets[] = {0.95, 0.99};
    const double delta = 0.1;
    const std::string fraction_text =
        selection_fraction ? std::to_string(*selection_fraction) : std::string("the default (0.5, or down to 0.3 for a target allowing little loss)");
    std::printf("population study: %d draws per cell, delta %.2f, selection fraction %s, chains of up to %zu tiers\n\n",
                draws, delta, fraction_text.c_str(), max_tiers);
    std::printf("| benchmark | n | target | method | missed | mean saving | ceiling | saving / ceiling |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    const auto start = Clock::now();
    for (std::size_t b = 0; b < benchmarks.size(); ++b) {
        if (benchmarks[b] == "gsm8k") continue;  // every model but the smallest is right on nearly all: nothing to calibrate
        cascade::OutcomeLog population;
        for (const auto& query : rows[b]) {
            for (const cascade::Outcome* o : query) population.rows.push_back(*o);
        }
        const cascade::OutcomeTable table(population);
        const std::size_t ref = table.model_index(reference);
        const double ref_quality = table.mean_quality(ref);
        const double ref_cost = table.mean_cost(ref);
        for (const std::size_t n : sizes) {
            for (const double target : targets) {
                cascade::CalibrateOptions base;
                base.reference = reference;
                base.target = target;
                base.delta = delta;
                base.max_tiers = max_tiers;
                base.selection_fraction = selection_fraction;
                cascade::CalibrateOptions naive = base;
                naive.mode = cascade::CalibrationMode::naive;
                const double ceiling = cascade::calibrate(table, naive).saving;
                for (const Method& method : methods) {
                    if (!only.empty() && std::string(method.name).find(only) == std::string::npos) continue;
                    int misses = 0;
                    std::vector<double> saving;
                    for (int draw = 1; draw <= draws; ++draw) {
                        // n queries with replacement; each copy gets its own id, so that the
                        // split into choosing and testing parts treats copies as the independent
                        // draws they are.
                        std::uint64_t state = std::uint64_t{0x9E3779B97F4A7C15u} * static_cast<std::uint64_t>(draw) + n * 7919 + b;
                        cascade::OutcomeLog sample;
                        for (std::size_t i = 0; i < n; ++i) {
                            state = state * 6364136223846793005ull + 1442695040888963407ull;
                            const std::size_t q = static_cast<std::size_t>((state >> 33) % rows[b].size());
                            for (const cascade::Outcome* o : rows[b][q]) {
                                sample.rows.push_back(*o);
                                sample.rows.back().query_id = o->query_id + "#" + std::to_string(i);
                            }
                        }
                        cascade::CalibrateOptions o = base;
                        o.mode = method.mode;
                        o.bound = method.bound;
                        o.split_seed = static_cast<std::uint64_t>(draw);
                        const auto c = cascade::calibrate(cascade::OutcomeTable(sample), o);
                        const auto truth = cascade::replay_cascade(table, c.chain, c.thresholds);
                        misses += truth.quality < target * ref_quality - 1e-12 ? 1 : 0;
                        saving.push_back(1.0 - truth.cost / ref_cost);
                    }
                    std::printf("| %s | %zu | %.2f | %s | %d / %d | %.1f%% | %.1f%% | %.2f |\n", benchmarks[b].c_str(), n, target,
                                method.name, misses, draws, 100 * mean(saving), 100 * ceiling,
                                ceiling > 0 ? mean(saving) / ceiling : 0.0);
                    std::fflush(stdout);
                }
            }
        }
    }
    std::printf("\n%.0f s in all\n", seconds_since(start));
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
    for (const auto mode : {cascade::CalibrationMode::family_wise, cascade::CalibrationMode::per_setting,
                            cascade::CalibrationMode::naive}) {
        o.mode = mode;
        t0 = Clock::now();
        cpu0 = cpu_seconds();
        const auto c = cascade::calibrate(table, o);
        const double search_s = cpu_seconds() - cpu0;
        std::printf("%s search: %zu chains, %zu settings in %.2f s of processor time (%.2f s wall) = %.0f single "
                    "replays (%.4f s each); replaying every setting would take ~%.0f s. Chose %zu tiers, saving %.1f%%\n",
                    cascade::calibration_mode_name(mode), c.chains, c.settings, search_s,
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
    bool population = false;
    int draws = 50;
    std::optional<double> selection_fraction;  // unset: the library's default
    std::string only;
    std::vector<std::size_t> sizes = {100, 300, 1000};
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
        } else if (a == "--population") {
            population = true;
        } else if (a == "--draws") {
            draws = std::atoi(value().c_str());
        } else if (a == "--selection") {
            selection_fraction = std::atof(value().c_str());
        } else if (a == "--methods") {
            only = value();
        } else if (a == "--sizes") {
            sizes.clear();
            std::stringstream list(value());
            std::string item;
            while (std::getline(list, item, ',')) sizes.push_back(static_cast<std::size_t>(std::atol(item.c_str())));
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
                         "       bench_calibration <dataset folder> --population [--draws N] [--sizes 100,300,1000] [--selection F]\n"
                         "           [--methods SUBSTRING]\n"
                         "       bench_calibration --synthetic [--queries N] [--models M] [--max-tiers K]\n");
            return 2;
        }
        if (population) {
            return population_study(folder, std::max(draws, 1), sizes, reference, max_tiers ? max_tiers : 3, selection_fraction,
                                    only);
        }
        return real_data(folder, std::max(seeds, 1), reference, max_tiers ? max_tiers : 3);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_calibration: %s\n", e.what());
        return 1;
    }
}
