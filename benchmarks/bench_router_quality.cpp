// SPDX-License-Identifier: MIT
//
// How well each difficulty scorer ranks real queries: trains the text classifier on one half of
// the RouteLLM MMLU + GSM8K replay data (split by query id with a seed) and judges every scorer
// on the other half by APGR and CPT (RouteLLM's figures; a random router has APGR 0.5).
//
//     bench_router_quality <datasets>/routellm-mmlu-gsm8k [--seeds 1,2,3] [--label needs_strong|weak_wrong]
//                          [--hash-bits 18] [--word-ngrams 2] [--char-ngrams 3 5] [--epochs 5]
//                          [--learning-rate 0.05] [--l2 1e-6]
//
// The label of a training query is 1 when the weak model (Mixtral) was wrong and the strong one
// (GPT-4) right ("needs_strong", the default: exactly the quality gap for 0/1 quality), or 1
// whenever the weak model was wrong ("weak_wrong").

#include <cascade/eval/detail/csv.hpp>
#include <cascade/detail/number.hpp>
#include <cascade/score/detail/portable_math.hpp>
#include <cascade/eval/metrics.hpp>
#include <cascade/score.hpp>

#include <chrono>
#include <ctime>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Query {
    std::string id;
    std::string text;
    double weak = -1.0;    // quality of the weak model's answer; -1 until read
    double strong = -1.0;  // quality of the strong model's answer
};

struct Settings {
    std::string folder;
    std::vector<std::uint64_t> seeds{1, 2, 3};
    bool weak_wrong_label = false;
    cascade::score::TrainOptions train;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "bench_router_quality: %s\n"
                 "usage: bench_router_quality <folder with queries.csv and outcomes.csv> [--seeds 1,2,3]\n"
                 "       [--label needs_strong|weak_wrong] [--hash-bits N] [--word-ngrams 0|1|2]\n"
                 "       [--char-ngrams MIN MAX] [--epochs N] [--learning-rate X] [--l2 X]\n"
                 "The data is in the shared datasets folder, e.g. ../shared/datasets/routellm-mmlu-gsm8k\n",
                 why.c_str());
    std::exit(2);
}

unsigned to_unsigned(const std::string& s, const char* flag) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') usage(std::string(flag) + " needs a whole number, got `" + s + "`");
    return static_cast<unsigned>(v);
}

double to_double(const std::string& s, const char* flag) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') usage(std::string(flag) + " needs a number, got `" + s + "`");
    return v;
}

Settings parse_arguments(int argc, char** argv) {
    Settings s;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const auto value = [&](std::size_t k = 1) -> const std::string& {
            if (i + k >= args.size()) usage(a + " needs a value");
            return args[i + k];
        };
        if (a == "--seeds") {
            s.seeds.clear();
            std::string list = value();
            for (std::size_t start = 0; start <= list.size();) {
                const std::size_t comma = list.find(',', start);
                const std::string one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                s.seeds.push_back(to_unsigned(one, "--seeds"));
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            ++i;
        } else if (a == "--label") {
            if (value() != "needs_strong" && value() != "weak_wrong") usage("--label is needs_strong or weak_wrong");
            s.weak_wrong_label = value() == "weak_wrong";
            ++i;
        } else if (a == "--hash-bits") {
            s.train.features.hash_bits = to_unsigned(value(), "--hash-bits");
            ++i;
        } else if (a == "--word-ngrams") {
            s.train.features.word_ngrams = to_unsigned(value(), "--word-ngrams");
            ++i;
        } else if (a == "--char-ngrams") {
            s.train.features.char_ngram_min = to_unsigned(value(1), "--char-ngrams");
            s.train.features.char_ngram_max = to_unsigned(value(2), "--char-ngrams");
            i += 2;
        } else if (a == "--epochs") {
            s.train.epochs = to_unsigned(value(), "--epochs");
            ++i;
        } else if (a == "--learning-rate") {
            s.train.learning_rate = to_double(value(), "--learning-rate");
            ++i;
        } else if (a == "--l2") {
            s.train.l2 = to_double(value(), "--l2");
            ++i;
        } else if (!a.empty() && a[0] == '-') {
            usage("unknown option " + a);
        } else if (s.folder.empty()) {
            s.folder = a;
        } else {
            usage("one dataset folder only");
        }
    }
    if (s.folder.empty()) usage("no dataset folder given");
    return s;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name, const std::string& file) {
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == name) return i;
    }
    throw cascade::ParseError(file, 1, "no column `" + name + "`");
}

std::ifstream open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage("cannot open " + path + " (is the dataset folder right?)");
    return in;
}

