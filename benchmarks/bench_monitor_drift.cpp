// A quality monitor on drifting streams built from real logged outcomes (replay_monitored).
//
//   bench_monitor_drift <folder with outcomes.csv> [--seeds 20] [--alpha 0.001] [--cheap MODEL]
//                       [--smaller MODEL] [--reference gpt-4o] [--before 1000] [--span 1000] [--window 200]
//                       [--stream-fraction 0.5] [--rates 0.01,0.05,0.1]
//                       [--suspect-rate R [--base-share 0.8] [--suspect-evidence 1.25] [--act-on-suspicion]]
//
// Per seed, the log's queries are split in two by query (split_by_query, the seed): a cascade
// "cheap > reference" is calibrated on one part (calibrate(), family_wise, target 0.95, only those
// two models), and streams of `before` + 2 x `before` queries are drawn from the other part with
// replacement, in an order of the seed's. Scenarios:
//
//   degrade-sudden   from query `before` on, the cheap model's correctness is the smaller
//                    model's on the same query (its confidences and costs unchanged);
//   degrade-gradual  the same, each query degraded with a probability rising linearly from 0 to 1
//                    over `span` queries from `before` on;
//   mix-hard         queries of the benchmark where the cheap tier does best, then (from
//                    `before` on) of the one where it does worst;
//   no-drift         the stream as drawn.
//
// Each stream is replayed at label rates 1%, 5% and 10% with the thresholds alone (static), the
// monitor alarming only, and the monitor acting. Reported, over the seeds: 200-query windows below
// target (true quality from the whole stream below 0.95 x the reference's in the window), false
// alarms (runs with an alarm before the change, or any alarm on no-drift), the delay from the
// change to the first alarm after it, and the saving against always calling the reference (label
// cost included).
//
// With --suspect-rate, the monitor labels with suspect labelling (MonitorOptions::
// suspect_label_rate): at base-share x the nominal rate, and at R while the tier's detector holds
// at least --suspect-evidence against it; the label rate column stays the nominal rate. With
// --act-on-suspicion, the acting monitor also rejects a suspect tier's answers.
//
// The smaller model, unless named, is the one whose degradation brings the static thresholds
// closest to 0.88 of the reference's quality after the change (a table of all of them is printed).
#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/monitor_replay.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

struct Config {
    std::string folder;
    int seeds = 20;
    double alpha = 0.001;
    std::string cheap = "llama3.1-70b";
    std::string smaller;  // empty: chosen for a static quality near 0.88 of the reference's
    std::string reference = "gpt-4o";
    std::size_t before = 1000;
    std::size_t span = 1000;
    std::size_t window = 200;
    double stream_fraction = 0.5;
    std::vector<double> rates = {0.01, 0.05, 0.10};
    std::optional<double> suspect_rate;
    double base_share = 0.8;
    double suspect_evidence = cascade::detail::monitor_suspect_evidence;
    bool act_on_suspicion = false;
};

// A 64-bit stream of our own, so that a seed gives the same streams everywhere.
class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() { return cascade::detail::splitmix64(state_++); }
    double unit() { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(unit() * static_cast<double>(n)); }

private:
    std::uint64_t state_;
};

// One query of a stream: the source query, and whether the cheap model answers as the smaller one.
struct Draw {
    std::size_t query;
    bool degraded;
};

// The stream as an outcome table of three models: the cheap one (possibly degraded), the
// reference, and nothing else (the chain and its labels need no more).
cascade::OutcomeTable stream_table(const cascade::OutcomeTable& source, const std::vector<Draw>& draws, std::size_t cheap,
                                   std::size_t smaller, std::size_t reference, const std::string& cheap_name,
                                   const std::string& reference_name) {
    cascade::OutcomeLog log;
    log.source = "stream";
    for (std::size_t p = 0; p < draws.size(); ++p) {
        const std::size_t q = draws[p].query;
        const std::string id = "p" + std::to_string(p);
        cascade::Outcome c;
        c.query_id = id;
        c.model = cheap_name;
        c.quality = source.quality(draws[p].degraded ? smaller : cheap, q);
        c.cost = source.cost(cheap, q);
        const double conf = source.confidence(cheap, q);
        if (!std::isnan(conf)) c.confidence = conf;
        log.rows.push_back(c);
        cascade::Outcome r;
        r.query_id = id;
        r.model = reference_name;
        r.quality = source.quality(reference, q);
        r.cost = source.cost(reference, q);
        log.rows.push_back(r);
    }
    return cascade::OutcomeTable(log);
}

