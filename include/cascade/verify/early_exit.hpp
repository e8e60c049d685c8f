// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_EARLY_EXIT_HPP
#define CASCADE_VERIFY_EARLY_EXIT_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../detail/number.hpp"
#include "detail/verify_support.hpp"
#include "../core/stream_state.hpp"

// Early-exit rules: watch a streamed answer as it arrives and stop it mid-answer, so that the
// query escalates to the next tier without waiting for an answer that will be rejected anyway.
//
// A rule is any callable `std::optional<std::string>(const cascade::StreamState&) const`, called
// after every chunk: an empty optional means go on, a string means stop now and is the reason
// recorded in the query's trace. The tier records the token index and the time itself.
//
// The ready-made rules below are predicates of the stream so far, asked again at every chunk:
// refusals, length budgets and the minimum probability go on firing once they fire; a mean or a
// quantile may fire and then not, as better tokens come (the tier stops at the first firing,
// so this matters only within stop_when_all). They keep no state, so one rule
// may be shared by every query on every thread. Each also has `bool fires(const StreamState&)
// const`, which builds no reason: a rule that does not fire allocates nothing (but stop_on_match,
// whose std::regex allocates its working state on each search).
namespace cascade::detail {

// "0.412 < 0.6": both rounded to 3 decimals, or to as many more as it takes to show them apart.
inline std::string compare_below(double value, double threshold) {
    double scale = 1000.0;
    for (int decimals = 3; decimals <= 15; ++decimals, scale *= 10.0) {
        const double v = std::round(value * scale) / scale;
        const double t = std::round(threshold * scale) / scale;
        if (v < t) return format_number(v) + " < " + format_number(t);
    }
    return format_number(value) + " < " + format_number(threshold);
}

// Does `text` from `pos` on begin with `folded` (a phrase through fold_text)? Compared as
// fold_text compares: ASCII case-insensitive, a run of white space as one space, typographic
// apostrophes as '. Returns false when the text ends before the phrase does, and when a phrase
// ending in a letter or digit is followed by one ("as an ai" is not "as an aide"): such a phrase is
// found once the character after it has arrived. No allocation.
inline bool folded_prefix_at(std::string_view text, std::size_t pos, std::string_view folded) noexcept {
    std::size_t i = pos;
    for (std::size_t k = 0; k < folded.size(); ++k) {
        const char want = folded[k];
        if (i >= text.size()) return false;
        if (want == ' ') {
            if (!is_ascii_space(text[i])) return false;
            while (i < text.size() && is_ascii_space(text[i])) ++i;
            continue;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (want == '\'' && c == 0xE2) {
            if (i + 2 >= text.size()) return false;
            const auto c1 = static_cast<unsigned char>(text[i + 1]);
            const auto c2 = static_cast<unsigned char>(text[i + 2]);
            if (c1 == 0x80 && (c2 == 0x98 || c2 == 0x99)) {
                i += 3;
                continue;
            }
            return false;
        }
        if (lower_ascii_char(text[i]) != want) return false;
        ++i;
    }
    const char end = folded.empty() ? ' ' : folded.back();
    if (is_ascii_letter(end) || is_ascii_digit(end)) {
        return i < text.size() && !is_ascii_letter(text[i]) && !is_ascii_digit(text[i]);
    }
    return true;
}

template <class Rule, class = void>
struct rule_has_fires : std::false_type {};
template <class Rule>
struct rule_has_fires<Rule,
                      std::void_t<decltype(std::declval<const Rule&>().fires(std::declval<const StreamState&>()))>>
    : std::is_convertible<decltype(std::declval<const Rule&>().fires(std::declval<const StreamState&>())), bool> {};

}  // namespace cascade::detail

namespace cascade::verify {


// ---- probability rules ----------------------------------------------------------------------

/// The running statistic of the token probabilities a probability rule watches (see
/// cascade::StreamState): mean_prob() (the arithmetic mean, unlike mean_token_prob(), which is the
/// geometric one), min_prob(), geometric_mean_prob() or prob_quantile(q).
class StreamStatistic {
public:
    enum class Kind { mean, minimum, geometric_mean, quantile };

