// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_TEXT_MODEL_HPP
#define CASCADE_SCORE_DETAIL_TEXT_MODEL_HPP

#include <cstddef>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/parse_error.hpp"
#include "text_features.hpp"

// A trained text classifier and its file format. Every parameter is a whole number of millionths:
// the file states it exactly in decimal, reading it back gives the same bits, and no locale or
// printf implementation takes part.
namespace cascade::detail {

inline constexpr std::string_view text_model_magic = "cascade-text-classifier";
inline constexpr int text_model_version = 1;
inline constexpr unsigned min_hash_bits = 8;
inline constexpr unsigned max_hash_bits = 26;
inline constexpr unsigned max_char_ngram = 7;  // a character n-gram and its size tag fit in 64 bits
inline constexpr std::int64_t parameter_scale = 1000000;
inline constexpr std::int64_t max_parameter = 1000000LL * parameter_scale;  // |value| <= 1e6

struct TextModel {
    FeatureLayout layout;
    std::int64_t bias = 0;  // millionths, as every parameter
    std::int64_t platt_a = parameter_scale;
    std::int64_t platt_b = 0;
    std::vector<std::pair<std::uint32_t, std::int64_t>> sparse;  // (index, weight), ascending index, no zero
    std::vector<float> weights;                                  // dense 2^hash_bits, for scoring

    static double value(std::int64_t q) noexcept { return static_cast<double>(q) / static_cast<double>(parameter_scale); }

    // Builds the dense weights from the sparse ones.
    void expand() {
        weights.assign(std::size_t{1} << layout.hash_bits, 0.0F);
        for (const auto& [index, q] : sparse) weights[index] = static_cast<float>(value(q));
    }
};

inline std::int64_t quantise(double v) noexcept {
    const double scaled = v * static_cast<double>(parameter_scale);
    if (!(scaled < static_cast<double>(max_parameter))) return scaled > 0 ? max_parameter : 0;
    if (!(scaled > -static_cast<double>(max_parameter))) return -max_parameter;
    // Round half away from zero, as std::llround does, from basic operations.
    const double magnitude = scaled < 0 ? -scaled : scaled;
    const auto whole = static_cast<std::int64_t>(magnitude + 0.5);
    return scaled < 0 ? -whole : whole;
}

inline void append_parameter(std::string& out, std::int64_t q) {
    if (q < 0) out += '-';
    const std::uint64_t m = q < 0 ? static_cast<std::uint64_t>(-q) : static_cast<std::uint64_t>(q);
    out += std::to_string(m / static_cast<std::uint64_t>(parameter_scale));
    out += '.';
    std::string fraction = std::to_string(m % static_cast<std::uint64_t>(parameter_scale));
    out.append(6 - fraction.size(), '0');
    out += fraction;
}

// "-12.5", "3", "0.000001": at most six decimals, so that the value is exact.
inline bool parse_parameter(std::string_view text, std::int64_t& out) {
    std::size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (negative) ++i;
    std::int64_t whole = 0;
    std::size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
        if (whole > max_parameter / parameter_scale) return false;
        whole = whole * 10 + (text[i] - '0');
    }
    if (digits == 0) return false;
    std::int64_t fraction = 0;
    std::int64_t unit = parameter_scale;
    if (i < text.size() && text[i] == '.') {
        ++i;
        std::size_t decimals = 0;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++decimals) {
            if (decimals == 6) return false;
            unit /= 10;
            fraction += (text[i] - '0') * unit;
        }
        if (decimals == 0) return false;
    }
    if (i != text.size()) return false;
    const std::int64_t q = whole * parameter_scale + fraction;
    if (q > max_parameter) return false;
    out = negative ? -q : q;
    return true;
}

inline bool parse_count(std::string_view text, std::uint64_t& out) {
    if (text.empty() || text.size() > 12) return false;
    std::uint64_t v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = v;
    return true;
}

