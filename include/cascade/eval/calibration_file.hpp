// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_CALIBRATION_FILE_HPP
#define CASCADE_EVAL_CALIBRATION_FILE_HPP

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/dynamic_cascade.hpp"
#include "../core/options.hpp"
#include "../core/parse_error.hpp"
#include "../core/tier_registry.hpp"
#include "../detail/fnv1a.hpp"
#include "../detail/json.hpp"
#include "../detail/number.hpp"
#include "calibrate.hpp"
#include "detail/chunked_input.hpp"
#include "outcome_log.hpp"

// A calibration saved to a file (`cascade-eval calibrate --save`) and read back to configure a
// DynamicCascade: the format is in docs/eval.md.
namespace cascade {

/// The labelled log a calibration was chosen on, identified by its content.
struct CalibrationData {
    /// "fnv1a64:" and 16 hex digits: FNV-1a (64 bits) of the log file's bytes, as read. Recompute
    /// it with cascade::describe_data_file(path) to tell whether a log is the one.
    std::string digest;
    std::uint64_t bytes = 0;  ///< the file's size
    std::string source;       ///< the file's name as it was given
    /// When the calibration used a share of the log (cascade-eval --split), the share and the
    /// seed of the split (any 64-bit value: the file writes it as a decimal string); empty when
    /// it used the whole file.
    std::optional<double> split;
    std::optional<std::uint64_t> seed;
};

/// How the chosen setting did on the log it was chosen on (CalibrationResult::train).
struct CalibrationSummary {
    std::size_t queries = 0;
    double quality = 0.0;            ///< mean quality of the cascade's answers
    double cost = 0.0;               ///< mean dollars per query
    double reference_quality = 0.0;  ///< the reference's alone
    double reference_cost = 0.0;
    double saving = 0.0;             ///< 1 - cost / reference_cost
    double escalation_rate = 0.0;    ///< share of queries the first tier passed on
    double loss_bound = 0.0;         ///< as CalibrationResult
    double allowed_loss = 0.0;
};

/// What a calibration file holds. Only version, chain and thresholds are needed to run a
/// cascade; the rest says what was asked for and on which data.
struct CalibrationFile {
    /// The version this library writes and the newest it reads.
    static constexpr int current_version = 1;