    static StreamStatistic mean_prob() noexcept { return StreamStatistic(Kind::mean, 0.5); }
    static StreamStatistic min_prob() noexcept { return StreamStatistic(Kind::minimum, 0.0); }
    static StreamStatistic geometric_mean_prob() noexcept { return StreamStatistic(Kind::geometric_mean, 0.5); }
    /// Throws std::invalid_argument unless 0 <= q <= 1.
    static StreamStatistic prob_quantile(double q) {
        if (!(q >= 0.0 && q <= 1.0)) {
            const std::string got = detail::format_number(q);
            throw std::invalid_argument(
                "cascade::verify::StreamStatistic::prob_quantile: the quantile must be in [0, 1], got " + got);
        }
        return StreamStatistic(Kind::quantile, q);
    }

    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    [[nodiscard]] double quantile() const noexcept { return q_; }

    /// The statistic of the stream so far; empty before its first scored token.
    [[nodiscard]] std::optional<double> of(const StreamState& state) const noexcept {
        switch (kind_) {
            case Kind::mean:
                return state.mean_prob();
            case Kind::minimum:
                return state.min_prob();
            case Kind::geometric_mean:
                return state.geometric_mean_prob();
            case Kind::quantile:
                return state.prob_quantile(q_);
        }
        return std::nullopt;
    }

    /// "mean token probability", "0.1-quantile of the token probabilities", ...
    [[nodiscard]] std::string name() const {
        switch (kind_) {
            case Kind::mean:
                return "mean token probability";
            case Kind::minimum:
                return "lowest token probability";
            case Kind::geometric_mean:
                return "geometric mean token probability";
            case Kind::quantile:
                return detail::format_number(q_) + "-quantile of the token probabilities";
        }
        return {};
    }

private:
    StreamStatistic(Kind kind, double q) noexcept : kind_(kind), q_(q) {}

    Kind kind_;
    double q_;
};

/// How the probability rules treat chunks without a usable log-probability.
struct ProbStopOptions {
    /// A log-probability that is not one (NaN, +inf, above 1e-6: see cascade::StreamState) stops
    /// the stream at that chunk by default, as mean_token_prob() and the others reject an answer
    /// holding one: the server's numbers cannot be trusted. With `skip_invalid` such chunks are
    /// left out of the statistic, and min_tokens counts only the others.
    bool skip_invalid = false;
    /// A server that gives no log-probabilities at all leaves the statistic empty, so the rule
    /// never fires (nor does it with skip_invalid when every log-probability is invalid). Set this
    /// to n > 0 to stop instead once n chunks have arrived and none had a valid log-probability:
    /// the tier then escalates every answer it cannot judge.
    std::size_t stop_without_logprobs_after = 0;
};

}  // namespace cascade::verify

namespace cascade::detail {

// What every probability rule checks before its statistic: invalid log-probabilities, a stream
// without any, and min_tokens. Returns the statistic when the rule should compare it.
struct ProbStopGate {
    verify::StreamStatistic statistic;
    std::size_t min_tokens;
    verify::ProbStopOptions options;

    [[nodiscard]] bool invalid_fires(const StreamState& s) const noexcept {
        return !options.skip_invalid && s.invalid_logprobs() > 0;
    }
    [[nodiscard]] bool unscored_fires(const StreamState& s) const noexcept {
        return options.stop_without_logprobs_after > 0 && s.scored_tokens() == 0 &&
               s.tokens() >= options.stop_without_logprobs_after;
    }
    [[nodiscard]] std::optional<double> value(const StreamState& s) const noexcept {
        if (s.scored_tokens() < std::max<std::size_t>(min_tokens, 1)) return std::nullopt;
        return statistic.of(s);
    }
    // The reason for the two checks above, when one of them fires.
    [[nodiscard]] std::optional<std::string> gate_reason(const StreamState& s) const {
        if (invalid_fires(s)) {
            return "token " + std::to_string(s.first_invalid_index() + 1) +
                   " has an invalid log-probability (NaN, +inf or > 0)";
        }
        if (unscored_fires(s)) {
            std::string r = "no valid token log-probabilities after " + count_of(s.tokens(), "token");
            if (s.invalid_logprobs() > 0) r += " (" + std::to_string(s.invalid_logprobs()) + " invalid)";
            return r;
        }
        return std::nullopt;
    }
    [[nodiscard]] std::string after_text(const StreamState& s) const {
        return " after " + count_of(s.scored_tokens(), "scored token");
    }
};

inline void check_threshold(double threshold, std::string_view who) {
    if (!(threshold >= 0.0 && threshold <= 1.0)) {
        throw std::invalid_argument(std::string(who) + ": the threshold must be a probability in [0, 1], got " +
                                    format_number(threshold));
    }
}

}  // namespace cascade::detail

namespace cascade::verify {

/// Stops when a running statistic of the token probabilities falls below a threshold, once
/// min_tokens scored tokens have arrived (see stop_when_mean_prob_below and the others).
/// Thread-safe: const, no state.
class ProbStopRule {
public:
    /// `who` names the function in the message of std::invalid_argument for a bad threshold.
    ProbStopRule(StreamStatistic statistic, double threshold, std::size_t min_tokens, ProbStopOptions options,
                 std::string_view who)
        : gate_{statistic, min_tokens, options},
          threshold_(threshold) {
        detail::check_threshold(threshold_, who);
    }

