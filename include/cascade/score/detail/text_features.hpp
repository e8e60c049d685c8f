// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_TEXT_FEATURES_HPP
#define CASCADE_SCORE_DETAIL_TEXT_FEATURES_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define CASCADE_DETAIL_SSE2 1
#else
#define CASCADE_DETAIL_SSE2 0
#endif

// Hashed text features for cascade::score::TextClassifier: word unigrams and bigrams, character
// n-grams and a length bucket, each hashed into [0, 2^bits). Hashes are defined on bytes with
// explicit little-endian loads, so a model means the same on every platform.
//
// One pass normalises the text into a scratch buffer (ASCII lower case, every digit
// folded to '0', every whitespace byte to a space, one space added at each end) and notes where
// words start and end (sixteen bytes at a time with SSE2, byte by byte elsewhere, with the same
// result); then tight loops over the buffer produce the feature indices, for training, or add up
// their weights, for scoring. One scratch per thread serves all scoring, so after the first
// queries nothing allocates.
namespace cascade::detail {

struct FeatureLayout {
    unsigned hash_bits = 18;
    unsigned word_ngrams = 2;      // 0: no word features, 1: unigrams, 2: unigrams and bigrams
    unsigned char_ngram_min = 4;   // 0 with char_ngram_max 0: no character n-grams
    unsigned char_ngram_max = 4;
    bool length_bucket = true;     // one feature for the text's length, in quarter octaves
};

// Per byte: the byte as it goes into the normalised text (low 8 bits), and 1 << 8 when it makes
// words (a-z, 0-9, >= 0x80).
constexpr std::array<std::uint16_t, 256> make_byte_table() {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        unsigned c = i;
        if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
        if (c >= '0' && c <= '9') c = '0';
        if (c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') c = ' ';
        const bool word = (c >= 'a' && c <= 'z') || c == '0' || c >= 0x80;
        t[i] = static_cast<std::uint16_t>(c | (word ? 0x100U : 0U));
    }
    return t;
}
inline constexpr std::array<std::uint16_t, 256> byte_table = make_byte_table();

// Normalises the 16 bytes at `in` into `out` and returns their word flags (bit i for byte i).
inline unsigned normalise16_scalar(const unsigned char* in, unsigned char* out) noexcept {
    unsigned mask = 0;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned entry = byte_table[in[i]];
        out[i] = static_cast<unsigned char>(entry);
        mask |= (entry >> 8) << i;
    }
    return mask;
}

#if CASCADE_DETAIL_SSE2
// The same as normalise16_scalar, sixteen bytes at once (SSE2 is part of every x86-64 CPU).
inline unsigned normalise16_sse2(const unsigned char* in, unsigned char* out) noexcept {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
    // An unsigned range test lo <= x <= hi: (x - lo) == min(x - lo, hi - lo).
    const auto in_range = [](__m128i v, char lo, char width) {
        const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));
        return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(width)), d);
    };
    const __m128i upper = in_range(x, 'A', 25);
    const __m128i lower = _mm_or_si128(in_range(x, 'a', 25), upper);
    const __m128i digit = in_range(x, '0', 9);
    const __m128i blank = in_range(x, '\t', 4);  // \t \n \v \f \r
    const __m128i high = _mm_cmplt_epi8(x, _mm_setzero_si128());
    __m128i y = _mm_add_epi8(x, _mm_and_si128(upper, _mm_set1_epi8(32)));
    y = _mm_or_si128(_mm_andnot_si128(digit, y), _mm_and_si128(digit, _mm_set1_epi8('0')));
    y = _mm_or_si128(_mm_andnot_si128(blank, y), _mm_and_si128(blank, _mm_set1_epi8(' ')));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), y);
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(lower, digit), high)));
}
#endif

inline unsigned normalise16(const unsigned char* in, unsigned char* out) noexcept {
#if CASCADE_DETAIL_SSE2
    return normalise16_sse2(in, out);
#else
    return normalise16_scalar(in, out);
#endif
}

// The index of the lowest set bit of x != 0.
inline unsigned count_trailing_zeros(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(x));
#else
    unsigned n = 0;
    while ((x & 1U) == 0) {
        x >>= 1;
        ++n;
    }
    return n;
