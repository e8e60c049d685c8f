// How well a model's own confidence tells its right answers from its wrong ones, and what
// calibration does to it, on logged real outcomes.
//
//     bench_verifier_auroc <dataset folder>      e.g. ../shared/datasets/llm-cascades-9models
//
// Reads <folder>/outcomes.csv (query_id, model, quality, confidence, benchmark, ...; the
// confidence is a log-probability, possibly -inf) and prints Markdown tables:
//   1. AUROC of the confidence for predicting a right answer, per model and benchmark.
//   2. Calibration: for every (model, benchmark), Platt scaling and isotonic regression are fitted
//      on the even-numbered queries of that benchmark and evaluated on the odd-numbered ones:
//      expected calibration error (10 bins) and Brier score of the raw probability exp(confidence)
//      and of the calibrated ones, and the accuracy of the answers a tier threshold of 0.9 would
//      accept, per model and per benchmark (pooled over the evaluation half).
#include <cascade/verify/calibration_map.hpp>
#include <cascade/eval/detail/auroc.hpp>
#include <cascade/eval/detail/csv.hpp>
#include <cascade/detail/number.hpp>
#include <cascade/core/parse_error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace v = cascade::verify;

namespace {

struct Row {
    std::string model;
    std::string benchmark;
    bool correct = false;
    double logprob = 0.0;
    bool fit_half = false;  // the query's ordinal within its benchmark is even
};

struct Loaded {
    std::vector<Row> rows;
    std::size_t no_confidence = 0;  // empty or NaN confidence: left out, counted
    std::size_t graded = 0;         // quality strictly between 0 and 1: read as right when >= 0.5
};

Loaded load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    cascade::detail::CsvReader csv(in, path);
    std::vector<std::string> f;
    if (!csv.next(f)) throw cascade::ParseError(path, 0, "empty file");
    std::map<std::string, std::size_t> col;
    for (std::size_t i = 0; i < f.size(); ++i) col[f[i]] = i;
    for (const char* need : {"query_id", "model", "quality", "confidence", "benchmark"}) {
        if (col.count(need) == 0) throw cascade::ParseError(path, 1, std::string("no column \"") + need + "\"");
    }
    Loaded out;
    std::map<std::string, std::map<std::string, std::size_t>> ordinal;  // benchmark -> query -> ordinal
    while (csv.next(f)) {
        if (f.size() == 1 && f[0].empty()) continue;
        if (f.size() < col.size()) {
            throw cascade::ParseError(path, csv.line(), std::to_string(f.size()) + " fields, expected " +
                                                            std::to_string(col.size()));
        }
        Row r;
        r.model = f[col["model"]];
        r.benchmark = f[col["benchmark"]];
        double quality = 0.0;
        if (!cascade::detail::parse_number(f[col["quality"]], quality) || !(quality >= 0.0 && quality <= 1.0)) {
            throw cascade::ParseError(path, csv.line(), "quality \"" + f[col["quality"]] + "\" is not in [0, 1]");
        }
        if (quality > 0.0 && quality < 1.0) ++out.graded;
        r.correct = quality >= 0.5;
        const std::string& c = f[col["confidence"]];
        if (c.empty() || !cascade::detail::parse_number(c, r.logprob) || std::isnan(r.logprob)) {
            ++out.no_confidence;
            continue;
        }
        auto& queries = ordinal[r.benchmark];
        const auto at = queries.emplace(f[col["query_id"]], queries.size()).first;
        r.fit_half = at->second % 2 == 0;
        out.rows.push_back(std::move(r));
    }
    return out;
}

std::string fmt(double x, const char* format = "%.3f") {
    char buf[32];
    std::snprintf(buf, sizeof buf, format, x);
    return buf;
}

std::string auroc_of(const std::vector<const Row*>& rows) {
    std::vector<double> s;
    std::vector<bool> y;
    for (const Row* r : rows) {
        s.push_back(r->logprob);
        y.push_back(r->correct);
    }
    try {
        return fmt(cascade::detail::auroc(s, y));
    } catch (const std::invalid_argument&) {
        return "n/a";  // one class only
    }
}

// A calibrated probability for one evaluation row, by each method.
struct Scored {
    const Row* row;
    double raw, platt, isotonic;
};

// The log-probability as a finite score for the fits: -inf becomes -50 (a probability of 2e-22).
double finite_logprob(double lp) { return std::max(lp, -50.0); }

struct Summary {
    std::size_t n = 0;
    double ece_raw = 0, ece_platt = 0, ece_iso = 0;
    double brier_raw = 0, brier_platt = 0, brier_iso = 0;
    std::size_t acc_n[3] = {0, 0, 0};
    std::size_t acc_right[3] = {0, 0, 0};
};

Summary summarise(const std::vector<Scored>& items) {
    Summary s;
    s.n = items.size();
    std::vector<v::LabelledScore> raw, platt, iso;
    for (const Scored& it : items) {
        const bool y = it.row->correct;
        raw.push_back({it.raw, y});
        platt.push_back({it.platt, y});
        iso.push_back({it.isotonic, y});
        const double t = y ? 1.0 : 0.0;
        s.brier_raw += (it.raw - t) * (it.raw - t);
        s.brier_platt += (it.platt - t) * (it.platt - t);
        s.brier_iso += (it.isotonic - t) * (it.isotonic - t);
        const double p[3] = {it.raw, it.platt, it.isotonic};
        for (int m = 0; m < 3; ++m) {
            if (p[m] >= 0.9) {
                ++s.acc_n[m];
                s.acc_right[m] += y ? 1U : 0U;
            }
        }
    }
    s.ece_raw = v::expected_calibration_error(raw);
    s.ece_platt = v::expected_calibration_error(platt);
    s.ece_iso = v::expected_calibration_error(iso);
    const double n = static_cast<double>(s.n);
    s.brier_raw /= n;
    s.brier_platt /= n;
    s.brier_iso /= n;
    return s;
}

