// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_TEXT_CLASSIFIER_HPP
#define CASCADE_SCORE_TEXT_CLASSIFIER_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "detail/text_features.hpp"
#include "detail/text_model.hpp"
#include "detail/text_training.hpp"
#include "../core/parse_error.hpp"
#include "query_text.hpp"

namespace cascade::score {

/// Which hashed features a TextClassifier reads from a text. Words are runs of ASCII letters and
/// digits (and any byte >= 0x80), lower-cased, every digit read as 0.
struct TextFeatures {
    unsigned hash_bits = 18;       ///< the feature space has 2^hash_bits weights; in [8, 26]
    unsigned word_ngrams = 2;      ///< 0: no word features, 1: words, 2: words and word pairs
    unsigned char_ngram_min = 4;   ///< character n-grams of min..max bytes, max <= 7; 0 and 0: none
    unsigned char_ngram_max = 4;
    bool length_bucket = true;     ///< one feature for the text's length (quarter octaves of bytes)
};

/// How TextClassifier::train learns.
struct TrainOptions {
    TextFeatures features{};
    std::uint64_t seed = 1;             ///< the order of examples; same data + seed => same model
    unsigned epochs = 5;                ///< passes over the data, >= 1
    double learning_rate = 0.02;        ///< Adagrad's step, > 0
    double l2 = 1e-6;                   ///< L2 penalty on the weights, >= 0
    double calibration_fraction = 0.0;  ///< share held out to fit Platt scaling, in [0, 0.5]; 0: none
};

/// One labelled query: `label` is 1 when the query needs the strong model (the cheap one failed),
/// 0 when the cheap model was good enough, or a quality gap in between.
struct TrainingExample {
    std::string text;
    double label = 0.0;
};

/// A difficulty scorer learnt from labelled queries: logistic regression on hashed word unigrams
/// and bigrams and character n-grams. Its score is the probability that a query needs the strong
/// model.
///
///     auto clf = cascade::score::TextClassifier::train(texts, labels);   // ~1.5 s for 8k queries
///     clf.save_file("router.model");
///     cascade::Router router{clf, {0.5}, call_mini, call_big};
///
/// A default-constructed classifier is untrained: scoring it throws std::logic_error. Copies
/// share the (immutable) trained model, so passing one to a Router by value costs nothing.
///
/// Training is deterministic: the same examples, options and seed give the same model file on
/// every platform with IEEE 754 doubles (no standard library distributions, no std::exp; a build
/// with -ffast-math may differ in the last digits).
///
/// Thread-safety: const members may be called from many threads at once; scoring allocates
/// nothing once each thread has seen its longest text. Assignment must not overlap other calls.
class TextClassifier {
public:
    /// An untrained classifier; train() or load() one.
    TextClassifier() = default;

    /// Trains on `examples`. Throws std::invalid_argument for an empty set, an empty text, a label
    /// outside [0, 1] or invalid options.
    static TextClassifier train(const std::vector<TrainingExample>& examples, const TrainOptions& options = {}) {
        std::vector<double> labels;
        labels.reserve(examples.size());
        for (const TrainingExample& e : examples) labels.push_back(e.label);
        return train_with(
            examples.size(), [&](std::size_t i) { return std::string_view(examples[i].text); }, labels, options);
    }

    /// Trains on parallel `texts` and `labels`; a text is anything with a QueryText (std::string,
    /// std::string_view, const char*, or a Request with a QueryText specialisation).
    template <class Text>
    static TextClassifier train(const std::vector<Text>& texts, const std::vector<double>& labels,
                                const TrainOptions& options = {}) {
        static_assert(has_query_text_v<Text>,
                      "cascade::score::TextClassifier::train: the texts must be std::string, std::string_view, "
                      "const char*, or a type with a cascade::score::QueryText specialisation");
        if (texts.size() != labels.size()) {
            throw std::invalid_argument("cascade::score::TextClassifier::train: " + std::to_string(texts.size()) +
                                        " texts but " + std::to_string(labels.size()) + " labels");
        }
        return train_with(
            texts.size(), [&](std::size_t i) -> decltype(auto) { return QueryText<Text>::get(texts[i]); }, labels,
            options);
    }