    int version = current_version;
    std::vector<std::string> chain;  ///< tier names, cheapest first
    /// One per tier but the last, on the scale of the log's confidences (which may be
    /// log-probabilities: see configure_cascade). May be -inf or inf (a log-probability of 0
    /// or 1 is one), never NaN.
    std::vector<double> thresholds;
    std::string reference;           ///< the model the target is a fraction of
    std::optional<double> target;    ///< the quality target (empty with a budget)
    std::optional<double> budget;    ///< the budget in dollars per query, when one was given
    std::string mode;                ///< calibration_mode_name(), e.g. "family_wise"
    std::string guarantee;           ///< guarantee_name(), e.g. "family_wise" or "none"
    std::string guarantee_text;      ///< the guarantee in words
    std::string bound;               ///< risk_bound_name(), e.g. "betting"
    double delta = 0.0;              ///< the risk of the guarantee
    bool target_met = false;
    CalibrationData data;
    std::optional<CalibrationSummary> train;
    /// Where the file was read from (not written to it): error messages name it.
    std::string source;
};

namespace detail {

// Hands the bytes of the file at `path` to `take`, a block at a time. Throws ParseError naming
// the file when it cannot be opened or read to its end: a directory is "cannot read: Is a
// directory", with the system's reason, as for outcome logs (open_outcome_file).
template <class Take>
void read_file_blocks(const std::string& path, Take&& take) {
    std::ifstream in = open_outcome_file(path);
    ChunkedInput input(in, path);
    while (input.refill(0)) {
        take(std::string_view(input.data(), input.available()));
        input.consume(input.available());
    }
}

}  // namespace detail

/// The digest, size and name of a data file, for CalibrationFile::data. Throws ParseError
/// naming the file when it cannot be read.
inline CalibrationData describe_data_file(const std::string& path) {
    CalibrationData d;
    d.source = path;
    std::uint64_t h = detail::fnv1a64_basis;
    detail::read_file_blocks(path, [&](std::string_view block) {
        h = detail::fnv1a64(block, h);
        d.bytes += block.size();
    });
    d.digest = "fnv1a64:" + detail::hex64(h);
    return d;
}

/// A calibration's choice and what it was asked for, ready to save; `data` names the log.
inline CalibrationFile calibration_file_from(const CalibrationResult& result, const CalibrateOptions& options,
                                             CalibrationData data) {
    CalibrationFile f;
    f.chain = result.chain;
    f.thresholds = result.thresholds;
    f.reference = options.reference;
    if (options.budget) {
        f.budget = options.budget;
    } else {
        f.target = options.target;
    }
    f.mode = calibration_mode_name(options.mode);
    f.guarantee = guarantee_name(result.guarantee);
    f.guarantee_text = result.guarantee_text;
    f.bound = risk_bound_name(result.bound);
    f.delta = result.delta;
    f.target_met = result.target_met;
    f.data = std::move(data);
    CalibrationSummary s;
    s.queries = result.train.queries;
    s.quality = result.train.quality;
    s.cost = result.train.cost;
    s.reference_quality = result.reference_quality;
    s.reference_cost = result.reference_cost;
    s.saving = result.saving;
    s.escalation_rate = result.train.escalation_rate;
    s.loss_bound = result.loss_bound;
    s.allowed_loss = result.allowed_loss;
    f.train = s;
    return f;
}

/// The file's JSON text, one member a line (see docs/eval.md for the format). Throws
/// std::invalid_argument for a NaN threshold, which no file can hold.
inline std::string calibration_file_json(const CalibrationFile& f) {
    using detail::JsonValue;
    auto number_or_null = [](const std::optional<double>& x) { return x ? JsonValue(*x) : JsonValue(nullptr); };
    auto strings = [](const std::vector<std::string>& v) {
        JsonValue::Array a;
        for (const std::string& s : v) a.emplace_back(s);
        return JsonValue(std::move(a));
    };
    // JSON has no infinite numbers (dump() would write null): an infinite threshold is the
    // string "-inf" or "inf", as infinite confidences are in JSON Lines outcome logs.
    auto thresholds = [](const std::vector<double>& v) {
        JsonValue::Array a;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (std::isnan(v[i])) {
                throw std::invalid_argument("cascade::calibration_file_json: threshold " + std::to_string(i + 1) +
                                            " is NaN");
            }
            if (std::isinf(v[i])) {
                a.emplace_back(v[i] < 0 ? "-inf" : "inf");
            } else {
                a.emplace_back(v[i]);
            }
        }
        return JsonValue(std::move(a));
    };
    JsonValue::Object data{{"digest", JsonValue(f.data.digest)},
                           {"bytes", JsonValue(f.data.bytes)},
                           {"source", JsonValue(f.data.source)},
                           {"split", number_or_null(f.data.split)},
                           // A string: a JSON number is a double, exact only below 2^53.
                           {"seed", f.data.seed ? JsonValue(std::to_string(*f.data.seed)) : JsonValue(nullptr)}};
    JsonValue train(nullptr);
    if (f.train) {
        const CalibrationSummary& s = *f.train;
        train = JsonValue(JsonValue::Object{{"queries", JsonValue(s.queries)},
                                            {"quality", JsonValue(s.quality)},
                                            {"cost", JsonValue(s.cost)},
                                            {"reference_quality", JsonValue(s.reference_quality)},
                                            {"reference_cost", JsonValue(s.reference_cost)},
                                            {"saving", JsonValue(s.saving)},
                                            {"escalation_rate", JsonValue(s.escalation_rate)},
                                            {"loss_bound", JsonValue(s.loss_bound)},
                                            {"allowed_loss", JsonValue(s.allowed_loss)}});
    }
    const std::vector<std::pair<const char*, JsonValue>> members = {
        {"format", JsonValue("cascade-calibration")},
        {"version", JsonValue(f.version)},
        {"chain", strings(f.chain)},
        {"thresholds", thresholds(f.thresholds)},
        {"reference", JsonValue(f.reference)},
        {"target", number_or_null(f.target)},
        {"budget", number_or_null(f.budget)},
        {"mode", JsonValue(f.mode)},
        {"guarantee", JsonValue(f.guarantee)},
        {"guarantee_text", JsonValue(f.guarantee_text)},
        {"bound", JsonValue(f.bound)},
        {"delta", JsonValue(f.delta)},
        {"target_met", JsonValue(f.target_met)},
        {"data", JsonValue(std::move(data))},
        {"train", std::move(train)},
    };
    std::string out = "{\n";
    for (std::size_t i = 0; i < members.size(); ++i) {
        out += "  \"" + std::string(members[i].first) + "\": " + members[i].second.dump();
        out += i + 1 < members.size() ? ",\n" : "\n";
    }
    return out + "}\n";
}

