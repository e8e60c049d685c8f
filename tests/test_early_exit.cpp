// SPDX-License-Identifier: MIT
//
// The early-exit rules of cascade/verify/early_exit.hpp, fed a cascade::StreamState chunk by chunk
// as a streaming tier feeds them: each must fire at the chunk where its condition first holds and
// not before, with a reason that names what it saw.

#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/core/stream_state.hpp>
#include <cascade/verify/calibration_map.hpp>
#include <cascade/verify/early_exit.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "count_allocations.hpp"

namespace v = cascade::verify;

namespace {

struct Chunk {
    std::string text;
    std::optional<double> logprob;
};

// A chunk "t" with probability p.
Chunk tok(double p) { return Chunk{"t", std::log(p)}; }
Chunk text(std::string t) { return Chunk{std::move(t), std::nullopt}; }

std::vector<Chunk> with_probs(std::initializer_list<double> probs) {
    std::vector<Chunk> out;
    for (double p : probs) out.push_back(tok(p));
    return out;
}

struct Firing {
    std::size_t token = 0;  // 1-based chunk at which the rule first fired; 0: never
    std::string reason;
};

// Feeds the chunks one by one and asks the rule after each, as a tier does; also checks that
// fires() (where the rule has one) agrees with the rule's answer at every chunk (not on other
// threads: Catch2's assertions are for the main thread).
template <class Rule>
Firing first_firing(const Rule& rule, const std::vector<Chunk>& chunks, bool check_fires = true) {
    cascade::StreamState state;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        state.observe(cascade::TokenChunk{chunks[i].text, chunks[i].logprob}, std::chrono::milliseconds(10 * (i + 1)));
        std::optional<std::string> reason = rule(state);
        if constexpr (cascade::detail::rule_has_fires<Rule>::value) {
            if (check_fires) REQUIRE(rule.fires(state) == reason.has_value());
        }
        if (reason) return Firing{i + 1, *reason};
    }
    return Firing{};
}

const double not_a_number = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("stop_when_mean_prob_below fires at the first token where the mean falls below") {
    // Means: 0.9, 0.9, 0.767, 0.65, 0.56.
    const Firing f = first_firing(v::stop_when_mean_prob_below(0.6, 3), with_probs({0.9, 0.9, 0.5, 0.3, 0.2, 0.9}));
    CHECK(f.token == 5);
    CHECK(f.reason == "mean token probability 0.56 < 0.6 after 5 scored tokens");
}

TEST_CASE("stop_when_mean_prob_below waits for min_tokens scored tokens") {
    // The mean is 0.1 after one token and 0.5 after two, but the rule may look only from the third
    // (0.633); the fourth brings it to 0.5.
    const auto stream = with_probs({0.1, 0.9, 0.9, 0.1});
    CHECK(first_firing(v::stop_when_mean_prob_below(0.6, 3), stream).token == 4);
    CHECK(first_firing(v::stop_when_mean_prob_below(0.6, 1), stream).token == 1);
    CHECK(first_firing(v::stop_when_mean_prob_below(0.6, 0), stream).token == 1);  // 0 counts as 1
    CHECK(first_firing(v::stop_when_mean_prob_below(0.6, 5), stream).token == 0);
}

TEST_CASE("min_tokens counts only the chunks with a log-probability") {
    std::vector<Chunk> stream{tok(0.1), text(" "), text(" "), tok(0.2), tok(0.9)};
    const Firing f = first_firing(v::stop_when_mean_prob_below(0.5, 2), stream);
    CHECK(f.token == 4);
    CHECK(f.reason == "mean token probability 0.15 < 0.5 after 2 scored tokens");
}

TEST_CASE("stop_when_min_prob_below fires at the one unsure token") {
    const Firing f = first_firing(v::stop_when_min_prob_below(0.05), with_probs({0.9, 0.8, 0.04, 0.9}));
    CHECK(f.token == 3);
    CHECK(f.reason == "lowest token probability 0.04 < 0.05 after 3 scored tokens");
    CHECK(first_firing(v::stop_when_min_prob_below(0.03), with_probs({0.9, 0.8, 0.04, 0.9})).token == 0);
}

