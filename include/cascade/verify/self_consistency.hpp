// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_SELF_CONSISTENCY_HPP
#define CASCADE_VERIFY_SELF_CONSISTENCY_HPP

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/cost.hpp"
#include "../detail/number.hpp"
#include "detail/verify_support.hpp"
#include "../core/response_traits.hpp"
#include "../core/verdict.hpp"

namespace cascade::detail {

template <class T>
struct is_optional_string : std::false_type {};
template <>
struct is_optional_string<std::optional<std::string>> : std::true_type {};

struct ExactKey {
    std::optional<std::string> operator()(std::string_view text) const { return std::string(text); }
};

struct LooseKey {
    std::optional<std::string> operator()(std::string_view text) const { return fold_text(text); }
};

struct SameText {
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// A number written as people write them ("$1,234.50", "18.0") in one spelling ("1234.5", "18").
inline std::optional<std::string> canonical_number(std::string_view s) {
    std::string digits;
    std::size_t i = 0;
    if (i < s.size() && s[i] == '-') digits.push_back(s[i++]);
    if (i < s.size() && s[i] == '$') ++i;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c == ',' && !digits.empty() && is_ascii_digit(digits.back()) && i + 1 < s.size() && is_ascii_digit(s[i + 1])) continue;
        digits.push_back(c);
    }
    double value = 0.0;
    if (!parse_decimal(digits, value) || !std::isfinite(value)) return std::nullopt;
    if (value == 0.0) value = 0.0;  // -0 and 0 are the same answer
    return format_number(value);
}

// The text after the last `marker`, to the end of its line: folded, without a trailing period,
// numbers in one spelling. None when the marker is absent or nothing follows it.
struct FinalAnswerKey {
    std::string marker;

    std::optional<std::string> operator()(std::string_view text) const {
        const std::size_t at = text.rfind(marker);
        if (at == std::string_view::npos) return std::nullopt;
        std::string_view rest = text.substr(at + marker.size());
        const std::size_t eol = rest.find_first_of("\r\n");
        if (eol != std::string_view::npos) rest = rest.substr(0, eol);
        std::string answer = fold_text(rest);
        while (!answer.empty() && (answer.back() == '.' || answer.back() == ' ')) answer.pop_back();
        if (answer.empty()) return std::nullopt;
        if (auto number = canonical_number(answer)) return number;
        return answer;
    }
};

// A multiple-choice letter: "The answer is (B)", "Answer: b", "B", "(B) because ...", "... (B)".
struct ChoiceKey {
    std::string letters;  // upper case

    [[nodiscard]] bool is_choice(char c) const {
        const char upper = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        return letters.find(upper) != std::string::npos;
    }
    static char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
    static bool word_char(char c) { return is_ascii_letter(c) || is_ascii_digit(c); }

    std::optional<std::string> operator()(std::string_view text) const {
        const std::string f = fold_text(text);
        // 1. After the last "answer" that is followed by a letter: "answer is (b)", "answer: **c**".
        for (std::size_t at = f.rfind("answer"); at != std::string::npos; at = at == 0 ? std::string::npos : f.rfind("answer", at - 1)) {
            std::size_t j = at + 6;
            auto skip = [&](std::string_view chars) {
                while (j < f.size() && chars.find(f[j]) != std::string_view::npos) ++j;
            };
            skip(" :*");
            if (f.compare(j, 3, "is ") == 0 || f.compare(j, 3, "is:") == 0 || f.compare(j, 3, "is(") == 0) j += 2;
            skip(" :*(");
            if (j < f.size() && is_choice(f[j]) && (j + 1 == f.size() || !word_char(f[j + 1]))) {
                return std::string(1, upper(f[j]));
            }
        }
        // 2. The text starts with the letter alone: "B", "B.", "B) ...", "(B) because". Not "A lot".
        const std::string_view t = trim_ascii_space(text);
        const std::size_t j = !t.empty() && t[0] == '(' ? 1 : 0;
        if (j < t.size() && is_choice(t[j]) && t[j] == upper(t[j]) &&
            (j + 1 == t.size() || std::string_view(".):,;\r\n").find(t[j + 1]) != std::string_view::npos)) {
            return std::string(1, t[j]);
        }
        // 3. The first "(X)" with X an upper-case choice.
        for (std::size_t i = 0; i + 2 < t.size(); ++i) {
            if (t[i] == '(' && t[i + 2] == ')' && is_choice(t[i + 1]) && t[i + 1] == upper(t[i + 1])) {
                return std::string(1, t[i + 1]);
            }
        }
        return std::nullopt;
    }
};

}  // namespace cascade::detail

