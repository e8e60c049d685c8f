// SPDX-License-Identifier: MIT
#ifndef CASCADE_SCORE_DETAIL_HEURISTIC_FEATURES_HPP
#define CASCADE_SCORE_DETAIL_HEURISTIC_FEATURES_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "text_features.hpp"

// The counting behind cascade::score::HeuristicScorer. Words (as the text classifier finds them:
// runs of letters, digits and non-ASCII bytes, lower-cased) are matched against a small keyword
// table, collision-free and built at compile time, without a branch per word; digits and symbols
// are counted in one pass that skips sixteen bytes of prose at a time.
namespace cascade::detail {

enum KeywordClass : std::uint8_t {
    kw_none = 0,
    kw_code = 1,
    kw_math = 2,
    kw_reasoning = 4,
    kw_multi_part = 8,
};

// Words that only matter as part of a phrase ("step by step", "and also", ...).
enum PhraseWord : std::uint8_t { pw_none, pw_step, pw_by, pw_show, pw_that, pw_and, pw_also, pw_in, pw_addition, pw_as, pw_well };

struct Keyword {
    std::string_view word;
    std::uint8_t classes;
    PhraseWord phrase;
};

inline constexpr Keyword heuristic_keywords[] = {
    // code
    {"def", kw_code, pw_none}, {"return", kw_code, pw_none}, {"import", kw_code, pw_none},
    {"include", kw_code, pw_none}, {"void", kw_code, pw_none}, {"const", kw_code, pw_none},
    {"lambda", kw_code, pw_none}, {"struct", kw_code, pw_none}, {"public", kw_code, pw_none},
    {"private", kw_code, pw_none}, {"static", kw_code, pw_none}, {"printf", kw_code, pw_none},
    {"println", kw_code, pw_none}, {"elif", kw_code, pw_none}, {"endl", kw_code, pw_none},
    {"nullptr", kw_code, pw_none}, {"async", kw_code, pw_none}, {"await", kw_code, pw_none},
    {"typedef", kw_code, pw_none}, {"namespace", kw_code, pw_none}, {"python", kw_code, pw_none},
    {"javascript", kw_code, pw_none}, {"typescript", kw_code, pw_none}, {"java", kw_code, pw_none},
    {"sql", kw_code, pw_none}, {"regex", kw_code, pw_none}, {"code", kw_code, pw_none},
    {"compile", kw_code, pw_none}, {"compiler", kw_code, pw_none}, {"debug", kw_code, pw_none},
    {"bug", kw_code, pw_none}, {"script", kw_code, pw_none}, {"implement", kw_code, pw_none},
    {"api", kw_code, pw_none}, {"json", kw_code, pw_none}, {"html", kw_code, pw_none},
    {"bash", kw_code, pw_none},
    // math
    {"solve", kw_math, pw_none}, {"equation", kw_math, pw_none}, {"equations", kw_math, pw_none},
    {"integral", kw_math, pw_none}, {"derivative", kw_math, pw_none}, {"probability", kw_math, pw_none},
    {"compute", kw_math, pw_none}, {"calculate", kw_math, pw_none}, {"matrix", kw_math, pw_none},
    {"polynomial", kw_math, pw_none}, {"percent", kw_math, pw_none}, {"percentage", kw_math, pw_none},
    {"average", kw_math, pw_none}, {"ratio", kw_math, pw_none}, {"sqrt", kw_math, pw_none},
    {"log", kw_math, pw_none}, {"sin", kw_math, pw_none}, {"cos", kw_math, pw_none},
    {"mod", kw_math, pw_none},
    // reasoning
    {"prove", kw_reasoning, pw_none}, {"proof", kw_reasoning, pw_none}, {"derive", kw_reasoning, pw_none},
    {"justify", kw_reasoning, pw_none}, {"explain", kw_reasoning, pw_none}, {"why", kw_reasoning, pw_none},
    {"reason", kw_reasoning, pw_none}, {"reasoning", kw_reasoning, pw_none}, {"analyze", kw_reasoning, pw_none},
    {"analyse", kw_reasoning, pw_none}, {"compare", kw_reasoning, pw_none}, {"evaluate", kw_reasoning, pw_none},
    {"critique", kw_reasoning, pw_none}, {"argue", kw_reasoning, pw_none}, {"implications", kw_reasoning, pw_none},
    {"demonstrate", kw_reasoning, pw_none},
    // multi-part
    {"additionally", kw_multi_part, pw_none}, {"furthermore", kw_multi_part, pw_none},
    {"moreover", kw_multi_part, pw_none},
    // phrase words
    {"step", kw_none, pw_step}, {"by", kw_none, pw_by}, {"show", kw_none, pw_show}, {"that", kw_none, pw_that},
    {"and", kw_none, pw_and}, {"also", kw_none, pw_also}, {"in", kw_none, pw_in},
    {"addition", kw_none, pw_addition}, {"as", kw_none, pw_as}, {"well", kw_none, pw_well},
};

inline constexpr std::size_t keyword_count = std::size(heuristic_keywords);
inline constexpr std::size_t keyword_table_bits = 12;
inline constexpr std::size_t keyword_table_size = std::size_t{1} << keyword_table_bits;
inline constexpr std::size_t max_keyword_length = 15;

constexpr std::uint64_t first_eight(const char* p, std::size_t length) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < length && i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
}