TEST_CASE("a log-probability of -inf is probability 0, not an invalid one") {
    std::vector<Chunk> stream{tok(0.9), Chunk{"x", -std::numeric_limits<double>::infinity()}};
    const Firing f = first_firing(v::stop_when_min_prob_below(0.01), stream);
    CHECK(f.token == 2);
    CHECK(f.reason == "lowest token probability 0 < 0.01 after 2 scored tokens");
}

TEST_CASE("stop_when_geometric_mean_prob_below watches exp of the mean log-probability") {
    // After 0.9, 0.9, 0.1 the geometric mean is 0.433 but the arithmetic mean 0.633.
    const auto stream = with_probs({0.9, 0.9, 0.1});
    const Firing f = first_firing(v::stop_when_geometric_mean_prob_below(0.5, 2), stream);
    CHECK(f.token == 3);
    CHECK(f.reason == "geometric mean token probability 0.433 < 0.5 after 3 scored tokens");
    CHECK(first_firing(v::stop_when_mean_prob_below(0.5, 2), stream).token == 0);
}

TEST_CASE("stop_when_prob_quantile_below fires when the low tail falls below") {
    // Six tokens: the 0.25-quantile is the 2nd lowest, 0.1, read from the histogram as the top of
    // its bin, 26/256. With five tokens it is still 0.9.
    const auto stream = with_probs({0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.9});
    const Firing f = first_firing(v::stop_when_prob_quantile_below(0.25, 0.3, 4), stream);
    CHECK(f.token == 6);
    CHECK(f.reason == "0.25-quantile of the token probabilities 0.102 < 0.3 after 6 scored tokens");
}

TEST_CASE("the probability rules stop at the first invalid log-probability by default") {
    std::vector<Chunk> stream{tok(0.9), tok(0.9), Chunk{"x", not_a_number}, tok(0.9), Chunk{"y", 0.5}};
    const Firing f = first_firing(v::stop_when_mean_prob_below(0.5, 10), stream);
    CHECK(f.token == 3);
    CHECK(f.reason == "token 3 has an invalid log-probability (NaN, +inf or > 0)");
    CHECK(first_firing(v::stop_when_min_prob_below(0.5), stream).token == 3);
    CHECK(first_firing(v::stop_when_prob_quantile_below(0.1, 0.5, 1), stream).token == 3);

    std::vector<Chunk> positive{tok(0.9), Chunk{"x", 0.25}};
    CHECK(first_firing(v::stop_when_geometric_mean_prob_below(0.5, 10), positive).token == 2);
    std::vector<Chunk> rounding{tok(0.9), Chunk{"x", 1e-7}};  // a provider's rounding of 0
    CHECK(first_firing(v::stop_when_geometric_mean_prob_below(0.5, 1), rounding).token == 0);
}

TEST_CASE("with skip_invalid the probability rules leave invalid log-probabilities out") {
    v::ProbStopOptions skip;
    skip.skip_invalid = true;
    std::vector<Chunk> stream{tok(0.1), Chunk{"x", not_a_number}, Chunk{"y", 3.0}, tok(0.1)};
    const Firing f = first_firing(v::stop_when_mean_prob_below(0.5, 2, skip), stream);
    CHECK(f.token == 4);  // the second scored token; the invalid ones do not count
    CHECK(f.reason == "mean token probability 0.1 < 0.5 after 2 scored tokens");
    CHECK(first_firing(v::stop_when_mean_prob_below(0.5, 2, skip), with_probs({0.9, 0.9})).token == 0);
}