    [[nodiscard]] const StreamStatistic& statistic() const noexcept { return gate_.statistic; }
    [[nodiscard]] double threshold() const noexcept { return threshold_; }
    [[nodiscard]] std::size_t min_tokens() const noexcept { return gate_.min_tokens; }
    [[nodiscard]] const ProbStopOptions& options() const noexcept { return gate_.options; }

    [[nodiscard]] bool fires(const StreamState& s) const noexcept {
        if (gate_.invalid_fires(s) || gate_.unscored_fires(s)) return true;
        const std::optional<double> v = gate_.value(s);
        return v && *v < threshold_;
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        if (!fires(s)) return std::nullopt;
        if (auto r = gate_.gate_reason(s)) return r;
        return gate_.statistic.name() + " " + detail::compare_below(*gate_.value(s), threshold_) + gate_.after_text(s);
    }

private:
    detail::ProbStopGate gate_;
    double threshold_;
};

/// Stops when the mean token probability so far (the arithmetic mean of the probabilities, not
/// of the log-probabilities) falls below `threshold`, once `min_tokens` tokens with a valid
/// log-probability have arrived (0 and 1 both mean from the first). Reason: "mean token
/// probability 0.412 < 0.6 after 12 scored tokens". Throws std::invalid_argument unless
/// 0 <= threshold <= 1. Never fires on a stream without log-probabilities unless
/// `options.stop_without_logprobs_after` says so; stops at the first invalid log-probability
/// unless `options.skip_invalid`.
///
///     tier.with_early_exit(cascade::verify::stop_when_mean_prob_below(0.6, 12))
inline ProbStopRule stop_when_mean_prob_below(double threshold, std::size_t min_tokens, ProbStopOptions options = {}) {
    return ProbStopRule(StreamStatistic::mean_prob(), threshold, min_tokens, options,
                        "cascade::verify::stop_when_mean_prob_below");
}

/// Stops when one token's probability falls below `threshold` (a guessed digit, a made-up name),
/// once `min_tokens` scored tokens have arrived; otherwise as stop_when_mean_prob_below.
inline ProbStopRule stop_when_min_prob_below(double threshold, std::size_t min_tokens = 1,
                                             ProbStopOptions options = {}) {
    return ProbStopRule(StreamStatistic::min_prob(), threshold, min_tokens, options,
                        "cascade::verify::stop_when_min_prob_below");
}

/// Stops when the geometric mean of the token probabilities (exp of the mean log-probability: the
/// statistic mean_token_prob() accepts on) falls below `threshold`; otherwise as
/// stop_when_mean_prob_below.
inline ProbStopRule stop_when_geometric_mean_prob_below(double threshold, std::size_t min_tokens,
                                                        ProbStopOptions options = {}) {
    return ProbStopRule(StreamStatistic::geometric_mean_prob(), threshold, min_tokens, options,
                        "cascade::verify::stop_when_geometric_mean_prob_below");
}

/// Stops when the q-quantile of the token probabilities (0.1: the unsure tail) falls below
/// `threshold`. The quantile comes from cascade::StreamState's histogram, at most 1/256 above the
/// exact one, so the rule may fire a little later than an exact quantile would, never earlier.
/// Throws std::invalid_argument unless q and threshold are in [0, 1]; otherwise as
/// stop_when_mean_prob_below.
inline ProbStopRule stop_when_prob_quantile_below(double q, double threshold, std::size_t min_tokens,
                                                  ProbStopOptions options = {}) {
    if (!(q >= 0.0 && q <= 1.0)) {
        const std::string got = detail::format_number(q);
        throw std::invalid_argument(
            "cascade::verify::stop_when_prob_quantile_below: the quantile must be in [0, 1], got " + got);
    }
    return ProbStopRule(StreamStatistic::prob_quantile(q), threshold, min_tokens, options,
                        "cascade::verify::stop_when_prob_quantile_below");
}

/// Stops when a calibration map (PlattScaling, IsotonicCalibration, CalibrationMap, or any
/// `double(double) const` giving a probability), applied to a running statistic, estimates the
/// probability of a correct answer below `threshold`: the streaming form of calibrated(). Fit the
/// map on the same statistic of finished answers. A map giving NaN or a value outside [0, 1]
/// throws std::domain_error. Thread-safe when the map's call is (the maps above are).
template <class Map>
class CalibratedStopRule {
public:
    CalibratedStopRule(Map map, StreamStatistic statistic, double threshold, std::size_t min_tokens,
                       ProbStopOptions options)
        : map_(std::move(map)),
          gate_{statistic, min_tokens, options},
          threshold_(threshold) {
        detail::check_threshold(threshold_, "cascade::verify::stop_when_calibrated_below");
    }

