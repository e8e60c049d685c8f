// EXPECT: cascade::tier: the cost must be cascade::price_per_call\(dollars\) or cascade::cost_from\(fn\)
// The cost function is passed bare, without cascade::cost_from, in place of the threshold.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto mini = cascade::tier("mini", [](const std::string& q) { return q; },
                              [](const std::string& a) { return a.empty() ? 0.0 : 1.0; },
                              [](const std::string& a) { return static_cast<double>(a.size()) * 1e-6; });
    (void)mini;
}