namespace detail {

// Reads the members of a calibration file, each error naming the file, the line and the field.
class CalibrationReader {
public:
    CalibrationReader(std::string_view text, std::string source) : text_(text), source_(std::move(source)) {}

    CalibrationFile read() {
        JsonValue root;
        try {
            root = parse_json(text_);
        } catch (const JsonError& e) {
            throw ParseError(source_, line_of(e.offset()), "not a calibration file: invalid JSON: " + e.reason());
        }
        if (!root.is_object()) {
            fail(root, "", "expected a JSON object, got " + std::string(JsonValue::type_name(root.type())));
        }
        CalibrationFile f;
        f.source = source_;
        if (const JsonValue* x = optional(root, "format"); x != nullptr && string(*x, "format") != "cascade-calibration") {
            fail(*x, "format", "expected \"cascade-calibration\", got \"" + x->as_string() + "\"");
        }
        const JsonValue& version = require(root, "version");
        const double v = number(version, "version");
        if (v != std::floor(v) || v < 1) fail(version, "version", "expected a whole number >= 1, got " + format_number(v));
        if (v > CalibrationFile::current_version) {
            fail(version, "version",
                 "unknown version " + format_number(v) + "; this library reads versions up to " +
                     std::to_string(CalibrationFile::current_version) + ": update cascade to read this file");
        }
        f.version = static_cast<int>(v);

        const JsonValue& chain = require(root, "chain");
        for (const JsonValue& name : array(chain, "chain")) {
            f.chain.push_back(string(name, "chain"));
            if (f.chain.back().empty()) fail(name, "chain", "a tier name is empty");
        }
        if (f.chain.empty()) fail(chain, "chain", "the chain is empty; it names at least one tier");
        const JsonValue& thresholds = require(root, "thresholds");
        for (const JsonValue& t : array(thresholds, "thresholds")) {
            f.thresholds.push_back(threshold(t));
        }
        if (f.thresholds.size() + 1 != f.chain.size()) {
            fail(thresholds, "thresholds",
                 "a chain of " + std::to_string(f.chain.size()) + " tiers takes " + std::to_string(f.chain.size() - 1) +
                     " thresholds (one per tier but the last), got " + std::to_string(f.thresholds.size()));
        }

        // The rest describes the calibration; each is optional, but of its type when present.
        if (const JsonValue* x = optional(root, "reference")) f.reference = string(*x, "reference");
        if (const JsonValue* x = optional(root, "target")) f.target = number(*x, "target");
        if (const JsonValue* x = optional(root, "budget")) f.budget = number(*x, "budget");
        if (const JsonValue* x = optional(root, "mode")) f.mode = string(*x, "mode");
        if (const JsonValue* x = optional(root, "guarantee")) f.guarantee = string(*x, "guarantee");
        if (const JsonValue* x = optional(root, "guarantee_text")) f.guarantee_text = string(*x, "guarantee_text");
        if (const JsonValue* x = optional(root, "bound")) f.bound = string(*x, "bound");
        if (const JsonValue* x = optional(root, "delta")) f.delta = number(*x, "delta");
        if (const JsonValue* x = optional(root, "target_met")) f.target_met = boolean(*x, "target_met");
        if (const JsonValue* d = optional(root, "data")) {
            object(*d, "data");
            if (const JsonValue* x = optional(*d, "digest")) f.data.digest = string(*x, "data.digest");
            if (const JsonValue* x = optional(*d, "bytes")) f.data.bytes = whole(*x, "data.bytes");
            if (const JsonValue* x = optional(*d, "source")) f.data.source = string(*x, "data.source");
            if (const JsonValue* x = optional(*d, "split")) f.data.split = number(*x, "data.split");
            if (const JsonValue* x = optional(*d, "seed")) f.data.seed = seed(*x);
        }
        if (const JsonValue* t = optional(root, "train")) {
            object(*t, "train");
            CalibrationSummary s;
            if (const JsonValue* x = optional(*t, "queries")) s.queries = static_cast<std::size_t>(whole(*x, "train.queries"));
            const std::pair<const char*, double*> numbers[] = {
                {"quality", &s.quality},       {"cost", &s.cost},
                {"reference_quality", &s.reference_quality}, {"reference_cost", &s.reference_cost},
                {"saving", &s.saving},         {"escalation_rate", &s.escalation_rate},
                {"loss_bound", &s.loss_bound}, {"allowed_loss", &s.allowed_loss}};
            for (const auto& [key, field] : numbers) {
                if (const JsonValue* x = optional(*t, key)) *field = number(*x, "train." + std::string(key));
            }
            f.train = s;
        }
        return f;
    }

private:
    [[noreturn]] void fail(const JsonValue& at, const std::string& field, const std::string& reason) const {
        throw ParseError(source_, line_of(at.offset()), field.empty() ? reason : "field \"" + field + "\": " + reason);
    }