inline void write_text_model(std::ostream& out, const TextModel& m) {
    std::string s;
    s.reserve(96 + m.sparse.size() * 20);
    s += text_model_magic;
    s += ' ' + std::to_string(text_model_version) + '\n';
    s += "hash_bits " + std::to_string(m.layout.hash_bits) + '\n';
    s += "word_ngrams " + std::to_string(m.layout.word_ngrams) + '\n';
    s += "char_ngrams " + std::to_string(m.layout.char_ngram_min) + ' ' + std::to_string(m.layout.char_ngram_max) + '\n';
    s += std::string("length_bucket ") + (m.layout.length_bucket ? "1" : "0") + '\n';
    s += "bias ";
    append_parameter(s, m.bias);
    s += "\nplatt ";
    append_parameter(s, m.platt_a);
    s += ' ';
    append_parameter(s, m.platt_b);
    s += "\nweights " + std::to_string(m.sparse.size()) + '\n';
    for (const auto& [index, q] : m.sparse) {
        s += std::to_string(index);
        s += ' ';
        append_parameter(s, q);
        s += '\n';
    }
    s += "end\n";
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

// Reads the format write_text_model writes; anything else is a ParseError naming the line.
class TextModelReader {
public:
    TextModelReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}

    TextModel read() {
        TextModel m;
        expect_line("the header `" + std::string(text_model_magic) + " " + std::to_string(text_model_version) + "`");
        if (fields_.size() != 2 || fields_[0] != text_model_magic) {
            fail("not a cascade text classifier model: expected `" + std::string(text_model_magic) + " " +
                 std::to_string(text_model_version) + "` on the first line");
        }
        std::uint64_t version = 0;
        if (!parse_count(fields_[1], version)) fail("the format version `" + std::string(fields_[1]) + "` is not a number");
        if (version != static_cast<std::uint64_t>(text_model_version)) {
            fail("format version " + std::string(fields_[1]) + " is not supported (this build reads version " +
                 std::to_string(text_model_version) + ")");
        }

        m.layout.hash_bits = static_cast<unsigned>(keyed_count("hash_bits", min_hash_bits, max_hash_bits));
        m.layout.word_ngrams = static_cast<unsigned>(keyed_count("word_ngrams", 0, 2));
        expect_keyed("char_ngrams", 2);
        m.layout.char_ngram_min = static_cast<unsigned>(count_field(1, "char_ngrams minimum", 0, max_char_ngram));
        m.layout.char_ngram_max = static_cast<unsigned>(count_field(2, "char_ngrams maximum", 0, max_char_ngram));
        if ((m.layout.char_ngram_min == 0) != (m.layout.char_ngram_max == 0) ||
            m.layout.char_ngram_min > m.layout.char_ngram_max) {
            fail("char_ngrams must be `0 0` (none) or `min max` with 1 <= min <= max <= " +
                 std::to_string(max_char_ngram));
        }
        m.layout.length_bucket = keyed_count("length_bucket", 0, 1) == 1;
        if (m.layout.word_ngrams == 0 && m.layout.char_ngram_max == 0) {
            fail("the model uses no features: word_ngrams is 0 and char_ngrams is `0 0`");
        }
        expect_keyed("bias", 1);
        m.bias = parameter_field(1, "bias");
        expect_keyed("platt", 2);
        m.platt_a = parameter_field(1, "platt slope");
        m.platt_b = parameter_field(2, "platt intercept");

        const std::uint64_t dimension = std::uint64_t{1} << m.layout.hash_bits;
        const std::uint64_t count = keyed_count("weights", 0, dimension);
        m.sparse.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t k = 0; k < count; ++k) {
            expect_line("weight " + std::to_string(k + 1) + " of " + std::to_string(count) + " (`<index> <value>`)");
            if (fields_.size() == 1 && fields_[0] == "end") {
                fail("`end` after " + std::to_string(k) + " weights, but the header announced " + std::to_string(count));
            }
            if (fields_.size() != 2) fail("expected `<index> <value>`, got `" + line_ + "`");
            std::uint64_t index = 0;
            if (!parse_count(fields_[0], index)) fail("weight index `" + std::string(fields_[0]) + "` is not a number");
            if (index >= dimension) {
                fail("weight index " + std::to_string(index) + " is outside [0, " + std::to_string(dimension) +
                     ") for hash_bits " + std::to_string(m.layout.hash_bits));
            }
            if (!m.sparse.empty() && index <= m.sparse.back().first) {
                fail("weight index " + std::to_string(index) + " does not follow " +
                     std::to_string(m.sparse.back().first) + ": indices must be strictly ascending");
            }
            m.sparse.emplace_back(static_cast<std::uint32_t>(index), parameter_field(1, "weight"));
        }
        expect_line("`end`");
        if (fields_.size() != 1 || fields_[0] != "end") {
            fail("expected `end` after " + std::to_string(count) + " weights, got `" + line_ + "`");
        }
        std::string rest;
        while (std::getline(in_, rest)) {
            ++line_number_;
            if (rest.find_first_not_of(" \t\r") != std::string::npos) fail("unexpected text after `end`");
        }
        m.expand();
        return m;
    }

private:
    [[noreturn]] void fail(const std::string& reason) const { throw ParseError(source_, line_number_, reason); }

    // Reads the next line into fields_, failing at the end of the input.
    void expect_line(const std::string& what) {
        if (!std::getline(in_, line_)) {
            ++line_number_;
            fail("the model ends early: expected " + what);
        }
        ++line_number_;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        fields_.clear();
        const std::string_view l(line_);
        std::size_t i = 0;
        while (i < l.size()) {
            while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
            const std::size_t start = i;
            while (i < l.size() && l[i] != ' ' && l[i] != '\t') ++i;
            if (i > start) fields_.push_back(l.substr(start, i - start));
        }
    }

    void expect_keyed(std::string_view key, std::size_t values) {
        expect_line("`" + std::string(key) + "`");
        if (fields_.empty() || fields_[0] != key || fields_.size() != values + 1) {
            fail("expected `" + std::string(key) + "` with " + std::to_string(values) + " value" +
                 (values == 1 ? "" : "s") + ", got `" + line_ + "`");
        }
    }

    std::uint64_t count_field(std::size_t i, const std::string& what, std::uint64_t lo, std::uint64_t hi) const {
        std::uint64_t v = 0;
        if (!parse_count(fields_[i], v)) fail(what + " `" + std::string(fields_[i]) + "` is not a whole number");
        if (v < lo || v > hi) {
            fail(what + " " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        }
        return v;
    }

    std::uint64_t keyed_count(std::string_view key, std::uint64_t lo, std::uint64_t hi) {
        expect_keyed(key, 1);
        return count_field(1, std::string(key), lo, hi);
    }

    std::int64_t parameter_field(std::size_t i, const std::string& what) const {
        std::int64_t q = 0;
        if (!parse_parameter(fields_[i], q)) {
            fail(what + " `" + std::string(fields_[i]) +
                 "` is not a decimal number with at most 6 decimals and magnitude at most 1000000");
        }
        return q;
    }

    std::istream& in_;
    std::string source_;
    std::string line_;
    std::vector<std::string_view> fields_;
    std::size_t line_number_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_TEXT_MODEL_HPP
