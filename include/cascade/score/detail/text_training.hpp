// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_TEXT_TRAINING_HPP
#define CASCADE_SCORE_DETAIL_TEXT_TRAINING_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "portable_math.hpp"
#include "text_features.hpp"
#include "text_model.hpp"

// Logistic regression on hashed text features, trained by Adagrad with L2, and optional Platt
// calibration on a held-out share. Deterministic for a seed: the only randomness is SplitMix64,
// and every floating-point step is a basic IEEE operation (see portable_math.hpp).
namespace cascade::detail {

struct TrainingSettings {
    FeatureLayout layout;
    std::uint64_t seed = 1;
    unsigned epochs = 5;
    double learning_rate = 0.02;
    double l2 = 1e-6;
    double calibration_fraction = 0.0;
};

// The model's logit for the text prepared in `scratch` (with the model's layout): each feature
// group (words, character n-grams) is scaled by 1 / sqrt(its count), so that long and short
// texts weigh alike; the length bucket counts once. Single precision is ample for a sum of a few
// thousand weights.
inline double text_logit(const TextModel& m, const FeatureScratch& scratch) noexcept {
    const float* w = m.weights.data();
    double z = TextModel::value(m.bias);
    if (const std::size_t nw = scratch.word_features(); nw > 0) {
        z += static_cast<double>(scratch.sum_words(w)) / std::sqrt(static_cast<double>(nw));
    }
    if (const std::size_t nc = scratch.char_features(); nc > 0) {
        z += static_cast<double>(scratch.sum_chars(w)) / std::sqrt(static_cast<double>(nc));
    }
    if (m.layout.length_bucket) z += static_cast<double>(w[scratch.length_index()]);
    return z;
}

inline double calibrated(const TextModel& m, double logit) noexcept {
    const double a = TextModel::value(m.platt_a);
    const double b = TextModel::value(m.platt_b);
    return portable_sigmoid(mul_add(a, logit, b));
}

// Fisher-Yates with SplitMix64: the same order for a seed everywhere.
inline void shuffle(std::vector<std::size_t>& v, SplitMix64& rng) {
    for (std::size_t i = v.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(rng.below(i));
        std::swap(v[i - 1], v[j]);
    }
}

// Platt scaling: (a, b) minimising the log loss of sigmoid(a z + b) against the labels, by
// Newton's method from (1, 0); the steps are bounded so that separable data cannot run away.
inline std::pair<double, double> fit_platt(const std::vector<double>& logits, const std::vector<double>& labels) {
    double a = 1.0, b = 0.0;
    for (int iteration = 0; iteration < 50; ++iteration) {
        double ga = 0.0, gb = 0.0, haa = 1e-9, hab = 0.0, hbb = 1e-9;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            const double z = logits[i];
            const double p = portable_sigmoid(mul_add(a, z, b));
            const double r = p - labels[i];
            const double v = p * (1.0 - p);
            const double vz = v * z;
            ga = mul_add(r, z, ga);
            gb += r;
            haa = mul_add(vz, z, haa);
            hab += vz;
            hbb += v;
        }
        // Products in statements of their own, so that no compiler fuses them (portable_math.hpp).
        const double d1 = haa * hbb;
        const double d2 = hab * hab;
        const double det = d1 - d2;
        if (!(det > 0.0)) break;
        const double na1 = hbb * ga;
        const double na2 = hab * gb;
        const double nb1 = haa * gb;
        const double nb2 = hab * ga;
        double da = (na1 - na2) / det;
        double db = (nb1 - nb2) / det;
        const double step = std::fmax(std::fabs(da), std::fabs(db));
        if (step > 1.0) {
            da /= step;
            db /= step;
        }
        a -= da;
        b -= db;
        if (step < 1e-10) break;
    }
    return {a, b};
}

// Trains a model on texts text_at(0..n-1) with labels[0..n-1] in [0, 1]; the caller has checked
// the inputs. text_at(i) returns a std::string_view.
template <class TextAt>
TextModel train_text_model(std::size_t n, TextAt&& text_at, const std::vector<double>& labels,
                           const TrainingSettings& settings) {
    const std::size_t dimension = std::size_t{1} << settings.layout.hash_bits;
    SplitMix64 rng(settings.seed);

    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    shuffle(order, rng);
    const auto held_out = static_cast<std::size_t>(static_cast<double>(n) * settings.calibration_fraction);
    std::vector<std::size_t> calibration(order.end() - static_cast<std::ptrdiff_t>(held_out), order.end());
    order.resize(n - held_out);

    std::vector<double> w(dimension, 0.0);
    std::vector<double> g2(dimension, 0.0);   // Adagrad's sums of squared gradients
    std::vector<double> x(dimension, 0.0);    // the current example, dense; zero outside `touched`
    std::vector<std::uint32_t> touched;
    double bias = 0.0;
    double bias_g2 = 0.0;
    FeatureScratch scratch;

    for (unsigned epoch = 0; epoch < settings.epochs; ++epoch) {
        shuffle(order, rng);
        for (const std::size_t i : order) {
            scratch.extract(text_at(i), settings.layout);
            touched.clear();
            const auto add_group = [&](const std::uint32_t* idx, std::size_t count) {
                if (count == 0) return;
                const double value = 1.0 / std::sqrt(static_cast<double>(count));
                for (std::size_t k = 0; k < count; ++k) {
                    const std::uint32_t j = idx[k];
                    if (x[j] == 0.0) touched.push_back(j);
                    x[j] += value;
                }
            };
            const std::size_t nw = scratch.word_features();
            const std::size_t nc = scratch.char_features();
            add_group(scratch.indices(), nw);
            add_group(scratch.indices() + nw, nc);
            if (settings.layout.length_bucket) {
                const std::uint32_t j = scratch.indices()[nw + nc];
                if (x[j] == 0.0) touched.push_back(j);
                x[j] += 1.0;
            }

            double z = bias;
            for (const std::uint32_t j : touched) z = mul_add(w[j], x[j], z);
            const double gradient = portable_sigmoid(z) - labels[i];
            for (const std::uint32_t j : touched) {
                // L2 acts on the weights an example touches, the usual lazy form for sparse data.
                const double l2_term = settings.l2 * w[j];
                const double g = mul_add(gradient, x[j], l2_term);
                g2[j] = mul_add(g, g, g2[j]);
                if (g2[j] > 0.0) w[j] -= settings.learning_rate * g / std::sqrt(g2[j]);
                x[j] = 0.0;
            }
            bias_g2 = mul_add(gradient, gradient, bias_g2);
            if (bias_g2 > 0.0) bias -= settings.learning_rate * gradient / std::sqrt(bias_g2);
        }
    }

    TextModel m;
    m.layout = settings.layout;
    m.bias = quantise(bias);
    for (std::size_t j = 0; j < dimension; ++j) {
        const std::int64_t q = quantise(w[j]);
        if (q != 0) m.sparse.emplace_back(static_cast<std::uint32_t>(j), q);
    }
    m.expand();

    if (!calibration.empty()) {
        // Calibrate the model as it will be used: quantised weights, the scoring path.
        std::vector<double> logits, targets;
        logits.reserve(calibration.size());
        targets.reserve(calibration.size());
        for (const std::size_t i : calibration) {
            scratch.prepare(text_at(i), m.layout);
            logits.push_back(text_logit(m, scratch));
            targets.push_back(labels[i]);
        }
        const auto [a, b] = fit_platt(logits, targets);
        m.platt_a = quantise(a);
        m.platt_b = quantise(b);
    }
    return m;
}

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_TEXT_TRAINING_HPP
