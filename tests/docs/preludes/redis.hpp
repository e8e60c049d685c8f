// What the fragments of docs/redis.md assume: a Question and its Reply, and model clients
// declared but not defined (the fragments are compiled, not linked). The Redis headers are
// included by the fragments themselves, so that only their translation unit needs hiredis.
#ifndef CASCADE_DOCS_PRELUDE_REDIS_HPP
#define CASCADE_DOCS_PRELUDE_REDIS_HPP

#include <cascade/cascade.hpp>
#include <cascade/runtime.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

struct Question {
    std::string text;
};
struct Reply {
    std::string text;
    double confidence;
    int tokens;
};

Reply call_mini(const Question& q);
Reply call_big(const Question& q);
inline double confident(const Reply& r) { return r.confidence; }
double cost_of(const Reply& r);
extern const Question question;

#endif  // CASCADE_DOCS_PRELUDE_REDIS_HPP
