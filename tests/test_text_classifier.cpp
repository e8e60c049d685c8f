// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <cascade/score/text_classifier.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>  // getpid

namespace {

using cascade::score::TextClassifier;
using cascade::score::TrainingExample;
using cascade::score::TrainOptions;

// A fixed little generator, so that the fixtures are the same on every platform.
struct Lcg {
    std::uint64_t state;
    std::size_t below(std::size_t n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>((state >> 33) % n);
    }
};

const char* const subjects[] = {"the lemma", "this sequence", "the triangle", "our function", "the matrix",
                                "a prime number", "the river", "this poem", "the recipe", "the election"};
const char* const fillers[] = {"carefully", "in detail", "for a student", "with an example", "briefly",
                               "in two sentences", "for my homework", "again", "please", "today"};

// Queries that are "hard" (label 1) exactly when they ask to prove something.
struct ToyData {
    std::vector<std::string> texts;
    std::vector<double> labels;
};

ToyData toy_data(std::size_t n, std::uint64_t seed) {
    Lcg rng{seed};
    ToyData d;
    for (std::size_t i = 0; i < n; ++i) {
        const bool hard = rng.below(3) == 0;
        std::string text = hard ? "prove that " : (rng.below(2) == 0 ? "describe " : "summarise ");
        text += subjects[rng.below(std::size(subjects))];
        text += " holds ";
        text += fillers[rng.below(std::size(fillers))];
        text += " number " + std::to_string(rng.below(1000));
        d.texts.push_back(text);
        d.labels.push_back(hard ? 1.0 : 0.0);
    }
    return d;
}

// Area under the ROC curve: the chance that a random positive outranks a random negative.
double auc(const std::vector<double>& scores, const std::vector<double>& labels) {
    double pairs = 0.0, wins = 0.0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (labels[i] < 0.5) continue;
        for (std::size_t j = 0; j < scores.size(); ++j) {
            if (labels[j] >= 0.5) continue;
            pairs += 1.0;
            wins += scores[i] > scores[j] ? 1.0 : (scores[i] == scores[j] ? 0.5 : 0.0);
        }
    }
    return wins / pairs;
}

std::vector<double> scores_of(const TextClassifier& c, const std::vector<std::string>& texts) {
    std::vector<double> out;
    for (const auto& t : texts) out.push_back(c.score(t));
    return out;
}

std::string saved(const TextClassifier& c) {
    std::ostringstream out;
    c.save(out);
    return out.str();
}

TextClassifier small_model() {
    const ToyData d = toy_data(200, 7);
    TrainOptions o;
    o.features.hash_bits = 12;
    return TextClassifier::train(d.texts, d.labels, o);
}

// Loads `text` and returns the ParseError it raises.
cascade::ParseError parse_error_of(const std::string& text) {
    std::istringstream in(text);
    try {
        (void)TextClassifier::load(in, "bad.model");
    } catch (const cascade::ParseError& e) {
        return e;
    }
    FAIL("the model was accepted:\n" << text);
    throw std::logic_error("unreachable");
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

}  // namespace

TEST_CASE("an untrained classifier refuses to score and says why") {
    const TextClassifier c;
    CHECK_FALSE(c.trained());
    CHECK_THROWS_WITH(c.score("hello"), Catch::Matchers::ContainsSubstring("untrained"));
    CHECK_THROWS_AS(c.score("hello"), std::logic_error);
    CHECK_THROWS_AS(c("hello"), std::logic_error);
    std::ostringstream out;
    CHECK_THROWS_WITH(c.save(out), Catch::Matchers::ContainsSubstring("untrained"));
    CHECK_THROWS_AS(c.features(), std::logic_error);
}

TEST_CASE("scoring an empty text is an error") {
    const TextClassifier c = small_model();
    CHECK_THROWS_AS(c.score(""), std::invalid_argument);
    CHECK_THROWS_WITH(c.score(""), Catch::Matchers::ContainsSubstring("empty"));
}

