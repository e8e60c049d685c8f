#include "catch.hpp"
#include "question.hpp"
#include "text_checks.hpp"

#include <cascade/verify/self_consistency.hpp>

#include <cstddef>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace v = cascade::verify;
using cascade::ChatReply;
using cascade::Verdict;

namespace {

// Replays a fixed list of sample texts; "throw" makes that sample throw.
struct Script {
    explicit Script(std::vector<std::string> t) : texts(std::move(t)) {}

    std::vector<std::string> texts;
    std::size_t next = 0;
    std::vector<std::string> seen;

    ChatReply operator()(const Question& q) {
        seen.push_back(q.text);
        const std::string t = texts.at(next++ % texts.size());
        if (t == "throw") throw std::runtime_error("rate limited");
        return ChatReply{t, {}, "stop"};
    }
};

std::optional<std::string> key(const std::string& text, std::string matcher_kind) {
    if (matcher_kind == "final") return v::final_answer_after("####").key(text);
    return v::choice_letter("ABCD").key(text);
}

}  // namespace

TEST_CASE("self_consistency refuses fewer than 2 samples") {
    auto sampler = [](const Question&) { return std::string("x"); };
    CHECK_THROWS_AS(v::self_consistency(sampler, 0), std::invalid_argument);
    CHECK_THROWS_AS(v::self_consistency(sampler, 1), std::invalid_argument);
    CHECK(v::self_consistency(sampler, 2).samples() == 2);
}

TEST_CASE("confidence is the share of the k + 1 answers that agree with the tier's own") {
    Script script{{"Paris", "paris ", "Lyon", "PARIS"}};
    auto sc = v::self_consistency(std::ref(script), 4);
    const Verdict out = sc(Question{"capital?"}, ChatReply{"Paris", {}, "stop"});
    CHECK(out.confidence == Approx(4.0 / 5.0));
    CHECK(contains(out.note, "4 of 5"));
    CHECK(script.seen == std::vector<std::string>(4, "capital?"));
}

TEST_CASE("an answer the samples outvote gets a low confidence and the note names the majority") {
    Script script{{"#### 12", "#### 12", "#### 12", "#### 7"}};
    auto sc = v::self_consistency(std::ref(script), 4, v::final_answer_after("####"));
    const Verdict out = sc(Question{"q"}, ChatReply{"so... #### 7", {}, "stop"});
    CHECK(out.confidence == Approx(2.0 / 5.0));
    CHECK(contains(out.note, "3 of 5 say \"12\""));
}

TEST_CASE("each successful sample is charged; a failing one is counted and noted, not fatal") {
    Script script{{"A", "throw", "A"}};
    auto sc = v::self_consistency(std::ref(script), 3, v::exact_match(), cascade::price_per_call(0.01));
    const Verdict out = sc(Question{"q"}, ChatReply{"A", {}, "stop"});
    CHECK(out.confidence == Approx(3.0 / 4.0));
    CHECK(out.extra_cost == Approx(0.02));
    CHECK(contains(out.note, "1 of 3 samples failed (first: rate limited)"));
}

TEST_CASE("every sample failing gives the tier's answer alone: 1 of k + 1") {
    Script script{{"throw"}};
    auto sc = v::self_consistency(std::ref(script), 2, cascade::price_per_call(0.01));
    const Verdict out = sc(Question{"q"}, ChatReply{"A", {}, "stop"});
    CHECK(out.confidence == Approx(1.0 / 3.0));
    CHECK(out.extra_cost == 0.0);
    CHECK(contains(out.note, "2 of 2 samples failed"));
}

TEST_CASE("a cost function prices each sample, with or without the request") {
    Script script{{"abcd", "ab"}};
    auto per_char = cascade::cost_from([](const ChatReply& r) { return 0.001 * static_cast<double>(r.text.size()); });
    auto sc = v::self_consistency(std::ref(script), 2, v::exact_match(), per_char);
    CHECK(sc(Question{"q"}, ChatReply{"ab", {}, ""}).extra_cost == Approx(0.006));

    Script again{{"x"}};
    auto with_request = cascade::cost_from([](const Question& q, const ChatReply&) { return static_cast<double>(q.text.size()) * 0.5; });
    auto sc2 = v::self_consistency(std::ref(again), 2, with_request);
    CHECK(sc2(Question{"abc"}, ChatReply{"x", {}, ""}).extra_cost == Approx(3.0));
}

TEST_CASE("a cost function that fails is noted and the sample counted as free") {
    Script script{{"x"}};
    auto bad = cascade::cost_from([](const ChatReply&) { return -1.0; });
    auto sc = v::self_consistency(std::ref(script), 2, v::exact_match(), bad);
    const Verdict out = sc(Question{"q"}, ChatReply{"x", {}, ""});
    CHECK(out.confidence == 1.0);
    CHECK(out.extra_cost == 0.0);
    CHECK(contains(out.note, "cost function returned -1"));
}

TEST_CASE("when the tier's answer holds no final answer no sample is drawn") {
    Script script{{"#### 1"}};
    auto sc = v::self_consistency(std::ref(script), 3, v::final_answer_after(), cascade::price_per_call(1.0));
    const Verdict out = sc(Question{"q"}, ChatReply{"I think it is 1", {}, ""});
    CHECK(out.confidence == 0.0);
    CHECK(out.extra_cost == 0.0);
    CHECK(contains(out.note, "no answer found"));
    CHECK(script.seen.empty());
}