TEST_CASE("the probability rules never fire on a stream without log-probabilities unless asked to") {
    std::vector<Chunk> stream(50, text("word "));
    CHECK(first_firing(v::stop_when_mean_prob_below(1.0, 1), stream).token == 0);
    CHECK(first_firing(v::stop_when_min_prob_below(1.0), stream).token == 0);
    CHECK(first_firing(v::stop_when_geometric_mean_prob_below(1.0, 1), stream).token == 0);
    CHECK(first_firing(v::stop_when_prob_quantile_below(0.1, 1.0, 1), stream).token == 0);
    const v::PlattScaling cal(10.0, -6.0);
    CHECK(first_firing(v::stop_when_calibrated_below(cal, v::StreamStatistic::mean_prob(), 1.0, 1), stream).token == 0);

    v::ProbStopOptions strict;
    strict.stop_without_logprobs_after = 5;
    const Firing f = first_firing(v::stop_when_mean_prob_below(0.5, 10, strict), stream);
    CHECK(f.token == 5);
    CHECK(f.reason == "no valid token log-probabilities after 5 tokens");

    // One scored token among the first five: the server gives log-probabilities.
    std::vector<Chunk> mixed(50, text("word "));
    mixed[3] = tok(0.9);
    CHECK(first_firing(v::stop_when_mean_prob_below(0.5, 10, strict), mixed).token == 0);

    strict.skip_invalid = true;
    std::vector<Chunk> all_invalid(10, Chunk{"x", not_a_number});
    const Firing g = first_firing(v::stop_when_mean_prob_below(0.5, 1, strict), all_invalid);
    CHECK(g.token == 5);
    CHECK(g.reason == "no valid token log-probabilities after 5 tokens (5 invalid)");
}

TEST_CASE("a reason shows more digits when three decimals would hide the difference") {
    const Firing f = first_firing(v::stop_when_min_prob_below(0.6), with_probs({0.5996}));
    CHECK(f.token == 1);
    CHECK(contains(f.reason, "0.5996"));
    CHECK(contains(f.reason, "< 0.6 "));
}

TEST_CASE("stop_when_calibrated_below maps the running statistic to a probability of being right") {
    // P(right) = logistic(10 * mean - 6): 0.5 at a mean of 0.6. Means: 0.9, 0.7, 0.533.
    const v::CalibrationMap cal(v::PlattScaling(10.0, -6.0));
    const auto stream = with_probs({0.9, 0.5, 0.2, 0.9});
    const Firing f = first_firing(v::stop_when_calibrated_below(cal, v::StreamStatistic::mean_prob(), 0.5, 1), stream);
    CHECK(f.token == 3);
    CHECK(f.reason ==
          "estimated probability of a correct answer 0.339 < 0.5 (mean token probability 0.533 after 3 scored tokens)");
    CHECK(first_firing(v::stop_when_calibrated_below(cal, v::StreamStatistic::mean_prob(), 0.3, 1), stream).token == 0);
    CHECK(first_firing(v::stop_when_calibrated_below(cal, v::StreamStatistic::mean_prob(), 0.5, 4), stream).token == 0);

    // Another statistic through a step map: the minimum, right 90% of the time above 0.3, 20% below.
    const v::IsotonicCalibration steps({0.29, 0.3}, {0.2, 0.9});
    const Firing g = first_firing(v::stop_when_calibrated_below(steps, v::StreamStatistic::min_prob(), 0.5, 1),
                                  with_probs({0.9, 0.35, 0.25}));
    CHECK(g.token == 3);
    CHECK(contains(g.reason, "0.2 < 0.5"));
    CHECK(contains(g.reason, "lowest token probability 0.25"));
}

TEST_CASE("stop_when_calibrated_below refuses a map that gives no probability") {
    auto broken = [](double) { return 2.0; };
    auto rule = v::stop_when_calibrated_below(broken, v::StreamStatistic::mean_prob(), 0.5, 1);
    cascade::StreamState state;
    state.observe(cascade::TokenChunk{"a", std::log(0.5)}, std::chrono::nanoseconds(1));
    CHECK_THROWS_AS(rule(state), std::domain_error);
}

TEST_CASE("stop_on_refusal fires at the chunk that completes a refusal opening") {
    // "i'm sorry" ends in a letter: it is a refusal once the next character shows the word ended.
    const Firing f =
        first_firing(v::stop_on_refusal(), {text("  I"), text("'m"), text(" sor"), text("ry"), text(", but")});
    CHECK(f.token == 5);
    CHECK(f.reason == "refusal: the answer opens with \"i'm sorry\"");

    // A typographic apostrophe split in the middle of its UTF-8 bytes, in upper case.
    const Firing g = first_firing(v::stop_on_refusal(), {text("I CAN\xE2\x80"), text("\x99T"), text(" do that")});
    CHECK(g.token == 3);
    CHECK(g.reason == "refusal: the answer opens with \"i can't\"");

    CHECK(first_firing(v::stop_on_refusal(), {text("As"), text(" an"), text(" ai"), text("de, I")}).token == 0);
    CHECK(first_firing(v::stop_on_refusal(), {text("As"), text(" an"), text(" AI"), text(",")}).token == 4);
}