    std::size_t line_of(std::size_t offset) const {
        std::size_t line = 1;
        for (std::size_t i = 0; i < offset && i < text_.size(); ++i) line += text_[i] == '\n' ? 1U : 0U;
        return line;
    }

    const JsonValue& require(const JsonValue& in, const char* key) const {
        const JsonValue* x = in.find(key);
        if (x == nullptr) fail(in, key, "missing");
        return *x;
    }

    // A member that may be absent or null.
    static const JsonValue* optional(const JsonValue& in, const char* key) {
        const JsonValue* x = in.find(key);
        return x == nullptr || x->is_null() ? nullptr : x;
    }

    void expect(const JsonValue& v, JsonValue::Type t, const std::string& field) const {
        if (v.type() != t) {
            fail(v, field, "expected " + std::string(JsonValue::type_name(t)) + ", got " +
                               std::string(JsonValue::type_name(v.type())));
        }
    }

    double number(const JsonValue& v, const std::string& field) const {
        expect(v, JsonValue::Type::number, field);
        const double x = v.as_number();
        if (!std::isfinite(x)) fail(v, field, "expected a finite number, got " + format_number(x));
        return x;
    }

    // A finite number, or the string "-inf" or "inf" (calibration_file_json writes an infinite
    // threshold so); nothing else, so that a NaN or a misspelling is not taken for a threshold.
    double threshold(const JsonValue& v) const {
        if (v.is_string()) {
            if (v.as_string() == "-inf") return -std::numeric_limits<double>::infinity();
            if (v.as_string() == "inf") return std::numeric_limits<double>::infinity();
            fail(v, "thresholds", "expected a number, \"-inf\" or \"inf\", got " + v.dump());
        }
        return number(v, "thresholds");
    }

    // A decimal string of a 64-bit value (as written), or, from files that wrote the seed as a
    // number, a whole number below 2^53: from 2^53 up a JSON number (a double) is not exact, so
    // the seed read could be another than the one written.
    std::uint64_t seed(const JsonValue& v) const {
        if (v.is_string()) {
            const std::string& s = v.as_string();
            std::uint64_t value = 0;
            const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
            const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
            if (!digits || error != std::errc() || end != s.data() + s.size()) {
                fail(v, "data.seed", "expected a whole number from 0 to 18446744073709551615 in decimal, got " + v.dump());
            }
            return value;
        }
        const std::uint64_t value = whole(v, "data.seed");
        if (value >= (std::uint64_t{1} << 53)) {
            fail(v, "data.seed", "a seed of 2^53 or more is not exact as a JSON number, got " +
                                     format_number(v.as_number()) + "; write it as a decimal string");
        }
        return value;
    }

    std::uint64_t whole(const JsonValue& v, const std::string& field) const {
        const double x = number(v, field);
        if (x < 0 || x != std::floor(x) || x >= 18446744073709551616.0) {
            fail(v, field, "expected a whole number >= 0, got " + format_number(x));
        }
        return static_cast<std::uint64_t>(x);
    }