double mean(const std::vector<double>& v) {
    double s = 0;
    for (const double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double median(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Cell {
    std::vector<double> static_below, acting_below, windows;
    std::vector<double> static_saving, alarm_saving, acting_saving;
    std::vector<double> static_quality, acting_quality;  // relative to the reference
    std::vector<double> delays;
    int false_alarms = 0;
    int detected_1000 = 0;
    int runs = 0;
    std::vector<double> labels;
};

const char* const scenario_names[] = {"degrade-sudden", "degrade-gradual", "mix-hard", "no-drift"};
constexpr std::size_t scenario_count = 4;

std::string benchmark_of(const std::string& id) { return id.substr(0, id.find('-')); }

int run(const Config& cfg) {
    const std::string path = cfg.folder + "/outcomes.csv";
    if (!std::ifstream(path)) {
        std::fprintf(stderr,
                     "bench_monitor_drift: %s not found; pass the dataset folder (e.g. ../shared/datasets/llm-cascades-9models)\n",
                     path.c_str());
        return 2;
    }
    const cascade::OutcomeLog rows = cascade::read_outcomes(path);
    std::unordered_map<std::string, std::string> benchmark;
    for (const auto& o : rows.rows) benchmark[o.query_id] = o.benchmark.empty() ? benchmark_of(o.query_id) : o.benchmark;
    const cascade::OutcomeTable table(rows);
    const std::size_t cheap = table.model_index(cfg.cheap);
    const std::size_t reference = table.model_index(cfg.reference);
    std::printf("%s: %zu queries x %zu models; cascade %s > %s, target 0.95, alpha %g, %d seeds, streams of %zu + %zu queries\n",
                path.c_str(), table.query_count(), table.model_count(), cfg.cheap.c_str(), cfg.reference.c_str(), cfg.alpha,
                cfg.seeds, cfg.before, 2 * cfg.before);
    if (cfg.suspect_rate) {
        std::printf("suspect labelling: %g x the label rate, %g while the detector holds at least %g%s\n", cfg.base_share,
                    *cfg.suspect_rate, cfg.suspect_evidence,
                    cfg.act_on_suspicion ? "; acting rejects a suspect's answers too" : "");
    }
    std::printf("\n");

    // Calibrations per seed, and the static quality after a degradation to each smaller model.
    struct Split {
        cascade::OutcomeTable calibration, stream;
        double threshold;
    };
    std::vector<Split> splits;
    std::map<std::string, std::vector<double>> degraded_quality;
    for (int seed = 1; seed <= cfg.seeds; ++seed) {
        auto parts = cascade::split_by_query(table, 1.0 - cfg.stream_fraction, static_cast<std::uint64_t>(seed));
        cascade::CalibrateOptions o;
        o.reference = cfg.reference;
        o.target = 0.95;
        o.models = {cfg.cheap, cfg.reference};
        o.max_tiers = 2;
        const cascade::CalibrationResult c = cascade::calibrate(parts.first, o);
        // The reference alone (no cheap tier chosen) has nothing to monitor: keep the cheap tier
        // with a threshold no confidence reaches, which answers as the reference would. The cheap
        // model alone is the cheap tier accepting every answer.
        const double threshold = c.chain.size() == 2 ? c.thresholds[0] : c.chain[0] == cfg.cheap ? -HUGE_VAL : HUGE_VAL;
        const cascade::OutcomeTable& s = parts.second;
        const std::size_t s_cheap = s.model_index(cfg.cheap);
        const std::size_t s_ref = s.model_index(cfg.reference);
        for (const std::string& m : s.models()) {
            if (m == cfg.cheap || m == cfg.reference) continue;
            const std::size_t b = s.model_index(m);
            double got = 0, ref = 0;
            for (std::size_t q = 0; q < s.query_count(); ++q) {
                got += s.confidence(s_cheap, q) >= threshold ? s.quality(b, q) : s.quality(s_ref, q);
                ref += s.quality(s_ref, q);
            }
            degraded_quality[m].push_back(got / ref);
        }
        splits.push_back({std::move(parts.first), std::move(parts.second), threshold});
        std::printf("seed %2d: threshold %s on %zu calibration queries (calibration saving %.1f%%)\n", seed,
                    cascade::detail::format_number(threshold).c_str(), splits.back().calibration.query_count(), 100 * c.saving);
    }
    std::string smaller = cfg.smaller;
    std::printf("\nstatic quality / %s once %s answers as:\n", cfg.reference.c_str(), cfg.cheap.c_str());
    double best = HUGE_VAL;
    for (const auto& [m, v] : degraded_quality) {
        std::printf("  %-28s %.3f\n", m.c_str(), mean(v));
        if (cfg.smaller.empty() && std::fabs(mean(v) - 0.88) < best) {
            best = std::fabs(mean(v) - 0.88);
            smaller = m;
        }
    }
    const std::size_t small_model = table.model_index(smaller);
    std::printf("degrading %s to %s\n\n", cfg.cheap.c_str(), smaller.c_str());

    const std::vector<double>& label_rates = cfg.rates;
    const std::size_t rate_count = label_rates.size();
    std::vector<std::vector<Cell>> cells(scenario_count, std::vector<Cell>(rate_count));
    // The tier's losses (target x reference - answer, on the queries it answers) after a sudden
    // degradation, all of them: what the best single bet could learn per label.
    std::vector<double> losses_after;
    double answered_after = 0;
    double queries_after = 0;
    std::string mix_note;
    for (int seed = 1; seed <= cfg.seeds; ++seed) {
        const Split& split = splits[static_cast<std::size_t>(seed - 1)];
        const cascade::OutcomeTable& s = split.stream;
        // Stream queries are indices into `table` (the source of the stream table).
        std::vector<std::size_t> pool;
        std::map<std::string, std::vector<std::size_t>> by_benchmark;
        std::unordered_map<std::string, std::size_t> index;
        for (std::size_t q = 0; q < table.query_count(); ++q) index[table.queries()[q]] = q;
        for (const std::string& id : s.queries()) {
            pool.push_back(index.at(id));
            by_benchmark[benchmark.at(id)].push_back(index.at(id));
        }
        // The benchmark where the static cascade keeps the most and the least of the reference's
        // quality, on this stream part.
        std::string easy, hard;
        double easy_q = -1, hard_q = 2;
        for (const auto& [b, qs] : by_benchmark) {
            double got = 0, ref = 0;
            for (const std::size_t q : qs) {
                got += table.confidence(cheap, q) >= split.threshold ? table.quality(cheap, q) : table.quality(reference, q);
                ref += table.quality(reference, q);
            }
            const double rel = ref > 0 ? got / ref : 1.0;
            if (rel > easy_q) easy_q = rel, easy = b;
            if (rel < hard_q) hard_q = rel, hard = b;
        }
        if (seed == 1) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "mix-hard, seed 1: %s (static %.3f of the reference) then %s (%.3f)", easy.c_str(),
                          easy_q, hard.c_str(), hard_q);
            mix_note = buf;
        }

        const std::size_t n = 3 * cfg.before;
        for (std::size_t sc = 0; sc < scenario_count; ++sc) {
            Random random(static_cast<std::uint64_t>(seed) * std::uint64_t{1000003} + std::uint64_t{sc});
            std::vector<Draw> draws(n);
            for (std::size_t p = 0; p < n; ++p) {
                if (sc == 2) {
                    const auto& part = by_benchmark[p < cfg.before ? easy : hard];
                    draws[p] = {part[random.below(part.size())], false};
                    continue;
                }
                draws[p] = {pool[random.below(pool.size())], false};
                if (sc == 0) draws[p].degraded = p >= cfg.before;
                if (sc == 1 && p >= cfg.before) {
                    const double share = std::min(1.0, static_cast<double>(p - cfg.before + 1) / static_cast<double>(cfg.span));
                    draws[p].degraded = random.unit() < share;
                }
            }
            const cascade::OutcomeTable stream =
                stream_table(table, draws, cheap, small_model, reference, cfg.cheap, cfg.reference);
            if (sc == 0) {
                for (std::size_t p = cfg.before; p < n; ++p) {
                    queries_after += 1;
                    if (!(stream.confidence(0, p) >= split.threshold)) continue;
                    answered_after += 1;
                    losses_after.push_back(0.95 * stream.quality(1, p) - stream.quality(0, p));
                }
            }
            for (std::size_t r = 0; r < rate_count; ++r) {
                cascade::MonitorReplayOptions o;
                o.chain = {cfg.cheap, cfg.reference};
                o.thresholds = {split.threshold};
                o.target = 0.95;
                o.label_rate = cfg.suspect_rate ? cfg.base_share * label_rates[r] : label_rates[r];
                o.suspect_label_rate = cfg.suspect_rate;
                o.suspect_evidence = cfg.suspect_evidence;
                o.alpha = cfg.alpha;
                o.window = cfg.window;
                o.seed = static_cast<std::uint64_t>(seed) * std::uint64_t{7919} + std::uint64_t{r};
                const cascade::MonitorReplayReport alarm_only = cascade::replay_monitored(stream, o);
                o.act = true;
                o.act_on_suspicion = cfg.act_on_suspicion;
                const cascade::MonitorReplayReport acting = cascade::replay_monitored(stream, o);
                Cell& c = cells[sc][r];
                ++c.runs;
                c.windows.push_back(static_cast<double>(acting.monitored.windows));
                c.static_below.push_back(static_cast<double>(acting.static_thresholds.windows_below_target));
                c.acting_below.push_back(static_cast<double>(acting.monitored.windows_below_target));
                c.static_saving.push_back(acting.static_thresholds.saving);
                c.alarm_saving.push_back(alarm_only.monitored.saving);
                c.acting_saving.push_back(acting.monitored.saving);
                c.static_quality.push_back(acting.static_thresholds.quality / acting.reference_quality);
                c.acting_quality.push_back(acting.monitored.quality / acting.reference_quality);
                c.labels.push_back(static_cast<double>(alarm_only.labels));
                const bool drift = sc != 3;
                bool false_alarm = false;
                std::optional<std::size_t> first_after;
                for (const auto& a : alarm_only.alarms) {
                    if (!drift || a.query < cfg.before) {
                        false_alarm = true;
                    } else if (!first_after) {
                        first_after = a.query;
                    }
                }
                if (false_alarm) ++c.false_alarms;
                // A run with no alarm after the change counts as an endless delay, so that the
                // median is not taken over the lucky runs alone.
                if (drift) c.delays.push_back(first_after ? static_cast<double>(*first_after - cfg.before) : HUGE_VAL);
                if (drift && first_after && *first_after - cfg.before <= 1000) ++c.detected_1000;
            }
        }
    }

    std::printf("%s\n", mix_note.c_str());
    {
        // The growth of log wealth per label of the best constant bet on the losses after the
        // change: a bet that keeps this rate reaches 6 / alpha (where the mixture of 6 bets
        // alarms) after ln(6 / alpha) / growth labels on average (Wald), the luck of the draw
        // making some runs much faster and others slower.
        double best_growth = 0, best_bet = 0;
        for (int i = 1; i < 100; ++i) {
            const double bet = i / 100.0;
            double g = 0;
            for (const double x : losses_after) g += std::log1p(bet * x);
            g /= static_cast<double>(losses_after.size());
            if (g > best_growth) best_growth = g, best_bet = bet;
        }
        const double labels = std::log(6.0 / cfg.alpha) / best_growth;
        const double share = answered_after / queries_after;
        std::printf("degrade-sudden, after the change: %s answers %.1f%% of the queries, mean loss %.4f; the best constant bet "
                    "(%.2f) grows %.4f per label: at alpha %g that bet needs %.0f labels on average, %.0f queries at 10%% labels\n\n",
                    cfg.cheap.c_str(), 100 * share, mean(losses_after), best_bet, best_growth, cfg.alpha, labels,
                    labels / (0.1 * share));
    }
    {
        // How soon could any monitor with the same guarantee see this change? The least favourable
        // stream that still meets the target is the one after the change reweighted by
        // 1 / (1 + b x), b the best constant bet (its mean loss is 0): every monitor whose false
        // alarm guarantee covers all streams that meet the target must, on it too, wait 1 / alpha
        // labels between false alarms on average. Against it the likelihood ratio of a label is
        // 1 + b x, and a CUSUM of that ratio, its threshold lowered until its false alarms there
        // come exactly every 1 / alpha labels, has the least worst-case delay of all such
        // detectors: a bound for any test on these labels, even one told the change.
        double best_growth = 0, bet = 0;
        for (int i = 1; i < 100; ++i) {
            double g = 0;
            for (const double x : losses_after) g += std::log1p(i / 100.0 * x);
            if (g > best_growth) best_growth = g, bet = i / 100.0;
        }
        std::vector<double> cumulative;  // of the least favourable weights, for drawing from it
        double total = 0;
        for (const double x : losses_after) cumulative.push_back(total += 1.0 / (1.0 + bet * x));
        Random random(20260);
        auto after = [&] { return losses_after[random.below(losses_after.size())]; };
        auto boundary = [&] {
            const double u = random.unit() * total;
            const auto i = static_cast<std::size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                                    cumulative.begin());
            return losses_after[std::min(i, losses_after.size() - 1)];
        };
        auto run_length = [&](auto draw, double log_threshold) {
            double log_wealth = 0;
            std::size_t n = 0;
            do {
                log_wealth = std::max(log_wealth, 0.0) + std::log1p(bet * draw());
                ++n;
            } while (log_wealth < log_threshold && n < 10000000);
            return n;
        };
        double lo = 0, hi = std::log(1.0 / cfg.alpha);
        for (int step = 0; step < 20; ++step) {
            const double mid = (lo + hi) / 2;
            double arl = 0;
            for (int r = 0; r < 400; ++r) arl += static_cast<double>(run_length(boundary, mid));
            (arl / 400 < 1.0 / cfg.alpha ? lo : hi) = mid;
        }
        std::vector<double> delays;
        for (int r = 0; r < 4000; ++r) delays.push_back(static_cast<double>(run_length(after, hi)));
        const double share = answered_after / queries_after;
        const double in_1000 = 1000 * 0.1 * share;  // labels of the tier in 1,000 queries at 10%
        const auto within =
            static_cast<double>(std::count_if(delays.begin(), delays.end(), [&](double d) { return d <= in_1000; }));
        std::printf(
            "the detector with this guarantee and the least worst-case delay, told the change (a CUSUM of the "
            "likelihood ratio against the "
            "least favourable stream that meets the target, threshold %.1f for 1 / alpha labels between false "
            "alarms there): median delay %.0f labels, %.0f queries at 10%% labels; within the %.0f labels of 1,000 "
            "queries at 10%% in %.0f%% of runs\n\n",
            std::exp(hi), median(delays), median(delays) / (0.1 * share), in_1000, 100 * within / 4000);
    }
    if (cfg.suspect_rate) {
        // The labels suspect labelling spends on a tier that does not drift, by its margin: the
        // reference right 90% of the time and the tier, independently, as often as in each row.
        std::printf("suspect labelling on a steady tier (reference right 90%%, independently), nominal rate 10%%:\n");
        for (const double right : {0.95, 0.90, 0.88, 0.855}) {
            Random random(7);
            cascade::detail::TierWatch watch(cfg.alpha);
            std::size_t labels = 0, alarms = 0;
            const std::size_t queries = 1000000;
            for (std::size_t q = 0; q < queries; ++q) {
                const double rate = watch.suspect(cfg.suspect_evidence) ? *cfg.suspect_rate : cfg.base_share * 0.1;
                if (!(random.unit() < rate)) continue;
                ++labels;
                const double reference_quality = random.unit() < 0.9 ? 1.0 : 0.0;
                const double answer = random.unit() < right ? 1.0 : 0.0;
                if (watch.add(0.95 * reference_quality - answer) == cascade::detail::TierWatchChange::alarm) {
                    ++alarms;
                    watch = cascade::detail::TierWatch(cfg.alpha);
                }
            }
            std::printf(
                "  tier right %.1f%% (mean loss %+.3f): %.1f%% of its answers labelled, %zu false alarms in %zu "
                "labels\n",
                100 * right, 0.95 * 0.9 - right, 100.0 * static_cast<double>(labels) / static_cast<double>(queries),
                alarms, labels);
        }
        std::printf("\n");
    }
    std::printf(
        "| scenario | labels | label rate | windows below target: static, acting (of %zu) | quality / ref: static, "
        "acting | "
        "false alarms | alarm <= 1000 after | median delay | saving: static, alarm only, acting |\n",
        3 * cfg.before / cfg.window);
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (std::size_t sc = 0; sc < scenario_count; ++sc) {
        for (std::size_t r = 0; r < rate_count; ++r) {
            const Cell& c = cells[sc][r];
            char delay[32] = "-";
            char detected[32] = "-";
            if (sc != 3) {
                std::snprintf(detected, sizeof delay, "%d / %d", c.detected_1000, c.runs);
                const double m = median(c.delays);
                if (std::isinf(m)) {
                    std::snprintf(delay, sizeof delay, "> %zu", 2 * cfg.before);
                } else {
                    std::snprintf(delay, sizeof delay, "%.0f", m);
                }
            }
            std::printf("| %s | %.0f | %.0f%% | %.2f, %.2f (max %.0f) | %.3f, %.3f | %d / %d | %s | %s | %.1f%%, %.1f%%, %.1f%% |\n",
                        scenario_names[sc], mean(c.labels), 100 * label_rates[r], mean(c.static_below), mean(c.acting_below),
                        *std::max_element(c.acting_below.begin(), c.acting_below.end()), mean(c.static_quality),
                        mean(c.acting_quality), c.false_alarms, c.runs, detected, delay, 100 * mean(c.static_saving),
                        100 * mean(c.alarm_saving), 100 * mean(c.acting_saving));
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto value = [&](std::size_t& i) -> const std::string& {
        if (i + 1 >= args.size()) {
            std::fprintf(stderr, "bench_monitor_drift: %s needs a value\n", args[i].c_str());
            std::exit(2);
        }
        return args[++i];
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--seeds") {
            cfg.seeds = std::atoi(value(i).c_str());
        } else if (a == "--alpha") {
            cfg.alpha = std::atof(value(i).c_str());
        } else if (a == "--cheap") {
            cfg.cheap = value(i);
        } else if (a == "--smaller") {
            cfg.smaller = value(i);
        } else if (a == "--reference") {
            cfg.reference = value(i);
        } else if (a == "--before") {
            cfg.before = static_cast<std::size_t>(std::atol(value(i).c_str()));
        } else if (a == "--span") {
            cfg.span = static_cast<std::size_t>(std::atol(value(i).c_str()));
        } else if (a == "--window") {
            cfg.window = static_cast<std::size_t>(std::atol(value(i).c_str()));
        } else if (a == "--rates") {
            cfg.rates.clear();
            const std::string& list = value(i);
            for (std::size_t start = 0; start <= list.size();) {
                const std::size_t comma = std::min(list.find(',', start), list.size());
                cfg.rates.push_back(std::atof(list.substr(start, comma - start).c_str()));
                start = comma + 1;
            }
        } else if (a == "--suspect-rate") {
            cfg.suspect_rate = std::atof(value(i).c_str());
        } else if (a == "--base-share") {
            cfg.base_share = std::atof(value(i).c_str());
        } else if (a == "--suspect-evidence") {
            cfg.suspect_evidence = std::atof(value(i).c_str());
        } else if (a == "--act-on-suspicion") {
            cfg.act_on_suspicion = true;
        } else if (a == "--stream-fraction") {
            cfg.stream_fraction = std::atof(value(i).c_str());
        } else if (cfg.folder.empty() && a.rfind("--", 0) != 0) {
            cfg.folder = a;
        } else {
            std::fprintf(stderr, "bench_monitor_drift: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (cfg.folder.empty() || cfg.seeds < 1 || cfg.before < 1 || cfg.span < 1 || cfg.window < 1 ||
        !(cfg.alpha > 0 && cfg.alpha < 1) || !(cfg.stream_fraction > 0 && cfg.stream_fraction < 1) ||
        (cfg.suspect_rate && !(*cfg.suspect_rate >= 0 && *cfg.suspect_rate <= 1)) ||
        !(cfg.base_share > 0 && cfg.base_share <= 1) || !(cfg.suspect_evidence > 1) ||
        (cfg.act_on_suspicion && !cfg.suspect_rate)) {
        std::fprintf(stderr,
                     "usage: bench_monitor_drift <dataset folder> [--seeds 20] [--alpha 0.001] [--cheap MODEL] "
                     "[--smaller MODEL] [--reference MODEL] [--before 1000] [--span 1000] [--window 200] "
                     "[--stream-fraction 0.5] [--rates 0.01,0.05,0.1] [--suspect-rate R [--base-share 0.8] "
                     "[--suspect-evidence 1.25] [--act-on-suspicion]]\n");
        return 2;
    }
    return run(cfg);
}