    [[nodiscard]] const Map& calibration() const noexcept { return map_; }
    [[nodiscard]] const StreamStatistic& statistic() const noexcept { return gate_.statistic; }
    [[nodiscard]] double threshold() const noexcept { return threshold_; }

    [[nodiscard]] bool fires(const StreamState& s) const {
        if (gate_.invalid_fires(s) || gate_.unscored_fires(s)) return true;
        const std::optional<double> v = gate_.value(s);
        return v && estimate(*v) < threshold_;
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        if (!fires(s)) return std::nullopt;
        if (auto r = gate_.gate_reason(s)) return r;
        const double v = *gate_.value(s);
        return "estimated probability of a correct answer " + detail::compare_below(estimate(v), threshold_) + " (" +
               gate_.statistic.name() + " " + detail::format_number(std::round(v * 1000.0) / 1000.0) +
               gate_.after_text(s) + ")";
    }

private:
    double estimate(double statistic) const {
        const double p = static_cast<double>(map_(statistic));
        if (!(p >= 0.0 && p <= 1.0)) {
            throw std::domain_error("cascade::verify::stop_when_calibrated_below: the calibration mapped " +
                                    detail::format_number(statistic) + " to " + detail::format_number(p) +
                                    ", not a probability in [0, 1]");
        }
        return p;
    }

