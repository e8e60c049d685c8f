// SPDX-License-Identifier: MIT
// Reading outcome logs at scale: a generated log of N outcomes (queries x models, in the shape of
// the logs cascade-eval reads) written to a temporary file, then read in separate processes by
//   - a plain byte scan (the baseline: counting line ends, the least any reader must do),
//   - the rows-then-table path: OutcomeTable(read_outcomes(path)),
//   - the table reader: read_outcome_table(path),
// each measured for speed (processor time, as MB/s and as the ratio to the scan's in the same
// run; wall time too), peak resident memory
// and peak live heap bytes per outcome; then calibrate() with default options on the table read.
//
//     bench_outcome_reading [--outcomes N] [--models M] [--rows-outcomes N] [--jsonl-outcomes N]
//                           [--max-tiers K] [--no-calibrate]
//
// Defaults: 10,000,000 outcomes over 10 models; the rows-then-table path, which takes ten times
// the memory, on 2,000,000 of them (--rows-outcomes); JSON Lines on 2,000,000 (--jsonl-outcomes).
// Linux (fork, wait4, malloc_usable_size).
#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/outcome_table_reader.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

// Live heap bytes of the process, through the replaced global operator new and delete.
namespace {
std::atomic<std::size_t> live_bytes{0};
std::atomic<std::size_t> peak_bytes{0};

void* counted(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) throw std::bad_alloc();
    const std::size_t now =
        live_bytes.fetch_add(malloc_usable_size(p), std::memory_order_relaxed) + malloc_usable_size(p);
    std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
    return p;
}
void uncounted(void* p) noexcept {
    if (p == nullptr) return;
    live_bytes.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
    std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Processor time of this process: on a shared machine, the figure that other programs running
// at the same time disturb least.
double cpu_seconds() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Outcomes of `models` models of rising skill and cost on queries of random difficulty; each
// answer's confidence is informative but noisy (as bench_calibration --synthetic), with the
// columns of the logs in the datasets: benchmark, tokens and latency too.
std::size_t write_log(const std::string& path, std::size_t outcomes, std::size_t models, bool jsonl) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::uint64_t state = 42;
    auto uniform = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    };
    using cascade::detail::format_number;
    std::string buf;
    if (!jsonl) buf = std::string(cascade::outcome_csv_header()) + "\n";
    std::size_t bytes = 0;
    const std::size_t queries = outcomes / models;
    for (std::size_t q = 0; q < queries; ++q) {
        const double difficulty = uniform();
        const std::string benchmark = q % 2 ? "mmlu" : "gsm8k";
        const std::string id = benchmark + "-train-" + std::to_string(q);
        const double tokens_in = std::floor(50 + 200 * uniform());
        for (std::size_t m = 0; m < models; ++m) {
            const double skill = 0.2 + 0.7 * static_cast<double>(m) / static_cast<double>(models - 1);
            const double p = std::min(1.0, std::max(0.0, skill + 0.5 - difficulty));
            const double right = uniform() < p ? 1.0 : 0.0;
            const double cost = 0.0001 * std::pow(2.0, static_cast<double>(m)) * (0.5 + uniform());
            const double confidence = std::log(std::max(1e-6, 0.45 * right + 0.25 * p + 0.3 * uniform()));
            const double tokens_out = std::floor(20 + 300 * uniform());
            const double latency = 100 + 3000 * uniform();
            const std::string model = "model-" + std::to_string(m);
            if (jsonl) {
                buf += "{\"query_id\":\"" + id + "\",\"model\":\"" + model + "\",\"quality\":" + format_number(right) +
                       ",\"cost\":" + format_number(cost) + ",\"confidence\":" + format_number(confidence) +
                       ",\"benchmark\":\"" + benchmark + "\",\"tokens_in\":" + format_number(tokens_in) +
                       ",\"tokens_out\":" + format_number(tokens_out) + ",\"latency_ms\":" + format_number(latency) +
                       "}\n";
            } else {
                buf += id + "," + model + "," + format_number(right) + "," + format_number(cost) + "," +
                       format_number(confidence) + "," + benchmark + "," + format_number(tokens_in) + "," +
                       format_number(tokens_out) + "," + format_number(latency) + "\n";
            }
        }
        if (buf.size() > (std::size_t{1} << 20)) {
            bytes += std::fwrite(buf.data(), 1, buf.size(), f);
            buf.clear();
        }
    }
    bytes += std::fwrite(buf.data(), 1, buf.size(), f);
    if (std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::exit(1);
    }
    return bytes;
}

