// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_CALIBRATION_MAP_HPP
#define CASCADE_VERIFY_CALIBRATION_MAP_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <istream>
#include <locale>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../detail/number.hpp"
#include "detail/verify_support.hpp"
#include "../core/parse_error.hpp"
#include "../core/verdict.hpp"

// Calibration: a map from a verifier's raw score to the probability that the answer is right,
// fitted on labelled examples, so that a tier threshold of 0.9 means "accept when 90% likely
// right".
namespace cascade::verify {

/// One labelled example: a raw score and whether that answer was right.
struct LabelledScore {
    double score = 0.0;
    bool correct = false;
};

/// The fewest examples a fit accepts by default. A calibration from fewer says little, and the
/// fits would return something anyway.
inline constexpr std::size_t min_calibration_examples = 10;

}  // namespace cascade::verify

namespace cascade::detail {

// Checks what both fits need: enough finite scores and both labels. Counts the right ones.
inline std::size_t check_calibration_examples(const std::vector<verify::LabelledScore>& examples, std::size_t min_examples,
                                  std::string_view who) {
    if (examples.size() < min_examples || examples.size() < 2) {
        throw std::invalid_argument(std::string(who) + ": " + std::to_string(examples.size()) +
                                    " examples are too few; need at least " +
                                    std::to_string(std::max<std::size_t>(min_examples, 2)));
    }
    std::size_t right = 0;
    for (std::size_t i = 0; i < examples.size(); ++i) {
        if (!std::isfinite(examples[i].score)) {
            throw std::invalid_argument(std::string(who) + ": example " + std::to_string(i + 1) + " has score " +
                                        format_number(examples[i].score) +
                                        "; scores must be finite (map -inf log-probabilities to a probability "
                                        "first, e.g. exp(-inf) = 0)");
        }
        right += examples[i].correct ? 1U : 0U;
    }
    if (right == 0 || right == examples.size()) {
        throw std::invalid_argument(std::string(who) + ": all " + std::to_string(examples.size()) + " examples are " +
                                    (right == 0 ? "wrong" : "right") +
                                    "; calibration needs both right and wrong answers");
    }
    return right;
}

// log(1 + exp(x)) without overflow.
inline double log_one_plus_exp(double x) { return x > 0.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

inline double logistic_of(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}

}  // namespace cascade::detail

namespace cascade::verify {

/// Platt scaling: P(right | score) = 1 / (1 + exp(-(a * score + b))). Two parameters, so it needs
/// few examples (tens), but it can only bend the score along a logistic curve.
class PlattScaling {
public:
    /// Throws std::invalid_argument unless both parameters are finite.
    PlattScaling(double a, double b) : a_(a), b_(b) {
        if (!std::isfinite(a_) || !std::isfinite(b_)) {
            throw std::invalid_argument("cascade::verify::PlattScaling: the parameters must be finite, got a = " +
                                        detail::format_number(a_) + ", b = " + detail::format_number(b_));
        }
    }

    /// The probability of being right at `score` (+-inf give 0 or 1; NaN gives NaN).
    double operator()(double score) const {
        if (std::isinf(score)) {
            if (a_ == 0.0) return detail::logistic_of(b_);
            return (score > 0.0) == (a_ > 0.0) ? 1.0 : 0.0;
        }
        return detail::logistic_of(a_ * score + b_);
    }

    [[nodiscard]] double a() const noexcept { return a_; }
    [[nodiscard]] double b() const noexcept { return b_; }

private:
    double a_;
    double b_;
};

/// Isotonic regression: the non-decreasing step function that fits the examples best (pool
/// adjacent violators), with linear interpolation between the steps and constant beyond the
/// ends. Follows any monotone shape, but needs more examples (hundreds) than Platt scaling.
class IsotonicCalibration {
public:
    /// From knots: strictly increasing finite x, non-decreasing y in [0, 1], as many of each, at
    /// least one. Throws std::invalid_argument naming the first bad knot.
    IsotonicCalibration(std::vector<double> x, std::vector<double> y) : x_(std::move(x)), y_(std::move(y)) {
        const char* who = "cascade::verify::IsotonicCalibration: ";
        if (x_.empty() || x_.size() != y_.size()) {
            throw std::invalid_argument(std::string(who) + "needs as many y as x, at least one; got " +
                                        std::to_string(x_.size()) + " x and " + std::to_string(y_.size()) + " y");
        }
        for (std::size_t i = 0; i < x_.size(); ++i) {
            const std::string at = "knot " + std::to_string(i + 1) + ": ";
            if (!std::isfinite(x_[i])) throw std::invalid_argument(who + at + "x is not finite");
            if (!(y_[i] >= 0.0 && y_[i] <= 1.0)) throw std::invalid_argument(who + at + "y is not in [0, 1]");
            if (i > 0 && !(x_[i] > x_[i - 1])) throw std::invalid_argument(who + at + "x does not increase");
            if (i > 0 && y_[i] < y_[i - 1]) throw std::invalid_argument(who + at + "y decreases");
        }
    }