    const std::string& string(const JsonValue& v, const std::string& field) const {
        expect(v, JsonValue::Type::string, field);
        return v.as_string();
    }

    bool boolean(const JsonValue& v, const std::string& field) const {
        expect(v, JsonValue::Type::boolean, field);
        return v.as_bool();
    }

    const JsonValue::Array& array(const JsonValue& v, const std::string& field) const {
        expect(v, JsonValue::Type::array, field);
        return v.as_array();
    }

    void object(const JsonValue& v, const std::string& field) const { expect(v, JsonValue::Type::object, field); }

    std::string_view text_;
    std::string source_;
};

}  // namespace detail

/// Reads a calibration file's text; `source` names it in errors. Throws ParseError, whose
/// what() is `source:line: field "thresholds": ...`, for invalid JSON, a missing or mistyped
/// field, a NaN or infinite number (but for a threshold, which may be the string "-inf" or
/// "inf"), a seed that is not a 64-bit whole number, a count of thresholds that does not fit the chain, or a
/// version newer than this library reads. Members it does not know are
/// ignored, so that a newer writer may add some.
inline CalibrationFile parse_calibration_file(std::string_view text, std::string source = "calibration") {
    return detail::CalibrationReader(text, std::move(source)).read();
}

/// Reads the calibration file at `path`; throws ParseError naming it when it cannot be opened or
/// read (a directory: "cannot read: Is a directory") or is not a calibration file (see
/// parse_calibration_file).
///
///     const cascade::CalibrationFile cal = cascade::load_calibration_file("calibration.json");
///     cascade::DynamicCascade<Question, Answer> c = cascade::configure_cascade(registry, cal);
inline CalibrationFile load_calibration_file(const std::string& path) {
    std::string text;
    detail::read_file_blocks(path, [&](std::string_view block) { text.append(block); });
    return parse_calibration_file(text, path);
}

/// Writes `file` to `path`; throws std::runtime_error naming the path when it cannot.
inline void save_calibration_file(const std::string& path, const CalibrationFile& file) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
    out << calibration_file_json(file);
    out.flush();
    if (!out) throw std::runtime_error(path + ": write failed");
}

/// The cascade a calibration file describes, over the registry's tiers: the file's chain and
/// thresholds (see DynamicCascade). Throws std::invalid_argument, naming the file, for a chain
/// the registry cannot run (a tier not registered, a threshold outside [0, 1], ...).
///
/// The thresholds are on the scale of the confidences in the log the calibration read. When the
/// verifiers of the registered tiers give confidences on another scale (the log held
/// log-probabilities, the verifiers give probabilities in [0, 1]), pass the map from the log's
/// scale to theirs; it must keep the order of confidences:
///
///     auto c = cascade::configure_cascade(registry, cal, {}, [](double t) { return std::exp(t); });
template <class Request, class Response, class ToConfidence = double (*)(double)>
DynamicCascade<Request, Response> configure_cascade(const TierRegistry<Request, Response>& registry,
                                                    const CalibrationFile& file, CascadeOptions options = {},
                                                    ToConfidence to_confidence = nullptr) {
    const std::string where = file.source.empty() ? std::string("calibration") : file.source;
    std::vector<double> thresholds = file.thresholds;
    if constexpr (std::is_pointer_v<ToConfidence>) {
        if (to_confidence != nullptr) {
            for (double& t : thresholds) t = static_cast<double>(to_confidence(t));
        }
    } else {
        for (double& t : thresholds) t = static_cast<double>(to_confidence(t));
    }
    try {
        return DynamicCascade<Request, Response>(registry, file.chain, thresholds, std::move(options));
    } catch (const std::invalid_argument& e) {
        std::string message = where + ": " + e.what();
        for (const double t : thresholds) {
            if (!(t >= 0.0 && t <= 1.0)) {
                message += " (the thresholds are on the scale of the logged confidences; pass configure_cascade the "
                           "map to the verifiers' [0, 1], e.g. std::exp for log-probabilities)";
                break;
            }
        }
        throw std::invalid_argument(message);
    }
}

}  // namespace cascade

#endif  // CASCADE_EVAL_CALIBRATION_FILE_HPP
