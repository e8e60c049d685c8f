// EXPECT: cascade::tier: the 3rd argument must be a verifier or a cost, not a number
// A tier without verifier given its price as a bare number; the tier then goes into a cascade that
// runs, and the refusal stays the only error.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto mini = cascade::tier("mini", [](const std::string& q) { return q; }, 0.0002);
    cascade::Cascade chain{std::move(mini), cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("q"));
    (void)r;
}