#endif
}

inline constexpr std::uint64_t hash_multiplier = 0x9E3779B97F4A7C15ULL;

// Eight bytes as a little-endian number, whatever the platform's byte order.
inline std::uint64_t load_le64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = ((v & 0x00000000000000FFULL) << 56) | ((v & 0x000000000000FF00ULL) << 40) |
        ((v & 0x0000000000FF0000ULL) << 24) | ((v & 0x00000000FF000000ULL) << 8) |
        ((v & 0x000000FF00000000ULL) >> 8) | ((v & 0x0000FF0000000000ULL) >> 24) |
        ((v & 0x00FF000000000000ULL) >> 40) | ((v & 0xFF00000000000000ULL) >> 56);
#endif
    return v;
}

// Odd multipliers for character n-grams of 1 to 7 bytes (index = size).
inline constexpr std::uint64_t gram_multipliers[8] = {
    0, 0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL, 0x165667B19E3779F9ULL, 0xD6E8FEB86659FD93ULL,
    0xFF51AFD7ED558CCDULL, 0xC4CEB9FE1A85EC53ULL, 0xA0761D6478BD642FULL};

// A full 64-bit finaliser (MurmurHash3's) for word hashes, which feed the top bits.
constexpr std::uint64_t finalise_hash(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

constexpr std::uint64_t low_bytes_mask(unsigned n) noexcept {
    return n >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * n)) - 1;
}

// The length bucket of a text of n bytes: 4 x floor(log2(n + 1)) plus the next two bits.
constexpr std::uint64_t length_bucket_of(std::size_t n) noexcept {
    std::uint64_t v = static_cast<std::uint64_t>(n) + 1;
    unsigned top = 0;
    while ((v >> top) > 1) ++top;
    const std::uint64_t next_bits = top >= 2 ? (v >> (top - 2)) & 3U : (v << (2 - top)) & 3U;
    return 4U * top + next_bits;
}

class FeatureScratch {
public:
    static constexpr std::size_t pad = 8;  // zero bytes either side, so 8-byte loads stay inside

    /// Normalises `text` and finds its words; the visit functions then read the features.
    void prepare(std::string_view text, const FeatureLayout& layout) {
        if (text.size() > 0xFFFFFF00U) throw std::length_error("cascade::score: a text longer than 4 GB");
        layout_ = layout;
        shift_ = 64 - layout.hash_bits;
        const std::size_t n = text.size();
        // pad, the leading space, the text, 64 bytes the last blocks may write, pad
        const std::size_t need = pad + 1 + n + 64 + pad;
        if (text_.size() < need) {
            text_.resize(need);
            bounds_.resize(n + 2);
        }
        unsigned char* o = text_.data() + pad;
        std::memset(text_.data(), 0, pad);
        o[0] = ' ';
        // Sixteen bytes at a time: normalise, and collect the word flags of 64 bytes; then note
        // each position where "in a word" changes. The text starts and ends outside a word, so
        // those positions alternate between word starts and word ends.
        const auto* in = reinterpret_cast<const unsigned char*>(text.data());
        std::uint32_t* bounds = bounds_.data();
        std::size_t transitions = 0;
        std::uint64_t previous = 0;  // the word flag of the byte before the 64
        const auto changes_at = [&](std::size_t at, std::uint64_t flags) {
            std::uint64_t changes = flags ^ ((flags << 1) | previous);
            previous = flags >> 63;
            while (changes != 0) {
                bounds[transitions++] = static_cast<std::uint32_t>(at + 1 + count_trailing_zeros(changes));
                changes &= changes - 1;
            }
        };
        std::size_t i = 0;
        for (; i + 64 <= n; i += 64) {
            const std::uint64_t f0 = normalise16(in + i, o + 1 + i);
            const std::uint64_t f1 = normalise16(in + i + 16, o + 17 + i);
            const std::uint64_t f2 = normalise16(in + i + 32, o + 33 + i);
            const std::uint64_t f3 = normalise16(in + i + 48, o + 49 + i);
            changes_at(i, f0 | (f1 << 16) | (f2 << 32) | (f3 << 48));
        }
        if (i < n) {
            // The rest, through a zeroed copy: zeros are not word bytes.
            unsigned char last[64] = {};
            std::memcpy(last, in + i, n - i);
            std::uint64_t flags = 0;
            for (unsigned k = 0; k < 4 && i + 16 * k < n; ++k) {
                flags |= std::uint64_t{normalise16(last + 16 * k, o + 1 + i + 16 * k)} << (16 * k);
            }
            changes_at(i, flags);
        }
        if (previous) bounds[transitions++] = static_cast<std::uint32_t>(n + 1);
        o[n + 1] = ' ';
        std::memset(o + n + 2, 0, pad);
        length_ = n + 2;
        words_ = transitions / 2;
        text_bytes_ = n;
    }