TEST_CASE("training rejects bad examples and options, naming them") {
    const ToyData d = toy_data(50, 1);
    using Catch::Matchers::ContainsSubstring;
    CHECK_THROWS_WITH(TextClassifier::train(std::vector<TrainingExample>{}), ContainsSubstring("no training examples"));
    CHECK_THROWS_WITH(TextClassifier::train(d.texts, std::vector<double>(49, 0.0)), ContainsSubstring("50 texts but 49 labels"));

    auto labels = d.labels;
    labels[3] = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(TextClassifier::train(d.texts, labels), ContainsSubstring("example 3"));
    labels[3] = 1.5;
    CHECK_THROWS_AS(TextClassifier::train(d.texts, labels), std::invalid_argument);

    auto texts = d.texts;
    texts[7].clear();
    CHECK_THROWS_WITH(TextClassifier::train(texts, d.labels), ContainsSubstring("example 7 has an empty text"));

    const auto bad = [&](auto edit, const char* what) {
        TrainOptions o;
        edit(o);
        CHECK_THROWS_WITH(TextClassifier::train(d.texts, d.labels, o), ContainsSubstring(what));
    };
    bad([](TrainOptions& o) { o.features.hash_bits = 30; }, "hash_bits");
    bad([](TrainOptions& o) { o.features.word_ngrams = 3; }, "word_ngrams");
    bad([](TrainOptions& o) { o.features.char_ngram_min = 6; }, "char_ngram");
    bad([](TrainOptions& o) { o.features.char_ngram_max = 9; }, "char_ngram");
    bad([](TrainOptions& o) {
        o.features.word_ngrams = 0;
        o.features.char_ngram_min = o.features.char_ngram_max = 0;
    }, "no features");
    bad([](TrainOptions& o) { o.epochs = 0; }, "epochs");
    bad([](TrainOptions& o) { o.learning_rate = std::numeric_limits<double>::quiet_NaN(); }, "learning_rate");
    bad([](TrainOptions& o) { o.l2 = -1.0; }, "l2");
    bad([](TrainOptions& o) { o.calibration_fraction = 0.9; }, "calibration_fraction");
    bad([](TrainOptions& o) { o.calibration_fraction = 0.01; }, "calibration needs at least 2");
}

TEST_CASE("learns that queries asking for a proof are hard") {
    const ToyData train = toy_data(600, 11);
    const ToyData test = toy_data(300, 12);
    const TextClassifier c = TextClassifier::train(train.texts, train.labels);
    const std::vector<double> s = scores_of(c, test.texts);
    CHECK(auc(s, test.labels) > 0.98);
    std::size_t right = 0;
    for (std::size_t i = 0; i < s.size(); ++i) right += (s[i] >= 0.5) == (test.labels[i] >= 0.5) ? 1U : 0U;
    CHECK(static_cast<double>(right) / static_cast<double>(s.size()) > 0.95);
    CHECK(c.score("prove that the lemma holds") > 0.8);
    CHECK(c.score("describe the lemma holds") < 0.2);
}

TEST_CASE("learns nothing from shuffled labels") {
    const ToyData train = toy_data(600, 11);
    const ToyData test = toy_data(300, 12);
    std::vector<double> shuffled = train.labels;
    Lcg rng{99};
    for (std::size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rng.below(i)]);
    const TextClassifier c = TextClassifier::train(train.texts, shuffled);
    const double a = auc(scores_of(c, test.texts), test.labels);
    CHECK(a < 0.7);
    CHECK(a > 0.3);
}

TEST_CASE("every score is a probability in [0, 1]") {
    const TextClassifier c = small_model();
    const std::string long_text(5000, 'x');
    for (const std::string& t : {std::string("a"), std::string(" "), long_text, std::string("\xff\xfe\x00z", 4),
                                 std::string("PROVE THAT 123")}) {
        const double s = c.score(t);
        CHECK(s >= 0.0);
        CHECK(s <= 1.0);
    }
}