std::vector<Query> read_dataset(const std::string& folder) {
    std::vector<Query> queries;
    std::map<std::string, std::size_t> index;
    std::vector<std::string> f;
    {
        const std::string path = folder + "/queries.csv";
        std::ifstream in = open(path);
        cascade::detail::CsvReader csv(in, path);
        if (!csv.next(f)) throw cascade::ParseError(path, 1, "empty file");
        const std::size_t id = column(f, "query_id", path);
        const std::size_t system = column(f, "system_prompt", path);
        const std::size_t user = column(f, "user_prompt", path);
        while (csv.next(f)) {
            if (f.size() <= user || f.size() <= system || f.size() <= id) {
                throw cascade::ParseError(path, csv.line(), "too few fields");
            }
            Query q;
            q.id = f[id];
            q.text = f[system].empty() ? f[user] : f[system] + "\n" + f[user];
            if (!index.emplace(q.id, queries.size()).second) {
                throw cascade::ParseError(path, csv.line(), "query " + q.id + " appears twice");
            }
            queries.push_back(std::move(q));
        }
    }
    {
        const std::string path = folder + "/outcomes.csv";
        std::ifstream in = open(path);
        cascade::detail::CsvReader csv(in, path);
        if (!csv.next(f)) throw cascade::ParseError(path, 1, "empty file");
        const std::size_t id = column(f, "query_id", path);
        const std::size_t model = column(f, "model", path);
        const std::size_t quality = column(f, "quality", path);
        while (csv.next(f)) {
            if (f.size() <= id || f.size() <= model || f.size() <= quality) {
                throw cascade::ParseError(path, csv.line(), "too few fields");
            }
            const auto it = index.find(f[id]);
            if (it == index.end()) throw cascade::ParseError(path, csv.line(), "unknown query " + f[id]);
            double q = 0.0;
            if (!cascade::detail::parse_number(f[quality], q) || !(q >= 0.0 && q <= 1.0)) {
                throw cascade::ParseError(path, csv.line(), "quality `" + f[quality] + "` is not a number in [0, 1]");
            }
            if (f[model].find("Mixtral") != std::string::npos) {
                queries[it->second].weak = q;
            } else if (f[model].find("gpt-4") != std::string::npos) {
                queries[it->second].strong = q;
            } else {
                throw cascade::ParseError(path, csv.line(), "unexpected model " + f[model]);
            }
        }
    }
    for (const Query& q : queries) {
        if (q.weak < 0.0 || q.strong < 0.0) {
            throw std::runtime_error("query " + q.id + " lacks the outcome of " + (q.weak < 0.0 ? "Mixtral" : "GPT-4"));
        }
    }
    return queries;
}

// Which half a query falls in, from its id and the seed alone.
bool in_training_half(const std::string& id, std::uint64_t seed) {
    std::uint64_t h = 0xCBF29CE484222325ULL;
    for (const char c : id) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    cascade::detail::SplitMix64 mix(h ^ (seed * 0x9E3779B97F4A7C15ULL));
    return (mix.next() >> 63) == 0;
}

struct Row {
    const char* name;
    cascade::RouterEval eval;
};

void print(const Row& r) {
    std::printf("  %-16s APGR %.3f   CPT(50%%) %.3f   CPT(80%%) %.3f\n", r.name, r.eval.apgr, r.eval.cpt50,
                r.eval.cpt80);
}

}  // namespace

int main(int argc, char** argv) {
    const Settings settings = parse_arguments(argc, argv);
    try {
        const std::vector<Query> queries = read_dataset(settings.folder);
        const auto& f = settings.train.features;
        std::printf("%zu queries; text classifier: hash_bits %u, word_ngrams %u, char_ngrams %u-%u, epochs %u, "
                    "learning rate %g, l2 %g; label %s\n",
                    queries.size(), f.hash_bits, f.word_ngrams, f.char_ngram_min, f.char_ngram_max,
                    settings.train.epochs, settings.train.learning_rate, settings.train.l2,
                    settings.weak_wrong_label ? "weak_wrong" : "needs_strong");

        std::map<std::string, std::vector<double>> apgr_by_scorer;
        for (const std::uint64_t seed : settings.seeds) {
            std::vector<std::string> train_texts;
            std::vector<double> train_labels;
            std::vector<const Query*> test;
            for (const Query& q : queries) {
                if (in_training_half(q.id, seed)) {
                    train_texts.push_back(q.text);
                    const double label = settings.weak_wrong_label ? 1.0 - q.weak : q.strong - q.weak;
                    train_labels.push_back(label < 0.0 ? 0.0 : label);
                } else {
                    test.push_back(&q);
                }
            }
            cascade::score::TrainOptions options = settings.train;
            options.seed = seed;
            const auto start = std::chrono::steady_clock::now();
            const std::clock_t cpu_start = std::clock();
            const auto classifier = cascade::score::TextClassifier::train(train_texts, train_labels, options);
            const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;

            const cascade::score::HeuristicScorer heuristic;
            cascade::detail::SplitMix64 coin(seed);
            std::vector<double> weak, strong, random, length, heuristic_scores, text, oracle;
            for (const Query* q : test) {
                weak.push_back(q->weak);
                strong.push_back(q->strong);
                random.push_back(coin.unit());
                length.push_back(static_cast<double>(q->text.size()));
                heuristic_scores.push_back(heuristic.score(q->text));
                text.push_back(classifier.score(q->text));
                oracle.push_back(q->strong - q->weak);
            }
            std::printf("seed %llu: trained on %zu queries in %.2f s (%.2f s CPU; %zu weights), judged on %zu\n",
                        static_cast<unsigned long long>(seed), train_texts.size(), took.count(), cpu,
                        classifier.nonzero_weights(), test.size());
            const Row rows[] = {{"random", cascade::evaluate_router(weak, strong, random)},
                                {"length", cascade::evaluate_router(weak, strong, length)},
                                {"heuristic", cascade::evaluate_router(weak, strong, heuristic_scores)},
                                {"text classifier", cascade::evaluate_router(weak, strong, text)},
                                {"oracle", cascade::evaluate_router(weak, strong, oracle)}};
            for (const Row& r : rows) {
                print(r);
                apgr_by_scorer[r.name].push_back(r.eval.apgr);
            }
        }
        if (settings.seeds.size() > 1) {
            std::printf("mean APGR over %zu seeds:", settings.seeds.size());
            for (const char* name : {"random", "length", "heuristic", "text classifier", "oracle"}) {
                double sum = 0.0;
                for (const double a : apgr_by_scorer[name]) sum += a;
                std::printf("  %s %.3f", name, sum / static_cast<double>(apgr_by_scorer[name].size()));
            }
            std::printf("\n");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_router_quality: %s\n", e.what());
        return 1;
    }
    return 0;
}