namespace cascade::verify {
template <class KeyFn, class SameFn>
class AnswerMatcher;
}  // namespace cascade::verify

namespace cascade::detail {
template <class T>
struct is_matcher : std::false_type {};
template <class K, class S>
struct is_matcher<verify::AnswerMatcher<K, S>> : std::true_type {};
}  // namespace cascade::detail

namespace cascade::verify {

/// How self_consistency compares answers: `key` turns an answer's text into what is compared
/// (std::nullopt: the text holds no answer), `same` says whether two keys are the same answer.
/// Both are stored by value and called non-const.
template <class KeyFn, class SameFn>
class AnswerMatcher {
public:
    AnswerMatcher(KeyFn key, SameFn same) : key_(std::move(key)), same_(std::move(same)) {}

    std::optional<std::string> key(std::string_view text) {
        using R = std::decay_t<std::invoke_result_t<KeyFn&, std::string_view>>;
        if constexpr (detail::is_optional_string<R>::value) {
            return key_(text);
        } else {
            return std::optional<std::string>(std::string(key_(text)));
        }
    }
    bool same(const std::string& a, const std::string& b) {
        return static_cast<bool>(same_(std::string_view(a), std::string_view(b)));
    }

private:
    KeyFn key_;
    SameFn same_;
};

/// A matcher from a key function (`std::string(std::string_view)` or
/// `std::optional<std::string>(std::string_view)`) and an equivalence on keys
/// (`bool(std::string_view, std::string_view)`).
template <class KeyFn, class SameFn>
AnswerMatcher<std::decay_t<KeyFn>, std::decay_t<SameFn>> match_by(KeyFn&& key, SameFn&& same) {
    static_assert(std::is_invocable_v<std::decay_t<KeyFn>&, std::string_view>,
                  "cascade::verify::match_by: the key function must be callable as std::string(std::string_view) "
                  "or std::optional<std::string>(std::string_view)");
    static_assert(std::is_invocable_r_v<bool, std::decay_t<SameFn>&, std::string_view, std::string_view>,
                  "cascade::verify::match_by: the equivalence must be callable as bool(std::string_view, "
                  "std::string_view)");
    return {std::forward<KeyFn>(key), std::forward<SameFn>(same)};
}

/// Answers agree when their texts are byte for byte the same.
inline AnswerMatcher<detail::ExactKey, detail::SameText> exact_match() { return {{}, {}}; }

/// Answers agree when their texts are the same up to ASCII case and white space (runs of it are
/// one space; leading and trailing ignored).
inline AnswerMatcher<detail::LooseKey, detail::SameText> loose_match() { return {{}, {}}; }

/// Answers agree when the text after the last `marker` (to the end of that line) is the same:
/// compared case- and whitespace-insensitively, a trailing period ignored, numbers compared as
/// numbers ("1,234" = "1234.00" = "$1234"). An answer without the marker holds no answer.
/// Throws std::invalid_argument for an empty marker.
///
///     cascade::verify::final_answer_after("####")     // GSM8K-style "#### 42"
inline AnswerMatcher<detail::FinalAnswerKey, detail::SameText> final_answer_after(std::string marker = "####") {
    if (marker.empty()) throw std::invalid_argument("cascade::verify::final_answer_after: the marker is empty");
    return {detail::FinalAnswerKey{std::move(marker)}, {}};
}

/// Answers agree when they pick the same multiple-choice letter, found as "answer is (B)" /
/// "Answer: b" (the last such), a text starting with the letter ("B", "B.", "(B) because"), or
/// the first "(B)". Throws std::invalid_argument unless `letters` is a non-empty set of letters.
///
///     cascade::verify::choice_letter("ABCD")
inline AnswerMatcher<detail::ChoiceKey, detail::SameText> choice_letter(std::string letters = "ABCD") {
    if (letters.empty()) throw std::invalid_argument("cascade::verify::choice_letter: no letters given");
    for (char& c : letters) {
        if (!detail::is_ascii_letter(c)) {
            throw std::invalid_argument("cascade::verify::choice_letter: \"" + letters +
                                        "\" holds a character that is not a letter");
        }
        c = detail::ChoiceKey::upper(c);
    }
    return {detail::ChoiceKey{std::move(letters)}, {}};
}

/// Answers agree when `same(text_a, text_b)` says so: your own equivalence, e.g. a similarity
/// above a threshold, or numbers within a tolerance. Called on the raw texts.
///
///     cascade::verify::equivalent_if([](std::string_view a, std::string_view b) { return similarity(a, b) > 0.9; })
template <class SameFn>
AnswerMatcher<detail::ExactKey, std::decay_t<SameFn>> equivalent_if(SameFn&& same) {
    return match_by(detail::ExactKey{}, std::forward<SameFn>(same));
}

/// Answers agree when `extract(text)` gives the same string; `extract` returns std::string, or
/// std::optional<std::string> with std::nullopt for "holds no answer".
template <class KeyFn>
AnswerMatcher<std::decay_t<KeyFn>, detail::SameText> extract_with(KeyFn&& extract) {
    return match_by(std::forward<KeyFn>(extract), detail::SameText{});
}

/// Self-consistency: samples the question k more times and measures how many of the k + 1 answers
/// (the tier's own included) agree with the tier's answer. Make one with self_consistency().
///
/// Confidence = (1 + samples agreeing with the tier's answer) / (k + 1): the majority's share when
/// the tier's answer is the majority, less when it is not, so that a cascade never accepts an
/// answer its own samples outvote. A sample that throws counts as disagreeing and is noted (the
/// first error is quoted), as is a sample holding no answer; neither is fatal. When the tier's own
/// answer holds no answer (e.g. no "####"), the confidence is 0 and no sample is drawn.
///
/// The samples are drawn one after another by calling the sampler, which must sample (temperature
/// > 0, set by you): a greedy sampler agrees with itself and proves nothing. Their cost (a price
/// per call or a cost function of each sample) is returned as Verdict::extra_cost, so it counts in
/// the cascade's cost and stats; a sample that throws is not charged.
///
/// Stored by value; operator() calls the sampler and the matcher non-const, so it is as
/// thread-safe as they are.
template <class Sampler, class Matcher, class Cost>
class SelfConsistency {
public:
    SelfConsistency(Sampler sampler, std::size_t k, Matcher matcher, Cost cost)
        : sampler_(std::move(sampler)), matcher_(std::move(matcher)), cost_(std::move(cost)), k_(k) {
        if (k_ < 2) {
            throw std::invalid_argument("cascade::verify::self_consistency: k must be at least 2 samples, got " +
                                        std::to_string(k_) + "; with fewer, agreement says nothing");
        }
    }