TEST_CASE("stop_on_refusal reads only the opening of the answer") {
    const std::vector<Chunk> later{text("The answer is 4."), text(" I cannot"), text(" say more.")};
    CHECK(first_firing(v::stop_on_refusal(), later).token == 0);

    const std::vector<Chunk> hedged{text("Unfortunately,"), text(" as an AI"), text(" model")};
    CHECK(first_firing(v::stop_on_refusal(), hedged).token == 0);
    const Firing f = first_firing(v::stop_on_refusal(v::default_refusal_openings(), 20), hedged);
    CHECK(f.token == 3);
    CHECK(f.reason == "refusal: the answer opens with \"as an ai\" (15 characters in)");
    CHECK(first_firing(v::stop_on_refusal(v::default_refusal_openings(), 14), hedged).token == 0);
    // Inside the window a phrase must still begin a word.
    CHECK(first_firing(v::stop_on_refusal({"can't"}, 20), {text("Scan't be"), text(" right")}).token == 0);
}

TEST_CASE("stop_on_refusal takes phrases of its own") {
    const Firing f =
        first_firing(v::stop_on_refusal({"no idea", "not sure"}), {text("Not  "), text("sure."), text("x")});
    CHECK(f.token == 2);
    CHECK(f.reason == "refusal: the answer opens with \"not sure\"");
    CHECK(first_firing(v::stop_on_refusal({"no idea"}), {text("I'm sorry, but")}).token == 0);
}

TEST_CASE("stop_on_match finds a match split over chunks") {
    const Firing f =
        first_firing(v::stop_on_match("```"), {text("Here"), text(" is:"), text(" `"), text("`"), text("`py")});
    CHECK(f.token == 5);
    CHECK(f.reason == "matched \"```\" (pattern \"```\")");

    // A 300-byte match over 30 chunks is longer than the default window: found with a longer one.
    std::vector<Chunk> long_match{text("start ")};
    for (int i = 0; i < 30; ++i) long_match.push_back(text("xxxxxxxxxx"));
    long_match.push_back(text(" end"));
    CHECK(first_firing(v::stop_on_match("x{300}"), long_match).token == 0);
    CHECK(first_firing(v::stop_on_match("x{300}", std::regex::ECMAScript, 300), long_match).token == 31);
    CHECK(first_firing(v::stop_on_match("x{250}"), long_match).token == 26);
}

TEST_CASE("stop_on_match searches the newest chunk and lookback_chars bytes before it") {
    const std::vector<Chunk> stream{text("ab"), text("cd"), text("ef")};
    // At "ef" the window is "bcdef" with 3 bytes of lookback, "abcdef" with 4.
    CHECK(first_firing(v::stop_on_match("abcdef", std::regex::ECMAScript, 3), stream).token == 0);
    CHECK(first_firing(v::stop_on_match("abcdef", std::regex::ECMAScript, 4), stream).token == 3);
}

TEST_CASE("stop_on_match does not take the window's start for the answer's") {
    CHECK(first_firing(v::stop_on_match("^Answer", std::regex::ECMAScript, 0), {text("The final "), text("Answer")})
              .token == 0);
    CHECK(first_firing(v::stop_on_match("^Answer", std::regex::ECMAScript, 0), {text("Answer")}).token == 1);
    CHECK(first_firing(v::stop_on_match("\\bcat", std::regex::ECMAScript, 0), {text("con"), text("cat")}).token == 0);
    CHECK(first_firing(v::stop_on_match("\\bcat", std::regex::ECMAScript, 0), {text("the "), text("cat")}).token == 2);
}

TEST_CASE("stop_on_match takes flags and a compiled regex") {
    const std::vector<Chunk> stream{text("Well, AS AN"), text(" AI I")};
    CHECK(first_firing(v::stop_on_match("as an ai"), stream).token == 0);
    CHECK(first_firing(v::stop_on_match("as an ai", std::regex::ECMAScript | std::regex::icase), stream).token == 2);
    const Firing f = first_firing(v::stop_on_match(std::regex("AN\\s+AI")), stream);
    CHECK(f.token == 2);
    CHECK(f.reason == "matched \"AN AI\"");
}