TEST_CASE("samples without an answer count as disagreeing and are noted") {
    Script script{{"#### 5", "no marker here"}};
    auto sc = v::self_consistency(std::ref(script), 2, v::final_answer_after());
    const Verdict out = sc(Question{"q"}, ChatReply{"#### 5", {}, ""});
    CHECK(out.confidence == Approx(2.0 / 3.0));
    CHECK(contains(out.note, "1 held no answer"));
}

TEST_CASE("exact_match compares bytes, loose_match ignores case and white space") {
    CHECK(v::exact_match().key("A b") == std::optional<std::string>("A b"));
    auto loose = v::loose_match();
    CHECK(loose.key("  Hello\n  World ") == loose.key("hello world"));
    CHECK(loose.key("hello") != loose.key("hello!"));
}

TEST_CASE("final_answer_after reads the text after the last marker, numbers as numbers") {
    CHECK(key("work... #### 42", "final") == std::optional<std::string>("42"));
    CHECK(key("#### 1\nmore\n#### 1,234.00.", "final") == std::optional<std::string>("1234"));
    CHECK(key("#### $1,234", "final") == key("#### 1234", "final"));
    CHECK(key("#### -0", "final") == key("#### 0", "final"));
    CHECK(key("#### Paris\nexplanation", "final") == std::optional<std::string>("paris"));
    CHECK(key("no marker", "final") == std::nullopt);
    CHECK(key("trailing ####   ", "final") == std::nullopt);
    CHECK(v::final_answer_after("The answer is").key("The answer is 7.") == std::optional<std::string>("7"));
    CHECK_THROWS_AS(v::final_answer_after(""), std::invalid_argument);
}

TEST_CASE("choice_letter finds the letter however the answer states it") {
    CHECK(key("The answer is (B).", "choice") == std::optional<std::string>("B"));
    CHECK(key("Answer: c", "choice") == std::optional<std::string>("C"));
    CHECK(key("answer is **D**", "choice") == std::optional<std::string>("D"));
    CHECK(key("B", "choice") == std::optional<std::string>("B"));
    CHECK(key("  A. Because the mitochondria...", "choice") == std::optional<std::string>("A"));
    CHECK(key("(C) since ...", "choice") == std::optional<std::string>("C"));
    CHECK(key("Looking at the options, (D) fits best", "choice") == std::optional<std::string>("D"));
    CHECK(key("The answer is A, not (B)", "choice") == std::optional<std::string>("A"));
    CHECK(key("A lot depends on it", "choice") == std::nullopt);  // "A" is a word here
    CHECK(key("The answer is because of E", "choice") == std::nullopt);
    CHECK(key("E", "choice") == std::nullopt);  // not one of ABCD
    CHECK(v::choice_letter("abcde").key("E") == std::optional<std::string>("E"));
    CHECK_THROWS_AS(v::choice_letter(""), std::invalid_argument);
    CHECK_THROWS_AS(v::choice_letter("AB1"), std::invalid_argument);
}

TEST_CASE("equivalent_if and extract_with plug in an equivalence or an extractor of one's own") {
    auto near = [](std::string_view a, std::string_view b) {
        return std::abs(std::atof(std::string(a).c_str()) - std::atof(std::string(b).c_str())) < 0.01;
    };
    Script script{{"3.141", "3.1419", "2.7"}};
    auto sc = v::self_consistency(std::ref(script), 3, v::equivalent_if(near));
    CHECK(sc(Question{"pi"}, ChatReply{"3.14159", {}, ""}).confidence == Approx(3.0 / 4.0));

    auto last_word = [](std::string_view t) -> std::optional<std::string> {
        const auto at = t.rfind(' ');
        if (at == std::string_view::npos) return std::nullopt;
        return std::string(t.substr(at + 1));
    };
    Script words{{"it is Paris", "Paris", "surely Paris"}};
    auto sc2 = v::self_consistency(std::ref(words), 3, v::extract_with(last_word));
    const Verdict out = sc2(Question{"q"}, ChatReply{"maybe Paris", {}, ""});
    CHECK(out.confidence == Approx(3.0 / 4.0));
    CHECK(contains(out.note, "1 held no answer"));
}

TEST_CASE("an equivalence that throws after sampling keeps the money spent") {
    auto throws = [](std::string_view, std::string_view) -> bool { throw std::runtime_error("bad compare"); };
    Script script{{"x"}};
    auto sc = v::self_consistency(std::ref(script), 2, v::equivalent_if(throws), cascade::price_per_call(0.5));
    const Verdict out = sc(Question{"q"}, ChatReply{"x", {}, ""});
    CHECK(out.confidence == 0.0);
    CHECK(out.extra_cost == Approx(1.0));
    CHECK(contains(out.note, "bad compare"));
}

TEST_CASE("a sampler may return text of another type than the tier's Response") {
    auto sampler = [](const Question&) { return std::string("Paris"); };
    auto sc = v::self_consistency(sampler, 2);
    CHECK(sc(Question{"q"}, ChatReply{"paris", {}, ""}).confidence == 1.0);
}
