// What the fragments of docs/scorers.md assume: requests that are strings (or a Chat, for
// QueryText), model clients declared but not defined (the fragments are compiled, not linked),
// logged queries and an embedding model.
#ifndef CASCADE_DOCS_PRELUDE_SCORERS_HPP
#define CASCADE_DOCS_PRELUDE_SCORERS_HPP

#include <cascade/cascade.hpp>
#include <cascade/score.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace score = cascade::score;

struct Reply {
    std::string text;
};
Reply call_mini(const std::string& query);
Reply call_big(const std::string& query);

struct Chat {
    std::string system;
    std::string user;
};

std::vector<std::string> logged_queries();
std::vector<double> needed_strong_model();

struct Embedder {
    std::vector<float> embed(std::string_view text);
};
extern Embedder embedder;
extern const std::vector<std::pair<std::string, double>> history;

#endif  // CASCADE_DOCS_PRELUDE_SCORERS_HPP
