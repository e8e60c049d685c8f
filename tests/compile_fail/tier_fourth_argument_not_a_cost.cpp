// EXPECT: cascade::tier: the cost must be cascade::price_per_call\(dollars\) or cascade::cost_from\(fn\)
// The cost function is passed bare, without cascade::cost_from, in place of the threshold; the
// tier then goes into a cascade that runs, and the refusal stays the only error.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto mini = cascade::tier("mini", [](const std::string& q) { return q; },
                              [](const std::string& a) { return a.empty() ? 0.0 : 1.0; },
                              [](const std::string& a) { return static_cast<double>(a.size()) * 1e-6; });
    cascade::Cascade chain{std::move(mini), cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("q"));
    (void)r;
}