    /// The probability of being right at `score` (NaN gives NaN): always between the y of the
    /// knots around it, whatever finite x the knots have.
    double operator()(double score) const {
        if (std::isnan(score)) return score;
        if (score <= x_.front()) return y_.front();
        if (score >= x_.back()) return y_.back();
        const auto hi = static_cast<std::size_t>(std::upper_bound(x_.begin(), x_.end(), score) - x_.begin());
        const std::size_t lo = hi - 1;
        double offset = score - x_[lo];
        double span = x_[hi] - x_[lo];
        if (!std::isfinite(span)) {
            // Knots of opposite sign near the ends of the double range are further apart than a
            // double holds; halved, both distances fit, and their ratio is the same.
            offset = score / 2 - x_[lo] / 2;
            span = x_[hi] / 2 - x_[lo] / 2;
        }
        // Rounding may put the ratio a hair outside [0, 1]; the result must stay between the knots.
        const double t = std::clamp(offset / span, 0.0, 1.0);
        return y_[lo] + t * (y_[hi] - y_[lo]);
    }

    [[nodiscard]] const std::vector<double>& x() const noexcept { return x_; }
    [[nodiscard]] const std::vector<double>& y() const noexcept { return y_; }

private:
    std::vector<double> x_;
    std::vector<double> y_;
};

/// Fits Platt scaling by maximum likelihood with Platt's smoothed targets ((N+ + 1) / (N+ + 2) for
/// a right answer, 1 / (N- + 2) for a wrong one), which keeps the fit finite when the scores
/// separate right from wrong perfectly, and a damped Newton method with backtracking line search
/// (after Lin, Lin and Weng, 2007). Throws std::invalid_argument for fewer than `min_examples`
/// examples, a non-finite score, or labels that are all the same.
inline PlattScaling fit_platt(const std::vector<LabelledScore>& examples,
                              std::size_t min_examples = min_calibration_examples) {
    const std::size_t right = detail::check_calibration_examples(examples, min_examples, "cascade::verify::fit_platt");
    const double n_pos = static_cast<double>(right);
    const double n_neg = static_cast<double>(examples.size() - right);
    const double t_pos = (n_pos + 1.0) / (n_pos + 2.0);
    const double t_neg = 1.0 / (n_neg + 2.0);

    // Centre and scale the scores so that the Newton steps are well conditioned whatever their
    // units; the parameters are mapped back at the end.
    double mean = 0.0;
    for (const LabelledScore& e : examples) mean += e.score;
    mean /= static_cast<double>(examples.size());
    double spread = 0.0;
    for (const LabelledScore& e : examples) spread = std::max(spread, std::fabs(e.score - mean));
    const double scale = spread > 0.0 ? spread : 1.0;

    auto objective = [&](double a, double b) {
        double f = 0.0;
        for (const LabelledScore& e : examples) {
            const double z = a * (e.score - mean) / scale + b;
            const double t = e.correct ? t_pos : t_neg;
            // -[t log s(z) + (1 - t) log(1 - s(z))] = log(1 + e^z) - t z
            f += detail::log_one_plus_exp(z) - t * z;
        }
        return f;
    };

    double a = 0.0;
    double b = std::log((n_pos + 1.0) / (n_neg + 1.0));
    double f = objective(a, b);
    constexpr int max_iterations = 100;
    constexpr double ridge = 1e-12;  // keeps the Hessian invertible when every score is equal
    for (int it = 0; it < max_iterations; ++it) {
        double ga = 0.0, gb = 0.0, haa = ridge, hab = 0.0, hbb = ridge;
        for (const LabelledScore& e : examples) {
            const double s = (e.score - mean) / scale;
            const double p = detail::logistic_of(a * s + b);
            const double t = e.correct ? t_pos : t_neg;
            const double d = p - t;
            const double w = p * (1.0 - p);
            ga += d * s;
            gb += d;
            haa += w * s * s;
            hab += w * s;
            hbb += w;
        }
        if (std::fabs(ga) < 1e-9 * static_cast<double>(examples.size()) &&
            std::fabs(gb) < 1e-9 * static_cast<double>(examples.size())) {
            break;
        }
        const double det = haa * hbb - hab * hab;
        double da = 0.0, db = 0.0;
        if (det > 0.0 && std::isfinite(det)) {
            da = -(hbb * ga - hab * gb) / det;
            db = -(haa * gb - hab * ga) / det;
        } else {
            da = -ga;  // a gradient step when the Hessian is degenerate
            db = -gb;
        }
        const double slope = ga * da + gb * db;
        double step = 1.0;
        bool moved = false;
        while (step >= 1e-10) {
            const double na = a + step * da;
            const double nb = b + step * db;
            const double nf = objective(na, nb);
            if (nf <= f + 1e-4 * step * slope) {
                a = na;
                b = nb;
                moved = nf < f;
                f = nf;
                break;
            }
            step /= 2.0;
        }
        if (!moved) break;  // no step improves the fit: at the optimum to within rounding
    }
    // z = a (s - mean) / scale + b  =  (a / scale) s + (b - a mean / scale)
    return PlattScaling(a / scale, b - a * mean / scale);
}

/// Fits isotonic regression (pool adjacent violators; equal scores are pooled first). Each pooled
/// block becomes two knots, at its lowest and highest score, so that the map is flat inside a
/// block and interpolates between blocks. Throws std::invalid_argument like fit_platt.
inline IsotonicCalibration fit_isotonic(const std::vector<LabelledScore>& examples,
                                        std::size_t min_examples = min_calibration_examples) {
    detail::check_calibration_examples(examples, min_examples, "cascade::verify::fit_isotonic");
    std::vector<LabelledScore> sorted = examples;
    std::sort(sorted.begin(), sorted.end(),
              [](const LabelledScore& l, const LabelledScore& r) { return l.score < r.score; });

    struct Block {
        double lo, hi, sum, weight;
        [[nodiscard]] double mean() const { return sum / weight; }
    };
    std::vector<Block> blocks;
    for (std::size_t i = 0; i < sorted.size();) {
        Block b{sorted[i].score, sorted[i].score, 0.0, 0.0};
        for (; i < sorted.size() && sorted[i].score == b.lo; ++i) {
            b.sum += sorted[i].correct ? 1.0 : 0.0;
            b.weight += 1.0;
        }
        blocks.push_back(b);
        while (blocks.size() > 1 && blocks[blocks.size() - 2].mean() >= blocks.back().mean()) {
            Block last = blocks.back();
            blocks.pop_back();
            blocks.back().hi = last.hi;
            blocks.back().sum += last.sum;
            blocks.back().weight += last.weight;
        }
    }
    std::vector<double> x, y;
    for (const Block& b : blocks) {
        x.push_back(b.lo);
        y.push_back(b.mean());
        if (b.hi > b.lo) {
            x.push_back(b.hi);
            y.push_back(b.mean());
        }
    }
    return IsotonicCalibration(std::move(x), std::move(y));
}

/// Either fitted map, as one value that can be saved to text and loaded back.
///
/// The text form (one item per line, numbers in the shortest form that reads back exactly):
///
///     cascade-calibration 1
///     platt <a> <b>
///
///     cascade-calibration 1
///     isotonic <n>
///     <x> <y>          (n lines)
class CalibrationMap {
public:
    CalibrationMap(PlattScaling platt) : map_(platt) {}
    CalibrationMap(IsotonicCalibration isotonic) : map_(std::move(isotonic)) {}