struct Figures {
    double seconds = 0;        // the measured step, processor time
    double wall = 0;           // and wall-clock time
    double other_seconds = 0;  // a second step (calibration), processor time
    double other_wall = 0;
    double check = 0;           // a value from the result, so that nothing is optimised away
    std::size_t peak_heap = 0;  // peak live heap bytes during the child
    std::size_t kept_heap = 0;  // live heap bytes at the end of the step (what the result holds)
    long max_rss_kb = 0;
    bool ok = false;
};

// Runs `step` in a child process of its own, so that each figure of peak memory is its own.
template <class Step>
Figures in_child(Step step) {
    int fds[2];
    if (::pipe(fds) != 0) std::exit(1);
    std::fflush(stdout);  // or the child would print what the parent has buffered
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        Figures f;
        live_bytes = 0;
        peak_bytes = 0;
        try {
            step(f);
            f.ok = true;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
        }
        f.peak_heap = peak_bytes.load();
        if (::write(fds[1], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) ::_exit(1);
        ::_exit(0);
    }
    ::close(fds[1]);
    Figures f;
    if (::read(fds[0], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) f.ok = false;
    ::close(fds[0]);
    int status = 0;
    struct rusage usage {};
    ::wait4(pid, &status, 0, &usage);
    f.max_rss_kb = usage.ru_maxrss;
    return f;
}

Figures scan(const std::string& path) {
    return in_child([&](Figures& f) {
        const auto t0 = Clock::now();
        const double c0 = cpu_seconds();
        std::FILE* in = std::fopen(path.c_str(), "rb");
        std::vector<char> buf(std::size_t{1} << 16);
        std::size_t lines = 0;
        for (;;) {
            const std::size_t n = std::fread(buf.data(), 1, buf.size(), in);
            if (n == 0) break;
            for (const char* p = buf.data();
                 (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(buf.data() + n - p))));
                 ++p) {
                ++lines;
            }
        }
        std::fclose(in);
        f.seconds = cpu_seconds() - c0;
        f.wall = seconds_since(t0);
        f.check = static_cast<double>(lines);
    });
}

double checksum(const cascade::OutcomeTable& t) {
    double s = 0;
    for (std::size_t m = 0; m < t.model_count(); ++m) {
        for (const double x : t.cost_column(m)) s += x;
    }
    return s;
}

Figures rows_then_table(const std::string& path) {
    return in_child([&](Figures& f) {
        const auto t0 = Clock::now();
        const double c0 = cpu_seconds();
        const cascade::OutcomeTable t(cascade::read_outcomes(path));
        f.seconds = cpu_seconds() - c0;
        f.wall = seconds_since(t0);
        f.kept_heap = live_bytes.load();
        f.check = checksum(t);
    });
}

Figures table_reader(const std::string& path) {
    return in_child([&](Figures& f) {
        const auto t0 = Clock::now();
        const double c0 = cpu_seconds();
        const cascade::OutcomeTable t = cascade::read_outcome_table(path);
        f.seconds = cpu_seconds() - c0;
        f.wall = seconds_since(t0);
        f.kept_heap = live_bytes.load();
        f.check = checksum(t);
    });
}

Figures calibration(const std::string& path, std::size_t models, std::size_t max_tiers) {
    return in_child([&](Figures& f) {
        auto t0 = Clock::now();
        double c0 = cpu_seconds();
        const cascade::OutcomeTable t = cascade::read_outcome_table(path);
        f.seconds = cpu_seconds() - c0;
        f.wall = seconds_since(t0);
        cascade::CalibrateOptions o;
        o.reference = "model-" + std::to_string(models - 1);
        if (max_tiers > 0) o.max_tiers = max_tiers;
        t0 = Clock::now();
        c0 = cpu_seconds();
        const cascade::CalibrationResult c = cascade::calibrate(t, o);
        f.other_seconds = cpu_seconds() - c0;
        f.other_wall = seconds_since(t0);
        f.check = c.saving;
        std::printf("    chose %zu tiers of %zu chains, saving %.1f%% on the training log\n", c.chain.size(), c.chains,
                    100 * c.saving);
        std::fflush(stdout);
    });
}