// A word's slot: its first eight bytes and its length, one multiply.
constexpr std::size_t keyword_slot(std::uint64_t first8, std::size_t length, std::uint64_t multiplier) noexcept {
    return static_cast<std::size_t>(((first8 ^ (static_cast<std::uint64_t>(length) * 0xC2B2AE3D27D4EB4FULL)) *
                                     multiplier) >> (64 - keyword_table_bits));
}

// The first odd multiplier (from a fixed sequence) that gives every keyword a slot of its own, so
// that a lookup is one probe and no branch.
constexpr std::uint64_t find_keyword_multiplier() {
    std::uint64_t multiplier = 0x9E3779B97F4A7C15ULL;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        std::array<bool, keyword_table_size> used{};
        bool clash = false;
        for (std::size_t i = 0; i < keyword_count && !clash; ++i) {
            const std::string_view w = heuristic_keywords[i].word;
            const std::size_t slot = keyword_slot(first_eight(w.data(), w.size()), w.size(), multiplier);
            clash = used[slot];
            used[slot] = true;
        }
        if (!clash) return multiplier;
        multiplier += 0x6A09E667F3BCC908ULL;  // stays odd
    }
    return 0;
}
inline constexpr std::uint64_t keyword_multiplier = find_keyword_multiplier();
static_assert(keyword_multiplier != 0, "cascade::detail: no collision-free keyword table; enlarge it");

// Slot -> 1 + index into heuristic_keywords, 0 for none.
constexpr std::array<std::uint8_t, keyword_table_size> make_keyword_table() {
    std::array<std::uint8_t, keyword_table_size> table{};
    for (std::size_t i = 0; i < keyword_count; ++i) {
        const std::string_view w = heuristic_keywords[i].word;
        table[keyword_slot(first_eight(w.data(), w.size()), w.size(), keyword_multiplier)] = static_cast<std::uint8_t>(i + 1);
    }
    return table;
}
inline constexpr std::array<std::uint8_t, keyword_table_size> keyword_table = make_keyword_table();
static_assert(keyword_count < 255, "cascade::detail: too many keywords for the table");

// Per table entry (0: no keyword, whose length 0 matches no word): the first eight bytes, the
// length, the classes and the phrase word.
struct KeywordEntries {
    std::array<std::uint64_t, keyword_count + 1> prefix{};
    std::array<std::uint8_t, keyword_count + 1> length{};
    std::array<std::uint8_t, keyword_count + 1> classes{};
    std::array<std::uint8_t, keyword_count + 1> phrase{};
};
constexpr KeywordEntries make_keyword_entries() {
    KeywordEntries e{};
    for (std::size_t i = 0; i < keyword_count; ++i) {
        const Keyword& k = heuristic_keywords[i];
        e.prefix[i + 1] = first_eight(k.word.data(), k.word.size());
        e.length[i + 1] = static_cast<std::uint8_t>(k.word.size());
        e.classes[i + 1] = k.classes;
        e.phrase[i + 1] = k.phrase;
    }
    return e;
}
inline constexpr KeywordEntries keyword_entries = make_keyword_entries();

// The entry (1 + keyword index) of a lower-cased word, 0 when it is no keyword. `word` may be read
// eight bytes past its start.
inline std::size_t keyword_entry(const unsigned char* word, std::size_t length) noexcept {
    const std::size_t head = length < 8 ? length : 8;
    const std::uint64_t first8 = load_le64(word) & low_bytes_mask(static_cast<unsigned>(head));
    const std::size_t clipped = length <= max_keyword_length ? length : 0;  // 0: matches no keyword
    std::size_t entry = keyword_table[keyword_slot(first8, clipped, keyword_multiplier)];
    const bool match = keyword_entries.prefix[entry] == first8 && keyword_entries.length[entry] == clipped;
    entry = match ? entry : 0;
    if (length > 8 && entry != 0) {  // rare: a long word that starts like a keyword
        const std::string_view w = heuristic_keywords[entry - 1].word;
        for (std::size_t i = 8; i < length; ++i) {
            if (word[i] != static_cast<unsigned char>(w[i])) return 0;
        }
    }
    return entry;
}