TEST_CASE("stop_after_tokens and stop_after_chars fire when the budget is reached") {
    const std::vector<Chunk> stream{text("hello"), text(" wor"), text("ld"), text("!")};
    const Firing t = first_firing(v::stop_after_tokens(3), stream);
    CHECK(t.token == 3);
    CHECK(t.reason == "length budget: 3 tokens, the budget is 3");
    CHECK(first_firing(v::stop_after_tokens(5), stream).token == 0);
    const Firing c = first_firing(v::stop_after_chars(10), stream);
    CHECK(c.token == 3);  // 5, 9, 11 bytes
    CHECK(c.reason == "length budget: 11 characters, the budget is 10");
    CHECK(first_firing(v::stop_after_chars(9), stream).token == 2);
}

TEST_CASE("stop_when_any stops at the first rule that fires, with its reason") {
    auto rule = v::stop_when_any(v::stop_when_min_prob_below(0.05), v::stop_after_tokens(4));
    const Firing low = first_firing(rule, with_probs({0.9, 0.01, 0.9, 0.9, 0.9}));
    CHECK(low.token == 2);
    CHECK(contains(low.reason, "lowest token probability 0.01"));
    const Firing longer = first_firing(rule, with_probs({0.9, 0.9, 0.9, 0.9, 0.9}));
    CHECK(longer.token == 4);
    CHECK(longer.reason == "length budget: 4 tokens, the budget is 4");
    // Both fire at the fourth token: the first rule's reason wins.
    const Firing both = first_firing(rule, with_probs({0.9, 0.9, 0.9, 0.01}));
    CHECK(both.token == 4);
    CHECK(contains(both.reason, "lowest token probability"));
}

TEST_CASE("stop_when_all stops only when every rule fires at the same chunk") {
    auto rule = v::stop_when_all(v::stop_when_mean_prob_below(0.6, 1), v::stop_after_chars(3));
    // The mean is below 0.6 from the first chunk, the text three bytes long from the third.
    const Firing f =
        first_firing(rule, {Chunk{"a", std::log(0.2)}, Chunk{"b", std::log(0.5)}, Chunk{"c", std::log(0.5)}});
    CHECK(f.token == 3);
    CHECK(f.reason ==
          "mean token probability 0.4 < 0.6 after 3 scored tokens; length budget: 3 characters, the "
          "budget is 3");
    // Long enough from the second chunk, but by then the mean is 0.645.
    CHECK(first_firing(rule, {Chunk{"a", std::log(0.3)}, Chunk{"bcd", std::log(0.99)}, Chunk{"e", std::log(0.99)}})
              .token == 0);

    // A rule of the user's, without fires(), joins in.
    auto says_stop = [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.text().find("stop") == std::string_view::npos) return std::nullopt;
        return std::string("said stop");
    };
    auto mixed = v::stop_when_all(says_stop, v::stop_after_tokens(2));
    const Firing g = first_firing(mixed, {text("stop"), text("x"), text("y")});
    CHECK(g.token == 2);
    CHECK(g.reason == "said stop; length budget: 2 tokens, the budget is 2");
}

TEST_CASE("after_tokens consults its rule only from the n-th chunk") {
    auto rule = v::after_tokens(3, v::stop_when_min_prob_below(0.5));
    const Firing f = first_firing(rule, with_probs({0.1, 0.9, 0.9}));
    CHECK(f.token == 3);
    CHECK(f.reason == "lowest token probability 0.1 < 0.5 after 3 scored tokens");
    CHECK(first_firing(rule, with_probs({0.1, 0.9})).token == 0);

    auto user = v::after_tokens(2, [](const cascade::StreamState& s) -> std::optional<std::string> {
        if (s.text().substr(0, 7) != "Answer:") return std::string("the answer does not open with \"Answer:\"");
        return std::nullopt;
    });
    CHECK(first_firing(user, {text("Ans"), text("wer:"), text(" 4")}).token == 0);
    CHECK(first_firing(user, {text("Hmm"), text(","), text(" well")}).token == 2);

    // Combinators nest.
    auto nested = v::stop_when_any(v::after_tokens(2, v::stop_on_match("x")), v::stop_after_tokens(5));
    CHECK(first_firing(nested, {text("x"), text("y")}).token == 2);
}