    Map map_;
    detail::ProbStopGate gate_;
    double threshold_;
};

/// Stops when `calibration(statistic of the stream)`, the estimated probability that the answer
/// will be right, falls below `threshold`, once `min_tokens` scored tokens have arrived:
///
///     auto cal = cascade::verify::fit_platt(examples);   // scores: the mean token probability
///     cascade::verify::stop_when_calibrated_below(cal, cascade::verify::StreamStatistic::mean_prob(), 0.5, 12)
///
/// Reason: "estimated probability of a correct answer 0.31 < 0.5 (mean token probability 0.62
/// after 12 scored tokens)". Throws std::invalid_argument unless 0 <= threshold <= 1; invalid and
/// missing log-probabilities as stop_when_mean_prob_below.
template <class Map>
CalibratedStopRule<std::decay_t<Map>> stop_when_calibrated_below(Map&& calibration, StreamStatistic statistic,
                                                                 double threshold, std::size_t min_tokens,
                                                                 ProbStopOptions options = {}) {
    static_assert(std::is_invocable_r_v<double, const std::decay_t<Map>&, double>,
                  "cascade::verify::stop_when_calibrated_below: the calibration must be callable as double(double) "
                  "const: PlattScaling, IsotonicCalibration, CalibrationMap, or your own map");
    return CalibratedStopRule<std::decay_t<Map>>(std::forward<Map>(calibration), statistic, threshold, min_tokens,
                                                 options);
}

// ---- text rules -----------------------------------------------------------------------------

/// The openings stop_on_refusal() looks for by default: how refusals in English begin. Copy and
/// extend it, or pass a list of your own. "i'm sorry" also opens some helpful answers ("I'm sorry
/// to hear that; ..."): stopping one costs an escalation, not a wrong answer.
inline std::vector<std::string> default_refusal_openings() {
    return {"i'm sorry",
            "i am sorry",
            "sorry, but",
            "sorry, i",
            "i apologize",
            "i cannot",
            "i can't",
            "i can not",
            "i won't",
            "i will not",
            "i'm unable",
            "i am unable",
            "i'm not able to",
            "i am not able to",
            "i must decline",
            "i'm afraid i",
            "i am afraid i",
            "as an ai",
            "as a language model",
            "unfortunately, i"};
}

/// Stops when the answer opens with a refusal (see stop_on_refusal). Thread-safe: const, no state.
class RefusalStopRule {
public:
    RefusalStopRule(std::vector<std::string> phrases, std::size_t within_chars) : within_(within_chars) {
        if (phrases.empty()) {
            throw std::invalid_argument(
                "cascade::verify::stop_on_refusal: the phrase list is empty; pass at least "
                "one phrase, or leave the argument out for default_refusal_openings()");
        }
        for (std::size_t i = 0; i < phrases.size(); ++i) {
            std::string folded = detail::fold_text(phrases[i]);
            if (folded.empty()) {
                throw std::invalid_argument("cascade::verify::stop_on_refusal: phrase " + std::to_string(i + 1) +
                                            " is empty or blank; it would stop every answer");
            }
            folded_.push_back(std::move(folded));
        }
        phrases_ = std::move(phrases);
    }

    [[nodiscard]] const std::vector<std::string>& phrases() const noexcept { return phrases_; }
    [[nodiscard]] std::size_t within_chars() const noexcept { return within_; }

    [[nodiscard]] bool fires(const StreamState& s) const noexcept { return find(s.text()).has_value(); }

    std::optional<std::string> operator()(const StreamState& s) const {
        const auto hit = find(s.text());
        if (!hit) return std::nullopt;
        std::string r = "refusal: the answer opens with " + detail::quote_excerpt(phrases_[hit->phrase]);
        if (hit->offset > 0) r += " (" + std::to_string(hit->offset) + " characters in)";
        return r;
    }

private:
    struct Hit {
        std::size_t phrase;
        std::size_t offset;  // bytes after the leading white space
    };

    // Looks at no more than within_ + the longest phrase's bytes (and the white space inside it),
    // however long the text: the cost of a chunk does not grow with the answer.
    std::optional<Hit> find(std::string_view text) const noexcept {
        std::size_t start = 0;
        while (start < text.size() && detail::is_ascii_space(text[start])) ++start;
        for (std::size_t off = 0; off <= within_ && start + off < text.size(); ++off) {
            const std::size_t at = start + off;
            // Past the opening, a phrase must begin a word: "I can't" but not "Scan't".
            if (off > 0 && (detail::is_ascii_letter(text[at - 1]) || detail::is_ascii_digit(text[at - 1]))) continue;
            for (std::size_t i = 0; i < folded_.size(); ++i) {
                if (detail::folded_prefix_at(text, at, folded_[i])) return Hit{i, off};
            }
        }
        return std::nullopt;
    }