    /// Reads a model written by save(). Throws cascade::ParseError (`source:line: reason`) when
    /// the input is not a valid model.
    static TextClassifier load(std::istream& in, std::string source_name = "<stream>") {
        detail::TextModelReader reader(in, std::move(source_name));
        return TextClassifier(std::make_shared<const detail::TextModel>(reader.read()));
    }

    /// Reads a model file. Throws std::runtime_error when it cannot be opened, cascade::ParseError
    /// when it is not a valid model.
    static TextClassifier load_file(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cascade::score::TextClassifier::load_file: cannot open `" + path + "`");
        return load(in, path);
    }

    /// Writes the model as text (format: docs/scorers.md). Throws std::logic_error when untrained,
    /// std::runtime_error when the stream fails.
    void save(std::ostream& out) const {
        detail::write_text_model(out, model("save"));
        if (!out) throw std::runtime_error("cascade::score::TextClassifier::save: writing the model failed");
    }

    /// Writes the model to a file, replacing it.
    void save_file(const std::string& path) const {
        const detail::TextModel& m = model("save_file");
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cascade::score::TextClassifier::save_file: cannot open `" + path + "`");
        detail::write_text_model(out, m);
        out.close();
        if (!out) throw std::runtime_error("cascade::score::TextClassifier::save_file: writing `" + path + "` failed");
    }

    /// True once trained or loaded.
    [[nodiscard]] bool trained() const noexcept { return model_ != nullptr; }

    /// The probability in [0, 1] that `text` needs the strong model. Throws std::logic_error when
    /// untrained, std::invalid_argument when `text` is empty.
    [[nodiscard]] double score(std::string_view text) const {
        const detail::TextModel& m = model("score");
        return detail::calibrated(m, raw_logit(m, text));
    }

    /// The logit before calibration: score() is logistic(a * logit + b) with the Platt (a, b).
    [[nodiscard]] double logit(std::string_view text) const { return raw_logit(model("logit"), text); }

    /// The difficulty of a Request's text, as a Router calls it.
    template <class Request>
    double operator()(const Request& request) const {
        return detail::with_query_text(request, [this](std::string_view text) { return score(text); });
    }

    /// The features the model reads. Throws std::logic_error when untrained.
    [[nodiscard]] TextFeatures features() const {
        const detail::FeatureLayout& l = model("features").layout;
        return TextFeatures{l.hash_bits, l.word_ngrams, l.char_ngram_min, l.char_ngram_max, l.length_bucket};
    }

    /// How many weights are not zero (the lines of the model file).
    [[nodiscard]] std::size_t nonzero_weights() const { return model("nonzero_weights").sparse.size(); }

private:
    explicit TextClassifier(std::shared_ptr<const detail::TextModel> m) : model_(std::move(m)) {}

    const detail::TextModel& model(const char* member) const {
        if (!model_) {
            throw std::logic_error(std::string("cascade::score::TextClassifier::") + member +
                                   ": the classifier is untrained; train it with TextClassifier::train(...) or "
                                   "read one with TextClassifier::load(...)");
        }
        return *model_;
    }

    static double raw_logit(const detail::TextModel& m, std::string_view text) {
        if (text.empty()) throw std::invalid_argument("cascade::score::TextClassifier: the query text is empty");
        thread_local detail::FeatureScratch scratch;
        scratch.prepare(text, m.layout);
        return detail::text_logit(m, scratch);
    }