TEST_CASE("the rules refuse bad arguments, naming the function and the value") {
    std::string e = invalid_argument_message([] { v::stop_when_mean_prob_below(1.5, 1); });
    CHECK(contains(e, "cascade::verify::stop_when_mean_prob_below"));
    CHECK(contains(e, "1.5"));
    e = invalid_argument_message([] { v::stop_when_min_prob_below(-0.1); });
    CHECK(contains(e, "cascade::verify::stop_when_min_prob_below"));
    CHECK(contains(e, "-0.1"));
    e = invalid_argument_message([] { v::stop_when_geometric_mean_prob_below(not_a_number, 1); });
    CHECK(contains(e, "cascade::verify::stop_when_geometric_mean_prob_below"));
    CHECK(contains(e, "nan"));
    e = invalid_argument_message([] { v::stop_when_prob_quantile_below(1.2, 0.5, 1); });
    CHECK(contains(e, "cascade::verify::stop_when_prob_quantile_below"));
    CHECK(contains(e, "quantile"));
    CHECK(contains(e, "1.2"));
    e = invalid_argument_message([] { v::stop_when_prob_quantile_below(0.1, 2.0, 1); });
    CHECK(contains(e, "threshold"));
    CHECK(contains(e, "2"));
    e = invalid_argument_message([] { v::StreamStatistic::prob_quantile(-1.0); });
    CHECK(contains(e, "cascade::verify::StreamStatistic::prob_quantile"));
    e = invalid_argument_message(
        [] { v::stop_when_calibrated_below(v::PlattScaling(1, 0), v::StreamStatistic::min_prob(), 7.0, 1); });
    CHECK(contains(e, "cascade::verify::stop_when_calibrated_below"));
    CHECK(contains(e, "7"));
    e = invalid_argument_message([] { v::stop_after_tokens(0); });
    CHECK(contains(e, "cascade::verify::stop_after_tokens"));
    CHECK(contains(e, "got 0"));
    e = invalid_argument_message([] { v::stop_after_chars(0); });
    CHECK(contains(e, "cascade::verify::stop_after_chars"));
    e = invalid_argument_message([] { v::after_tokens(0, v::stop_after_tokens(1)); });
    CHECK(contains(e, "cascade::verify::after_tokens"));
    e = invalid_argument_message([] { v::stop_on_match("(unclosed"); });
    CHECK(contains(e, "cascade::verify::stop_on_match"));
    CHECK(contains(e, "(unclosed"));
    e = invalid_argument_message([] { v::stop_on_match("x*"); });
    CHECK(contains(e, "matches the empty text"));
    e = invalid_argument_message([] { v::stop_on_refusal(std::vector<std::string>{}); });
    CHECK(contains(e, "cascade::verify::stop_on_refusal"));
    e = invalid_argument_message([] { v::stop_on_refusal({"fine", " \t"}); });
    CHECK(contains(e, "phrase 2"));

    // The bounds themselves are thresholds.
    CHECK_NOTHROW(v::stop_when_mean_prob_below(0.0, 1));
    CHECK_NOTHROW(v::stop_when_mean_prob_below(1.0, 1));
    CHECK_NOTHROW(v::stop_when_prob_quantile_below(0.0, 1.0, 1));
}

TEST_CASE("the ready-made rules and their combinations are early-exit rules") {
    static_assert(cascade::is_early_exit_rule_v<v::ProbStopRule>);
    static_assert(cascade::is_early_exit_rule_v<v::RefusalStopRule>);
    static_assert(cascade::is_early_exit_rule_v<v::MatchStopRule>);
    static_assert(cascade::is_early_exit_rule_v<v::LengthStopRule>);
    static_assert(cascade::is_early_exit_rule_v<v::CalibratedStopRule<v::CalibrationMap>>);
    static_assert(cascade::is_early_exit_rule_v<decltype(v::stop_when_any(v::stop_after_tokens(1)))>);
    static_assert(cascade::is_early_exit_rule_v<decltype(v::stop_when_all(v::stop_after_tokens(1)))>);
    static_assert(cascade::is_early_exit_rule_v<decltype(v::after_tokens(1, v::stop_after_tokens(1)))>);
    static_assert(!cascade::is_early_exit_rule_v<int>);
    static_assert(!cascade::is_early_exit_rule_v<std::function<bool(const cascade::StreamState&)>>);
    CHECK(first_firing(v::stop_when_any(v::stop_after_tokens(1)), {text("a")}).token == 1);
}