void report(const char* name, const Figures& f, std::size_t bytes, std::size_t outcomes, const Figures& base) {
    if (!f.ok) {
        std::printf("  %-28s failed\n", name);
        return;
    }
    const double mbs = static_cast<double>(bytes) / 1e6 / f.seconds;
    std::printf(
        "  %-28s %7.3f s (wall %7.3f s) %7.1f MB/s, %5.1fx the scan's time; peak RSS %5.0f MB, peak heap %5.1f "
        "B/outcome",
        name, f.seconds, f.wall, mbs, f.seconds / base.seconds, static_cast<double>(f.max_rss_kb) / 1024.0,
        static_cast<double>(f.peak_heap) / static_cast<double>(outcomes));
    if (f.kept_heap > 0)
        std::printf("  kept %5.1f B/outcome", static_cast<double>(f.kept_heap) / static_cast<double>(outcomes));
    std::printf("\n");
}

void compare(const std::string& path, std::size_t outcomes, std::size_t models, bool jsonl, bool rows_path) {
    const std::size_t bytes = write_log(path, outcomes, models, jsonl);
    std::printf("%s log: %zu outcomes (%zu queries x %zu models), %.1f MB (%.0f bytes a row)\n",
                jsonl ? "JSON Lines" : "CSV", outcomes, outcomes / models, models, static_cast<double>(bytes) / 1e6,
                static_cast<double>(bytes) / static_cast<double>(outcomes));
    const Figures base = scan(path);
    report("byte scan (baseline)", base, bytes, outcomes, base);
    if (rows_path) report("OutcomeTable(read_outcomes)", rows_then_table(path), bytes, outcomes, base);
    report("read_outcome_table", table_reader(path), bytes, outcomes, base);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t outcomes = 10000000;
    std::size_t models = 10;
    std::size_t rows_outcomes = 2000000;
    std::size_t jsonl_outcomes = 2000000;
    std::size_t max_tiers = 0;
    bool calibrate = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return static_cast<std::size_t>(std::strtoull(argv[++i], nullptr, 10));
        };
        if (a == "--outcomes") {
            outcomes = value();
        } else if (a == "--models") {
            models = value();
        } else if (a == "--rows-outcomes") {
            rows_outcomes = value();
        } else if (a == "--jsonl-outcomes") {
            jsonl_outcomes = value();
        } else if (a == "--max-tiers") {
            max_tiers = value();
        } else if (a == "--no-calibrate") {
            calibrate = false;
        } else {
            std::fprintf(stderr,
                         "usage: bench_outcome_reading [--outcomes N] [--models M] [--rows-outcomes N] "
                         "[--jsonl-outcomes N] [--max-tiers K] [--no-calibrate]\n");
            return 2;
        }
    }
    if (models < 2) models = 2;
    const char* tmp = std::getenv("TMPDIR");
    const std::string stem = std::string(tmp ? tmp : "/tmp") + "/cascade_bench_outcomes_" + std::to_string(::getpid());
    const std::string csv = stem + ".csv";
    const std::string jsonl = stem + ".jsonl";

    if (rows_outcomes > 0) compare(csv, rows_outcomes, models, false, true);
    if (jsonl_outcomes > 0) compare(jsonl, jsonl_outcomes, models, true, true);
    std::remove(jsonl.c_str());
    compare(csv, outcomes, models, false, false);
    if (calibrate) {
        std::printf("calibrate(), default options but the reference (model-%zu)%s:\n", models - 1,
                    max_tiers > 0 ? (", max_tiers " + std::to_string(max_tiers)).c_str() : "");
        const Figures c = calibration(csv, models, max_tiers);
        if (c.ok) {
            std::printf(
                "  read %.2f s + calibrate %.2f s = %.2f s of processor time (wall %.2f s + %.2f s); peak RSS %.0f MB "
                "(reading and calibrating)\n",
                c.seconds, c.other_seconds, c.seconds + c.other_seconds, c.wall, c.other_wall,
                static_cast<double>(c.max_rss_kb) / 1024.0);
        } else {
            std::printf("  failed\n");
        }
    }
    std::remove(csv.c_str());
    return 0;
}