    double operator()(double score) const {
        return std::visit([score](const auto& m) { return m(score); }, map_);
    }

    [[nodiscard]] bool is_platt() const noexcept { return std::holds_alternative<PlattScaling>(map_); }
    /// The maps themselves; nullptr for the other kind.
    [[nodiscard]] const PlattScaling* platt() const noexcept { return std::get_if<PlattScaling>(&map_); }
    [[nodiscard]] const IsotonicCalibration* isotonic() const noexcept {
        return std::get_if<IsotonicCalibration>(&map_);
    }

    void save(std::ostream& out) const {
        out << "cascade-calibration 1\n";
        if (const PlattScaling* p = platt()) {
            out << "platt " << detail::format_number(p->a()) << ' ' << detail::format_number(p->b()) << '\n';
        } else if (const IsotonicCalibration* iso = isotonic()) {
            out << "isotonic " << std::to_string(iso->x().size()) << '\n';
            for (std::size_t i = 0; i < iso->x().size(); ++i) {
                out << detail::format_number(iso->x()[i]) << ' ' << detail::format_number(iso->y()[i]) << '\n';
            }
        }
    }

    [[nodiscard]] std::string to_text() const {
        std::ostringstream out;
        out.imbue(std::locale::classic());
        save(out);
        return out.str();
    }

