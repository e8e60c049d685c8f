#include "catch.hpp"

#include <cascade/verify/token_confidence.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace v = cascade::verify;
using cascade::ChatReply;

namespace {

ChatReply with_probs(const std::vector<double>& probs) {
    ChatReply r;
    r.text = "answer";
    for (double p : probs) r.token_logprobs.push_back(std::log(p));
    return r;
}

struct FloatReply {
    std::string text;
    std::vector<float> token_logprobs;
};

struct MaybeReply {
    std::string text;
    std::optional<std::vector<double>> token_logprobs;
};

const double not_a_number = std::numeric_limits<double>::quiet_NaN();
const double infinity = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("mean_token_prob is the geometric mean of the token probabilities") {
    CHECK(v::mean_token_prob()(with_probs({0.5, 0.5})).confidence == Approx(0.5));
    CHECK(v::mean_token_prob()(with_probs({0.9, 0.1})).confidence == Approx(0.3));
    CHECK(v::mean_token_prob()(with_probs({0.8})).confidence == Approx(0.8));
}

TEST_CASE("mean_token_prob does not shrink with the length of a confident answer") {
    const auto short_answer = v::mean_token_prob()(with_probs(std::vector<double>(3, 0.95)));
    const auto long_answer = v::mean_token_prob()(with_probs(std::vector<double>(300, 0.95)));
    CHECK(long_answer.confidence == Approx(short_answer.confidence));
    CHECK(long_answer.confidence == Approx(0.95));
}

TEST_CASE("min_token_prob is the lowest token probability") {
    CHECK(v::min_token_prob()(with_probs({0.9, 0.2, 0.99})).confidence == Approx(0.2));
}

TEST_CASE("token_prob_quantile interpolates between order statistics") {
    const ChatReply r = with_probs({0.9, 0.1, 0.5, 0.7, 0.3});  // sorted: .1 .3 .5 .7 .9
    CHECK(v::token_prob_quantile(0.0)(r).confidence == Approx(0.1));
    CHECK(v::token_prob_quantile(0.5)(r).confidence == Approx(0.5));
    CHECK(v::token_prob_quantile(1.0)(r).confidence == Approx(0.9));
    CHECK(v::token_prob_quantile(0.125)(r).confidence == Approx(0.2));  // halfway between .1 and .3
    CHECK(v::token_prob_quantile(0.3)(r).confidence == Approx(0.34));
}

TEST_CASE("a low quantile reacts to a few unsure tokens that the mean averages away") {
    std::vector<double> probs(40, 0.99);
    probs[3] = 0.05;
    probs[17] = 0.1;
    probs[30] = 0.08;
    const ChatReply r = with_probs(probs);
    CHECK(v::mean_token_prob()(r).confidence > 0.8);
    CHECK(v::token_prob_quantile(0.05)(r).confidence < 0.15);
}

TEST_CASE("empty log-probabilities are a rejection with a note, not NaN") {
    ChatReply r{"text", {}, "stop"};
    for (const auto& verifier : {v::mean_token_prob(), v::min_token_prob(), v::token_prob_quantile(0.1)}) {
        const cascade::Verdict verdict = verifier(r);
        CHECK(verdict.confidence == 0.0);
        CHECK(verdict.note.find("empty") != std::string::npos);
    }
}

TEST_CASE("missing log-probabilities (an empty optional) are a rejection that says missing") {
    MaybeReply r{"text", std::nullopt};
    const cascade::Verdict verdict = v::mean_token_prob()(r);
    CHECK(verdict.confidence == 0.0);
    CHECK(verdict.note.find("missing") != std::string::npos);
}

TEST_CASE("a NaN log-probability rejects the answer and is reported with its position") {
    ChatReply r{"text", {-0.1, not_a_number, -0.2}, "stop"};
    const cascade::Verdict verdict = v::mean_token_prob()(r);
    CHECK(verdict.confidence == 0.0);
    CHECK(verdict.note.find("2 of 3") != std::string::npos);
    CHECK(verdict.note.find("nan") != std::string::npos);
}

TEST_CASE("a positive log-probability rejects the answer; rounding noise above 0 does not") {
    ChatReply bad{"text", {-0.1, 0.5}, "stop"};
    const cascade::Verdict verdict = v::min_token_prob()(bad);
    CHECK(verdict.confidence == 0.0);
    CHECK(verdict.note.find("> 0") != std::string::npos);

    ChatReply noise{"text", {1e-9, -std::log(2.0)}, "stop"};
    const cascade::Verdict ok = v::min_token_prob()(noise);
    CHECK(ok.confidence == Approx(0.5));
    CHECK(ok.note.empty());
    CHECK(v::mean_token_prob()(ChatReply{"t", {1e-9}, ""}).confidence == 1.0);
}

TEST_CASE("skip_invalid leaves NaN and positive log-probabilities out and says how many") {
    v::TokenProbOptions options;
    options.skip_invalid = true;
    ChatReply r{"text", {std::log(0.5), not_a_number, 3.0, std::log(0.5)}, "stop"};
    const cascade::Verdict verdict = v::mean_token_prob(options)(r);
    CHECK(verdict.confidence == Approx(0.5));
    CHECK(verdict.note.find("left out 2 of 4") != std::string::npos);

    ChatReply all_bad{"text", {not_a_number, infinity}, "stop"};
    const cascade::Verdict none = v::mean_token_prob(options)(all_bad);
    CHECK(none.confidence == 0.0);
    CHECK(none.note.find("no valid") != std::string::npos);
}

TEST_CASE("a log-probability of -infinity is a token of probability 0") {
    ChatReply r{"text", {-0.1, -infinity}, "stop"};
    CHECK(v::mean_token_prob()(r).confidence == 0.0);
    CHECK(v::min_token_prob()(r).confidence == 0.0);
    CHECK(v::token_prob_quantile(1.0)(r).confidence == Approx(std::exp(-0.1)));
    CHECK(v::mean_token_prob()(r).note.empty());
}

TEST_CASE("float log-probabilities are read like doubles") {
    FloatReply r{"x", {std::log(0.25F), std::log(0.25F)}};
    CHECK(v::mean_token_prob()(r).confidence == Approx(0.25));
}

TEST_CASE("a quantile outside [0, 1] or a bad tolerance is a configuration error") {
    CHECK_THROWS_AS(v::token_prob_quantile(-0.1), std::invalid_argument);
    CHECK_THROWS_AS(v::token_prob_quantile(1.5), std::invalid_argument);
    CHECK_THROWS_AS(v::token_prob_quantile(not_a_number), std::invalid_argument);
    v::TokenProbOptions options;
    options.positive_tolerance = -1.0;
    CHECK_THROWS_AS(v::mean_token_prob(options), std::invalid_argument);
}

TEST_CASE("token confidences stay in [0, 1] on random log-probabilities, NaN and infinities included") {
    std::mt19937 rng(12345);
    std::uniform_real_distribution<double> lp(-30.0, 0.0);
    std::uniform_int_distribution<int> kind(0, 19);
    std::uniform_int_distribution<int> len(0, 12);
    for (int i = 0; i < 500; ++i) {
        ChatReply r;
        const int n = len(rng);
        for (int t = 0; t < n; ++t) {
            const int k = kind(rng);
            r.token_logprobs.push_back(k == 0 ? not_a_number : k == 1 ? -infinity : k == 2 ? infinity : k == 3 ? 0.7 : lp(rng));
        }
        v::TokenProbOptions options;
        options.skip_invalid = (i % 2) == 0;
        for (const auto& verifier : {v::mean_token_prob(options), v::min_token_prob(options),
                                     v::token_prob_quantile(0.2, options)}) {
            const cascade::Verdict verdict = verifier(r);
            REQUIRE(verdict.confidence >= 0.0);
            REQUIRE(verdict.confidence <= 1.0);
            if (verdict.confidence == 0.0 && n == 0) REQUIRE_FALSE(verdict.note.empty());
        }
    }
}
