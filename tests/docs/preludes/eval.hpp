// What the fragments of docs/eval.md assume: the outcome log of the section before them, and a
// running cascade whose requests carry an id.
#ifndef CASCADE_DOCS_PRELUDE_EVAL_HPP
#define CASCADE_DOCS_PRELUDE_EVAL_HPP

#include <cascade/cascade.hpp>
#include <cascade/eval.hpp>

#include <cstdio>
#include <fstream>
#include <string>

// The curve section works on the log read in the section before it.
namespace snippet_context::table {
extern const cascade::OutcomeTable log;
}  // namespace snippet_context::table

namespace snippet_context::sink {
struct Request {
    std::string id;
    std::string text;
};
struct Reply {
    std::string text;
    double confidence;
};
Reply call_mini(const Request& request);
Reply call_big(const Request& request);
inline double confidence(const Reply& r) { return r.confidence; }
double grade(const Request& request, const Reply& answer);  // an answer's quality, in [0, 1]
inline auto make_chain() {
    return cascade::Cascade{cascade::tier("mini", call_mini, confidence, 0.8), cascade::tier("big", call_big)};
}
extern decltype(make_chain()) chain;
extern const Request request;
}  // namespace snippet_context::sink

#endif  // CASCADE_DOCS_PRELUDE_EVAL_HPP