std::string accepted(const Summary& s, int m) {
    if (s.acc_n[m] == 0) return "none";
    return fmt(static_cast<double>(s.acc_right[m]) / static_cast<double>(s.acc_n[m])) + " (" +
           fmt(100.0 * static_cast<double>(s.acc_n[m]) / static_cast<double>(s.n), "%.0f") + "%)";
}

void print_summary_row(const std::string& name, const Summary& s) {
    std::printf("| %s | %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name.c_str(), s.n, fmt(s.ece_raw).c_str(),
                fmt(s.ece_platt).c_str(), fmt(s.ece_iso).c_str(), fmt(s.brier_raw).c_str(), fmt(s.brier_platt).c_str(),
                fmt(s.brier_iso).c_str(), accepted(s, 0).c_str(), accepted(s, 1).c_str(), accepted(s, 2).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <dataset folder, e.g. ../shared/datasets/llm-cascades-9models>\n", argv[0]);
        return 2;
    }
    const std::string path = std::string(argv[1]) + "/outcomes.csv";
    Loaded data;
    try {
        data = load(path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_verifier_auroc: %s\n(the dataset folder must hold outcomes.csv; see "
                             "the datasets README)\n", e.what());
        return 2;
    }
    std::vector<std::string> models, benchmarks;
    for (const Row& r : data.rows) {
        if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
        if (std::find(benchmarks.begin(), benchmarks.end(), r.benchmark) == benchmarks.end()) {
            benchmarks.push_back(r.benchmark);
        }
    }
    std::printf("%zu outcomes with a confidence (%zu without, left out; %zu with a graded quality read as "
                "right when >= 0.5), %zu models, %zu benchmarks\n\n",
                data.rows.size(), data.no_confidence, data.graded, models.size(), benchmarks.size());

    // 1. AUROC.
    std::printf("AUROC of the logged confidence for predicting a right answer (0.5 = chance)\n\n| model |");
    for (const auto& b : benchmarks) std::printf(" %s |", b.c_str());
    std::printf(" all |\n|---|");
    for (std::size_t i = 0; i <= benchmarks.size(); ++i) std::printf("---|");
    std::printf("\n");
    for (const auto& m : models) {
        std::printf("| %s |", m.c_str());
        std::vector<const Row*> all;
        for (const auto& b : benchmarks) {
            std::vector<const Row*> cell;
            for (const Row& r : data.rows) {
                if (r.model == m && r.benchmark == b) cell.push_back(&r);
            }
            all.insert(all.end(), cell.begin(), cell.end());
            std::printf(" %s |", auroc_of(cell).c_str());
        }
        std::printf(" %s |\n", auroc_of(all).c_str());
    }
    std::printf("| all models |");
    for (const auto& b : benchmarks) {
        std::vector<const Row*> col;
        for (const Row& r : data.rows) {
            if (r.benchmark == b) col.push_back(&r);
        }
        std::printf(" %s |", auroc_of(col).c_str());
    }
    std::printf("\n\n");

    // 2. Calibration, fitted per (model, benchmark) on the even-numbered queries.
    std::vector<Scored> scored;
    std::size_t constant_fits = 0;
    for (const auto& m : models) {
        for (const auto& b : benchmarks) {
            std::vector<v::LabelledScore> fit_p, fit_lp;
            std::vector<const Row*> eval;
            for (const Row& r : data.rows) {
                if (r.model != m || r.benchmark != b) continue;
                if (r.fit_half) {
                    fit_p.push_back({std::exp(r.logprob), r.correct});
                    fit_lp.push_back({finite_logprob(r.logprob), r.correct});
                } else {
                    eval.push_back(&r);
                }
            }
            if (eval.empty()) continue;
            std::size_t right = 0;
            for (const auto& e : fit_p) right += e.correct ? 1U : 0U;
            try {
                const v::PlattScaling platt = v::fit_platt(fit_lp);
                const v::IsotonicCalibration iso = v::fit_isotonic(fit_p);
                for (const Row* r : eval) {
                    const double p = std::exp(r->logprob);
                    scored.push_back({r, p, platt(finite_logprob(r->logprob)), iso(p)});
                }
            } catch (const std::invalid_argument&) {
                // All right (or all wrong) in the fit half: the only honest map is that share.
                ++constant_fits;
                const double share = fit_p.empty() ? 0.5 : static_cast<double>(right) / static_cast<double>(fit_p.size());
                for (const Row* r : eval) scored.push_back({r, std::exp(r->logprob), share, share});
            }
        }
    }
    std::printf("Calibration on the held-out half (fits per model and benchmark on the other half; Platt on the "
                "log-probability, isotonic on the probability; %zu pairs fell back to a constant map)\n\n",
                constant_fits);
    std::printf("| | n | ECE raw | ECE Platt | ECE isotonic | Brier raw | Brier Platt | Brier isotonic | "
                "accuracy at >= 0.9 raw (share) | Platt | isotonic |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& m : models) {
        std::vector<Scored> part;
        for (const Scored& s : scored) {
            if (s.row->model == m) part.push_back(s);
        }
        print_summary_row(m, summarise(part));
    }
    for (const auto& b : benchmarks) {
        std::vector<Scored> part;
        for (const Scored& s : scored) {
            if (s.row->benchmark == b) part.push_back(s);
        }
        print_summary_row(b, summarise(part));
    }
    print_summary_row("all", summarise(scored));
    return 0;
}