// Raw evidence counted in one pass over a text.
struct HeuristicCounts {
    std::size_t bytes = 0;
    std::size_t question_marks = 0;
    std::size_t fences = 0;          // runs of three or more backticks
    std::size_t code_symbols = 0;    // { } ; and two-character operators such as == -> ::
    std::size_t operators = 0;       // + * = ^ always; - / < > next to a digit
    std::size_t numbers = 0;         // runs of digits
    std::size_t latex = 0;           // \command and $ not before a digit
    std::size_t list_items = 0;      // lines starting with "1." "2)" "a)" "-" "*" "+" or a bullet
    std::size_t code_words = 0;
    std::size_t math_words = 0;
    std::size_t reasoning_cues = 0;  // words and the phrases "step by step", "show that"
    std::size_t multi_part_cues = 0; // words and the phrases "and also", "in addition", "as well as"
};

constexpr bool is_ascii_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(unsigned char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Bytes that need a look in the symbol pass: digits, line ends and the punctuation counted below.
constexpr std::array<bool, 256> make_symbol_table() {
    std::array<bool, 256> t{};
    for (const char c : std::string_view("\n?`{};+*^=!:&|-/<>\\$0123456789")) t[static_cast<unsigned char>(c)] = true;
    return t;
}
inline constexpr std::array<bool, 256> symbol_table = make_symbol_table();

// Bit i set when byte i of the 16 at `p` may be a symbol: a superset of symbol_table (the ranges
// '!'..'+', '-', '/'..'?', '['..'`', '{'..'}' and line feed), so that most blocks of prose are
// skipped at once and only candidates are looked up.
inline unsigned symbol_candidates16(const unsigned char* p) noexcept {
#if CASCADE_DETAIL_SSE2
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto in_range = [&x](char lo, char width) {
        const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
        return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(width)), d);
    };
    const __m128i hits = _mm_or_si128(
        _mm_or_si128(_mm_or_si128(in_range('!', '+' - '!'), in_range('/', '?' - '/')),
                     _mm_or_si128(in_range('[', '`' - '['), in_range('{', '}' - '{'))),
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))));
    return static_cast<unsigned>(_mm_movemask_epi8(hits));
#else
    unsigned mask = 0;
    for (unsigned i = 0; i < 16; ++i) mask |= static_cast<unsigned>(symbol_table[p[i]]) << i;
    return mask;
#endif
}

// Keyword counts over a sequence of words, with the phrase words of the last two.
struct WordTally {
    std::size_t code = 0;
    std::size_t math = 0;
    std::size_t reasoning = 0;
    std::size_t multi_part = 0;
    unsigned prev1 = pw_none;
    unsigned prev2 = pw_none;

    // `word` is normalised (lower case) and may be read 8 bytes past its start. Branch-free:
    // words end at unpredictable places, so each one adds its (mostly zero) counts.
    void add(const unsigned char* word, std::size_t length) noexcept {
        const std::size_t entry = keyword_entry(word, length);
        const unsigned classes = keyword_entries.classes[entry];
        const unsigned phrase = keyword_entries.phrase[entry];
        code += classes & 1U;
        math += (classes >> 1) & 1U;
        reasoning += (classes >> 2) & 1U;
        multi_part += (classes >> 3) & 1U;
        const auto is = [](unsigned a, PhraseWord b) { return a == b ? 1U : 0U; };
        reasoning += (is(phrase, pw_step) & is(prev1, pw_by) & is(prev2, pw_step)) |
                     (is(phrase, pw_that) & is(prev1, pw_show));
        multi_part += (is(phrase, pw_also) & is(prev1, pw_and)) | (is(phrase, pw_addition) & is(prev1, pw_in)) |
                      (is(phrase, pw_as) & is(prev1, pw_well) & is(prev2, pw_as));
        prev2 = prev1;
        prev1 = phrase;
    }
};