    /// Reads what save() wrote. Throws cascade::ParseError (`source:line: reason`) for anything
    /// else, including invalid parameters.
    static CalibrationMap load(std::istream& in, const std::string& source_name = "calibration") {
        Reader r{in, source_name};
        std::vector<std::string> w = r.words();
        if (w.size() != 2 || w[0] != "cascade-calibration") r.fail("expected \"cascade-calibration 1\"");
        if (w[1] != "1") r.fail("unknown format version \"" + w[1] + "\" (this library reads 1)");
        w = r.words();
        if (w.size() == 3 && w[0] == "platt") {
            const double a = r.number(w[1]);
            const double b = r.number(w[2]);
            return r.build([&] { return CalibrationMap(PlattScaling(a, b)); });
        }
        if (w.size() == 2 && w[0] == "isotonic") {
            double count = 0.0;
            if (!detail::parse_decimal(w[1], count) || count < 1.0 || count != std::floor(count) || count > 1e7) {
                r.fail("the knot count \"" + w[1] + "\" is not a whole number >= 1");
            }
            std::vector<double> x, y;
            for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i) {
                std::vector<std::string> k = r.words();
                if (k.size() != 2) r.fail("expected a knot \"<x> <y>\"");
                x.push_back(r.number(k[0]));
                y.push_back(r.number(k[1]));
            }
            return r.build([&] { return CalibrationMap(IsotonicCalibration(std::move(x), std::move(y))); });
        }
        r.fail("expected \"platt <a> <b>\" or \"isotonic <n>\"");
    }

    /// load() from a string.
    static CalibrationMap from_text(std::string_view text, const std::string& source_name = "calibration") {
        std::istringstream in{std::string(text)};
        return load(in, source_name);
    }

private:
    struct Reader {
        std::istream& in;
        const std::string& source;
        std::size_t line = 0;

        // The next non-blank line, split on white space.
        std::vector<std::string> words() {
            std::string text;
            while (std::getline(in, text)) {
                ++line;
                std::vector<std::string> out;
                std::size_t i = 0;
                while (i < text.size()) {
                    while (i < text.size() && detail::is_ascii_space(text[i])) ++i;
                    std::size_t end = i;
                    while (end < text.size() && !detail::is_ascii_space(text[end])) ++end;
                    if (end > i) out.emplace_back(text.substr(i, end - i));
                    i = end;
                }
                if (!out.empty()) return out;
            }
            ++line;
            fail("unexpected end of input");
        }
        double number(const std::string& word) {
            double v = 0.0;
            if (!detail::parse_number(word, v)) fail("\"" + word + "\" is not a number");
            return v;
        }
        template <class Build>
        CalibrationMap build(Build&& make) {
            try {
                return make();
            } catch (const std::invalid_argument& e) {
                fail(e.what());
            }
        }
        [[noreturn]] void fail(const std::string& reason) const { throw ParseError(source, line, reason); }
    };

    std::variant<PlattScaling, IsotonicCalibration> map_;
};

/// Expected calibration error of probabilities against outcomes: the examples are put in `bins`
/// equal-width bins of their score, and ECE = sum over bins of (bin size / N) x |share right -
/// mean score|. 0 is perfect. Scores must be probabilities in [0, 1]; throws
/// std::invalid_argument otherwise, for no examples, or for bins = 0.
inline double expected_calibration_error(const std::vector<LabelledScore>& examples, std::size_t bins = 10) {
    if (bins == 0) throw std::invalid_argument("cascade::verify::expected_calibration_error: bins must be >= 1");
    if (examples.empty()) throw std::invalid_argument("cascade::verify::expected_calibration_error: no examples");
    std::vector<double> sum_score(bins, 0.0), sum_right(bins, 0.0), count(bins, 0.0);
    for (std::size_t i = 0; i < examples.size(); ++i) {
        const double p = examples[i].score;
        if (!(p >= 0.0 && p <= 1.0)) {
            throw std::invalid_argument("cascade::verify::expected_calibration_error: example " +
                                        std::to_string(i + 1) + " has score " + detail::format_number(p) +
                                        ", not a probability in [0, 1]");
        }
        const std::size_t b = std::min(bins - 1, static_cast<std::size_t>(p * static_cast<double>(bins)));
        sum_score[b] += p;
        sum_right[b] += examples[i].correct ? 1.0 : 0.0;
        count[b] += 1.0;
    }
    double ece = 0.0;
    for (std::size_t b = 0; b < bins; ++b) {
        if (count[b] > 0.0) ece += std::fabs(sum_right[b] - sum_score[b]);
    }
    return ece / static_cast<double>(examples.size());
}

}  // namespace cascade::verify