TEST_CASE("training is deterministic for a seed") {
    const ToyData d = toy_data(300, 5);
    TrainOptions o;
    o.features.hash_bits = 14;
    o.seed = 42;
    const std::string first = saved(TextClassifier::train(d.texts, d.labels, o));
    const std::string second = saved(TextClassifier::train(d.texts, d.labels, o));
    CHECK(first == second);
    o.seed = 43;
    CHECK(saved(TextClassifier::train(d.texts, d.labels, o)) != first);
}

TEST_CASE("texts and labels may come as examples, string views or C strings") {
    const ToyData d = toy_data(100, 3);
    std::vector<TrainingExample> examples;
    std::vector<std::string_view> views;
    std::vector<const char*> c_strings;
    for (std::size_t i = 0; i < d.texts.size(); ++i) {
        examples.push_back({d.texts[i], d.labels[i]});
        views.emplace_back(d.texts[i]);
        c_strings.push_back(d.texts[i].c_str());
    }
    const std::string reference = saved(TextClassifier::train(d.texts, d.labels));
    CHECK(saved(TextClassifier::train(examples)) == reference);
    CHECK(saved(TextClassifier::train(views, d.labels)) == reference);
    CHECK(saved(TextClassifier::train(c_strings, d.labels)) == reference);
}

TEST_CASE("a saved and reloaded model gives identical scores") {
    const ToyData d = toy_data(300, 21);
    TrainOptions o;
    o.calibration_fraction = 0.2;
    const TextClassifier c = TextClassifier::train(d.texts, d.labels, o);
    const std::string text = saved(c);
    std::istringstream in(text);
    const TextClassifier back = TextClassifier::load(in, "model");
    const ToyData probe = toy_data(100, 22);
    for (const auto& t : probe.texts) CHECK(back.score(t) == c.score(t));
    CHECK(saved(back) == text);
    CHECK(back.nonzero_weights() == c.nonzero_weights());
    CHECK(back.features().hash_bits == c.features().hash_bits);
}

TEST_CASE("a model file round trip through the file system") {
    const TextClassifier c = small_model();
    // One file per process: the C++17 and C++20 builds of this test run at the same time.
    const auto path = (std::filesystem::temp_directory_path() /
                       ("cascade_test_text_classifier_" + std::to_string(::getpid()) + ".model"))
                          .string();
    c.save_file(path);
    const TextClassifier back = TextClassifier::load_file(path);
    std::remove(path.c_str());
    CHECK(back.score("prove that the river holds") == c.score("prove that the river holds"));
    CHECK_THROWS_WITH(TextClassifier::load_file(path), Catch::Matchers::ContainsSubstring(path));
}

