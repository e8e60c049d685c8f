// What the fragments of docs/runtime.md assume: a Question and its Reply, model clients declared
// but not defined (the fragments are compiled, not linked), and the names each recipe leaves to
// the reader.
#ifndef CASCADE_DOCS_PRELUDE_RUNTIME_HPP
#define CASCADE_DOCS_PRELUDE_RUNTIME_HPP

#include <cascade/cascade.hpp>
#include <cascade/runtime.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct Question {
    int id;
    std::string text;
};
struct Reply {
    std::string text;
    double confidence;
    int input_tokens;
    int output_tokens;
};

Reply call_mini(const Question& q);
Reply call_mid(const Question& q);
Reply call_big(const Question& q);
inline double confidence(const Reply& r) { return r.confidence; }
double cost_of(const Reply& r);

struct HttpReply {
    int status;
    long retry_after;
    std::string body;
};
struct HttpClient {
    HttpReply post(const std::string& path, const std::string& body);
};
extern HttpClient http;
Reply parse(const HttpReply& reply);

inline auto make_cascade() {
    return cascade::Cascade{cascade::tier("mini", call_mini, confidence, 0.8), cascade::tier("big", call_big)};
}
using QaCascade = decltype(make_cascade());
extern QaCascade my_cascade;
extern const Question question;
extern const std::vector<Question> questions;
void use(const cascade::Result<Reply>& result);
void log_error(std::exception_ptr error);

struct ThreadPool {
    void submit(std::function<void()> task);
};
extern ThreadPool pool;

// The breaker recipe wraps the retry wrapper of the recipe before it.
namespace snippet_context::breaker {
extern const cascade::RetryPolicy retry_policy;
}  // namespace snippet_context::breaker

// The Prometheus recipe reads what the recipes before it made.
namespace snippet_context::metrics {
struct HttpResponse {
    void set_content(const std::string& body, const char* content_type);
};
extern QaCascade qa;
extern QaCascade chat;
extern std::shared_ptr<const cascade::RetryCounters> mini_retry;
extern std::shared_ptr<cascade::CircuitBreaker<>> breaker;
extern cascade::LruCache<std::string, Reply> answers;
extern cascade::Budget budget;
extern HttpResponse response;
}  // namespace snippet_context::metrics

// The {fmt} recipe prints a result and a cascade's stats.
namespace snippet_context::logging {
extern const cascade::Result<Reply> result;
extern QaCascade c;
}  // namespace snippet_context::logging

#endif  // CASCADE_DOCS_PRELUDE_RUNTIME_HPP