TEST_CASE("one rule serves many streams on many threads") {
    const auto rule = v::stop_when_any(v::stop_on_refusal(), v::stop_when_mean_prob_below(0.5, 4),
                                       v::stop_on_match("```"), v::stop_after_tokens(40));
    std::vector<std::vector<Chunk>> streams;
    for (std::size_t k = 0; k < 4; ++k) {
        std::vector<Chunk> s;
        for (std::size_t i = 0; i < 60; ++i)
            s.push_back(Chunk{i == 10 * k + 5 ? "`" : "w ", std::log(k == 1 ? 0.3 : 0.9)});
        streams.push_back(std::move(s));
    }
    std::vector<Firing> alone;
    for (const auto& s : streams) alone.push_back(first_firing(rule, s));
    std::vector<Firing> together(streams.size());
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < streams.size(); ++k) {
        threads.emplace_back([&, k] {
            for (int round = 0; round < 20; ++round) together[k] = first_firing(rule, streams[k], false);
        });
    }
    for (auto& t : threads) t.join();
    for (std::size_t k = 0; k < streams.size(); ++k) {
        CHECK(together[k].token == alone[k].token);
        CHECK(together[k].reason == alone[k].reason);
    }
    CHECK(alone[1].token == 4);  // the unsure stream, at min_tokens
    CHECK(alone[0].token == 40);
}

#if CASCADE_TEST_COUNTS_ALLOCATIONS
TEST_CASE("a rule that does not fire allocates nothing") {
    // A long stream whose text grows; only the rules' calls are counted, not the state's growth.
    std::vector<Chunk> stream;
    for (std::size_t i = 0; i < 500; ++i) stream.push_back(Chunk{i % 7 == 0 ? " word" : "s", std::log(0.8)});
    const v::CalibrationMap cal(v::PlattScaling(10.0, -6.0));
    const auto any = v::stop_when_any(
        v::stop_when_mean_prob_below(0.5, 4), v::stop_when_min_prob_below(0.1),
        v::stop_when_geometric_mean_prob_below(0.5, 4), v::stop_when_prob_quantile_below(0.1, 0.5, 4),
        v::stop_when_calibrated_below(cal, v::StreamStatistic::geometric_mean_prob(), 0.5, 4), v::stop_on_refusal(),
        v::stop_on_refusal(v::default_refusal_openings(), 64), v::stop_after_tokens(10'000),
        v::stop_after_chars(100'000), v::after_tokens(3, v::stop_when_min_prob_below(0.1)));
    // stop_when_all with rules that fire (the length budget) and one that holds back builds nothing.
    const auto all =
        v::stop_when_all(v::stop_after_tokens(1), v::stop_when_mean_prob_below(0.5, 1), v::stop_after_chars(1));

    cascade::StreamState state;
    std::uint64_t during_rules = 0;
    std::size_t fired = 0;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        state.observe(cascade::TokenChunk{stream[i].text, stream[i].logprob}, std::chrono::milliseconds(i));
        const std::uint64_t before = cascade_test::allocations.load();
        fired += any(state).has_value() ? 1U : 0U;
        fired += all(state).has_value() ? 1U : 0U;
        during_rules += cascade_test::allocations.load() - before;
    }
    CHECK(fired == 0);
    CHECK(during_rules == 0);

    // The count is live: a rule that fires builds its reason.
    const std::uint64_t before = cascade_test::allocations.load();
    const auto reason = v::stop_when_mean_prob_below(0.9, 1)(state);
    CHECK(reason.has_value());
    CHECK(cascade_test::allocations.load() > before);
}
#endif
