// Every ready-made verifier in a real cascade: rejected answers escalate, accepted ones do not, and
// what a verifier spends shows in the result's cost and the cascade's stats.
#include "catch.hpp"
#include "question.hpp"
#include "text_checks.hpp"

#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace v = cascade::verify;
using cascade::AttemptStatus;
using cascade::ChatReply;

namespace {

ChatReply big_model(const Question&) { return ChatReply{"#### 42", {-0.01}, "stop"}; }

// A cheap model whose reply is fixed per test.
struct Mini {
    ChatReply reply;
    ChatReply operator()(const Question&) const { return reply; }
};

ChatReply with_probs(std::string text, const std::vector<double>& probs, std::string finish = "stop") {
    ChatReply r{std::move(text), {}, std::move(finish)};
    for (double p : probs) r.token_logprobs.push_back(std::log(p));
    return r;
}

// Runs `verifier` on the mini tier of a two-tier cascade and returns the index of the tier that
// answered; `threshold` is the mini tier's.
template <class Verifier>
std::size_t answered_by(const ChatReply& mini_reply, Verifier verifier, double threshold = 0.5) {
    cascade::Cascade c{cascade::tier("mini", Mini{mini_reply}, std::move(verifier), threshold, cascade::price_per_call(0.001)),
                       cascade::tier("big", big_model, cascade::price_per_call(0.01))};
    const auto r = c.run(Question{"q"});
    REQUIRE(r.has_value());
    REQUIRE(r.trace()[0].status != AttemptStatus::verifier_error);
    return *r.tier_index();
}

}  // namespace

TEST_CASE("token-probability verifiers escalate unsure answers and keep sure ones") {
    const ChatReply sure = with_probs("Paris", {0.99, 0.95, 0.97});
    const ChatReply unsure = with_probs("Lyon", {0.9, 0.2, 0.9});
    CHECK(answered_by(sure, v::mean_token_prob(), 0.9) == 0);
    CHECK(answered_by(unsure, v::mean_token_prob(), 0.9) == 1);
    CHECK(answered_by(sure, v::min_token_prob(), 0.9) == 0);
    CHECK(answered_by(unsure, v::min_token_prob(), 0.9) == 1);
    CHECK(answered_by(sure, v::token_prob_quantile(0.1), 0.9) == 0);
    CHECK(answered_by(unsure, v::token_prob_quantile(0.1), 0.9) == 1);
}

TEST_CASE("an answer without log-probabilities escalates with the reason in the trace") {
    cascade::Cascade c{cascade::tier("mini", Mini{ChatReply{"Paris", {}, "stop"}}, v::mean_token_prob(), 0.5),
                       cascade::tier("big", big_model)};
    const auto r = c.run(Question{"q"});
    CHECK(*r.tier_index() == 1);
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(*r.trace()[0].confidence == 0.0);
    CHECK(contains(r.trace()[0].note, "no token log-probabilities"));
}

TEST_CASE("checks escalate empty, refusing, truncated, non-matching and non-JSON answers") {
    CHECK(answered_by(ChatReply{"", {}, "stop"}, v::non_empty()) == 1);
    CHECK(answered_by(ChatReply{"Paris", {}, "stop"}, v::non_empty()) == 0);
    CHECK(answered_by(ChatReply{"As an AI, I cannot know", {}, "stop"}, v::no_refusal()) == 1);
    CHECK(answered_by(ChatReply{"Paris", {}, "stop"}, v::no_refusal()) == 0);
    CHECK(answered_by(ChatReply{"Paris is the cap", {}, "length"}, v::not_truncated()) == 1);
    CHECK(answered_by(ChatReply{"Paris", {}, "stop"}, v::not_truncated()) == 0);
    CHECK(answered_by(ChatReply{"42", {}, "stop"}, v::matches("^#### ")) == 1);
    CHECK(answered_by(ChatReply{"#### 42", {}, "stop"}, v::matches("^#### ")) == 0);
    auto short_enough = v::text_satisfies([](std::string_view t) { return t.size() < 10; }, "short");
    CHECK(answered_by(ChatReply{"far too long an answer", {}, "stop"}, short_enough) == 1);
    CHECK(answered_by(ChatReply{"brief", {}, "stop"}, short_enough) == 0);
    CHECK(answered_by(ChatReply{"{\"a\": 1", {}, "stop"}, v::valid_json()) == 1);
    CHECK(answered_by(ChatReply{"{\"a\": 1}", {}, "stop"}, v::valid_json()) == 0);
}