    /// How many word features (unigrams and bigrams) the prepared text has.
    [[nodiscard]] std::size_t word_features() const noexcept {
        if (layout_.word_ngrams == 0 || words_ == 0) return 0;
        return layout_.word_ngrams >= 2 ? 2 * words_ - 1 : words_;
    }

    /// How many character n-grams the prepared text has.
    [[nodiscard]] std::size_t char_features() const noexcept {
        std::size_t count = 0;
        if (layout_.char_ngram_max == 0) return 0;
        for (unsigned size = layout_.char_ngram_min; size <= layout_.char_ngram_max; ++size) {
            if (length_ >= size) count += length_ - size + 1;
        }
        return count;
    }

    /// Calls visit(index) for each word feature: the first word, then each word and the pair it
    /// makes with the one before.
    template <class Visit>
    void visit_words(Visit&& visit) const {
        if (layout_.word_ngrams == 0 || words_ == 0) return;
        const unsigned char* b = text_.data() + pad;
        const std::uint32_t* bounds = bounds_.data();
        std::uint64_t previous = word_hash(b + bounds[0], bounds[1] - bounds[0]);
        visit(index_of(previous ^ 0x5555555555555555ULL));
        const bool bigrams = layout_.word_ngrams >= 2;
        for (std::size_t j = 1; j < words_; ++j) {
            const std::uint64_t word = word_hash(b + bounds[2 * j], bounds[2 * j + 1] - bounds[2 * j]);
            visit(index_of(word ^ 0x5555555555555555ULL));
            if (bigrams) visit(index_of((previous * 0xC2B2AE3D27D4EB4FULL) ^ word));
            previous = word;
        }
    }

    /// Calls visit(index) for each character n-gram, by size, then by position.
    template <class Visit>
    void visit_chars(Visit&& visit) const {
        if (layout_.char_ngram_max == 0) return;
        const unsigned char* b = text_.data() + pad;
        for (unsigned size = layout_.char_ngram_min; size <= layout_.char_ngram_max; ++size) {
            if (length_ < size) break;
            const std::uint64_t mask = low_bytes_mask(size);
            const std::uint64_t multiplier = gram_multipliers[size];
            for (std::size_t s = 0; s + size <= length_; ++s) visit(gram_index(b + s, mask, multiplier));
        }
    }

    /// Calls fn(word, length) for each word of the prepared text, in order: the normalised bytes,
    /// readable eight bytes past the start.
    template <class Fn>
    void for_each_word(Fn&& fn) const {
        const unsigned char* b = text_.data() + pad;
        for (std::size_t j = 0; j < words_; ++j) fn(b + bounds_[2 * j], std::size_t{bounds_[2 * j + 1] - bounds_[2 * j]});
    }

    /// The sum of weights[index] over the word features, as visit_words finds them. Scoring has
    /// loops of its own, with local sums the compiler keeps in registers: a sum kept in a float
    /// array the visitor captures may alias the weights, and goes through memory on every add.
    [[nodiscard]] float sum_words(const float* weights) const noexcept {
        if (layout_.word_ngrams == 0 || words_ == 0) return 0.0F;
        const unsigned char* b = text_.data() + pad;
        const std::uint32_t* bounds = bounds_.data();
        std::uint64_t previous = word_hash(b + bounds[0], bounds[1] - bounds[0]);
        float unigrams = weights[index_of(previous ^ 0x5555555555555555ULL)];
        float bigrams = 0.0F;
        const bool pairs = layout_.word_ngrams >= 2;
        for (std::size_t j = 1; j < words_; ++j) {
            const std::uint64_t word = word_hash(b + bounds[2 * j], bounds[2 * j + 1] - bounds[2 * j]);
            unigrams += weights[index_of(word ^ 0x5555555555555555ULL)];
            if (pairs) bigrams += weights[index_of((previous * 0xC2B2AE3D27D4EB4FULL) ^ word)];
            previous = word;
        }
        return unigrams + bigrams;
    }