    [[nodiscard]] std::size_t samples() const noexcept { return k_; }

    template <class Request, class Response>
    Verdict operator()(const Request& request, const Response& answer) {
        constexpr bool callable = std::is_invocable_v<Sampler&, const Request&>;
        static_assert(callable,
                      "cascade::verify::self_consistency: the sampler must be callable as "
                      "Sample(const Request&) with the tier's Request, where Sample has text (std::string, "
                      "cascade::ChatReply, or see cascade::response_traits)");
        if constexpr (callable) {
            using Sample = std::decay_t<std::invoke_result_t<Sampler&, const Request&>>;
            static_assert(has_response_text_v<Response>,
                          "cascade::verify::self_consistency: cascade::response_traits<Response> gives no text; "
                          "give the Response a data member `text`, or specialise cascade::response_traits");
            static_assert(has_response_text_v<Sample>,
                          "cascade::verify::self_consistency: the sampler's reply has no text; return "
                          "std::string, cascade::ChatReply, or a type with a `text` member or a "
                          "cascade::response_traits specialisation");
            static_assert(detail::sub_cost_fits<Cost, Request, Sample>(),
                          "cascade::verify::self_consistency: the cost must be cascade::price_per_call(dollars) "
                          "or cascade::cost_from(fn) with fn as double(const Sample&) or "
                          "double(const Request&, const Sample&)");
            if constexpr (has_response_text_v<Response> && has_response_text_v<Sample> &&
                          detail::sub_cost_fits<Cost, Request, Sample>()) {
                return run<Sample>(request, answer);
            } else {
                return Verdict{};
            }
        } else {
            return Verdict{};
        }
    }

private:
    template <class Sample, class Request, class Response>
    Verdict run(const Request& request, const Response& answer) {
        decltype(auto) own_text = response_traits<Response>::text(answer);
        const std::optional<std::string> own = matcher_.key(std::string_view(own_text));
        if (!own) {
            return Verdict{0.0, 0.0,
                           "self-consistency: no answer found in " + detail::quote_excerpt(std::string_view(own_text), 80) +
                               " (no samples drawn)"};
        }

        Verdict v;
        std::string cost_problem;
        std::string first_error;
        std::size_t failed = 0;
        std::vector<std::optional<std::string>> keys;
        keys.reserve(k_);
        for (std::size_t i = 0; i < k_; ++i) {
            try {
                const Sample sample = sampler_(request);
                v.extra_cost += detail::charge_sub_call(cost_, request, sample, cost_problem);
                decltype(auto) text = response_traits<Sample>::text(sample);
                keys.push_back(matcher_.key(std::string_view(text)));
            } catch (...) {
                ++failed;
                if (first_error.empty()) first_error = detail::describe_current_exception();
            }
        }

        // The money is spent: from here on a throwing matcher must not lose it.
        try {
            tally(keys, *own, failed, first_error, v);
        } catch (...) {
            v.confidence = 0.0;
            v.note = "self-consistency: comparing the answers threw: " + detail::describe_current_exception();
        }
        detail::append_verdict_note(v.note, cost_problem);
        return v;
    }

