// What the fragments of docs/verifiers.md assume: a Question, a Reply that the verifiers read
// through its `text`, `token_logprobs` and `finish_reason` members, and model clients declared
// but not defined (the fragments are compiled, not linked).
#ifndef CASCADE_DOCS_PRELUDE_VERIFIERS_HPP
#define CASCADE_DOCS_PRELUDE_VERIFIERS_HPP

#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace v = cascade::verify;

struct Question {
    std::string text;
};
struct Reply {
    std::string text;
    std::vector<double> token_logprobs;
    std::string finish_reason;
};

Reply call_mini(const Question& q);
Reply call_big(const Question& q);
Reply sample_mini(const Question& q);
std::string call_nano(const std::string& prompt);

// A provider's reply type that the verifiers cannot read without a response_traits.
struct Message {
    std::string content;
};
struct Choice {
    Message message;
    std::vector<float> logprobs;
    std::string finish_reason;
};

std::vector<v::LabelledScore> labelled_from_logs();
extern const std::vector<v::LabelledScore> held_out;

// The combinators' listing composes a judge made as in the section before it.
namespace snippet_context::combinators {
std::string grade(const Reply& a);
extern decltype(v::judge(grade, v::yes_no())) judge;
}  // namespace snippet_context::combinators

#endif  // CASCADE_DOCS_PRELUDE_VERIFIERS_HPP