TEST_CASE("self-consistency samples cost money that shows in the result and the stats") {
    int samples = 0;
    auto sampler = [&samples](const Question&) {
        ++samples;
        return std::string(samples % 2 == 0 ? "#### 41" : "#### 40");
    };
    auto sc = v::self_consistency(sampler, 4, v::final_answer_after(), cascade::price_per_call(0.5));
    cascade::Cascade c{cascade::tier("mini", Mini{ChatReply{"#### 42", {}, "stop"}}, std::move(sc), 0.5,
                                     cascade::price_per_call(1.0)),
                       cascade::tier("big", big_model, cascade::price_per_call(10.0))};
    const auto r = c.run(Question{"q"});
    CHECK(samples == 4);
    CHECK(*r.tier_index() == 1);                         // 1 of 5 agree: escalated
    CHECK(r.trace()[0].cost == Approx(1.0 + 4 * 0.5));  // the call and its samples
    CHECK(r.cost() == Approx(13.0));
    CHECK(contains(r.trace()[0].note, "1 of 5 answers agree"));
    const cascade::Stats s = c.stats();
    CHECK(s.tiers[0].cost == Approx(3.0));
    CHECK(s.tiers[0].rejected == 1);
}

TEST_CASE("self-consistency accepts an answer its samples agree with") {
    auto sampler = [](const Question&) { return ChatReply{"The answer is (C).", {}, "stop"}; };
    CHECK(answered_by(ChatReply{"C", {}, "stop"}, v::self_consistency(sampler, 3, v::choice_letter()), 0.75) == 0);
    CHECK(answered_by(ChatReply{"B", {}, "stop"}, v::self_consistency(sampler, 3, v::choice_letter()), 0.75) == 1);
}

TEST_CASE("a judge's verdict decides escalation and its cost is counted") {
    auto grader = [](const Question& q, const ChatReply& a) {
        return std::string(a.text == "Paris" && q.text == "q" ? "Score: 9/10" : "Score: 2/10");
    };
    auto j = v::judge(grader, v::score_scale(1, 10), cascade::price_per_call(0.25));
    cascade::Cascade c{cascade::tier("mini", Mini{ChatReply{"Lyon", {}, "stop"}}, j, 0.7, cascade::price_per_call(1.0)),
                       cascade::tier("big", big_model, cascade::price_per_call(10.0))};
    const auto r = c.run(Question{"q"});
    CHECK(*r.tier_index() == 1);
    CHECK(r.cost() == Approx(11.25));
    CHECK(contains(r.trace()[0].note, "judge: \"Score: 2/10\""));
    CHECK(c.stats().tiers[0].cost == Approx(1.25));

    CHECK(answered_by(ChatReply{"Paris", {}, "stop"}, j, 0.7) == 0);
}

TEST_CASE("an unparsable judge reply escalates with the reply in the trace") {
    auto rambling = [](const ChatReply&) { return std::string("Well, it depends."); };
    cascade::Cascade c{cascade::tier("mini", Mini{ChatReply{"Paris", {}, "stop"}},
                                     v::judge(rambling, v::yes_no(), cascade::price_per_call(0.1)), 0.5),
                       cascade::tier("big", big_model)};
    const auto r = c.run(Question{"q"});
    CHECK(*r.tier_index() == 1);
    CHECK(r.trace()[0].cost == Approx(0.1));
    CHECK(contains(r.trace()[0].note, "\"Well, it depends.\""));
}