    void tally(const std::vector<std::optional<std::string>>& keys, const std::string& own, std::size_t failed,
               const std::string& first_error, Verdict& v) {
        const std::size_t total = k_ + 1;
        std::size_t agree = 1;
        std::size_t without_answer = 0;
        for (const auto& key : keys) {
            if (!key) {
                ++without_answer;
            } else if (matcher_.same(own, *key)) {
                ++agree;
            }
        }
        v.confidence = static_cast<double>(agree) / static_cast<double>(total);
        v.note = "self-consistency: " + std::to_string(agree) + " of " + std::to_string(total) +
                 " answers agree with this one";
        if (agree * 2 <= total) note_majority(keys, own, agree, total, v.note);
        if (failed > 0) {
            v.note += "; " + std::to_string(failed) + " of " + std::to_string(k_) + " samples failed (first: " +
                      first_error + ")";
        }
        if (without_answer > 0) v.note += "; " + std::to_string(without_answer) + " held no answer";
    }

    // Names the larger group when the samples outvote the tier's answer.
    void note_majority(const std::vector<std::optional<std::string>>& keys, const std::string& own, std::size_t agree,
                       std::size_t total, std::string& note) {
        std::size_t best = agree;
        const std::string* best_key = nullptr;
        for (const auto& candidate : keys) {
            if (!candidate || matcher_.same(own, *candidate)) continue;
            std::size_t count = 0;
            for (const auto& other : keys) {
                if (other && matcher_.same(*candidate, *other)) ++count;
            }
            if (count > best) {
                best = count;
                best_key = &*candidate;
            }
        }
        if (best_key != nullptr) {
            note += "; " + std::to_string(best) + " of " + std::to_string(total) + " say " +
                    detail::quote_excerpt(*best_key, 80);
        }
    }

    Sampler sampler_;
    Matcher matcher_;
    Cost cost_;
    std::size_t k_;
};

/// A self-consistency verifier: `sampler(request)` is called `k` times (k >= 2, else
/// std::invalid_argument); answers are compared with `matcher` (default loose_match()); each
/// successful sample costs `cost` (price_per_call(d) or cost_from(fn of the sample); default free).
///
///     auto sc = cascade::verify::self_consistency(sample_mini, 4, cascade::verify::final_answer_after("####"),
///                                                 cascade::price_per_call(2e-4));
///     cascade::tier("mini", call_mini, std::move(sc), 0.75, cascade::price_per_call(2e-4))
template <class Sampler, class Matcher, class Cost>
auto self_consistency(Sampler&& sampler, std::size_t k, Matcher&& matcher, Cost&& cost) {
    static_assert(detail::is_matcher<std::decay_t<Matcher>>::value,
                  "cascade::verify::self_consistency: the third argument must be a matcher: exact_match(), "
                  "loose_match(), final_answer_after(marker), choice_letter(letters), equivalent_if(fn), "
                  "extract_with(fn) or match_by(key, same)");
    static_assert(detail::is_cost_spec_v<Cost>,
                  "cascade::verify::self_consistency: the cost must be cascade::price_per_call(dollars) or "
                  "cascade::cost_from(fn)");
    return SelfConsistency<std::decay_t<Sampler>, std::decay_t<Matcher>, std::decay_t<Cost>>(
        std::forward<Sampler>(sampler), k, std::forward<Matcher>(matcher), std::forward<Cost>(cost));
}

/// Self-consistency with a matcher, or with a cost and the default loose_match().
template <class Sampler, class MatcherOrCost>
auto self_consistency(Sampler&& sampler, std::size_t k, MatcherOrCost&& third) {
    if constexpr (detail::is_cost_spec_v<MatcherOrCost>) {
        return self_consistency(std::forward<Sampler>(sampler), k, loose_match(), std::forward<MatcherOrCost>(third));
    } else {
        return self_consistency(std::forward<Sampler>(sampler), k, std::forward<MatcherOrCost>(third), FixedCost{});
    }
}

/// Self-consistency with loose_match(), samples free of charge.
template <class Sampler>
auto self_consistency(Sampler&& sampler, std::size_t k) {
    return self_consistency(std::forward<Sampler>(sampler), k, loose_match(), FixedCost{});
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_SELF_CONSISTENCY_HPP