TEST_CASE("a corrupt model file is rejected with its line and the reason") {
    const std::vector<std::string> good = lines_of(saved(small_model()));
    REQUIRE(good.size() > 9);
    REQUIRE(good[7].rfind("weights ", 0) == 0);
    const std::size_t weights_line = 8;  // 1-based line of the "weights <n>" header
    const std::size_t last_weight = good.size() - 1;

    const auto edited = [&](std::size_t line, const std::string& replacement) {
        auto lines = good;
        lines[line - 1] = replacement;
        return joined(lines);
    };
    const auto check = [](const cascade::ParseError& e, std::size_t line, const char* reason) {
        CHECK(e.line() == line);
        CHECK(e.source() == "bad.model");
        CHECK_THAT(e.reason(), Catch::Matchers::ContainsSubstring(reason));
        CHECK_THAT(std::string(e.what()), Catch::Matchers::ContainsSubstring("bad.model:" + std::to_string(line) + ": "));
    };

    check(parse_error_of(""), 1, "ends early");
    check(parse_error_of("{\"weights\": []}\n"), 1, "not a cascade text classifier model");
    check(parse_error_of(edited(1, "cascade-text-classifier 2")), 1, "version 2 is not supported");
    check(parse_error_of(edited(2, "hash_bits 40")), 2, "outside [8, 26]");
    check(parse_error_of(edited(2, "hash_bits")), 2, "expected `hash_bits` with 1 value");
    check(parse_error_of(edited(4, "char_ngrams 5 3")), 4, "char_ngrams must be");
    check(parse_error_of(edited(5, "length_bucket 2")), 5, "length_bucket 2 is outside [0, 1]");
    check(parse_error_of(edited(6, "bias 1,5")), 6, "bias `1,5` is not a decimal number");
    check(parse_error_of(edited(7, "platt 1.0 nan")), 7, "platt intercept");
    check(parse_error_of(edited(weights_line + 1, "12 0.5 7")), weights_line + 1, "expected `<index> <value>`");
    check(parse_error_of(edited(weights_line + 1, "999999 0.5")), weights_line + 1, "outside [0, 4096)");
    check(parse_error_of(edited(weights_line + 2, "0 0.5")), weights_line + 2, "strictly ascending");
    check(parse_error_of(edited(weights_line + 1, "0 0.1234567")), weights_line + 1, "at most 6 decimals");
    check(parse_error_of(edited(weights_line + 1, "x 1")), weights_line + 1, "index `x` is not a number");

    auto truncated = good;
    truncated.pop_back();  // no "end"
    check(parse_error_of(joined(truncated)), good.size(), "ends early: expected `end`");
    truncated.pop_back();  // one weight fewer than announced
    check(parse_error_of(joined(truncated)), last_weight, "ends early");
    auto short_count = good;
    short_count.erase(short_count.begin() + static_cast<std::ptrdiff_t>(last_weight - 1));
    check(parse_error_of(joined(short_count)), last_weight, "`end` after");
    check(parse_error_of(joined(good) + "12 0.5\n"), good.size() + 1, "unexpected text after `end`");

    // Windows line ends are read like Unix ones.
    std::string crlf;
    for (const auto& l : good) crlf += l + "\r\n";
    std::istringstream in(crlf);
    CHECK(TextClassifier::load(in).trained());
}

TEST_CASE("calibration on a held-out share makes the score track the label rate") {
    // Labels are noisy: asking for a proof is hard 80% of the time, anything else 20%.
    ToyData d = toy_data(3000, 31);
    Lcg rng{5};
    for (double& label : d.labels) {
        const bool flip = rng.below(5) == 0;
        label = flip ? 1.0 - label : label;
    }
    TrainOptions o;
    o.calibration_fraction = 0.3;
    o.epochs = 10;
    const TextClassifier c = TextClassifier::train(d.texts, d.labels, o);
    const ToyData probe = toy_data(400, 32);
    double hard_sum = 0.0, easy_sum = 0.0, hard = 0.0, easy = 0.0;
    for (std::size_t i = 0; i < probe.texts.size(); ++i) {
        const double s = c.score(probe.texts[i]);
        if (probe.labels[i] > 0.5) {
            hard_sum += s;
            hard += 1.0;
        } else {
            easy_sum += s;
            easy += 1.0;
        }
    }
    CHECK(hard_sum / hard == Approx(0.8).margin(0.1));
    CHECK(easy_sum / easy == Approx(0.2).margin(0.1));
}

TEST_CASE("a quality gap in [0, 1] is a valid label") {
    ToyData d = toy_data(400, 41);
    for (double& label : d.labels) label = label > 0.5 ? 0.75 : 0.25;
    const TextClassifier c = TextClassifier::train(d.texts, d.labels);
    CHECK(c.score("prove that the matrix holds") > c.score("describe the matrix holds"));
}

TEST_CASE("the vector and the scalar normalisation agree on every byte") {
    unsigned char in[16];
    unsigned char scalar_out[16];
    unsigned char out[16];
    for (unsigned start = 0; start < 256; start += 16) {
        for (unsigned i = 0; i < 16; ++i) in[i] = static_cast<unsigned char>(start + i);
        const unsigned scalar_flags = cascade::detail::normalise16_scalar(in, scalar_out);
        const unsigned flags = cascade::detail::normalise16(in, out);
        CHECK(flags == scalar_flags);
        for (unsigned i = 0; i < 16; ++i) CHECK(static_cast<unsigned>(out[i]) == static_cast<unsigned>(scalar_out[i]));
    }
    CHECK(cascade::detail::normalise16_scalar(reinterpret_cast<const unsigned char*>("Ab9 \t\n\xC3\xA9-x_Y.,;:!?"), out) ==
          0x0AC7U);  // word bytes: A b 9 at 0-2, the two bytes of U+00E9 at 6-7, x at 9, Y at 11
}