    static void check(const TrainOptions& o) {
        const std::string where = "cascade::score::TextClassifier::train: ";
        const TextFeatures& f = o.features;
        if (f.hash_bits < detail::min_hash_bits || f.hash_bits > detail::max_hash_bits) {
            throw std::invalid_argument(where + "features.hash_bits = " + std::to_string(f.hash_bits) +
                                        " is outside [" + std::to_string(detail::min_hash_bits) + ", " +
                                        std::to_string(detail::max_hash_bits) + "]");
        }
        if (f.word_ngrams > 2) {
            throw std::invalid_argument(where + "features.word_ngrams = " + std::to_string(f.word_ngrams) +
                                        " must be 0, 1 or 2");
        }
        const bool no_chars = f.char_ngram_min == 0 && f.char_ngram_max == 0;
        if (!no_chars && (f.char_ngram_min == 0 || f.char_ngram_min > f.char_ngram_max ||
                          f.char_ngram_max > detail::max_char_ngram)) {
            throw std::invalid_argument(where + "features.char_ngram_min/max = " + std::to_string(f.char_ngram_min) +
                                        "/" + std::to_string(f.char_ngram_max) + " must be 0/0 (none) or satisfy 1 <= "
                                        "min <= max <= " + std::to_string(detail::max_char_ngram));
        }
        if (no_chars && f.word_ngrams == 0) {
            throw std::invalid_argument(where + "no features: word_ngrams is 0 and char_ngram_min/max are 0/0");
        }
        if (o.epochs == 0) throw std::invalid_argument(where + "epochs must be at least 1");
        if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate)) {
            throw std::invalid_argument(where + "learning_rate = " + std::to_string(o.learning_rate) +
                                        " must be finite and > 0");
        }
        if (!(o.l2 >= 0.0) || !std::isfinite(o.l2)) {
            throw std::invalid_argument(where + "l2 = " + std::to_string(o.l2) + " must be finite and >= 0");
        }
        if (!(o.calibration_fraction >= 0.0 && o.calibration_fraction <= 0.5)) {
            throw std::invalid_argument(where + "calibration_fraction = " + std::to_string(o.calibration_fraction) +
                                        " must be in [0, 0.5]");
        }
    }

    template <class TextAt>
    static TextClassifier train_with(std::size_t n, TextAt&& text_at, const std::vector<double>& labels,
                                     const TrainOptions& options) {
        const std::string where = "cascade::score::TextClassifier::train: ";
        check(options);
        if (n == 0) throw std::invalid_argument(where + "no training examples");
        for (std::size_t i = 0; i < n; ++i) {
            if (text_at(i).empty()) throw std::invalid_argument(where + "example " + std::to_string(i) + " has an empty text");
            if (!(labels[i] >= 0.0 && labels[i] <= 1.0)) {
                throw std::invalid_argument(where + "example " + std::to_string(i) + " has label " +
                                            std::to_string(labels[i]) + "; a label must be in [0, 1]");
            }
        }
        const auto held_out = static_cast<std::size_t>(static_cast<double>(n) * options.calibration_fraction);
        if (options.calibration_fraction > 0.0 && (held_out < 2 || n - held_out < 1)) {
            throw std::invalid_argument(where + "calibration_fraction = " + std::to_string(options.calibration_fraction) +
                                        " of " + std::to_string(n) + " examples holds out " + std::to_string(held_out) +
                                        "; calibration needs at least 2");
        }
        detail::TrainingSettings s;
        s.layout = detail::FeatureLayout{options.features.hash_bits, options.features.word_ngrams,
                                         options.features.char_ngram_min, options.features.char_ngram_max,
                                         options.features.length_bucket};
        s.seed = options.seed;
        s.epochs = options.epochs;
        s.learning_rate = options.learning_rate;
        s.l2 = options.l2;
        s.calibration_fraction = options.calibration_fraction;
        return TextClassifier(
            std::make_shared<const detail::TextModel>(detail::train_text_model(n, text_at, labels, s)));
    }

    std::shared_ptr<const detail::TextModel> model_;
};

}  // namespace cascade::score

#endif  // CASCADE_SCORE_TEXT_CLASSIFIER_HPP