// Counts the evidence of one text: words through FeatureScratch (vectorised normalisation and word
// boundaries), then one pass over the bytes that stops only at digits and symbols.
class HeuristicCounter {
public:
    HeuristicCounts count(std::string_view text) {
        counts_ = HeuristicCounts{};
        counts_.bytes = text.size();
        thread_local FeatureScratch scratch;
        scratch.prepare(text, FeatureLayout{});
        // The tallies are locals, not members: the word bytes are read as unsigned char, which may
        // alias any member, and would force every count through memory.
        WordTally tally;
        scratch.for_each_word([&tally](const unsigned char* word, std::size_t length) { tally.add(word, length); });
        counts_.code_words = tally.code;
        counts_.math_words = tally.math;
        counts_.reasoning_cues = tally.reasoning;
        counts_.multi_part_cues = tally.multi_part;

        const auto* p = reinterpret_cast<const unsigned char*>(text.data());
        const std::size_t n = text.size();
        // Bytes past either end read as 0, so that the rare checks of neighbours need no care.
        const auto at = [&](std::size_t i) -> unsigned char { return i < n ? p[i] : static_cast<unsigned char>(0); };
        count_list_item(p, n, 0);
        std::size_t block = 0;
        unsigned candidates = 0;
        for (;;) {
            while (candidates == 0) {
                if (block >= n) return counts_;
                if (block + 16 <= n) {
                    candidates = symbol_candidates16(p + block);
                } else {
                    unsigned char last[16] = {};  // zeros are no symbol
                    for (std::size_t k = block; k < n; ++k) last[k - block] = p[k];
                    candidates = symbol_candidates16(last);
                }
                block += 16;
            }
            const std::size_t i = block - 16 + count_trailing_zeros(candidates);
            candidates &= candidates - 1;
            const unsigned char c = p[i];
            if (!symbol_table[c]) continue;
            const unsigned char previous = i > 0 ? p[i - 1] : static_cast<unsigned char>(0);
            const unsigned char next = at(i + 1);
            switch (c) {
                case '\n': count_list_item(p, n, i + 1); break;
                case '?': ++counts_.question_marks; break;
                case '`':
                    if (previous != '`' && next == '`' && at(i + 2) == '`') ++counts_.fences;
                    break;
                case '{': case '}': ++counts_.code_symbols; break;
                case ';':
                    if (next == '\n' || next == '\r' || next == 0 || next == '}') ++counts_.code_symbols;
                    break;
                case '+': case '*': case '^': ++counts_.operators; break;
                case '=':
                    ++counts_.operators;
                    if (next == '=' || next == '>') ++counts_.code_symbols;
                    break;
                case '!': if (next == '=') ++counts_.code_symbols; break;
                case ':': if (next == ':') ++counts_.code_symbols; break;
                case '&': if (next == '&') ++counts_.code_symbols; break;
                case '|': if (next == '|') ++counts_.code_symbols; break;
                case '-':
                    if (next == '>') ++counts_.code_symbols;
                    else if (is_ascii_digit(next) || is_ascii_digit(previous)) ++counts_.operators;
                    break;
                case '/': case '<': case '>':
                    if (is_ascii_digit(next) || is_ascii_digit(previous)) ++counts_.operators;
                    break;
                case '\\': if (is_ascii_alpha(next)) ++counts_.latex; break;
                case '$': if (!is_ascii_digit(next)) ++counts_.latex; break;
                default:
                    // A digit: a number starts here unless a digit or a letter comes before ("x2").
                    if (!is_ascii_digit(previous) && !is_ascii_alpha(previous)) ++counts_.numbers;
                    break;
            }
        }
    }

private:
    // Counts a list item if the line starting at `i` is one.
    void count_list_item(const unsigned char* p, std::size_t n, std::size_t i) noexcept {
        const auto at = [&](std::size_t k) -> unsigned char { return k < n ? p[k] : static_cast<unsigned char>(0); };
        const auto blank = [](unsigned char c) { return c == ' ' || c == '\t'; };
        while (blank(at(i))) ++i;
        const unsigned char c = at(i);
        if ((c == '-' || c == '*' || c == '+') && blank(at(i + 1))) {
            ++counts_.list_items;
        } else if (c == 0xE2 && at(i + 1) == 0x80 && at(i + 2) == 0xA2) {  // U+2022 bullet
            ++counts_.list_items;
        } else if (is_ascii_digit(c)) {
            std::size_t k = i;
            while (is_ascii_digit(at(k)) && k - i < 3) ++k;
            if ((at(k) == '.' || at(k) == ')') && blank(at(k + 1))) ++counts_.list_items;
        } else if (is_ascii_alpha(c) && at(i + 1) == ')' && blank(at(i + 2))) {
            ++counts_.list_items;
        }
    }

    HeuristicCounts counts_;
};

}  // namespace cascade::detail

#endif  // CASCADE_SCORE_DETAIL_HEURISTIC_FEATURES_HPP