    /// The sum of weights[index] over the character n-grams, as visit_chars finds them; four
    /// partial sums, so that the adds do not wait on each other.
    [[nodiscard]] float sum_chars(const float* weights) const noexcept {
        if (layout_.char_ngram_max == 0) return 0.0F;
        const unsigned char* b = text_.data() + pad;
        float a0 = 0.0F, a1 = 0.0F, a2 = 0.0F, a3 = 0.0F;
        for (unsigned size = layout_.char_ngram_min; size <= layout_.char_ngram_max; ++size) {
            if (length_ < size) break;
            const std::uint64_t mask = low_bytes_mask(size);
            // A multiplier of its own per size keeps "ab " apart from "ab  " and so on.
            const std::uint64_t multiplier = gram_multipliers[size];
            const std::size_t count = length_ - size + 1;
            std::size_t s = 0;
            for (; s + 4 <= count; s += 4) {
                a0 += weights[gram_index(b + s, mask, multiplier)];
                a1 += weights[gram_index(b + s + 1, mask, multiplier)];
                a2 += weights[gram_index(b + s + 2, mask, multiplier)];
                a3 += weights[gram_index(b + s + 3, mask, multiplier)];
            }
            for (; s < count; ++s) a0 += weights[gram_index(b + s, mask, multiplier)];
        }
        return (a0 + a1) + (a2 + a3);
    }

    /// The index of the length-bucket feature.
    [[nodiscard]] std::uint32_t length_index() const noexcept {
        return index_of(finalise_hash(length_bucket_of(text_bytes_) ^ 0x7777777777777777ULL));
    }

    /// Fills indices() with every feature of `text`: word features, then character n-grams,
    /// then the length bucket when the layout has it. For training.
    void extract(std::string_view text, const FeatureLayout& layout) {
        prepare(text, layout);
        indices_.resize(word_features() + char_features() + 1);
        std::uint32_t* out = indices_.data();
        visit_words([&](std::uint32_t i) { *out++ = i; });
        visit_chars([&](std::uint32_t i) { *out++ = i; });
        if (layout.length_bucket) *out = length_index();
    }

    [[nodiscard]] const std::uint32_t* indices() const noexcept { return indices_.data(); }

private:
    // The top bits of h times an odd constant: every bit of h reaches them.
    [[nodiscard]] std::uint32_t index_of(std::uint64_t h) const noexcept {
        return static_cast<std::uint32_t>((h * hash_multiplier) >> shift_);
    }

    [[nodiscard]] std::uint32_t gram_index(const unsigned char* p, std::uint64_t mask,
                                           std::uint64_t multiplier) const noexcept {
        return static_cast<std::uint32_t>(((load_le64(p) & mask) * multiplier) >> shift_);
    }

    // Reads the word eight bytes at a time (the pad after the text keeps the last load inside),
    // mixing after each eight so that every byte reaches every bit of the result.
    static std::uint64_t word_hash(const unsigned char* p, std::size_t n) noexcept {
        std::uint64_t h = 0x243F6A8885A308D3ULL ^ n;
        std::size_t k = 0;
        for (; k + 8 < n; k += 8) {
            h = (h ^ load_le64(p + k)) * hash_multiplier;
            h ^= h >> 29;
        }
        h = (h ^ (load_le64(p + k) & low_bytes_mask(static_cast<unsigned>(n - k)))) * hash_multiplier;
        return h ^ (h >> 29);
    }

    FeatureLayout layout_{};
    unsigned shift_ = 46;
    std::vector<unsigned char> text_;
    std::vector<std::uint32_t> bounds_;  // word j is [bounds_[2j], bounds_[2j + 1]) in the normalised text
    std::vector<std::uint32_t> indices_;
    std::size_t length_ = 0;
    std::size_t words_ = 0;
    std::size_t text_bytes_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_TEXT_FEATURES_HPP