namespace cascade::detail {

// A part of calibrated(): returns a raw score (any number), a bool or a Verdict.
template <class Part, class Request, class Response>
constexpr bool raw_score_two() {
    if constexpr (std::is_invocable_v<Part&, const Request&, const Response&>) {
        return is_verdict_type_v<std::invoke_result_t<Part&, const Request&, const Response&>>;
    } else {
        return false;
    }
}
template <class Part, class Response>
constexpr bool raw_score_one() {
    if constexpr (std::is_invocable_v<Part&, const Response&>) {
        return is_verdict_type_v<std::invoke_result_t<Part&, const Response&>>;
    } else {
        return false;
    }
}

}  // namespace cascade::detail

namespace cascade::verify {

/// A verifier whose part's raw score is mapped through a calibration (PlattScaling,
/// IsotonicCalibration, CalibrationMap, or any callable double(double) giving a value in [0, 1]).
/// The part may return any raw score (a log-probability, a judge's 1-10), not only [0, 1]; NaN
/// makes it throw std::domain_error (the tier records a verifier error). The part's cost and note
/// are kept. Make one with calibrated().
template <class Part, class Map>
class Calibrated {
public:
    Calibrated(Part part, Map map) : part_(std::move(part)), map_(std::move(map)) {}

    template <class Request, class Response>
    Verdict operator()(const Request& request, const Response& response) {
        constexpr bool ok = detail::raw_score_two<Part, Request, Response>() || detail::raw_score_one<Part, Response>();
        static_assert(ok,
                      "cascade::verify::calibrated: the part must return a raw score (a number), a bool or a "
                      "cascade::Verdict from (const Request&, const Response&) or (const Response&)");
        if constexpr (detail::raw_score_two<Part, Request, Response>()) {
            return map(part_(request, response));
        } else if constexpr (detail::raw_score_one<Part, Response>()) {
            return map(part_(response));
        } else {
            return Verdict{};
        }
    }

    template <class Response, std::enable_if_t<detail::raw_score_one<Part, Response>(), int> = 0>
    Verdict operator()(const Response& response) {
        return map(part_(response));
    }

    [[nodiscard]] const Map& calibration() const noexcept { return map_; }

private:
    template <class R>
    Verdict map(R&& raw) {
        Verdict v;
        using T = std::decay_t<R>;
        if constexpr (std::is_same_v<T, Verdict>) {
            v = std::forward<R>(raw);
        } else if constexpr (std::is_same_v<T, bool>) {
            v.confidence = raw ? 1.0 : 0.0;
        } else {
            v.confidence = static_cast<double>(raw);
        }
        if (std::isnan(v.confidence)) {
            throw std::domain_error("cascade::verify::calibrated: the part gave a NaN score");
        }
        const double p = static_cast<double>(map_(v.confidence));
        if (!(p >= 0.0 && p <= 1.0)) {
            throw std::domain_error("cascade::verify::calibrated: the calibration mapped " +
                                    detail::format_number(v.confidence) + " to " + detail::format_number(p) +
                                    ", not a probability in [0, 1]");
        }
        v.confidence = p;
        return v;
    }

    Part part_;
    Map map_;
};

/// `part`'s score mapped through `calibration`, so that the tier's threshold is a probability of
/// being right:
///
///     auto cal = cascade::verify::fit_platt(examples);       // or fit_isotonic, CalibrationMap::load
///     cascade::tier("mini", call_mini, cascade::verify::calibrated(cascade::verify::mean_token_prob(), cal), 0.9)
template <class Part, class Map>
Calibrated<std::decay_t<Part>, std::decay_t<Map>> calibrated(Part&& part, Map&& calibration) {
    static_assert(std::is_invocable_r_v<double, const std::decay_t<Map>&, double>,
                  "cascade::verify::calibrated: the calibration must be callable as double(double) const: "
                  "PlattScaling, IsotonicCalibration, CalibrationMap, or your own map");
    return {std::forward<Part>(part), std::forward<Map>(calibration)};
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_CALIBRATION_MAP_HPP