TEST_CASE("words are found wherever they fall in the 64-byte blocks") {
    // The same words, shifted by 0 to 70 leading spaces, give the same word features.
    Lcg rng{77};
    const char alphabet[] = "ab Z9 .,\n\t\xC3\xA9-__q";
    cascade::detail::FeatureScratch scratch;
    cascade::detail::FeatureLayout words_only;
    words_only.char_ngram_min = words_only.char_ngram_max = 0;
    for (std::size_t length = 0; length < 300; length += 7) {
        std::string text;
        for (std::size_t i = 0; i < length; ++i) text += alphabet[rng.below(sizeof alphabet - 1)];
        std::size_t naive_words = 0;
        bool in_word = false;
        for (const char c : text) {
            const auto b = static_cast<unsigned char>(c);
            const bool word = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b >= 0x80;
            naive_words += word && !in_word ? 1U : 0U;
            in_word = word;
        }
        scratch.extract(text, words_only);
        const std::size_t count = scratch.word_features();
        CHECK(count == (naive_words == 0 ? 0 : 2 * naive_words - 1));
        std::vector<std::uint32_t> reference(scratch.indices(), scratch.indices() + count);
        for (std::size_t shift = 1; shift <= 70; shift += 23) {
            scratch.extract(std::string(shift, ' ') + text, words_only);
            REQUIRE(scratch.word_features() == count);
            CHECK(std::vector<std::uint32_t>(scratch.indices(), scratch.indices() + count) == reference);
        }
    }
}

TEST_CASE("scoring sums the weights of exactly the features training sees") {
    // Training reads the feature indices, scoring sums weights in loops of its own: both must
    // agree for every layout.
    Lcg rng{123};
    std::vector<float> weights(std::size_t{1} << 12);
    for (float& w : weights) w = static_cast<float>(rng.below(2001)) / 1000.0F - 1.0F;
    cascade::detail::FeatureLayout layouts[4];
    layouts[0].hash_bits = 12;
    layouts[1] = layouts[0];
    layouts[1].word_ngrams = 1;
    layouts[1].char_ngram_min = 2;
    layouts[1].char_ngram_max = 6;
    layouts[2] = layouts[0];
    layouts[2].char_ngram_min = layouts[2].char_ngram_max = 0;
    layouts[3] = layouts[0];
    layouts[3].word_ngrams = 0;
    layouts[3].char_ngram_min = 1;
    layouts[3].char_ngram_max = 7;
    const ToyData d = toy_data(20, 8);
    cascade::detail::FeatureScratch scratch;
    for (const auto& layout : layouts) {
        for (const std::string& base : d.texts) {
            const std::string text = base + " Et 42 fois\tPROVE-it: x^2 \xC3\xA9t\xC3\xA9 " + base.substr(0, 9);
            scratch.extract(text, layout);
            const std::size_t nw = scratch.word_features();
            const std::size_t nc = scratch.char_features();
            double words = 0.0, chars = 0.0;
            for (std::size_t k = 0; k < nw; ++k) words += static_cast<double>(weights[scratch.indices()[k]]);
            for (std::size_t k = nw; k < nw + nc; ++k) chars += static_cast<double>(weights[scratch.indices()[k]]);
            scratch.prepare(text, layout);
            CHECK(static_cast<double>(scratch.sum_words(weights.data())) == Approx(words).margin(1e-3));
            CHECK(static_cast<double>(scratch.sum_chars(weights.data())) == Approx(chars).margin(1e-3));
        }
    }
}