    std::vector<std::string> phrases_;
    std::vector<std::string> folded_;
    std::size_t within_;
};

/// Stops when the answer opens with a refusal: after leading white space, it begins with one of
/// `phrases` (default_refusal_openings() by default), compared as no_refusal() compares
/// (case-insensitive, white space runs as one space, ’ as '). With `within_chars` > 0 a phrase
/// may also begin a word up to that many bytes into the answer ("Unfortunately, as an AI ...").
/// A phrase split over several chunks is found at the chunk that completes it; one that ends in a
/// letter or digit ("as an ai") once the character after it has arrived, so that "As an aide"
/// is not taken for a refusal. Only the opening
/// is read, so a chunk costs the same however long the answer. Reason: "refusal: the answer opens
/// with \"i cannot\"". Throws std::invalid_argument for an empty list or a blank phrase.
///
///     cascade::verify::stop_on_refusal()
///     cascade::verify::stop_on_refusal({"i don't know", "no idea"}, 40)
inline RefusalStopRule stop_on_refusal(std::vector<std::string> phrases = default_refusal_openings(),
                                       std::size_t within_chars = 0) {
    return RefusalStopRule(std::move(phrases), within_chars);
}

/// How far back stop_on_match searches by default: this many bytes before the newest chunk.
inline constexpr std::size_t default_match_lookback = 256;

/// Stops when a regular expression is found in the answer so far (see stop_on_match).
/// Thread-safe: const; searching with a const std::regex from several threads is safe.
class MatchStopRule {
public:
    MatchStopRule(std::regex regex, std::string pattern, std::size_t lookback)
        : regex_(std::move(regex)),
          pattern_(std::move(pattern)),
          lookback_(lookback) {
        const char* none = "";
        if (std::regex_search(none, none, regex_)) {
            throw std::invalid_argument("cascade::verify::stop_on_match: the regular expression " +
                                        (pattern_.empty() ? std::string("given") : detail::quote_excerpt(pattern_)) +
                                        " matches the empty text, so it would stop every answer at its first chunk");
        }
    }

    /// The pattern as given, empty when the rule was made from a std::regex.
    [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }
    [[nodiscard]] std::size_t lookback_chars() const noexcept { return lookback_; }

    [[nodiscard]] bool fires(const StreamState& s) const {
        const Window w = window(s);
        return std::regex_search(w.first, w.last, regex_, w.flags);
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        const Window w = window(s);
        std::cmatch m;
        if (!std::regex_search(w.first, w.last, m, regex_, w.flags)) return std::nullopt;
        const std::string_view found(m[0].first, static_cast<std::size_t>(m[0].second - m[0].first));
        std::string r = "matched " + detail::quote_excerpt(found, 80);
        if (!pattern_.empty()) r += " (pattern " + detail::quote_excerpt(pattern_, 80) + ")";
        return r;
    }

private:
    struct Window {
        const char* first;
        const char* last;
        std::regex_constants::match_flag_type flags;
    };

    // The newest chunk and lookback_ bytes before it. Starting inside the text, the search is told
    // that the byte before is there, so that ^ and \b read it and do not take the window's start
    // for the answer's.
    Window window(const StreamState& s) const noexcept {
        const std::string_view text = s.text();
        const std::size_t newest = s.last_text().size();
        const std::size_t span = std::min(text.size(), newest + std::min(lookback_, text.size()));
        const std::size_t from = text.size() - span;
        return Window{text.data() + from, text.data() + text.size(),
                      from > 0 ? std::regex_constants::match_prev_avail : std::regex_constants::match_default};
    }

    std::regex regex_;
    std::string pattern_;
    std::size_t lookback_;
};

/// Stops when `pattern` (a std::regex, ECMAScript grammar unless `flags` say otherwise; pass
/// std::regex::icase for case-insensitive) is found in the answer so far, e.g. a model starting
/// to write code when asked for prose, or a marker of a wrong format.
///
/// Each chunk searches only a trailing window: the newest chunk and the `lookback_chars` bytes
/// before it (256 by default), so a chunk costs the same however long the answer, and a match
/// split over chunks is found at the chunk that completes it, as long as it is no longer than the
/// window. A match that scrolls out of the window is no longer seen; the tier stops at the first
/// chunk a rule fires, so this matters only inside stop_when_all. Unlike the other rules, each
/// search allocates (std::regex's working state). Reason: "matched \"```python\" (pattern
/// \"```\\w+\")". Throws std::invalid_argument for an invalid pattern, and for one that matches
/// the empty text (it would stop every answer at once).
///
///     cascade::verify::stop_on_match("```")                       // code in a prose answer
///     cascade::verify::stop_on_match("as an ai", std::regex::icase)
inline MatchStopRule stop_on_match(std::string pattern, std::regex::flag_type flags = std::regex::ECMAScript,
                                   std::size_t lookback_chars = default_match_lookback) {
    std::regex regex;
    try {
        regex = std::regex(pattern, flags);
    } catch (const std::regex_error& e) {
        throw std::invalid_argument("cascade::verify::stop_on_match: invalid regular expression " +
                                    detail::quote_excerpt(pattern) + ": " + e.what());
    }
    return MatchStopRule(std::move(regex), std::move(pattern), lookback_chars);
}

/// stop_on_match with a compiled std::regex; its reason quotes the match only.
inline MatchStopRule stop_on_match(std::regex regex, std::size_t lookback_chars = default_match_lookback) {
    return MatchStopRule(std::move(regex), {}, lookback_chars);
}

// ---- length budgets -------------------------------------------------------------------------

/// Stops once the answer reaches a length (see stop_after_tokens, stop_after_chars).
/// Thread-safe: const, no state.
class LengthStopRule {
public:
    enum class Unit { tokens, chars };