TEST_CASE("combinators run in a cascade with parts that take the request and parts that do not") {
    auto request_aware = [](const Question& q, const ChatReply&) { return q.text == "easy" ? 1.0 : 0.0; };
    auto check = v::all_of(v::non_empty(), v::no_refusal(), v::any_of(request_aware, v::mean_token_prob()));
    cascade::Cascade c{cascade::tier("mini", Mini{with_probs("Paris", {0.3})}, std::move(check), 0.6),
                       cascade::tier("big", big_model)};
    CHECK(*c.run(Question{"easy"}).tier_index() == 0);
    CHECK(*c.run(Question{"hard"}).tier_index() == 1);

    CHECK(answered_by(with_probs("Paris", {0.9}), v::weighted({1, 1}, v::mean_token_prob(), v::non_empty()), 0.9) == 0);
    CHECK(answered_by(with_probs("Paris", {0.5}), v::weighted({1, 1}, v::mean_token_prob(), v::non_empty()), 0.9) == 1);
    CHECK(answered_by(ChatReply{"As an AI", {}, ""}, v::negate(v::matches("(?:AI)")), 0.5) == 1);
}

TEST_CASE("a combinator's invalid part is a verifier error in the trace and the stats") {
    auto broken = [](const ChatReply&) { return 2.0; };
    cascade::Cascade c{cascade::tier("mini", Mini{ChatReply{"x", {}, ""}}, v::all_of(v::non_empty(), broken), 0.5),
                       cascade::tier("big", big_model)};
    const auto r = c.run(Question{"q"});
    CHECK(*r.tier_index() == 1);
    CHECK(r.trace()[0].status == AttemptStatus::verifier_error);
    CHECK(contains(r.trace()[0].error, "part 2 gave confidence 2"));
    CHECK(c.stats().tiers[0].verifier_errors == 1);
}

TEST_CASE("a calibrated verifier accepts by probability of being right") {
    // Raw mean token probability 0.8, which this calibration says is right 95% of the time.
    const v::IsotonicCalibration cal({0.5, 0.8}, {0.2, 0.95});
    CHECK(answered_by(with_probs("Paris", {0.8}), v::calibrated(v::mean_token_prob(), cal), 0.9) == 0);
    CHECK(answered_by(with_probs("Paris", {0.6}), v::calibrated(v::mean_token_prob(), cal), 0.9) == 1);
    const v::CalibrationMap loaded = v::CalibrationMap::from_text("cascade-calibration 1\nplatt 10 -5\n");
    CHECK(answered_by(with_probs("Paris", {0.9}), v::calibrated(v::mean_token_prob(), loaded), 0.9) == 0);
}

namespace {

// A provider's own reply type, mapped with a specialisation.
struct ProviderReply {
    std::string content;
    std::vector<float> lp;
    std::string stop_reason;
};

}  // namespace

template <>
struct cascade::response_traits<ProviderReply> {
    static std::string_view text(const ProviderReply& r) { return r.content; }
    static const std::vector<float>& token_logprobs(const ProviderReply& r) { return r.lp; }
    static std::string_view finish_reason(const ProviderReply& r) { return r.stop_reason; }
};

TEST_CASE("verifiers work on a Response type of one's own and on plain strings") {
    auto mini = [](const Question&) { return ProviderReply{"Paris", {-0.01F}, "max_tokens"}; };
    auto big = [](const Question&) { return ProviderReply{"Paris, France", {}, "end_turn"}; };
    cascade::Cascade c{cascade::tier("mini", mini, v::all_of(v::mean_token_prob(), v::not_truncated()), 0.5),
                       cascade::tier("big", big)};
    const auto r = c.run(Question{"q"});
    CHECK(r.value().content == "Paris, France");
    CHECK(contains(r.trace()[0].note, "max_tokens"));

    auto mini_text = [](const std::string&) { return std::string("I'm not sure"); };
    auto big_text = [](const std::string&) { return std::string("Paris"); };
    cascade::Cascade strings{cascade::tier("mini", mini_text, v::all_of(v::non_empty(), v::no_refusal())),
                             cascade::tier("big", big_text)};
    CHECK(strings.run(std::string("capital?")).value() == "Paris");
}
