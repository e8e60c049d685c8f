// What the fragments of README.md assume: the Question and Answer types of its first example,
// model clients declared but not defined (the fragments are compiled, not linked), and the
// names the recipes leave to the reader.
#ifndef CASCADE_DOCS_PRELUDE_README_HPP
#define CASCADE_DOCS_PRELUDE_README_HPP

#include <cascade/cascade.hpp>
#include <cascade/integration/chat_completion.hpp>
#include <cascade/runtime/retry.hpp>
#include <cascade/verify.hpp>
#include <cascade/verify/calibration_map.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<curl/curl.h>)
#include <curl/curl.h>
#else
using CURL = void;
enum CURLoption { CURLOPT_TIMEOUT_MS };
int curl_easy_setopt(CURL*, CURLoption, long);
#endif

struct Question {
    std::string text;
};
struct Answer {
    std::string text;
    double confidence;
    int tokens;
};

Answer call_mini(const Question& q);
Answer call_big(const Question& q);
inline double confident(const Answer& a) { return a.confidence; }
double price_of_tokens(const Answer& a);
double cost_of(const Answer& a);
double grade(const Question& q, const Answer& a);  // 1 right, 0 wrong, or anything between

extern const Question question;
extern const std::vector<Question> questions;
extern const cascade::Result<Answer> result;
void log_warning(const std::string& text);
void on_progress(std::size_t done, std::size_t total);

// An HTTP client that throws its own exceptions.
extern CURL* handle;
Answer perform(CURL*, const Question&);
struct HttpError : std::runtime_error {
    using std::runtime_error::runtime_error;
    int status = 0;
};
void back_off(std::string_view tier);

// The ready-made verifiers and the scorers.
cascade::ChatReply chat_mini(const Question& q);
extern const std::vector<cascade::verify::LabelledScore> labelled;
extern const std::vector<std::string> logged_prompts;
extern const std::vector<double> needed_strong;

// Streaming: a model that hands its tokens to a sink, a big one answering alike, and the screen.
cascade::ChatReply stream_mini(const Question& q, cascade::TokenSink& sink);
cascade::ChatReply chat_big(const Question& q);
void show(std::string_view text);
void retract(std::size_t tokens);

// An OpenAI-compatible endpoint.
struct PostedChat {
    int status;
    std::string body;
    std::string retry_after;
};
PostedChat post_chat(const std::string& question, std::chrono::nanoseconds time_left);
std::string error_message(const std::string& body);
void fill_from_json(cascade::ChatCompletion& completion, const std::string& body);
// Posts a streaming request and hands each piece of the body to on_body, until it answers false.
void post_chat_stream(const std::string& question, const std::function<bool(std::string_view)>& on_body);
extern const cascade::RetryPolicy policy;

#endif  // CASCADE_DOCS_PRELUDE_README_HPP