    LengthStopRule(Unit unit, std::size_t limit) : unit_(unit), limit_(limit) {
        if (limit_ == 0) {
            throw std::invalid_argument(std::string(unit_ == Unit::tokens ? "cascade::verify::stop_after_tokens"
                                                                          : "cascade::verify::stop_after_chars") +
                                        ": the budget must be >= 1, got 0");
        }
    }

    [[nodiscard]] Unit unit() const noexcept { return unit_; }
    [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

    [[nodiscard]] bool fires(const StreamState& s) const noexcept { return length(s) >= limit_; }

    std::optional<std::string> operator()(const StreamState& s) const {
        if (!fires(s)) return std::nullopt;
        return unit_ == Unit::tokens ? "length budget: " + detail::count_of(length(s), "token") +
                                           ", the budget is " + std::to_string(limit_)
                                     : "length budget: " + detail::count_of(length(s), "character") +
                                           ", the budget is " + std::to_string(limit_);
    }

private:
    std::size_t length(const StreamState& s) const noexcept {
        return unit_ == Unit::tokens ? s.tokens() : s.text().size();
    }

    Unit unit_;
    std::size_t limit_;
};

/// Stops at the n-th chunk: a budget for answers that should be short (a label, a number), so
/// that a rambling one escalates instead of running on. Throws std::invalid_argument for 0.
inline LengthStopRule stop_after_tokens(std::size_t n) { return LengthStopRule(LengthStopRule::Unit::tokens, n); }

/// Stops at the chunk that makes the text n bytes (of UTF-8) or longer. Throws
/// std::invalid_argument for 0.
inline LengthStopRule stop_after_chars(std::size_t n) { return LengthStopRule(LengthStopRule::Unit::chars, n); }

// ---- combinators ----------------------------------------------------------------------------

/// Stops when one of its rules fires, with the reason of the first (left to right) that does.
/// Thread-safe when its rules are.
template <class... Rules>
class StopWhenAny {
public:
    explicit StopWhenAny(Rules... rules) : rules_(std::move(rules)...) {}

    template <class S = StreamState, bool all_have_fires = (detail::rule_has_fires<Rules>::value && ...),
              std::enable_if_t<all_have_fires, int> = 0>
    [[nodiscard]] bool fires(const S& s) const {
        return std::apply([&](const auto&... r) { return (r.fires(s) || ...); }, rules_);
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        std::optional<std::string> reason;
        std::apply([&](const auto&... r) { static_cast<void>(((reason = r(s)) || ...)); }, rules_);
        return reason;
    }

private:
    std::tuple<Rules...> rules_;
};

/// Stops when all of its rules fire at the same chunk; the reason joins theirs with "; ". The
/// rules that have fires() are asked first, so that nothing is built while one of them holds
/// back. Thread-safe when its rules are.
template <class... Rules>
class StopWhenAll {
public:
    explicit StopWhenAll(Rules... rules) : rules_(std::move(rules)...) {}

    template <class S = StreamState, bool all_have_fires = (detail::rule_has_fires<Rules>::value && ...),
              std::enable_if_t<all_have_fires, int> = 0>
    [[nodiscard]] bool fires(const S& s) const {
        return std::apply([&](const auto&... r) { return (r.fires(s) && ...); }, rules_);
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        const bool cheap_ones_fire = std::apply([&](const auto&... r) { return (cheap_fires(r, s) && ...); }, rules_);
        if (!cheap_ones_fire) return std::nullopt;
        std::string joined;
        const bool all = std::apply(
            [&](const auto&... r) {
                return ([&] {
                    std::optional<std::string> reason = r(s);
                    if (!reason) return false;
                    detail::append_verdict_note(joined, *reason);
                    return true;
                }() && ...);
            },
            rules_);
        if (!all) return std::nullopt;
        return joined;
    }

private:
    template <class Rule>
    static bool cheap_fires(const Rule& r, const StreamState& s) {
        if constexpr (detail::rule_has_fires<Rule>::value) {
            return r.fires(s);
        } else {
            static_cast<void>(r);
            static_cast<void>(s);
            return true;
        }
    }

