// EXPECT: cascade::score: cannot find the query text of this Request
// A difficulty scorer routing a Request it cannot read any text from.
#include <cascade/core/router.hpp>
#include <cascade/score.hpp>

#include <string>

struct Ticket {
    int id;
};

int main() {
    cascade::Router router{cascade::score::HeuristicScorer{}, {0.5},
                           [](const Ticket& t) { return std::to_string(t.id); },
                           [](const Ticket& t) { return std::to_string(-t.id); }};
    (void)router.run(Ticket{1});
}