    std::tuple<Rules...> rules_;
};

/// Consults its rule only from the n-th chunk on (counting every chunk, scored or not); before,
/// the stream goes on. The reason is the rule's. Thread-safe when its rule is.
template <class Rule>
class AfterTokens {
public:
    AfterTokens(std::size_t n, Rule rule) : n_(n), rule_(std::move(rule)) {
        if (n_ == 0) {
            throw std::invalid_argument(
                "cascade::verify::after_tokens: the token count must be >= 1, got 0 "
                "(without a wait, use the rule itself)");
        }
    }

    [[nodiscard]] std::size_t tokens() const noexcept { return n_; }

    template <class S = StreamState, bool has_fires = detail::rule_has_fires<Rule>::value,
              std::enable_if_t<has_fires, int> = 0>
    [[nodiscard]] bool fires(const S& s) const {
        return s.tokens() >= n_ && rule_.fires(s);
    }

    std::optional<std::string> operator()(const StreamState& s) const {
        if (s.tokens() < n_) return std::nullopt;
        return rule_(s);
    }

private:
    std::size_t n_;
    Rule rule_;
};

/// Stops when any rule fires; the first that does (left to right) gives the reason. Put the cheap
/// rules first.
///
///     cascade::verify::stop_when_any(cascade::verify::stop_on_refusal(),
///                                    cascade::verify::stop_when_min_prob_below(0.05, 1),
///                                    cascade::verify::stop_after_tokens(400))
template <class... Rules>
StopWhenAny<std::decay_t<Rules>...> stop_when_any(Rules&&... rules) {
    static_assert(sizeof...(Rules) > 0, "cascade::verify::stop_when_any: needs at least one rule");
    static_assert((is_early_exit_rule_v<std::decay_t<Rules>> && ...),
                  "cascade::verify::stop_when_any: every rule must be callable as "
                  "std::optional<std::string>(const cascade::StreamState&) const");
    return StopWhenAny<std::decay_t<Rules>...>(std::forward<Rules>(rules)...);
}

/// Stops when every rule fires at the same chunk; the reasons are joined with "; ".
///
///     cascade::verify::stop_when_all(cascade::verify::stop_when_mean_prob_below(0.7, 20),
///                                    cascade::verify::stop_after_chars(400))
template <class... Rules>
StopWhenAll<std::decay_t<Rules>...> stop_when_all(Rules&&... rules) {
    static_assert(sizeof...(Rules) > 0, "cascade::verify::stop_when_all: needs at least one rule");
    static_assert((is_early_exit_rule_v<std::decay_t<Rules>> && ...),
                  "cascade::verify::stop_when_all: every rule must be callable as "
                  "std::optional<std::string>(const cascade::StreamState&) const");
    return StopWhenAll<std::decay_t<Rules>...>(std::forward<Rules>(rules)...);
}

/// `rule`, consulted only once n chunks have arrived: a rule of your own that needs a few tokens
/// before it can judge. Throws std::invalid_argument for n = 0.
///
///     cascade::verify::after_tokens(4, [](const cascade::StreamState& s) -> std::optional<std::string> {
///         if (s.text().substr(0, 7) != "Answer:") return "the answer does not open with \"Answer:\"";
///         return std::nullopt;
///     })
template <class Rule>
AfterTokens<std::decay_t<Rule>> after_tokens(std::size_t n, Rule&& rule) {
    static_assert(is_early_exit_rule_v<std::decay_t<Rule>>,
                  "cascade::verify::after_tokens: the rule must be callable as "
                  "std::optional<std::string>(const cascade::StreamState&) const");
    return AfterTokens<std::decay_t<Rule>>(n, std::forward<Rule>(rule));
}

}  // namespace cascade::verify

#endif  // CASCADE_VERIFY_EARLY_EXIT_HPP
